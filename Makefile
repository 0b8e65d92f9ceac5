# The README's commands. Everything installs from this repository's own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo demo-features test lint unit functional infra e2e locks synth layers-size bench-serving bench-cold-start bench-batch bench-cli bench-venv bench-drift bench-validation bench-scale mutate openapi clean

$(VENV)/.installed: pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25"
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e ".[training,infra,dev]"
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

## The whole lifecycle of the bundled example on the embedded AWS.
demo: $(VENV)/.installed
	$(BIN)/mlops demo

demo-features: $(VENV)/.installed
	$(BIN)/mlops demo --feature-store --report-dir reports/demo-features

## checkov in its own virtualenv (its pins would fight the project's): tests/infra/test_checkov.py's template gate.
CHECKOV := .venv-checkov
$(CHECKOV)/.installed: .ci/checkov-constraints.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade "pip>=25"
	$(CHECKOV)/bin/python -m pip install --quiet -r .ci/checkov-constraints.txt
	touch $@

## Lint, types, and every test (unit, functional, infra, e2e).
test: $(VENV)/.installed $(CHECKOV)/.installed lint
	$(BIN)/pytest -p no:cacheprovider

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit functional infra e2e: $(VENV)/.installed $(CHECKOV)/.installed
	$(BIN)/pytest -p no:cacheprovider tests/$@

## Re-resolve the layers' and the training image's hash locks after a pin changes (needs the package index).
locks: $(VENV)/.installed
	$(BIN)/python -m infra.locks

## `cdk synth` with the pinned CDK CLI (bundles the Lambda layers with pip, no Docker).
synth: $(VENV)/.installed node_modules/.installed
	npx cdk synth --quiet

## Unzipped size of each function with its layers, after `make synth`.
layers-size: synth
	$(BIN)/python bench/package_size.py

## A handler's imports from the bundled layers, with and without their bytecode (needs a CPython 3.12).
bench-cold-start: $(VENV)/.installed
	$(BIN)/python bench/layer_bytecode.py

## Serving latency, throughput, cold start and size of the predict function vs onnxruntime and pandas+sklearn.
bench-serving: $(VENV)/.installed
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/enrichment.py

## Wall time of `mlops --help` and `mlops models list` against a local target, in fresh processes.
bench-batch: $(VENV)/.installed
	$(BIN)/python bench/batch.py

bench-cli: $(VENV)/.installed
	$(BIN)/python bench/cli.py

## The baselines' own virtualenv (evidently needs pandas < 3); never a dependency of the project.
BASELINES := bench/.venv-baselines
$(BASELINES)/.installed: bench/requirements-baselines.txt
	$(PYTHON) -m venv $(BASELINES)
	$(BASELINES)/bin/python -m pip install --quiet --upgrade "pip>=25"
	$(BASELINES)/bin/python -m pip install --quiet -r bench/requirements-baselines.txt
	touch $@

bench-venv: $(BASELINES)/.installed

## Drift check against a stored profile vs Evidently's DataDriftPreset (200k vs 200k rows), and a 1M-row window.
bench-drift: $(VENV)/.installed bench-venv
	$(BIN)/python bench/drift.py

## Data contract check vs pandera's lazy validation, 1M rows x 23 columns.
bench-validation: $(VENV)/.installed bench-venv
	$(BIN)/python bench/validation.py

# The contract streamed over 1M/5M/10M rows in many files: time, peak memory; one pass, parts, pandera at 1M.
bench-scale: $(VENV)/.installed bench-venv
	$(BIN)/python bench/scale.py

## Mutation testing of the core's decision modules (mutmut): score per module and the survivors. Not CI.
$(VENV)/.mutate-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e ".[mutate]"
	touch $@

mutate: $(VENV)/.mutate-installed
	$(BIN)/python bench/mutate.py

## Regenerate the committed OpenAPI document of the prediction API.
openapi: $(VENV)/.installed
	$(BIN)/python -m mlcore.serving.openapi > functions/predict/openapi.json

clean:
	rm -rf $(VENV) $(BASELINES) $(CHECKOV) node_modules cdk.out reports .mutate
