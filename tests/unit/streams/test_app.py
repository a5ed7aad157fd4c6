"""The faust app as built for a worker: its lean Monitor keeps what faust reads and nothing per record else."""

from __future__ import annotations

from pathlib import Path

from faust.types.tuples import TP

from orderstream.settings import WorkerSettings
from streams.app import LeanMonitor
from streams.worker import build


def test_the_worker_monitor_records_when_a_partition_last_fed_a_stream_and_keeps_no_per_record_stats(
    tmp_path: Path,
) -> None:
    app = build(WorkerSettings(data_dir=tmp_path)).app
    monitor = app.monitor
    assert isinstance(monitor, LeanMonitor)
    tp = TP("orders", 3)
    monitor.on_message_in(tp, 7, None)
    monitor.on_stream_event_in(tp, 7, None, None)
    monitor.on_stream_event_out(tp, 7, None, None, None)
    monitor.on_message_out(tp, 7, None)
    assert tp in monitor.stream_inbound_time  # faust's stalled-stream check reads it
    assert monitor.messages_received_total == monitor.events_total == 0
    assert not monitor.tp_read_offsets
