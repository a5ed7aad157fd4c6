"""The faust worker process, with a hard bound on graceful shutdown.

ECS sends SIGTERM and, ``stopTimeout`` later, SIGKILL. faust stops agents, flushes the producer and commits;
if any of that hangs, a watchdog ends the process after ``SHUTDOWN_GRACE`` seconds so the task never sits in
DRAINING. Correctness does not depend on a clean stop (the ledger is idempotent, offsets trail the changelog).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from faust.worker import Worker as FaustWorker

log = logging.getLogger("orderstream.worker")

SHUTDOWN_GRACE = 25.0


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
