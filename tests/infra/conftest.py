"""Session fixtures: the parsed Terraform example and compose file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from infra_files import COMPOSE_FILE, EXAMPLE, load_hcl, merged_blocks


@pytest.fixture(scope="session")
def example_main() -> dict[str, Any]:
    return load_hcl(EXAMPLE / "main.tf")


@pytest.fixture(scope="session")
def example_locals(example_main: dict[str, Any]) -> dict[str, Any]:
    return merged_blocks(example_main, "locals")


@pytest.fixture(scope="session")
def example_variables() -> dict[str, Any]:
    return merged_blocks(load_hcl(EXAMPLE / "variables.tf"), "variable")


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open() as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded
