"""docker-compose.yml with the host-network override applied, for compose versions that cannot apply it.

``infra/compose/host-network.yml`` drops the published ports with the Compose Specification's ``!reset`` tag
(ports cannot be combined with host networking). Compose v2 applies it itself
(``docker compose -f docker-compose.yml -f infra/compose/host-network.yml``); Debian's compose v1 does not
know the tag, so :func:`merged` applies the override the way the specification merges files (mappings
merged key by key, ``!reset`` removes, ``!override`` replaces, ``ports``/``expose``/``dns``/``tmpfs``
appended, other sequences replaced) and :func:`write_merged` writes one file for ``docker-compose -f``.
Variables (``${HOSTNET_KAFKA_PORT:-19092}``) are left for compose to fill in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orderstream.local import PROJECT_ROOT

BASE_FILE = PROJECT_ROOT / "docker-compose.yml"
HOST_NETWORK_FILE = PROJECT_ROOT / "infra" / "compose" / "host-network.yml"
APPENDED = frozenset({"ports", "expose", "dns", "dns_search", "tmpfs", "external_links"})


class Reset:
    """``!reset``: the key is removed from the merged file."""


class Override:
    """``!override value``: the value replaces the base's instead of being merged with it."""

    def __init__(self, value: Any) -> None:
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    """A YAML loader that knows compose's merge tags."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", _reset)
ComposeLoader.add_constructor("!override", _override)


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=ComposeLoader)
    return loaded


def merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(override, Override):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for name, value in override.items():
            if isinstance(value, Reset):
                out.pop(name, None)
            elif name in out:
                out[name] = merge(out[name], value, name)
            else:
                out[name] = value.value if isinstance(value, Override) else value
        return out
    if isinstance(base, list) and isinstance(override, list) and key in APPENDED:
        return base + [item for item in override if item not in base]
    return override


def merged(base: Path = BASE_FILE, override: Path = HOST_NETWORK_FILE) -> dict[str, Any]:
    """The compose file ``base`` with ``override`` applied (``x-`` extension fields dropped)."""
    doc = merge(load(base), load(override))
    return {k: v for k, v in doc.items() if not str(k).startswith("x-")}


def write_merged(target: Path, base: Path = BASE_FILE, override: Path = HOST_NETWORK_FILE) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# generated from {base.name} + {override.name} by orderstream.containers.compose; do not edit\n"
        + yaml.safe_dump(merged(base, override), sort_keys=False, width=1000)
    )
    return target
