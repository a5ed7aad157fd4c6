# orderstream — every entry point a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install ruler-harness kafka-up kafka-down moto-up moto-down up down status lint typecheck unit integration \
        infra-check docker-up docker-down docker-images compose-test test demo bench chaos lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,msk]'
	touch $(STAMP)

CHECKOV_VERSION := 3.3.30
$(CHECKOV_VENV)/bin/checkov: # checkov pins its own boto3: it lives in a venv of its own
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)

install: $(STAMP) $(CHECKOV_VENV)/bin/checkov ## venvs + pinned Python deps + Kafka jars and the event-ruler harness (Maven) + local TLS certs
	$(BIN)/orderstream local fetch
	$(BIN)/orderstream local certs
	$(BIN)/python -m tools.patterns_oracle build

ruler-harness: $(STAMP) ## build the event-ruler harness the pattern differential test runs (cached in .local/)
	$(BIN)/python -m tools.patterns_oracle build

kafka-up: install ## start the local Kafka broker (KRaft) on 127.0.0.1:9092
	$(BIN)/orderstream local up --kafka

kafka-down: ## stop the local Kafka broker
	@if [ -x $(BIN)/orderstream ]; then $(BIN)/orderstream local down --kafka; fi

moto-up: install ## start moto (AWS emulator) on 127.0.0.1:5000
	$(BIN)/orderstream local up --moto

moto-down: ## stop moto
	@if [ -x $(BIN)/orderstream ]; then $(BIN)/orderstream local down --moto; fi

up: install ## broker + moto
	$(BIN)/orderstream local up

down: ## stop everything `up` started
	@if [ -x $(BIN)/orderstream ]; then $(BIN)/orderstream local down; fi

status: install
	$(BIN)/orderstream local status

lint: install ## ruff, and the import boundaries (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install ## mypy (strict on the domain)
	$(BIN)/mypy

unit: install ## unit tests, no broker
	$(BIN)/pytest -q tests/unit

integration: install ## integration tests against a real broker (+ moto)
	$(BIN)/pytest -q -m "integration or reliability" tests

infra-check: install ## terraform fmt, checkov, compose schema, infra contract tests
	$(BIN)/pytest -q tests/infra

docker-up: install ## a Docker engine: the one that answers, else (root + apt) a private one under .local/docker
	$(PY) -m orderstream.containers engine up

docker-down: ## stop the private engine and unmount what it left (a no-op when none runs)
	@if [ -x $(PY) ]; then $(PY) -m orderstream.containers engine down; fi

docker-images: docker-up ## build the base, Kafka, service and moto images (each rebuilt only when its inputs change)
	$(PY) -m orderstream.containers images

compose-test: docker-images ## the docker-compose stack end to end (tests marked compose)
	$(BIN)/pytest -q -m compose tests/containers

# The broker of the integration tests: a testcontainers Kafka when a Docker engine answers or can be started
# (as root with apt: Debian's docker.io, a private engine under .local/docker, stopped afterwards), else the
# local JVM broker (one line says so). Tests marked local_broker run on the local broker as well. The images
# build (or are found current) while lint and mypy run.
test: install ## everything CI checks; starts and stops the Docker engine, broker and moto it needs
	@set -o pipefail; status=0; started=0; build=""; \
	engine=$$($(PY) -m orderstream.containers engine up --print-host) || status=$$?; \
	host=$${engine% *}; started=$${engine##* }; \
	if [ $$status -eq 0 ] && [ -n "$$host" ] && [ "$$host" != "-" ]; then \
	  export DOCKER_HOST=$$host; \
	  $(PY) -m orderstream.containers images & build=$$!; \
	fi; \
	$(MAKE) --no-print-directory lint typecheck || status=$$?; \
	if [ -n "$$build" ]; then wait $$build || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(BIN)/orderstream local up || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(BIN)/pytest tests -p no:cacheprovider --durations=25 || status=$$?; fi; \
	$(BIN)/orderstream local down || true; \
	if [ "$$started" = 1 ]; then $(PY) -m orderstream.containers engine down || status=$$?; fi; \
	exit $$status

demo: install ## the main job (DEMO_ARGS="--duration 30" to change it): broker, moto, all agents, bridge, synthetic orders, live view, report
	$(BIN)/orderstream demo $(DEMO_ARGS)

bench: install ## benchmarks (results in bench/results/)
	$(BIN)/python bench/produce.py

chaos: install ## the long fault run (CHAOS_ARGS="--quick", "--repeat 2", "--rows kill,pause,outage"): table in bench/results/chaos.json
	@status=0; \
	$(BIN)/orderstream local up || status=$$?; \
	if [ $$status -eq 0 ]; then $(BIN)/python bench/chaos.py $(CHAOS_ARGS) || status=$$?; fi; \
	$(BIN)/orderstream local down || true; \
	exit $$status

lock: ## re-resolve constraints.txt from pyproject.toml
	rm -rf /tmp/orderstream-lock && $(PYTHON) -m venv /tmp/orderstream-lock
	/tmp/orderstream-lock/bin/pip install -q '.[dev,msk]'
	/tmp/orderstream-lock/bin/pip freeze --exclude orderstream > constraints.txt

clean: down docker-down ## remove venvs and local state
	rm -rf $(VENV) $(CHECKOV_VENV) .local
