"""The private engine: up and down are idempotent and leave nothing running, mounted or listening; with no
engine and no way to install one, one line says the tests fall back to the local broker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orderstream.containers.engine import FALLBACK, PrivateEngine, answers
from orderstream.local import PROJECT_ROOT, LocalPaths

ENGINE_CLI = [sys.executable, "-m", "orderstream.containers", "engine"]


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_private_engine_up_and_down_are_idempotent_and_leave_nothing_behind(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        message = "a private engine needs root and dockerd"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "ORDERSTREAM_LOCAL_DIR": str(tmp_path)}
    env.pop("DOCKER_HOST", None)
    private = PrivateEngine(LocalPaths(tmp_path.resolve()))

    def cli(action: str) -> str:
        done = subprocess.run(
            [*ENGINE_CLI, action], env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
        )
        assert done.returncode == 0, done.stderr
        return done.stderr + done.stdout

    try:
        assert "docker engine up" in private.up()
        pid = private.running_pid()
        assert pid is not None and answers(private.host)
        assert private.mounts(), "a running engine has its data root mounted"
        assert "already running" in private.up()
        assert private.running_pid() == pid
    finally:
        first = cli("down")
    assert "docker engine stopped" in first
    assert "was not running" in cli("down")
    assert private.running_pid() is None and not private.socket.exists() and not answers(private.host)
    assert private.mounts() == []
    assert not Path(f"/proc/{pid}").exists()


def test_without_an_engine_and_without_root_one_line_says_it_falls_back(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root to drop to an unprivileged user")  # the unprivileged case is then this one
    tmp_path.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.update(ORDERSTREAM_LOCAL_DIR=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *ENGINE_CLI, "up", "--print-host"],
        env=env, capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )  # fmt: skip
    if done.stdout.split()[:1] not in (["-"],):
        pytest.skip(f"an engine answers even for an unprivileged user here: {done.stdout.strip()}")
    assert done.returncode == 0
    assert done.stdout.split() == ["-", "0"]
    assert done.stderr.strip().splitlines() == [FALLBACK]
