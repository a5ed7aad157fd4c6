# syntax=docker/dockerfile:1
# One image for every orderstream service; the command picks the role:
#   worker (ORDERSTREAM_AGENTS=sequencer|router|loyalty), bridge, topics create, produce.
# Targets: `service` (the default, last stage) and `moto` (the project's pinned moto behind
# orderstream.moto_server, the AWS endpoint of docker-compose.yml).
# BASE_IMAGE: the public Python image by default; any Debian bookworm with Python 3.11 and its venv module
# works (make test builds one locally where nothing can be pulled).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# tini runs as PID 1 so SIGTERM from `docker stop` / ECS reaches orderstream and zombies are reaped.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 orderstream \
    && useradd --system --uid 10001 --gid orderstream --home-dir /app --shell /usr/sbin/nologin orderstream \
    && install -d -o orderstream -g orderstream /var/lib/orderstream \
    && python -m venv /opt/venv

WORKDIR /app

# Dependencies first, from the pins alone: this layer is rebuilt only when they change, not on every edit.
# The msk extra (the MSK IAM token signer) is part of the image: the services talk to MSK with IAM.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['msk']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

ENV ORDERSTREAM_DATA_DIR=/var/lib/orderstream \
    ORDERSTREAM_METRICS_HOST=0.0.0.0 \
    ORDERSTREAM_WEB_HOST=0.0.0.0
STOPSIGNAL SIGTERM

# ------------------------------------------------------------------------------------------------ moto
# The pinned moto and the one module it runs: a code change elsewhere does not rebuild this stage.
FROM runtime AS moto
RUN pip install -c constraints.txt "moto[server]"
COPY orderstream/__init__.py orderstream/moto_server.py ./orderstream/
USER 10001:10001
ENV MOTO_PORT=5000
EXPOSE 5000
ENTRYPOINT ["tini", "--", "python", "-m", "orderstream.moto_server"]
CMD ["-H", "0.0.0.0"]

# ------------------------------------------------------------------------------------------------ service
# Then the code. Installed in place so the default rules files (/app/rules) sit where settings expect them;
# the EventBridge rule patterns are there for the compose stack's AWS set-up.
FROM runtime AS service
COPY README.md* ./
COPY orderstream ./orderstream
COPY streams ./streams
COPY consumers ./consumers
COPY rules ./rules
COPY infra/terraform/examples/complete/patterns ./infra/terraform/examples/complete/patterns
RUN pip install --no-deps -e . && python -m compileall -q orderstream streams consumers
USER 10001:10001
EXPOSE 6066 9102
ENTRYPOINT ["tini", "--", "orderstream"]
CMD ["worker"]
