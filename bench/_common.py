"""Shared bits of the benchmarks: where the broker is, and where results go."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def bootstrap() -> str:
    """The broker to measure: ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS, else the local one (started if needed)."""
    if os.environ.get("ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    from orderstream.local import KafkaBroker

    broker = KafkaBroker.from_env()
    print(broker.up())
    return broker.bootstrap


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {path}")
    return path
