"""Which Docker engine the tests use, and a private one under ``.local/docker`` when there is none.

In order: ``DOCKER_HOST`` if set, the default socket, a private engine this project already started. With none
of them, as root with apt (development machines, CI), Debian's ``docker.io`` is installed and a private
``dockerd`` starts with its own data root, exec root and socket (never ``/var/run/docker.sock``: nothing else
on the machine sees it), no bridge and no iptables rules: containers use host networking. Stopping it
unmounts whatever it left mounted (the network namespace of its host-network sandbox among them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orderstream.errors import DockerError
from orderstream.local import LocalPaths, _alive, _read_pid, _spawn

DEFAULT_HOST = "unix:///var/run/docker.sock"
PACKAGES = ("docker.io", "debootstrap", "docker-compose")
"""What the tests need on a machine without Docker: the engine, the base-image builder, compose."""
FALLBACK = "no Docker engine answers and this is not root with apt: the tests use the local JVM broker"


def answers(host: str, timeout: float = 3.0) -> bool:
    """True if a Docker engine answers a ping at ``host`` (``unix://...`` or ``tcp://...``)."""
    try:
        import docker

        client = docker.DockerClient(base_url=host, timeout=int(max(1, timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@dataclass(frozen=True)
class Engine:
    """An engine that answers: its ``DOCKER_HOST`` and where it came from (env, system or private)."""

    host: str
    kind: str

    def client(self, timeout: int = 300):  # type: ignore[no-untyped-def]
        import docker

        return docker.DockerClient(base_url=self.host, timeout=timeout)

    @property
    def host_network_only(self) -> bool:
        """The private engine has no bridge: containers share the host's network (port mapping is ignored)."""
        if self.kind == "private":
            return True
        client = self.client(timeout=10)
        try:
            return not client.networks.list(names=["bridge"])
        finally:
            client.close()


@dataclass(frozen=True)
class PrivateEngine:
    """``dockerd`` run by this project, everything under ``.local/docker``."""

    paths: LocalPaths

    @classmethod
    def default(cls) -> PrivateEngine:
        return cls(LocalPaths.default())

    @property
    def root(self) -> Path:
        return self.paths.root / "docker"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        # containerd's sockets live under the exec root and a socket path has at most 107 bytes.
        local = self.root / "exec"
        if len(str(local)) <= 60:
            return local
        return Path("/tmp") / f"orderstream-docker-{hashlib.sha256(bytes(local)).hexdigest()[:12]}"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_file(self) -> Path:
        return self.paths.logs / "dockerd.log"

    @property
    def pidfile(self) -> Path:
        return self.root / "engine.pid"

    def running_pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def up(self, timeout: float = 60.0) -> str:
        pid = self.running_pid()
        if pid is not None and answers(self.host):
            return f"docker engine already running (pid {pid}) at {self.host}"
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise DockerError("dockerd not found: install Debian's docker.io (make docker-up does, as root)")
        for path in (self.data_root, self.exec_root):
            path.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        config = self.root / "daemon.json"
        config.write_text(json.dumps({}))
        cmd = [
            dockerd, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
            "--pidfile", str(self.root / "dockerd.pid"), "--host", self.host, "--config-file", str(config),
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--userland-proxy=false", "--log-level=warn",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        pid = _spawn(cmd, self.log_file, self.pidfile, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers(self.host, timeout=2):
                return f"docker engine up (pid {pid}) at {self.host}; log {self.log_file}"
            if not _alive(pid):
                break
            time.sleep(0.2)
        tail = self._log_tail()
        self.down()
        raise DockerError(f"dockerd did not answer at {self.host} within {timeout:.0f}s: {tail}")

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"

    def down(self, timeout: float = 45.0) -> str:
        """SIGTERM dockerd (it stops its containers), SIGKILL after ``timeout``, then unmount what it left."""
        pid = self.running_pid()
        stopped = False
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.1)
            stopped = True
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        unmounted = self.unmount()
        left = f"; unmounted {unmounted}" if unmounted else ""
        return ("docker engine stopped" if stopped else "docker engine was not running") + left

    def mounts(self) -> list[str]:
        """Mount points under the engine's data and exec roots (deepest first)."""
        roots = [str(self.data_root) + "/", str(self.exec_root) + "/", str(self.exec_root)]
        found = []
        with contextlib.suppress(OSError), open("/proc/self/mountinfo") as info:
            for line in info:
                point = line.split()[4].encode().decode("unicode_escape")
                if any(point == r.rstrip("/") or point.startswith(r) for r in roots):
                    found.append(point)
        return sorted(set(found), key=len, reverse=True)

    def unmount(self) -> int:
        count = 0
        for point in self.mounts():
            done = subprocess.run(["umount", point], capture_output=True, check=False).returncode == 0
            if not done:
                done = (
                    subprocess.run(["umount", "-l", point], capture_output=True, check=False).returncode == 0
                )
            count += done
        left = self.mounts()
        if left:
            raise DockerError(f"could not unmount {left[0]} (and {len(left) - 1} more) after dockerd stopped")
        return count

    def status(self) -> str:
        pid = self.running_pid()
        if pid is None:
            return f"docker engine: stopped ({self.host})"
        state = "answering" if answers(self.host) else "NOT answering"
        return f"docker engine: running pid {pid}, {state} at {self.host}, log {self.log_file}"


def discover() -> Engine | None:
    """The engine that answers: ``DOCKER_HOST``, else the default socket, else this project's private one."""
    env = os.environ.get("DOCKER_HOST")
    if env:
        return Engine(env, "env") if answers(env) else None
    if answers(DEFAULT_HOST):
        return Engine(DEFAULT_HOST, "system")
    private = PrivateEngine.default()
    if private.running_pid() is not None and answers(private.host):
        return Engine(private.host, "private")
    return None


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_packages(log: Path) -> None:
    """Debian's docker.io, debootstrap and docker-compose (apt-get update first if the lists are stale)."""
    missing = [p for p, tool in zip(PACKAGES, ("dockerd", "debootstrap", "docker-compose"), strict=True)
               if shutil.which(tool) is None]  # fmt: skip
    if not missing:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    with log.open("ab") as out:
        if subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode:
            subprocess.run(
                ["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT, env=env, check=False
            )
            if subprocess.run(install, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode:
                raise DockerError(f"apt-get could not install {' '.join(missing)}; see {log}")


def ensure() -> tuple[Engine | None, bool]:
    """An engine for the tests and whether it was started here; ``(None, False)`` after saying why not."""
    env = os.environ.get("DOCKER_HOST")
    if env and not answers(env):
        raise DockerError(f"DOCKER_HOST={env} does not answer (unset it to let make test find or start one)")
    found = discover()
    if found is not None:
        return found, False
    if not can_install():
        print(FALLBACK, file=sys.stderr)
        return None, False
    private = PrivateEngine.default()
    install_packages(private.paths.logs / "apt-docker.log")
    print(private.up(), file=sys.stderr)
    return Engine(private.host, "private"), True
