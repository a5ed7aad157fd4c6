"""The faust ceiling on this box: a no-op agent reading the three source topics with ``take_events``.

    .venv/bin/python bench/faust_noop.py BOOTSTRAP EVENTS WEB_PORT

Run by ``bench/streams.py`` in its own process (a faust worker owns its event loop and signals). It counts
records from the first batch on, prints ``{"events_per_s": …}`` once it has seen ``EVENTS`` of them, and exits.
The app is the worker's own (:class:`streams.app.Streams`, with the faust patches), only with no agent of ours.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# bench/streams.py sits next to this file and would hide the ``streams`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
from orderstream.domain import contract  # noqa: E402
from orderstream.settings import WorkerSettings  # noqa: E402
from streams import patches  # noqa: E402
from streams.app import BATCH_MAX, BATCH_WITHIN, Streams  # noqa: E402
from streams.worker import Worker  # noqa: E402


def main(bootstrap: str, events: int, web_port: int) -> None:
    patches.apply()
    settings = WorkerSettings(
        kafka_bootstrap_servers=bootstrap,
        app_id=f"bench-noop-{uuid.uuid4().hex[:8]}",
        data_dir=Path(tempfile.mkdtemp(prefix="faust-noop-")),
        web_port=web_port,
        log_level="warning",
    )
    streams = Streams(settings)
    seen, started = 0, 0.0

    @streams.app.agent(streams.topic(*contract.SOURCE_TOPICS))
    async def noop(stream: Any) -> None:
        nonlocal seen, started
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
            started = started or time.perf_counter()
            seen += len(batch)
            if seen >= events:
                print(json.dumps({"events_per_s": seen / (time.perf_counter() - started)}), flush=True)
                os._exit(0)

    _ = noop
    sys.argv = [sys.argv[0], "worker"]
    Worker(streams.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
