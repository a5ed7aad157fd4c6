"""The event-pattern matcher: the user guide's examples, edge cases, and the patterns it must refuse.

Examples marked "guide" come from the Amazon EventBridge User Guide pages "Content filtering in Amazon
EventBridge event patterns", "Comparison operators for use in event patterns", "Arrays in Amazon EventBridge
event patterns", "Matching null values and empty strings" and "Matching events on event field values"; those
marked "ruler" from the README of aws/event-ruler, the library behind EventBridge's matching.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orderstream.domain.patterns import MAX_DEPTH, InvalidPatternError, Pattern, compile_pattern
from orderstream.errors import OrderstreamError

EC2_EVENT: dict[str, Any] = {  # ruler: the sample event the README's examples are written against
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}

AUTOSCALING_EVENT: dict[str, Any] = {  # guide: null values and empty strings
    "version": "0",
    "detail-type": "EC2 Instance Launch Successful",
    "source": "aws.autoscaling",
    "resources": [],
    "detail": {"eventVersion": "", "responseElements": None},
}


def _detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


# (pattern, event, expected) — each pair as the documentation states it.
GUIDE_EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # Prefix, suffix and their ignore-case forms
    ("prefix", {"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"}, True),
    ("prefix miss", {"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T18:43:48Z"}, False),
    (
        "prefix ignore case",
        {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"service": "EVENTBRIDGE"},
        True,
    ),
    (
        "prefix ignore case 2",
        {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]},
        {"service": "EventBridge"},
        True,
    ),
    ("suffix", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"}, True),
    ("suffix is case-sensitive", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"}, False),
    (
        "suffix ignore case",
        {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"FileName": "image.PNG"},
        True,
    ),
    (
        "suffix ignore case tBridge",
        {"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]},
        {"service": "EVENTBRIDGE"},
        True,
    ),
    # Anything-but
    (
        "anything-but string",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        _detail(state="running"),
        True,
    ),
    (
        "anything-but string hit",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        _detail(state="initializing"),
        False,
    ),
    (
        "anything-but number",
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        _detail(**{"x-limit": 301.8}),
        True,
    ),
    (
        "anything-but number hit",
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        _detail(**{"x-limit": 123}),
        False,
    ),
    (
        "anything-but strings",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        _detail(state="running"),
        True,
    ),
    (
        "anything-but strings hit",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        _detail(state="stopped"),
        False,
    ),
    (
        "anything-but numbers",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        _detail(**{"x-limit": 301.8}),
        True,
    ),
    (
        "anything-but numbers hit",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        _detail(**{"x-limit": 200}),
        False,
    ),
    (
        "anything-but prefix",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        _detail(state="running"),
        True,
    ),
    (
        "anything-but prefix hit",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        _detail(state="initializing"),
        False,
    ),
    (
        "anything-but prefix region",
        {"Region": [{"anything-but": {"prefix": "us-"}}]},
        {"Region": "eu-west-1"},
        True,
    ),
    (
        "anything-but suffix",
        {"FileName": [{"anything-but": {"suffix": ".png"}}]},
        {"FileName": "notes.txt"},
        True,
    ),
    (
        "anything-but suffix hit",
        {"FileName": [{"anything-but": {"suffix": ".png"}}]},
        {"FileName": "image.png"},
        False,
    ),
    (
        "anything-but ignore case",
        {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"state": "INITIALIZING"},
        False,
    ),
    (
        "anything-but ignore case miss",
        {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"state": "running"},
        True,
    ),
    (
        "anything-but ignore case list",
        {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]},
        {"state": "Stopped"},
        False,
    ),
    (
        "anything-but wildcard",
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/lib/libc.so"},
        False,
    ),
    (
        "anything-but wildcard miss",
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/bin/env"},
        True,
    ),
    (
        "anything-but wildcard list",
        {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]},
        {"FilePath": "/usr/bin/env"},
        False,
    ),
    # Numeric (ruler sample event)
    (
        "numeric",
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        EC2_EVENT,
        True,
    ),
    ("numeric out of range", {"detail": {"c-count": [{"numeric": [">", 5]}]}}, EC2_EVENT, False),
    ("numeric price", {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, True),
    ("numeric equals", {"Price": [{"numeric": ["=", 100]}]}, {"Price": 100.0}, True),
    # IP addresses
    ("cidr", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, EC2_EVENT, True),
    ("cidr miss", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, EC2_EVENT, False),
    ("cidr ipv6", {"sourceIPAddress": [{"cidr": "2001:db8::/64"}]}, {"sourceIPAddress": "2001:db8::1"}, True),
    (
        "cidr ipv6 miss",
        {"sourceIPAddress": [{"cidr": "2001:db8::/64"}]},
        {"sourceIPAddress": "2001:db9::1"},
        False,
    ),
    # Exists (the README's note: only leaf nodes exist)
    ("exists true", {"detail": {"c-count": [{"exists": True}]}}, EC2_EVENT, True),
    ("exists false", {"detail": {"c-count": [{"exists": False}]}}, EC2_EVENT, False),
    (
        "exists false, field absent",
        {"detail": {"c-count": [{"exists": False}]}},
        _detail(state="running"),
        True,
    ),
    (
        "exists false, intermediate node",
        {"detail": {"c-count": [{"exists": False}]}},
        _detail(**{"c-count": {"c1": 100}}),
        True,
    ),
    (
        "exists true, intermediate node",
        {"detail": {"c-count": [{"exists": True}]}},
        _detail(**{"c-count": {"c1": 100}}),
        False,
    ),
    ("ProductName exists", {"ProductName": [{"exists": True}]}, {"ProductName": "Widget"}, True),
    # Equals-ignore-case and wildcard
    (
        "equals-ignore-case",
        {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
        EC2_EVENT,
        True,
    ),
    ("equals-ignore-case name", {"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "Alice"}, True),
    ("wildcard", {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueueService"}, True),
    ("wildcard miss", {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueueServices"}, False),
    (
        "wildcard arn",
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus"},
        True,
    ),
    (
        "wildcard dir/*.png",
        {"FileName": [{"wildcard": "dir/*.png"}]},
        {"FileName": "dir/sub/image.png"},
        True,
    ),
    (
        "wildcard dir/*.png miss",
        {"FileName": [{"wildcard": "dir/*.png"}]},
        {"FileName": "other/image.png"},
        False,
    ),
    # Complex example (ruler)
    (
        "complex",
        {
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
                "source-ip": [{"cidr": "10.0.0.0/8"}],
            },
        },
        EC2_EVENT,
        True,
    ),
    # And / Or
    ("and", {"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Monday"}, True),
    (
        "and miss",
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York", "Day": "Tuesday"},
        False,
    ),
    ("or values", {"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, True),
    (
        "$or fields",
        {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
        {"Location": "Boston", "Day": "Monday"},
        True,
    ),
    (
        "$or numeric",
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 3.018e2]}]},
                ]
            }
        },
        _detail(**{"c-count": 50, "d-count": 30, "x-limit": 301.8}),
        True,
    ),
    (
        "$or normal",
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/ES"},
        True,
    ),
    (
        "$or normal miss",
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/RDS"},
        False,
    ),
    (
        "$or nested and",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
                },
                {"scope": ["Service"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000},
        True,
    ),
    (
        "$or nested and miss",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {
                    "metricType": ["MetricType"],
                    "namespace": ["AWS/EC2"],
                    "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
                },
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 999},
        False,
    ),
    # Null and empty strings
    ("empty string", {"detail": {"eventVersion": [""]}}, AUTOSCALING_EVENT, True),
    ("null", {"detail": {"responseElements": [None]}}, AUTOSCALING_EVENT, True),
    ("null is not empty string", {"detail": {"responseElements": [""]}}, AUTOSCALING_EVENT, False),
    ("empty string is not null", {"detail": {"eventVersion": [None]}}, AUTOSCALING_EVENT, False),
    (
        "field matching",
        {
            "source": ["aws.autoscaling"],
            "detail-type": ["EC2 Instance Launch Successful"],
            "detail": {"responseElements": [None]},
        },
        AUTOSCALING_EVENT,
        True,
    ),
    # Value matching (Macie)
    (
        "value matching",
        {
            "source": ["aws.macie"],
            "detail-type": ["Macie Finding"],
            "detail": {"severity": {"score": [1]}, "count": [2]},
        },
        {
            "source": "aws.macie",
            "detail-type": "Macie Finding",
            "detail": {"severity": {"score": 1, "description": "Low"}, "count": 2},
        },
        True,
    ),
    # Arrays
    (
        "array intersection",
        {
            "resources": [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            ]
        },
        {
            "resources": [
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASG",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ]
        },
        True,
    ),
    ("array no intersection", {"resources": ["a", "b"]}, {"resources": ["c", "d"]}, False),
    (
        "ec2 terminated",
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]},
        },
        {**EC2_EVENT, "detail": {"state": "terminated"}},
        True,
    ),
    ("ec2 running", {"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}, EC2_EVENT, False),
]

EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [case[1:] for case in GUIDE_EXAMPLES],
    ids=[case[0] for case in GUIDE_EXAMPLES],
)
def test_documented_examples(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.matches(event) is expected
    assert compiled.matches_bytes(orjson.dumps(event)) is expected
    assert compile_pattern(orjson.dumps(pattern).decode()).matches(event) is expected


def test_objects_in_arrays_are_crushed_into_their_parent_field() -> None:  # ruler: JSON Array Matching
    assert compile_pattern({"employees": {"firstName": ["Anna"]}}).matches(EMPLOYEES)
    nested = {"employees": [EMPLOYEES["employees"][:2], EMPLOYEES["employees"][2:]]}
    assert compile_pattern({"employees": {"firstName": ["Peter"]}}).matches(nested)


def test_fields_of_one_pattern_object_must_come_from_one_array_element() -> None:
    # ruler: rulesForJSONEvent "will not match the Anna/Jones rule"
    assert not compile_pattern({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}).matches(
        EMPLOYEES
    )
    assert compile_pattern({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}).matches(EMPLOYEES)


# --------------------------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        # empty arrays hold no value: the field "does not exist"
        ({"tags": [{"exists": False}]}, {"tags": []}, True),
        ({"tags": [{"exists": True}]}, {"tags": []}, False),
        ({"tags": [{"anything-but": "x"}]}, {"tags": []}, False),
        ({"tags": ["x"]}, {"tags": []}, False),
        ({"a": {"b": [{"exists": False}]}}, {"a": []}, True),
        # missing keys: only exists:false matches
        ({"a": ["x"]}, {}, False),
        ({"a": [{"anything-but": "x"}]}, {}, False),
        ({"a": [None]}, {}, False),
        ({"a": {"b": [{"exists": False}]}}, {}, True),
        ({"a": {"b": [{"exists": False}]}}, {"a": "scalar"}, True),
        ({"a": {"b": ["x"]}}, {"a": "scalar"}, False),
        # numbers as strings, strings as numbers, booleans are not numbers
        ({"n": [5]}, {"n": "5"}, False),
        ({"n": ["5"]}, {"n": 5}, False),
        ({"n": [{"numeric": [">", 0]}]}, {"n": "5"}, False),
        ({"n": [{"numeric": [">", 0]}]}, {"n": True}, False),
        ({"n": [1]}, {"n": True}, False),
        ({"n": [True]}, {"n": 1}, False),
        ({"n": [{"anything-but": [1]}]}, {"n": True}, True),
        ({"n": [5]}, {"n": 5.0}, True),
        ({"n": [{"prefix": "1"}]}, {"n": 12}, False),
        ({"n": [{"anything-but": {"prefix": "1"}}]}, {"n": 12}, True),
        ({"ip": [{"cidr": "0.0.0.0/24"}]}, {"ip": 5}, False),
        # numeric matching is limited to ±5e9
        ({"n": [{"numeric": [">", 0]}]}, {"n": 5_000_000_000}, True),
        ({"n": [{"numeric": [">", 0]}]}, {"n": 5_000_000_001}, False),
        ({"n": [{"numeric": ["<", 0]}]}, {"n": -6e9}, False),
        # unicode
        ({"city": ["Zürich"]}, {"city": "Zürich"}, True),
        ({"city": [{"equals-ignore-case": "ZÜRICH"}]}, {"city": "zürich"}, True),
        ({"city": [{"prefix": "東京"}]}, {"city": "東京都"}, True),
        ({"emoji": [{"wildcard": "*🎉"}]}, {"emoji": "party 🎉"}, True),
        # wildcard: * spans newlines, escapes are literal
        ({"s": [{"wildcard": "a*b"}]}, {"s": "a\nb"}, True),
        ({"s": [{"wildcard": "a\\*b"}]}, {"s": "a*b"}, True),
        ({"s": [{"wildcard": "a\\*b"}]}, {"s": "axb"}, False),
        ({"s": [{"wildcard": "a\\\\b"}]}, {"s": "a\\b"}, True),
        ({"s": [{"wildcard": "*"}]}, {"s": ""}, True),
        # nested arrays of scalars are flattened
        ({"a": [3]}, {"a": [[1, [2, [3]]]]}, True),
        ({"a": [{"exists": True}]}, {"a": [[]]}, False),
        # mixed matchers in one list are OR-ed
        ({"a": ["x", {"prefix": "y"}, 7, None]}, {"a": "yes"}, True),
        ({"a": ["x", {"prefix": "y"}, 7, None]}, {"a": None}, True),
        ({"a": ["x", {"prefix": "y"}, 7, None]}, {"a": 8}, False),
        ({"a": [{"exists": False}, "x"]}, {"a": "x"}, True),
        ({"a": [{"exists": False}, "x"]}, {"a": "y"}, False),
        # an object is never a leaf value
        ({"a": [{"anything-but": "x"}]}, {"a": {"b": 1}}, False),
        ({"a": [{"anything-but": "x"}]}, {"a": None}, True),
        # exists:false inside arrays of objects, as event-ruler judges it: against the array elements chosen
        # by the fields that sort before it ("items.gift" < "items.sku": no element chosen yet, and one has a
        # gift; "items.zgift" > "items.sku": element 0 is chosen, and it has none)
        (
            {"items": {"sku": ["A"], "gift": [{"exists": False}]}},
            {"items": [{"sku": "A"}, {"sku": "B", "gift": True}]},
            False,
        ),
        (
            {"items": {"sku": ["A"], "zgift": [{"exists": False}]}},
            {"items": [{"sku": "A"}, {"sku": "B", "zgift": True}]},
            True,
        ),
        (
            {"items": {"sku": ["B"], "zgift": [{"exists": False}]}},
            {"items": [{"sku": "A"}, {"sku": "B", "zgift": True}]},
            False,
        ),
        # a string with the same text but a different JSON type is not a number
        ({"v": ["null"]}, {"v": None}, False),
        ({"v": [None]}, {"v": "null"}, False),
        # cidr edge cases
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "not an ip"}, False),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "2001:db8::1"}, False),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": ["192.168.0.1", "10.0.0.9"]}, True),
        # addresses are read as event-ruler (Java) reads them
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "010.0.0.9"}, True),  # leading zeros are decimal
        ({"ip": [{"cidr": "010.0.0.0/24"}]}, {"ip": "10.0.0.9"}, True),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "::ffff:a00:9"}, True),  # IPv4-mapped is IPv4
        ({"ip": [{"cidr": "fe80::/16"}]}, {"ip": "fe80::1%eth0"}, False),  # a zone id is no address
        ({"ip": [{"cidr": "fe80::/16"}]}, {"ip": "FE80:0000::0001"}, True),
        ({"ip": [{"cidr": "0.0.0.0/0"}]}, {"ip": 5}, False),  # a number is no address
        ({"ip": [{"cidr": "::/0"}]}, {"ip": "10.0.0.1"}, False),  # families never mix
        ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "0a00:0001::"}, False),
        ({"ip": [{"cidr": "10.0.0.6/31"}]}, {"ip": "10.0.0.7"}, True),
        ({"ip": [{"cidr": "10.0.0.0/24/"}]}, {"ip": "10.0.0.7"}, True),  # Java's split drops the empty tail
        # an exact value that is an address matches the same address however it is written
        ({"ip": ["10.0.0.5"]}, {"ip": "10.00.0.5"}, True),
        ({"ip": ["2001:db8::1"]}, {"ip": "2001:DB8:0:0:0:0:0:1"}, True),
        ({"ip": [{"exactly": "10.0.0.5"}]}, {"ip": "10.00.0.5"}, False),  # exactly compares text
        ({"ip": [{"anything-but": "10.0.0.5"}]}, {"ip": "10.00.0.5"}, True),
        # dotted keys and nesting name the same field
        ({"a.b": ["x"]}, {"a": {"b": "x"}}, True),
        ({"a": {"b": ["x"]}}, {"a.b": "x"}, True),
        ({"a": {"b": ["x"]}}, {"a": [{"b": "y"}], "a.b": "x"}, True),
        # equals-ignore-case maps each character of the pattern to its lower or upper case (event-ruler)
        ({"s": [{"equals-ignore-case": "ß"}]}, {"s": "SS"}, True),
        ({"s": [{"equals-ignore-case": "ß"}]}, {"s": "ss"}, False),
        ({"s": [{"equals-ignore-case": "SS"}]}, {"s": "ß"}, False),
        ({"s": [{"equals-ignore-case": "k"}]}, {"s": "\u212a"}, False),  # Kelvin sign
        ({"s": [{"equals-ignore-case": "\u212a"}]}, {"s": "k"}, True),
        ({"s": [{"equals-ignore-case": "\u0131"}]}, {"s": "I"}, True),  # dotless i
        ({"s": [{"equals-ignore-case": "i"}]}, {"s": "\u0131"}, False),
        ({"s": [{"equals-ignore-case": "ΟΔΟΣ"}]}, {"s": "οδο\u03c3"}, True),
        ({"s": [{"equals-ignore-case": "ΟΔΟΣ"}]}, {"s": "οδος"}, False),  # final sigma
        ({"s": [{"prefix": {"equals-ignore-case": "ß"}}]}, {"s": "SSx"}, True),
        ({"s": [{"anything-but": {"equals-ignore-case": "ß"}}]}, {"s": "SS"}, False),
        # exactly is a plain string match
        ({"s": [{"exactly": "a*b"}]}, {"s": "a*b"}, True),
        ({"s": [{"exactly": "5"}]}, {"s": 5}, False),
        # anything-but takes lists of prefixes and suffixes too
        ({"s": [{"anything-but": {"prefix": ["x", "y"]}}]}, {"s": "yz"}, False),
        ({"s": [{"anything-but": {"prefix": ["x", "y"]}}]}, {"s": "z"}, True),
        ({"s": [{"anything-but": {"suffix": ["x", "y"]}}]}, {"s": "zy"}, False),
        # duplicate values in an array are one value; arrays inside arrays keep their elements apart
        ({"a": {"b": [1], "c": [2]}}, {"a": [[{"b": 1}], [{"c": 2}]]}, False),
        ({"a": {"b": [1]}, "c": [2]}, {"a": [{"b": 1}], "c": 2}, True),
    ],
)
def test_edge_cases(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.matches(event) is expected
    assert compiled.matches_bytes(orjson.dumps(event)) is expected


def test_very_deep_event_nesting() -> None:
    event: dict[str, Any] = {"leaf": "x"}
    for _ in range(5000):  # far deeper than any pattern; matching only walks as deep as the pattern
        event = {"a": event}
    assert not compile_pattern({"a": {"a": {"leaf": ["x"]}}}).matches(event)
    pattern: dict[str, Any] = {"leaf": ["x"]}
    shallow: dict[str, Any] = {"leaf": "x"}
    for _ in range(MAX_DEPTH - 1):
        pattern, shallow = {"a": pattern}, {"a": shallow}
    assert compile_pattern(pattern).matches(shallow)


def test_deeply_nested_arrays_do_not_hit_the_recursion_limit() -> None:
    value: Any = "needle"
    for _ in range(10_000):
        value = [value]
    assert compile_pattern({"a": ["needle"]}).matches({"a": value})
    assert compile_pattern({"a": {"b": [{"exists": False}]}}).matches({"a": value})


def test_large_arrays() -> None:
    event = {"ids": list(range(100_000)), "objs": [{"k": i} for i in range(100_000)]}
    assert compile_pattern({"ids": [99_999]}).matches(event)
    assert not compile_pattern({"ids": [100_000]}).matches(event)
    assert compile_pattern({"objs": {"k": [{"numeric": [">=", 99_999]}]}}).matches(event)
    assert compile_pattern({"big": [{"anything-but": list(range(10_000))}]}).matches({"big": 10_000})


def test_matches_bytes_refuses_invalid_json_and_handles_escapes() -> None:
    pattern = compile_pattern({"event_type": ["order.created"]})
    assert not pattern.matches_bytes(b"{not json")
    assert not pattern.matches_bytes(b"")
    escaped = b'{"event_type": "order\\u002ecreated"}'  # same string, escaped: the fast path must step aside
    assert pattern.matches_bytes(escaped)
    assert not pattern.matches_bytes(b'{"event_type": "order.cancelled"}')
    assert not pattern.matches_bytes(b'["order.created"]')


def test_fast_path_only_uses_required_exact_strings() -> None:
    pattern = compile_pattern({"$or": [{"a": ["x"]}, {"b": ["y"]}], "c": [{"prefix": "z"}]})
    assert pattern.matches_bytes(b'{"b": "y", "c": "zz"}')
    unicode = compile_pattern({"city": ["Zürich"]})
    assert unicode.matches_bytes('{"city": "Zürich"}'.encode())
    assert not unicode.matches_bytes(b'{"city": "Zurich"}')


def test_pattern_is_reusable_and_has_a_readable_repr() -> None:
    pattern = compile_pattern('{"a": ["x"]}')
    assert isinstance(pattern, Pattern)
    assert repr(pattern) == 'Pattern({"a":["x"]})'
    assert [pattern.matches({"a": v}) for v in ("x", "y", "x")] == [True, False, True]


# --------------------------------------------------------------------------------------------- bad patterns

BAD_PATTERNS: list[tuple[Any, str, str]] = [
    # (pattern, expected path, fragment of the problem)
    ("{not json", "<root>", "not valid JSON"),
    ("[1, 2]", "<root>", "must be a JSON object"),
    ({}, "<root>", "empty object"),
    ({"a": {}}, "a", "empty object"),
    ({"a": "x"}, "a", "object or a non-empty array"),
    ({"a": 5}, "a", "object or a non-empty array"),
    ({"a": []}, "a", "empty array"),
    ({"a": [["x"]]}, "a[0]", "got array"),
    ({"a": [{"contains": "x"}]}, "a[0]", "unknown operator 'contains'"),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "a[0]", "exactly one operator"),
    ({"a": [{}]}, "a[0]", "exactly one operator"),
    ({"a": [{"prefix": 5}]}, "a[0].prefix", "expected a string"),
    ({"a": [{"prefix": {"ignore-case": "x"}}]}, "a[0].prefix", "equals-ignore-case"),
    ({"a": [{"suffix": ["x"]}]}, "a[0].suffix", "expected a string"),
    ({"a": [{"equals-ignore-case": 3}]}, "a[0].equals-ignore-case", "expected a string"),
    ({"a": [{"exists": "yes"}]}, "a[0].exists", "true or false"),
    ({"a": [{"cidr": "10.0.0.0/33"}]}, "a[0].cidr", "CIDR"),
    ({"a": [{"cidr": "banana"}]}, "a[0].cidr", "CIDR"),
    ({"a": [{"wildcard": "a**b"}]}, "a[0].wildcard", "consecutive wildcard"),
    ({"a": [{"wildcard": "a\\b"}]}, "a[0].wildcard", "may only escape"),
    ({"a": [{"wildcard": "trailing\\"}]}, "a[0].wildcard", "may only escape"),
    ({"a": [{"wildcard": 1}]}, "a[0].wildcard", "expected a string"),
    ({"a": [{"numeric": [">", "5"]}]}, "a[0].numeric[1]", "must be numbers"),
    ({"a": [{"numeric": [">", True]}]}, "a[0].numeric[1]", "must be numbers"),
    ({"a": [{"numeric": [">"]}]}, "a[0].numeric", "operator/number pairs"),
    ({"a": [{"numeric": []}]}, "a[0].numeric", "operator/number pairs"),
    ({"a": [{"numeric": 5}]}, "a[0].numeric", "operator/number pairs"),
    ({"a": [{"numeric": ["!=", 5]}]}, "a[0].numeric[0]", "unknown numeric operator"),
    ({"a": [{"numeric": [">", 1, ">", 2]}]}, "a[0].numeric[2]", "more than one lower bound"),
    ({"a": [{"numeric": ["<", 1, "<=", 2]}]}, "a[0].numeric[2]", "more than one upper bound"),
    ({"a": [{"numeric": [">", 5, "<", 5]}]}, "a[0].numeric", "empty range"),
    ({"a": [{"numeric": [">=", 6, "<=", 5]}]}, "a[0].numeric", "empty range"),
    ({"a": [{"numeric": ["=", 5, "<", 6]}]}, "a[0].numeric[0]", "cannot be combined"),
    ({"a": [{"numeric": [">", 5e9 + 1]}]}, "a[0].numeric[1]", "outside the supported range"),
    ({"a": [{"numeric": [">", float("nan")]}]}, "a[0].numeric[1]", "not a finite number"),
    ({"a": [float("inf")]}, "a[0]", "not a finite number"),
    ({"a": [{"anything-but": []}]}, "a[0].anything-but", "empty array"),
    ({"a": [{"anything-but": ["x", 1]}]}, "a[0].anything-but", "only strings or only numbers"),
    ({"a": [{"anything-but": None}]}, "a[0].anything-but", "only strings or only numbers"),
    ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, "a[0].anything-but.numeric", "not supported inside"),
    ({"a": [{"anything-but": {"prefix": "x", "suffix": "y"}}]}, "a[0].anything-but", "takes a value"),
    ({"a": [{"anything-but": {"prefix": [5]}}]}, "a[0].anything-but.prefix", "array of strings"),
    ({"a": [{"anything-but": {"prefix": ""}}]}, "a[0].anything-but.prefix", "empty prefix"),
    ({"a": [{"anything-but": {"suffix": ["x", ""]}}]}, "a[0].anything-but.suffix", "empty suffix"),
    ({"a": [{"numeric": ["<", 5, ">", 0]}]}, "a[0].numeric[0]", "lower bound first"),
    ({"a": [{"numeric": [">=", 5, "<=", 5]}]}, "a[0].numeric", "empty range"),
    ({"a": [{"numeric": [">", 1, "<", 2, "<", 3]}]}, "a[0].numeric", "at most one lower and one upper"),
    ({"a": [{"cidr": "10.0.0.5"}]}, "a[0].cidr", "one '/'"),
    ({"a": [{"cidr": "10.0.0.5/32"}]}, "a[0].cidr", "list it as a value"),
    ({"a": [{"cidr": "2001:db8::1/128"}]}, "a[0].cidr", "list it as a value"),
    ({"a": [{"cidr": "::ffff:0:0/96"}]}, "a[0].cidr", "IPv4 prefix length"),
    ({"a": [{"cidr": "10.0.0.0/x"}]}, "a[0].cidr", "not an integer"),
    ({"a": [{"exactly": 5}]}, "a[0].exactly", "expected a string"),
    ('{"a": ["x"], "a": ["y"]}', "<root>", "duplicate key 'a'"),
    ('{"a": [1E309]}', "a[0]", "not a finite number"),
    ({"a.b": ["x"], "a": {"b": ["y"]}}, "a.b", "already given at a.b"),
    ({"a": ["x"], "$or": [{"a": ["y"]}, {"b": ["z"]}]}, "$or[0].a", "already given at a"),
    ({"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}, "$or[0].prefix", "operator name"),
    ({"$or": ["x"]}, "$or", "at least two"),
    ({"a": [{"anything-but": {"wildcard": "x**"}}]}, "a[0].anything-but.wildcard", "consecutive"),
    ({"$or": [{"a": ["x"]}]}, "$or", "at least two"),
    ({"$or": {"a": ["x"]}}, "$or", "at least two"),
    ({"$or": [{"a": ["x"]}, "b"]}, "$or[1]", "must be an object"),
    ({"d": {"$or": [{"a": ["x"]}, {"b": {"c": []}}]}}, "d.$or[1].b.c", "empty array"),
    (
        {"data": {"total_cents": [{"numeric": [">=", "50000"]}]}},
        "data.total_cents[0].numeric[1]",
        "must be numbers",
    ),
]


def _nested(depth: int) -> dict[str, Any]:
    pattern: dict[str, Any] = {"leaf": ["x"]}
    for _ in range(depth - 1):
        pattern = {"a": pattern}
    return pattern


@pytest.mark.parametrize(
    ("pattern", "path", "problem"), BAD_PATTERNS, ids=[str(c[0])[:60] for c in BAD_PATTERNS]
)
def test_bad_patterns_are_refused_with_path_and_problem(pattern: Any, path: str, problem: str) -> None:
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(pattern)
    assert caught.value.path == path
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, OrderstreamError)


def test_nesting_limit() -> None:
    compile_pattern(_nested(MAX_DEPTH))
    with pytest.raises(InvalidPatternError, match=f"deeper than {MAX_DEPTH}"):
        compile_pattern(_nested(MAX_DEPTH + 1))
