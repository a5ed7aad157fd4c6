"""moto in server mode, with its JSONPath expressions parsed once instead of once per event.

moto turns each event it delivers to a rule target into the target's input through an input transformer;
without one it applies its default, nine JSONPath expressions. It parses every expression afresh for every
event and target with jsonpath-ng's PLY parser, which builds its parser tables on each call, and that parsing
took most of the time moto spent on a PutEvents → SQS delivery: it managed about 95 entries/s here, too few to
measure the bridge's latency at 1 000 events/s. The expressions are the same strings every time and a parsed
expression holds no per-event state, so remembering them changes nothing moto answers.

Run as ``python -m orderstream.moto_server`` with moto's own arguments (``orderstream local up`` does).
"""

from __future__ import annotations

import functools
import sys

import jsonpath_ng.ext
from moto import server


def remember_parsed_jsonpaths() -> None:
    """Make ``jsonpath_ng.ext.parse`` (which moto imports at each call) return one parse per expression."""
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009 (not in the module's declared exports)
    if not hasattr(parse, "cache_info"):
        setattr(jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=1024)(parse))  # noqa: B010


def main(argv: list[str] | None = None) -> None:
    remember_parsed_jsonpaths()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
