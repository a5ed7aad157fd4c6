"""Benchmark: how long `orderstream webhook serve` takes to answer, against EventBridge's 5 s limit.

    .venv/bin/python bench/webhook.py [--requests 600] [--concurrency 10] [--runs 3]

The receiver runs as a process with its S3 store in moto (started if needed), as on ECS with S3. Each run
sends ``--requests`` deliveries from ``--concurrency`` threads (an API destination's rate limit is 10/s by
default here, so 10 at once is more than it will see), two in three new and one in three a repeat of an
earlier event (the duplicate path), each on a kept-alive connection. Prints p50/p99/max per run and the
median of the runs; writes bench/results/webhook.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from _common import write_results

KEY = "bench-key-" + "k" * 24
EVENTBRIDGE_TIMEOUT_S = 5.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(event_id: str) -> bytes:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "source": "orderstream.loyalty",
            "detail-type": "loyalty.tier_changed",
            "detail": {
                "event_id": event_id,
                "event_type": "loyalty.tier_changed",
                "schema_version": 1,
                "occurred_at": "2026-11-28T10:15:00Z",
                "customer_id": "c-000042",
                "order_id": "o-1",
                "caused_by": str(uuid.uuid4()),
                "data": {"from_tier": "silver", "to_tier": "gold", "points": 2000},
            },
        }
    ).encode()


def start_receiver(endpoint: str, bucket: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ORDERSTREAM_WEBHOOK_PORT": str(port),
        "ORDERSTREAM_WEBHOOK_API_KEY": KEY,
        "ORDERSTREAM_WEBHOOK_BUCKET": bucket,
        "ORDERSTREAM_AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderstream.cli", "webhook", "serve"], env=env, stdout=out, stderr=out
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"receiver did not start; see {log}")


def one_run(port: int, requests: int, concurrency: int) -> dict[str, Any]:
    plan: list[str] = []
    for i in range(requests):  # every third delivery repeats the one before it
        plan.append(plan[-1] if i % 3 == 2 else str(uuid.uuid4()))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()

    def worker(part: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for event_id in part:
            body = event(event_id)
            started = time.perf_counter()
            conn.request("POST", "/webhooks/loyalty", body=body, headers={"x-api-key": KEY})
            resp = conn.getresponse()
            outcome = json.loads(resp.read())["status"]
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                statuses[outcome] = statuses.get(outcome, 0) + 1

    threads = [threading.Thread(target=worker, args=(plan[i::concurrency],)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "statuses": statuses,
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
        "max_ms": round(1000 * ordered[-1], 1),
        "requests_per_s": round(len(latencies) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import boto3

    from orderstream.local import LocalPaths, MotoServer

    endpoint = os.environ.get("ORDERSTREAM_AWS_ENDPOINT_URL")
    moto = None
    if not endpoint:
        moto = MotoServer.from_env()
        started_moto = moto.running_pid() is None
        print(moto.up())
        endpoint = moto.endpoint
    bucket = f"bench-webhook-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    port = free_port()
    log = LocalPaths.default().logs / "bench-webhook.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = start_receiver(endpoint, bucket, port, log)
    try:
        runs = []
        for number in range(args.runs):
            result = one_run(port, args.requests, args.concurrency)
            print(f"run {number + 1}: {json.dumps(result)}")
            runs.append(result)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if moto is not None and started_moto:
            print(moto.down())
    median_p99 = statistics.median(r["p99_ms"] for r in runs)
    summary = {
        "requests_per_run": args.requests,
        "concurrency": args.concurrency,
        "store": "s3 (moto)",
        "runs": runs,
        "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "median_p99_ms": median_p99,
        "max_ms": max(r["max_ms"] for r in runs),
        "median_p99_over_eventbridge_timeout": round(median_p99 / (1000 * EVENTBRIDGE_TIMEOUT_S), 4),
    }
    print(
        f"median p50 {summary['median_p50_ms']} ms, median p99 {median_p99} ms, max {summary['max_ms']} ms: "
        f"p99 is {100 * summary['median_p99_over_eventbridge_timeout']:.2f} % of EventBridge's 5 s"
    )
    write_results("webhook", summary)


if __name__ == "__main__":
    main()
