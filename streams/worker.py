"""The worker process: build the app with the configured agents, wire the data plane, run it.

ECS sends SIGTERM and, ``stopTimeout`` later, SIGKILL. faust stops the agents; the data plane lets every
partition finish and commit the batch it is writing, then commits the offsets; if any of that hangs, a
watchdog ends the process after ``SHUTDOWN_GRACE`` seconds so the task never sits in DRAINING. Correctness
does not depend on a clean stop (batches are transactions, offsets trail them).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from faust.worker import Worker as FaustWorker

from orderstream.domain import contract
from orderstream.settings import WorkerSettings
from streams.dataplane.plane import DataPlane, PlaneConfig
from streams.runtime import Runtime
from streams.stages.pipeline import Pipeline

log = logging.getLogger("orderstream.worker")

SHUTDOWN_GRACE = 25.0
DLQ_MAX_VALUE_BYTES = 900_000
"""Values above this go to the DLQ truncated (with headers saying so): MSK's default message limit is 1 MB."""


def build(settings: WorkerSettings) -> Runtime:
    """The app with the agents ``settings.agents`` names, the data plane, and the health/metrics pages."""
    from streams import loyalty, patches, router, sequencer, web

    patches.apply()
    rt = Runtime(settings)
    agents = settings.agent_set
    if "sequencer" in agents:
        sequencer.declare(rt)
    if "router" in agents:
        router.declare(rt)
    if "loyalty" in agents:
        loyalty.declare(rt)
    inputs = contract.SOURCE_TOPICS if rt.fused else (contract.ORDER_LIFECYCLE,)
    config = PlaneConfig(
        group=rt.group,
        inputs=tuple(inputs),
        tables=rt.tables,
        changelogs={name: rt.changelog_topic(name) for name in rt.tables},
        exactly_once=settings.processing_guarantee == "exactly_once",
        dlq_max_value_bytes=DLQ_MAX_VALUE_BYTES,
        self_read=(contract.ORDER_LIFECYCLE,) if rt.fused and agents & {"router", "loyalty"} else (),
    )

    def pipeline() -> Pipeline:
        return Pipeline(**{name: factory() for name, factory in rt.stages.items()})

    rt.plane = DataPlane(settings, config, pipeline, rt.counters.counts, rt.app.crash)
    rt.app.plane = rt.plane
    web.register(rt)
    return rt


class Worker(FaustWorker):
    """faust's worker plus a shutdown watchdog, without faust's terminal spinner."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # faust's spinner handler lowers the root logger to DEBUG so that every record spins it; every
        # aiokafka send then builds a debug record that no handler prints (about 10 % of a busy worker's CPU).
        self.spinner = None
        logger.setLevel(level)

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        timer = threading.Timer(SHUTDOWN_GRACE, _force_exit, args=(signal.name,))
        timer.daemon = True
        timer.start()
        super()._schedule_shutdown(signal)


def _force_exit(signal_name: str) -> None:
    log.error("shutdown after %s took over %.0fs; exiting now", signal_name, SHUTDOWN_GRACE)
    logging.shutdown()
    os._exit(1)
