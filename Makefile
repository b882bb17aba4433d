# Two commands on a fresh machine: `make demo` (the main job on the local simulated GPU cluster) and
# `make test` (every test). Everything else is a building block of those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLUSTER ?= aiconform

.PHONY: demo demo-down test lint unit e2e crd clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)  # --clear: a dependency dropped from pyproject.toml must not linger
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: dev cluster up with the real Kueue controller (builds binaries on first use), CRD, operator, a tenant
## namespace, examples/ with the production profile's probes on, then its per-requirement table
## (another cluster beside the default one: make demo CLUSTER=mine DEMO_PORT=16470 DEMO_LIVENESS_PORT=18470 DEMO_METRICS_PORT=19470)
demo: $(VENV)/.installed
	PATH=$(CURDIR)/$(BIN):$$PATH CLUSTER=$(CLUSTER) hack/demo.sh

## demo-down: stop the demo operator, the Kueue controller and the dev cluster
demo-down: $(VENV)/.installed
	PATH=$(CURDIR)/$(BIN):$$PATH CLUSTER=$(CLUSTER) hack/demo.sh down

## test: lint, type-check, then every unit and e2e test (the e2e suite brings its own dev cluster)
test: lint
	$(BIN)/pytest -ra tests

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(VENV)/.installed
	$(BIN)/pytest -ra tests/unit

e2e: $(VENV)/.installed
	$(BIN)/pytest -ra tests/e2e

## crd: regenerate the committed CRD, its Helm template and the generated docs from the models
crd: $(VENV)/.installed
	$(BIN)/python -m aiconform.api.crdgen > crds/conformanceprofiles.aiconform.io.yaml
	$(BIN)/python -m aiconform.devtools.docgen reference > docs/crd-reference.md
	$(BIN)/python -m aiconform.devtools.docgen helm-crd > deploy/helm/aiconform/templates/crd.yaml
	$(BIN)/python -m aiconform.devtools.docgen requirements > docs/requirements.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## bench: the operator at scale against the floor and kubectl (docs/performance.md); BENCH_ARGS="--namespaces 1000 ..."
bench: $(VENV)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)
