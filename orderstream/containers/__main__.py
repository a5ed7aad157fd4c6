"""``python -m orderstream.containers engine up|down|status`` and ``images`` (the Makefile's docker targets).

``compose-config FILE`` writes docker-compose.yml with the host-network override applied (for compose v1).
``engine up`` uses the engine that answers or starts the private one (installing Debian's docker.io as root);
with ``--print-host`` it prints ``<DOCKER_HOST> <started>`` on stdout (``- 0`` when the tests fall back to
the local broker), everything else on stderr. ``engine down`` stops the private engine only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from orderstream.errors import OrderstreamError


def _engine(action: str, print_host: bool) -> None:
    from orderstream.containers.engine import PrivateEngine, ensure

    private = PrivateEngine.default()
    if action == "up":
        engine, started = ensure()
        if engine is not None and not started:
            print(f"docker engine: using {engine.host} ({engine.kind})", file=sys.stderr)
        if print_host:
            print(f"{engine.host if engine else '-'} {int(started)}")
    elif action == "down":
        print(private.down(), file=sys.stderr)
    else:
        print(private.status())


def _images(which: list[str]) -> None:
    """Build the named images (all by default): the base first, then Kafka beside service and moto."""
    from concurrent.futures import ThreadPoolExecutor

    from orderstream.containers import images
    from orderstream.containers.engine import discover

    engine = discover()
    if engine is None:
        raise OrderstreamError("no Docker engine answers: run make docker-up first")
    names = which or list(images.BUILDERS)
    unknown = sorted(set(names) - set(images.BUILDERS))
    if unknown:
        raise OrderstreamError(
            f"unknown image(s) {', '.join(unknown)}; choose from {', '.join(images.BUILDERS)}"
        )

    def build(name: str) -> None:
        started = time.monotonic()
        client = engine.client()  # one per thread
        try:
            tag = images.BUILDERS[name](client)
        finally:
            client.close()
        print(f"image {name}: {tag} ({time.monotonic() - started:.1f}s)", file=sys.stderr)

    if "base" in names or len(names) > 1:
        build("base")  # every other image starts from it
    # kafka beside the Dockerfile's targets; those two one after the other (they share their layers)
    lanes = [[n for n in names if n == "kafka"], [n for n in names if n in ("service", "moto")]]

    def run(lane: list[str]) -> None:
        for name in lane:
            build(name)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(run, lane) for lane in lanes if lane]:
            future.result()
    if not which:
        client = engine.client()
        try:
            images.prune(client)
        finally:
            client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orderstream.containers")
    sub = parser.add_subparsers(dest="what", required=True)
    engine = sub.add_parser("engine", help="the Docker engine the tests use")
    engine.add_argument("action", choices=["up", "down", "status"])
    engine.add_argument("--print-host", action="store_true", help="print '<DOCKER_HOST> <started 0|1>'")
    build = sub.add_parser("images", help="build the images (base, kafka, service, moto) unless current")
    build.add_argument("names", nargs="*")
    config = sub.add_parser(
        "compose-config", help="write docker-compose.yml + the host-network override as one file"
    )
    config.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.what == "engine":
            _engine(args.action, args.print_host)
        elif args.what == "compose-config":
            from orderstream.containers.compose import write_merged

            print(write_merged(args.file))
        else:
            _images(args.names)
    except OrderstreamError as exc:
        print(f"orderstream: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
