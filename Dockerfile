# syntax=docker/dockerfile:1
# One image for every orderstream service; the command picks the role:
#   worker (ORDERSTREAM_AGENTS=sequencer|router|loyalty), bridge, topics create, produce.
FROM python:3.11-slim-bookworm

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
# The msk extra (aws-msk-iam-sasl-signer-python) is part of the image: ECS tasks authenticate with MSK IAM.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['msk']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code. Installed in place so the default rules files (/app/rules) sit where settings expect them.
COPY README.md* ./
COPY orderstream ./orderstream
COPY streams ./streams
COPY consumers ./consumers
COPY rules ./rules
RUN pip install --no-deps -e . && python -m compileall -q orderstream streams consumers

USER 10001:10001
ENV ORDERSTREAM_DATA_DIR=/var/lib/orderstream \
    ORDERSTREAM_WEB_HOST=0.0.0.0 \
    ORDERSTREAM_METRICS_HOST=0.0.0.0
EXPOSE 6066 9102
STOPSIGNAL SIGTERM

ENTRYPOINT ["tini", "--", "orderstream"]
CMD ["worker"]
