"""The images the tests and compose run, each tagged with a hash of its inputs (never rebuilt unchanged).

- ``base``: the public ``python:3.11-slim-bookworm`` where the engine has it or can pull it; on the private
  engine, which reaches no registry (these machines), a Debian bookworm ``minbase`` made with debootstrap plus Python 3.11, imported as
  an image. It carries this machine's CA bundle and apt ``Acquire`` settings, so pip and apt work inside
  builds here as they do on the host. The root filesystem is kept as a tarball under ``.local/docker``.
- ``kafka``: the Kafka version of ``infra/local/pom.xml``, from the same Maven jars as the local broker, plus
  a Java 17 runtime (``infra/docker/kafka``). It reads ``KAFKA_*`` variables as the official
  ``apache/kafka`` image does, so compose can run either.
- ``service`` and ``moto``: the ``Dockerfile``'s two targets, built with the base as ``BASE_IMAGE``.

A failed build raises :class:`DockerError` naming the image and the step; the whole log is in ``.local/logs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from orderstream.errors import DockerError
from orderstream.local import PROJECT_ROOT, KafkaBroker, LocalPaths, kafka_version

PUBLIC_BASE = "python:3.11-slim-bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
KAFKA_CONTEXT = PROJECT_ROOT / "infra" / "docker" / "kafka"
SERVICE_IMAGE = "orderstream:local"
MOTO_IMAGE = "orderstream-moto:local"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:12]


def _exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _drop_older(client: Any, tag: str) -> None:
    """Untag the earlier builds of ``tag``'s family (same repository and prefix); :func:`prune` frees them."""
    import docker.errors

    repository, _, version = tag.partition(":")
    prefix = version.rsplit("-", 1)[0] + "-"
    with contextlib.suppress(docker.errors.APIError):  # an image a container still uses stays
        for image in client.images.list(name=repository):
            for other in image.tags:
                if other != tag and other.partition(":")[2].startswith(prefix):
                    client.images.remove(other, noprune=True)


def prune(client: Any) -> None:
    """Remove untagged images (earlier builds). Only when no build runs: a build's stages are untagged too."""
    import docker.errors

    with contextlib.suppress(docker.errors.APIError):
        client.images.prune(filters={"dangling": True})


def _log_path(name: str) -> Path:
    return LocalPaths.default().logs / f"build-{name}.log"


def _build(client: Any, name: str, tag: str, **kwargs: Any) -> None:
    """Classic-builder build with host networking; a failure names the image and the step it stopped at."""
    log = _log_path(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    step, error = "before the first step", ""
    with log.open("w") as out:
        for chunk in client.api.build(
            tag=tag, network_mode="host", rm=True, forcerm=True, decode=True, **kwargs
        ):
            text = chunk.get("stream", "")
            out.write(text)
            if text.startswith("Step "):
                step = text.strip()
            if "error" in chunk:
                error = str(chunk["error"]).strip()
                out.write(error + "\n")
    if error:
        last = error.splitlines()[-1][:300]
        raise DockerError(f"building image {tag} ({name}) failed at {step}: {last}; log {log}")


# ------------------------------------------------------------------------------------------ base


def _host_apt_settings() -> str:
    """This machine's apt ``Acquire::`` settings (e.g. a snapshot mirror's validity checks), as apt.conf."""
    try:
        dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return "".join(line + "\n" for line in dump.splitlines() if line.startswith("Acquire::"))


def _can_pull(client: Any, image: str) -> bool:
    try:
        client.images.pull(image)
        return True
    except Exception:
        return False


def _private(client: Any) -> bool:
    """The project's private engine, which reaches no registry (elsewhere a pull is worth a try)."""
    from orderstream.containers.engine import PrivateEngine

    return bool(client.info().get("DockerRootDir") == str(PrivateEngine.default().data_root))


def base(client: Any) -> str:
    """The image the service Dockerfile builds on: the public Python image, else a local bookworm."""
    if os.environ.get("ORDERSTREAM_BASE_IMAGE"):
        return os.environ["ORDERSTREAM_BASE_IMAGE"]
    if _exists(client, PUBLIC_BASE) or (not _private(client) and _can_pull(client, PUBLIC_BASE)):
        return PUBLIC_BASE
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    apt = _host_apt_settings()
    key = _digest([b"bookworm minbase 1", " ".join(BASE_PACKAGES).encode(), ca, apt.encode()])
    tag = f"orderstream-base:bookworm-{key}"
    if _exists(client, tag):
        return tag
    root = LocalPaths.default().root / "docker"
    tarball = root / f"base-bookworm-{key}.tar"
    if not tarball.exists():
        _debootstrap(root / "rootfs", tarball, ca, apt)
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["bash"]',
    ]
    repository, _, version = tag.partition(":")
    try:
        client.api.import_image_from_file(str(tarball), repository=repository, tag=version, changes=changes)
    except Exception as exc:
        raise DockerError(f"importing image {tag} (base) from {tarball} failed: {exc}") from None
    return tag


