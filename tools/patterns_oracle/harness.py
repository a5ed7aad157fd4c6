"""Build and run the event-ruler harness (tools/ruler-harness): one JVM answers a whole batch of requests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "tools" / "ruler-harness"
MAIN_CLASS = "dev.orderstream.ruler.Harness"


class HarnessError(RuntimeError):
    """The harness could not be built or run."""


def harness_dir() -> Path:
    local = Path(os.environ.get("ORDERSTREAM_LOCAL_DIR", ROOT / ".local")).resolve()
    return local / "ruler-harness"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(SOURCES)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"{name} not found on PATH: {hint}")
    return found


def build() -> Path:
    """Build the harness with Maven unless the cached build matches the sources. Returns its directory."""
    target = harness_dir()
    marker = target / ".built"
    fingerprint = _fingerprint()
    if marker.exists() and marker.read_text() == fingerprint:
        return target
    mvn = _tool("mvn", "install Apache Maven (apt-get install maven) to build the event-ruler harness")
    _tool("javac", "install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)")
    cmd = [
        mvn, "-q", "-B", "-f", str(SOURCES / "pom.xml"), f"-Dharness.dir={target}",
        "-Dmaven.test.skip=true", "clean", "package",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise HarnessError("maven could not build the event-ruler harness:\n" + "\n".join(tail))
    marker.write_text(fingerprint)
    return target


def run(requests: Iterable[Mapping[str, Any]], timeout: float = 300.0) -> list[str]:
    """Answer each request ({"rule", "event"} or {"rules", "events"}) with event-ruler; one line each."""
    target = build()
    java = _tool("java", "install a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
    lines = [json.dumps(request, ensure_ascii=False) for request in requests]
    classpath = f"{target / 'build' / 'ruler-harness.jar'}{os.pathsep}{target / 'lib' / '*'}"
    result = subprocess.run(
        [java, "-Xss8m", "-cp", classpath, MAIN_CLASS],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    answers = result.stdout.splitlines()
    if result.returncode != 0 or len(answers) != len(lines):
        raise HarnessError(
            f"the harness answered {len(answers)} of {len(lines)} requests (exit {result.returncode}): "
            + result.stderr.strip()[-2000:]
        )
    return answers
