"""What importing an entry point loads: the bridge needs no faust, and the CLI loads the worker, the bridge
and the AWS clients only when a command needs them (its start-up stays fast and a config error stays one
line). The package-level boundaries (the pure domain, streams ⟂ consumers) are import-linter's, in make lint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return {name.split(".")[0] for name in json.loads(out.stdout)} | set(json.loads(out.stdout))


def test_the_bridge_loads_no_faust_and_no_worker() -> None:
    loaded = loaded_after("consumers.bridge")
    assert not loaded & {"faust", "mode", "streams"}, sorted(loaded & {"faust", "mode", "streams"})


@pytest.mark.parametrize("heavy", ["faust", "mode", "streams", "consumers", "boto3", "aiokafka"])
def test_the_cli_loads_the_parts_only_when_a_command_runs(heavy: str) -> None:
    assert heavy not in loaded_after("orderstream.cli")


def test_the_worker_loads_no_bridge() -> None:
    assert "consumers" not in loaded_after("streams.worker")