def _debootstrap(rootfs: Path, tarball: Path, ca: bytes, apt: str) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise DockerError(
            "building image orderstream-base (base) needs debootstrap: apt-get install debootstrap"
        )
    mirror = os.environ.get("ORDERSTREAM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    log = _log_path("base")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        "bookworm",
        str(rootfs),
        mirror,
    ]
    with log.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        raise DockerError(
            f"building image orderstream-base (base) failed at debootstrap: {lines[-1] if lines else '?'}; log {log}"
        )
    if ca:
        (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(ca)
        (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    if apt:
        (rootfs / "etc/apt/apt.conf.d/90host-acquire").write_text(apt)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(rootfs, ignore_errors=True)


# ------------------------------------------------------------------------------------------ kafka


def kafka(client: Any) -> str:
    """The broker image: ``orderstream-kafka:<version>-<hash>`` (also tagged ``orderstream-kafka:<version>``)."""
    base_tag = _debian_base(client)
    version = kafka_version()
    libs = KafkaBroker.from_env().fetch()
    assets = sorted(p for p in KAFKA_CONTEXT.rglob("*") if p.is_file())
    jars = sorted(libs.glob("*.jar"))
    key = _digest(
        [base_tag.encode(), version.encode()]
        + [str(p.relative_to(KAFKA_CONTEXT)).encode() + p.read_bytes() for p in assets]
        + [f"{j.name}:{j.stat().st_size}".encode() for j in jars]
    )
    tag = f"orderstream-kafka:{version}-{key}"
    if _exists(client, tag):
        return tag
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for path in assets:
            tar.add(path, arcname=str(path.relative_to(KAFKA_CONTEXT)))
        for jar in jars:
            tar.add(jar, arcname=f"libs/{jar.name}")
    context.seek(0)
    _build(client, "kafka", tag, fileobj=context, custom_context=True, buildargs={"BASE_IMAGE": base_tag})
    client.images.get(tag).tag("orderstream-kafka", version)
    _drop_older(client, tag)
    return tag


def _debian_base(client: Any) -> str:
    """The Kafka image needs Debian bookworm with apt; the Python image is one, and so is the local base."""
    return base(client)


# ------------------------------------------------------------------------------------------ service, moto


def _context_files() -> list[Path]:
    """The files ``docker build .`` sends (the ``.dockerignore`` applied), for the input hash."""
    from docker.utils.build import exclude_paths

    ignore = PROJECT_ROOT / ".dockerignore"
    patterns = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return sorted(PROJECT_ROOT / p for p in exclude_paths(str(PROJECT_ROOT), patterns, "Dockerfile"))


def _service_key(base_tag: str) -> str:
    files = [p for p in _context_files() if p.is_file()]
    return _digest(
        [base_tag.encode()] + [str(p.relative_to(PROJECT_ROOT)).encode() + p.read_bytes() for p in files]
    )


def _target(client: Any, target: str, name: str) -> str:
    base_tag = base(client)
    key = _service_key(base_tag)
    repository = name.partition(":")[0]
    tag = f"{repository}:{target}-{key}"
    repo, _, version = name.partition(":")
    if not _exists(client, tag):
        _build(client, target, tag, path=str(PROJECT_ROOT), target=target, buildargs={"BASE_IMAGE": base_tag})
        client.images.get(tag).tag(repo, version)
        _drop_older(client, tag)
    client.images.get(tag).tag(repo, version)
    return tag


def service(client: Any) -> str:
    """The one image of every orderstream service (``Dockerfile`` target ``service``), tagged ``orderstream:local``."""
    return _target(client, "service", SERVICE_IMAGE)


def moto(client: Any) -> str:
    """The project's pinned moto behind ``orderstream.moto_server`` (target ``moto``), ``orderstream-moto:local``."""
    return _target(client, "moto", MOTO_IMAGE)


BUILDERS: dict[str, Callable[[Any], str]] = {"base": base, "kafka": kafka, "service": service, "moto": moto}
