"""JSONL input: every value form arrives as the exact bytes the user meant; bad lines are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.producer import InputFileError, read_jsonl


def test_value_forms(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"topic": "orders", "key": "c-1", "value": "{broken"}\n'
        "\n"
        '{"topic": "orders", "key": "c-2", "value": {"a": 1}}\n'
        '{"topic": "payments", "value": {"base64": "3q2+7w=="}}\n'
    )
    records = list(read_jsonl(path))
    assert [(r.topic, r.key, r.value) for r in records] == [
        ("orders", b"c-1", b"{broken"),
        ("orders", b"c-2", b'{"a":1}'),
        ("payments", b"", b"\xde\xad\xbe\xef"),
    ]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{oops", ":1: not a JSON line"),
        ('{"key": "x"}', "string 'topic'"),
        ('{"topic": "t", "value": 3}', "'value'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InputFileError, match=needle):
        list(read_jsonl(path))
