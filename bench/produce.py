"""Benchmark: `orderstream produce` against a bare aiokafka send loop, same broker, same run.

    .venv/bin/python bench/produce.py [--count 200000]

Both sides use the same producer settings (idempotent, acks=all, linger 5 ms) and similar record sizes;
the difference is what `orderstream produce` adds: generating realistic lifecycles, chaos bookkeeping and
acknowledgement accounting. Target: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid

from _common import bootstrap, write_results

from orderstream import kafka
from orderstream.domain import contract
from orderstream.settings import ProducerSettings
from orderstream.synth import Workload, generate


def run_cli(count: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "produce", "--count", str(count), "--no-progress"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    print("  cli:", out.strip())
    match = re.search(r"\(([\d,]+) records/s\)", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


async def bare_loop(settings: ProducerSettings, values: list[bytes], topic: str) -> float:
    producer = kafka.producer(
        settings, linger_ms=settings.producer_linger_ms, max_batch_size=settings.producer_batch_bytes
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for i, value in enumerate(values):
            futures.append(await producer.send(topic, value=value, key=b"c-%06d" % (i % 1000)))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
        await producer.flush()
        await asyncio.gather(*futures)
        return len(values) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    servers = bootstrap()
    settings = ProducerSettings(kafka_bootstrap_servers=servers)
    bare_topic = f"bench-bare-{uuid.uuid4().hex[:6]}"
    asyncio.run(kafka.create_topics(settings))
    asyncio.run(kafka.create_topics(settings, [bare_topic]))
    # Bare loop gets pre-built values of the same sizes, so it pays for nothing but sending.
    values = [r.value for r in generate(Workload(events=args.count, seed=99))]
    env = {**os.environ, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": servers}
    cli_rates, bare_rates = [], []
    for round_no in range(1, args.rounds + 1):
        bare = asyncio.run(bare_loop(settings, values, bare_topic))
        print(f"round {round_no}: bare aiokafka loop {bare:,.0f} events/s")
        cli = run_cli(args.count, env)
        print(f"round {round_no}: orderstream produce {cli:,.0f} events/s")
        bare_rates.append(bare)
        cli_rates.append(cli)
    cli_best, bare_best = max(cli_rates), max(bare_rates)
    ratio = cli_best / bare_best
    print(
        f"\norderstream produce: {cli_best:,.0f} events/s | bare aiokafka: {bare_best:,.0f} events/s | "
        f"ratio {ratio:.2f} (target >= 0.7) | {args.count} events, best of {args.rounds}"
    )
    write_results("produce", {
        "count": args.count, "rounds": args.rounds, "cli_events_per_s": cli_rates,
        "bare_events_per_s": bare_rates, "ratio_best": ratio, "target_ratio": 0.7,
        "topics": list(contract.SOURCE_TOPICS),
    })  # fmt: skip


if __name__ == "__main__":
    main()
