"""The faust ceiling on this box: a no-op agent reading the three source topics with ``take_events``.

    .venv/bin/python bench/faust_noop.py BOOTSTRAP EVENTS

Run by ``bench/streams.py`` in its own process (a faust worker owns its event loop and signals). It counts
records from the first batch on, prints ``{"events_per_s": …}`` once it has seen ``EVENTS`` of them, and exits.
Same app settings as the worker where they matter (buffer sizes, poll size, batch size and wait).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import faust

# bench/streams.py sits next to this file and would hide the ``streams`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
from streams import patches  # noqa: E402
from streams.app import BATCH_MAX, BATCH_WITHIN  # noqa: E402
from streams.worker import Worker  # noqa: E402


def main(bootstrap: str, events: int) -> None:
    patches.apply()  # the worker runs with these, so the ceiling does too
    app = faust.App(
        f"bench-noop-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4096,
        broker_max_poll_records=1000,
        worker_redirect_stdouts=False,
        loghandlers=[],
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
    sources = app.topic(
        "orders", "payments", "shipments", key_serializer="raw", value_serializer="raw", **raw
    )
    seen, started = 0, 0.0

    @app.agent(sources)
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
    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
