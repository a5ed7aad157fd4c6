"""The local stack: a real Apache Kafka broker (KRaft, from Maven Central jars) and moto in server mode.

Everything lives under ``.local/`` in the project (or ``ORDERSTREAM_LOCAL_DIR``): jars, broker data, pid files
and logs. Start is idempotent (a running service is left alone), stop is graceful (SIGTERM, then SIGKILL after
a timeout). Used by ``orderstream local up|down|status``, the Makefile, the test harness and the demo.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from orderstream.errors import LocalStackError
from orderstream.local_broker import (
    BrokerPorts,
    TlsFiles,
    ensure_tls,
    render_broker_config,
    scram_config_args,
    scram_format_args,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_INFRA = PROJECT_ROOT / "infra" / "local"
POM = LOCAL_INFRA / "pom.xml"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise LocalStackError(f"{name}: expected a port number, got {raw!r}") from None


def kafka_version() -> str:
    """The pinned Kafka version, read from the pom so there is one place to change it."""
    text = POM.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>", start)].strip()


@dataclass(frozen=True)
class LocalPaths:
    root: Path

    @classmethod
    def default(cls) -> LocalPaths:
        return cls(Path(os.environ.get("ORDERSTREAM_LOCAL_DIR", PROJECT_ROOT / ".local")).resolve())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def libs(self, version: str) -> Path:
        return self.root / "kafka" / f"libs-{version}"

    @property
    def kafka_data(self) -> Path:
        return self.root / "kafka" / "data"

    @property
    def kafka_config(self) -> Path:
        return self.root / "kafka" / "server.properties"

    @property
    def tls(self) -> Path:
        """CA, broker and client certificates and the SCRAM password (``orderstream local certs``)."""
        return self.root / "tls"

    def pidfile(self, name: str) -> Path:
        return self.root / f"{name}.pid"


# ------------------------------------------------------------------------------------------ processes


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _spawn(cmd: list[str], log: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def _stop(pidfile: Path, timeout: float) -> bool:
    """SIGTERM the process in ``pidfile``, SIGKILL it after ``timeout``. True if something was stopped."""
    pid = _read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie that is not our child still answers kill(0); /proc tells the truth.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalStackError(f"{tool} not found on PATH: {hint}")
    return path


# ------------------------------------------------------------------------------------------ kafka


@dataclass(frozen=True)
class KafkaBroker:
    """The local single-node KRaft broker."""

    paths: LocalPaths
    port: int
    version: str

    @classmethod
    def from_env(cls) -> KafkaBroker:
        return cls(LocalPaths.default(), _env_int("ORDERSTREAM_LOCAL_KAFKA_PORT", 9092), kafka_version())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> BrokerPorts:
        return BrokerPorts(self.port)

    def tls_files(self) -> TlsFiles:
        """The TLS/SCRAM material, made with openssl if it is not there yet (idempotent)."""
        return ensure_tls(self.paths.tls)

    @property
    def log_file(self) -> Path:
        return self.paths.logs / "kafka.log"

    @property
    def pidfile(self) -> Path:
        return self.paths.pidfile("kafka")

    def fetch(self) -> Path:
        """Resolve the broker jars with Maven (once; cached under .local)."""
        libs = self.paths.libs(self.version)
        marker = libs / ".complete"
        if marker.exists():
            return libs
        mvn = _require("mvn", "install Apache Maven (apt-get install maven) to resolve the Kafka jars")
        _require("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        libs.mkdir(parents=True, exist_ok=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise LocalStackError("maven could not resolve the Kafka jars:\n" + "\n".join(tail))
        marker.write_text(self.version)
        return libs

    def _java_cmd(self, libs: Path, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = _require("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        return [
            java, f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOCAL_INFRA / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.paths.logs}",
            "-cp", f"{libs}/*", main, *args,
        ]  # fmt: skip

    def _render_config(self, tls: TlsFiles) -> None:
        self.paths.kafka_config.parent.mkdir(parents=True, exist_ok=True)
        self.paths.kafka_config.write_text(
            render_broker_config(port=self.port, data_dir=self.paths.kafka_data, tls=tls)
        )
        self.paths.kafka_config.chmod(0o600)  # it holds the keystore password

    def _format(self, libs: Path, tls: TlsFiles) -> None:
        if (self.paths.kafka_data / "meta.properties").exists():
            return
        self.paths.kafka_data.mkdir(parents=True, exist_ok=True)
        cmd = self._java_cmd(
            libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(self.paths.kafka_config),
            *scram_format_args(tls),
        )  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = (result.stdout + result.stderr).strip().splitlines()
            cause = next((ln for ln in lines if "Exception" in ln), lines[-1] if lines else "no output")
            raise LocalStackError(f"formatting KRaft storage failed: {cause.strip()}")
        self._scram_marker.write_text(_fingerprint(tls.scram_password))

    @property
    def _scram_marker(self) -> Path:
        return self.paths.kafka_data / ".scram-user"

    def _ensure_scram_user(self, libs: Path, tls: TlsFiles) -> None:
        """Data formatted before the SCRAM user existed (or with another password) gets it now."""
        fingerprint = _fingerprint(tls.scram_password)
        if self._scram_marker.exists() and self._scram_marker.read_text() == fingerprint:
            return
        cmd = self._java_cmd(libs, "kafka.admin.ConfigCommand", *scram_config_args(tls, self.bootstrap))
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise LocalStackError(f"creating the SCRAM user failed: {tail[0]}")
        self._scram_marker.write_text(fingerprint)

    def running_pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def up(self, timeout: float = 90.0) -> str:
        """Start the broker unless it already runs; return a one-line status."""
        pid = self.running_pid()
        if pid is not None and wait_for_kafka(self.bootstrap, timeout):
            return f"kafka already running (pid {pid}) on {self.bootstrap}"
        if pid is None and port_open("127.0.0.1", self.port):
            if wait_for_kafka(self.bootstrap, 10):
                return f"kafka already answering on {self.bootstrap} (not started by orderstream)"
            raise LocalStackError(f"port {self.port} is taken by something that is not Kafka")
        libs = self.fetch()
        tls = self.tls_files()
        self._render_config(tls)
        self._format(libs, tls)
        heap = os.environ.get("ORDERSTREAM_LOCAL_KAFKA_HEAP", "1g")
        cmd = self._java_cmd(libs, "kafka.Kafka", str(self.paths.kafka_config), heap=heap)
        pid = _spawn(cmd, self.paths.logs / "kafka.out", self.pidfile)
        if not wait_for_kafka(self.bootstrap, timeout, pid=pid):
            raise LocalStackError(
                f"kafka did not answer on {self.bootstrap} within {timeout:.0f}s; see {self.log_file}"
            )
        self._ensure_scram_user(libs, tls)
        ports = self.ports
        return (
            f"kafka {self.version} up (pid {pid}) on {self.bootstrap} (SASL_SSL :{ports.sasl_ssl}, "
            f"re-auth :{ports.reauth}, mTLS :{ports.mtls}); log {self.log_file}"
        )

    def down(self, timeout: float = 30.0) -> str:
        stopped = _stop(self.pidfile, timeout)
        return "kafka stopped" if stopped else "kafka was not running"

    def status(self) -> str:
        pid = self.running_pid()
        if pid is None:
            return f"kafka: stopped (port {self.port})"
        answering = "answering" if port_open("127.0.0.1", self.port) else "NOT answering"
        return f"kafka: running pid {pid}, {answering} on {self.bootstrap}, log {self.log_file}"

    def reset(self) -> None:
        """Delete broker data (the broker must be stopped)."""
        if self.running_pid() is not None:
            raise LocalStackError("stop kafka before resetting its data")
        shutil.rmtree(self.paths.kafka_data, ignore_errors=True)


def _fingerprint(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines of a Java properties file (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (as kafka-storage random-uuid)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def wait_for_kafka(bootstrap: str, timeout: float, pid: int | None = None) -> bool:
    """True once the broker answers a metadata request listing its internal state as ready."""
    deadline = time.monotonic() + timeout
    host, _, port = bootstrap.rpartition(":")
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            return False
        if port_open(host, int(port)) and _metadata_ok(bootstrap):
            return True
        time.sleep(0.5)
    return False


def _metadata_ok(bootstrap: str) -> bool:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    try:
        return asyncio.run(probe())
    except RuntimeError:  # called from inside a running loop: fall back to the TCP check
        return True


# ------------------------------------------------------------------------------------------ moto


@dataclass(frozen=True)
class MotoServer:
    """moto in server mode: the local AWS endpoint (events, sqs, s3, logs, stepfunctions, ecs)."""

    paths: LocalPaths
    port: int

    @classmethod
    def from_env(cls) -> MotoServer:
        return cls(LocalPaths.default(), _env_int("ORDERSTREAM_LOCAL_MOTO_PORT", 5000))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.paths.pidfile("moto")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def up(self, timeout: float = 30.0) -> str:
        pid = self.running_pid()
        if self._answers():
            who = f"pid {pid}" if pid else "not started by orderstream"
            return f"moto already running ({who}) at {self.endpoint}"
        if port_open("127.0.0.1", self.port):
            raise LocalStackError(f"port {self.port} is taken by something that is not moto")
        cmd = [sys.executable, "-m", "orderstream.moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.paths.root.mkdir(parents=True, exist_ok=True)
        # MOTO_PORT: where moto's state machine interpreter sends the service calls of Task states (itself);
        # MOTO_EVENTS_INVOKE_HTTP: rules with an API destination target really call it.
        env = {"MOTO_PORT": str(self.port), "MOTO_EVENTS_INVOKE_HTTP": "true"}
        pid = _spawn(cmd, self.paths.logs / "moto.log", self.pidfile, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers():
                return f"moto up (pid {pid}) at {self.endpoint}; log {self.paths.logs / 'moto.log'}"
            if not _alive(pid):
                break
            time.sleep(0.3)
        raise LocalStackError(f"moto did not answer at {self.endpoint}; see {self.paths.logs / 'moto.log'}")

    def running_pid(self) -> int | None:
        return _read_pid(self.pidfile)

    def down(self, timeout: float = 10.0) -> str:
        return "moto stopped" if _stop(self.pidfile, timeout) else "moto was not running"

    def status(self) -> str:
        pid = self.running_pid()
        answering = self._answers()
        if pid is None and not answering:
            return f"moto: stopped (port {self.port})"
        owner = f"running pid {pid}" if pid else "running (not started by orderstream)"
        return f"moto: {owner}, {'answering' if answering else 'NOT answering'} at {self.endpoint}"
