"""The moto launcher's one change: each JSONPath expression is parsed once, with the same results."""

from __future__ import annotations

import jsonpath_ng.ext

from orderstream import moto_server


def test_jsonpaths_are_parsed_once_and_still_find_the_same_values() -> None:
    event = {"detail": {"order_id": "o-1"}, "source": "orderstream"}
    fresh = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    expected = [match.value for match in fresh("$.detail.order_id").find(event)]
    moto_server.remember_parsed_jsonpaths()
    moto_server.remember_parsed_jsonpaths()  # idempotent: no cache around the cache
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    assert parse("$.detail.order_id") is parse("$.detail.order_id")
    assert [match.value for match in parse("$.detail.order_id").find(event)] == expected == ["o-1"]
    assert [match.value for match in parse("$.source").find(event)] == ["orderstream"]
    assert not hasattr(parse.__wrapped__, "cache_info")
