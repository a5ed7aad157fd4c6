"""The faust app as built for a worker: its lean Monitor keeps what faust reads and nothing per record else."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_a_worker_advertises_its_own_address_not_the_wildcard_it_binds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from streams.app import advertised_url

    monkeypatch.setattr(socket, "gethostname", lambda: "ip-10-0-1-23")
    monkeypatch.setattr(socket, "gethostbyname", lambda name: "10.0.1.23" if name == "ip-10-0-1-23" else "?")
    assert advertised_url(WorkerSettings(web_host="0.0.0.0", web_port=6066)) == "http://10.0.1.23:6066"
    assert advertised_url(WorkerSettings(web_host="127.0.0.1")) == "http://127.0.0.1:6066"
    explicit = WorkerSettings(web_host="0.0.0.0", web_advertised_host="worker-3.internal")
    assert advertised_url(explicit) == "http://worker-3.internal:6066"
    app = build(WorkerSettings(data_dir=tmp_path, web_host="0.0.0.0")).app
    assert str(app.conf.canonical_url) == "http://10.0.1.23:6066"
    assert app.conf.web_tables_enabled is False
