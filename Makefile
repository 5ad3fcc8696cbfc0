# Two commands for a newcomer: `make demo` (main job, set-up included) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help setup demo synth test test-fast lint typecheck unit unit-fast cfn-lint bench clean

help:
	@echo "make demo   set up, then synth + cdk-nag + cfn-lint, the security loop locally, a report"
	@echo "make test   set up, then ruff, mypy and the test suite (what CI runs)"
	@echo "make test-fast  lint, mypy and the tests without CDK synths (one smoke synth kept)"
	@echo "make bench  benchmarks (synth time, detection, monitor speed, baseline build, bundle sizes)"
	@echo "make deploy CDK_ARGS='-c model_data_url=s3://... -c model_sha256=...'  real AWS"
	@echo "make smoke  call the deployed API: 200, 401, 403, 400 and 429 where each is due"

NO_INDEX := pip could not install the Python packages: the first install needs PyPI (a proxy? set PIP_INDEX_URL or pip's proxy). Run make setup again once it is reachable.

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip || { echo "$(NO_INDEX)"; exit 1; }
	$(PY) -m pip install --quiet -e '.[dev]' || { echo "$(NO_INDEX)"; exit 1; }
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js and npm are required for the pinned CDK CLI (https://nodejs.org)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error || { echo "npm could not install the pinned CDK CLI: the first install needs the npm registry (a proxy? set npm's proxy and registry config)"; exit 1; }
	@touch $@

setup: $(VENV)/.installed node_modules/.installed

synth: setup
	rm -rf cdk.out
	$(CDK) synth --quiet --no-notices
	@echo "Templates: $$(ls cdk.out/*.template.json)"

cfn-lint: synth
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

# Synth with every cdk-nag pack and cfn-lint, the security loop in moto, demo-report/report.md.
demo: setup
	$(PY) -m demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/lock_lambdas.py --check

typecheck: setup
	$(VENV)/bin/mypy secure_endpoint

unit: setup
	$(VENV)/bin/pytest

# The edit loop's subset: the tests marked `slow` (the wheel build) and `synth` (CDK constructs)
# left out, but for the one `smoke` synth of the sample app, on two workers (pytest-xdist);
# `make test` runs them all.
unit-fast: setup
	$(VENV)/bin/pytest -n 2 -m "not slow and (not synth or smoke)"

test: lint typecheck unit

test-fast: lint typecheck unit-fast

bench: setup
	$(PY) benchmarks/synth.py
	$(PY) benchmarks/detection.py
	$(PY) benchmarks/monitor_perf.py
	$(PY) benchmarks/baseline_build.py
	$(PY) benchmarks/bundles.py
	$(PY) benchmarks/response_hardening.py

# Real AWS. deploy refuses (deploying nothing) without credentials, a region, your model or a
# bootstrapped account, then runs `cdk deploy --all --require-approval broadening $(CDK_ARGS)`.
# smoke calls the deployed stack as its client; SMOKE_ARGS='--body FILE' gives a request your
# model accepts.
.PHONY: deploy smoke
STACK ?= SecureEndpointSample

deploy: setup
	$(PY) scripts/deploy.py $(CDK_ARGS)

smoke: setup
	$(VENV)/bin/secure-endpoint smoke --stack $(STACK) $(SMOKE_ARGS)

# The library as a wheel in dist/, to `pip install` in another app's venv (README).
.PHONY: wheel
wheel: setup
	rm -rf dist build  # a stale build/ would put removed files in the wheel
	$(PY) -m pip wheel . --no-deps --quiet -w dist
	@ls dist/*.whl

clean:
	rm -rf cdk.out .cache .pytest_cache .mypy_cache .ruff_cache dist build
