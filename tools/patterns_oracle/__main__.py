"""``python -m tools.patterns_oracle build`` | ``compare [--cases N] [--seed S]``."""

from __future__ import annotations

import argparse

from tools.patterns_oracle import compare, harness


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.patterns_oracle", description=__doc__)
    parser.add_argument("command", choices=["build", "compare"])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    if args.command == "build":
        print(f"event-ruler harness built in {harness.build()}")
        return
    report = compare.run(cases=args.cases, seed=args.seed)
    print(report.summary())
    for line in report.unexplained[:50]:
        print(line)


if __name__ == "__main__":
    main()
