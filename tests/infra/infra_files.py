"""Readers for the infrastructure files, shared by the tests in this folder (fixtures in conftest.py).

python-hcl2 keeps HCL string literals quoted (``'"SASL_SSL"'``) and expressions as ``"${...}"``; the helpers
here unquote literals so tests compare plain values, and leave expressions as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "infra" / "terraform"
EXAMPLE = TERRAFORM / "examples" / "complete"
SERVICE_MODULE = TERRAFORM / "modules" / "fargate_service"
COMPOSE_FILE = REPO / "docker-compose.yml"


def unquote(value: Any) -> Any:
    """A literal without its HCL quotes; lists and maps recursively; expressions unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = unquote(hcl2.load(handle))
    return parsed


def merged_blocks(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """All ``locals``/``module``/``variable`` blocks of a file merged into one mapping by name."""
    merged: dict[str, Any] = {}
    for block in doc.get(kind, []):
        merged.update(block)
    return merged


def resources(doc: dict[str, Any], kind: str = "resource") -> dict[tuple[str, str], Any]:
    """``(type, name) → body`` for every resource (or data source) of a file."""
    found: dict[tuple[str, str], Any] = {}
    for block in doc.get(kind, []):
        for rtype, named in block.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found
