"""The built images: the service image gets as far as connecting to MSK with IAM, builds are cached by
their inputs, and a build that fails names the image and the step."""

from __future__ import annotations

import io
import socket
import tarfile
from typing import Any

import pytest

from orderstream.containers import images
from orderstream.errors import DockerError

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(
    client: Any, image: str, command: list[str], env: dict[str, str], entrypoint: list[str] | None = None
) -> tuple[int, str]:
    container = client.containers.run(
        image, command, entrypoint=entrypoint, environment=env, network_mode="host", detach=True
    )
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return int(code), container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


MSK_IAM = {
    "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ORDERSTREAM_KAFKA_SASL_MECHANISM": "AWS_MSK_IAM",
    "ORDERSTREAM_AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-not-real",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_service_image_with_msk_iam_gets_as_far_as_connecting(docker_client: Any, service_image: str) -> None:
    port = _closed_port()
    env = {**MSK_IAM, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    code, output = _run(docker_client, service_image, ["topics", "create"], env)
    assert code != 0
    # aiokafka's own words, or the one line of a start-up check that probes the broker first
    assert f"127.0.0.1:{port}" in output or f"127.0.0.1', {port}" in output, output[-2000:]
    assert any(words in output for words in ("Unable to bootstrap", "cannot reach", "connection refused")), (
        output
    )
    for sign in ("ImportError", "ModuleNotFoundError", "aws-msk-iam-sasl-signer", "could not sign"):
        assert sign not in output, output[-2000:]


def test_service_image_signs_an_msk_iam_token_offline(docker_client: Any, service_image: str) -> None:
    """The signer the IAM connection uses is installed and signs with the given credentials (no network)."""
    script = (
        "from aws_msk_iam_sasl_signer import MSKAuthTokenProvider; "
        "token, expiry = MSKAuthTokenProvider.generate_auth_token('eu-west-1'); print(len(token), expiry > 0)"
    )
    code, output = _run(docker_client, service_image, ["-c", script], MSK_IAM, entrypoint=["python"])
    assert code == 0, output
    length, future = output.split()
    assert int(length) > 200 and future == "True"


def test_unchanged_inputs_reuse_the_image(docker_client: Any, kafka_image: str, service_image: str) -> None:
    logs = [images._log_path(name) for name in ("kafka", "service")]
    before = [log.stat().st_mtime_ns if log.exists() else None for log in logs]
    assert images.kafka(docker_client) == kafka_image
    assert images.service(docker_client) == service_image
    assert [log.stat().st_mtime_ns if log.exists() else None for log in logs] == before


def test_a_failed_build_names_the_image_and_the_step(docker_client: Any, service_image: str) -> None:
    dockerfile = f"FROM {service_image}\nRUN true\nRUN exit 3\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    with pytest.raises(DockerError) as caught:
        images._build(
            docker_client, "broken", "orderstream-broken:test", fileobj=context, custom_context=True
        )
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "orderstream-broken:test" in message and "Step 3/3 : RUN exit 3" in message and "code: 3" in message
    )
