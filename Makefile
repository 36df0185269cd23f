# MedFlow developer entry points. `make help` lists them. Everything installs itself:
# the virtual environment (.venv), pinned Python packages, and the Debian peers tests use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# Test files run in parallel, each file whole on one worker (module fixtures seed once); 2 workers fit a
# 2-core CI machine. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: help install system-deps run test test-fast lint typecheck check schema roles-doc admin vapid bench bench-parse bench-mllp bench-api bench-thumbnails bench-ingest bench-ai lock clean layers infra package soak

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 or newer on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2> >(grep -v "is ignored: it is neither" >&2)
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies

system-deps: ## Install Debian packages the tests use as real peers (socat) when missing
	@scripts/system-deps.sh

run: $(STAMP) ## Run the whole system locally: moto server, API, event router, demo edge agent
	$(BIN)/python -m localdev run

test: $(STAMP) system-deps ## Run every test (unit, functional, integration, end-to-end)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the tests that need no real peer
	$(BIN)/python -m pytest -m "not integration and not e2e" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy edge_agent shared_models localdev layers infra cloud/app.py cloud/chalicelib

check: lint typecheck test ## lint + typecheck + test

schema: $(STAMP) ## Export the envelope JSON Schema to docs/schema/
	$(BIN)/python -m shared_models.export docs/schema

roles-doc: $(STAMP) ## Write docs/roles.md (who may do what, and each route's permission) from the code
	cd cloud && ../$(BIN)/python -m chalicelib.roles_doc ../docs/roles.md

vapid: $(STAMP) ## Print a new web push VAPID key pair (MEDFLOW_VAPID_PRIVATE_KEY / _PUBLIC_KEY); VAPID_OUT=FILE writes a PEM
	cd cloud && ../$(BIN)/python -m chalicelib.cli vapid-keys $(if $(VAPID_OUT),--out $(abspath $(VAPID_OUT)))

admin: $(STAMP) ## Create or reset a staff admin on the running local stack (MEDFLOW_ADMIN_EMAIL, _PASSWORD, MEDFLOW_CLINIC)
	$(BIN)/python -m localdev admin

bench: bench-parse bench-mllp bench-api bench-thumbnails bench-ingest bench-ai ## Run every benchmark in bench/ (figures and ratios against baselines)

bench-parse: $(STAMP) ## Adapter throughput per device family; DICOM header reads vs bare pydicom
	$(BIN)/python bench/parse_corpus.py

bench-mllp: $(STAMP) ## MLLP ACK-after-durable-commit throughput and latency vs a bare asyncio echo server
	$(BIN)/python bench/mllp.py

BENCH_API_ARGS ?=
bench-api: $(STAMP) ## API routes: DynamoDB calls and latency per request at 1,000 and 100,000 patients (dynalite: npm, into var/; BENCH_API_ARGS="--backend moto --sizes 1000,10000")
	$(BIN)/python bench/api_scaling.py $(BENCH_API_ARGS)

BENCH_THUMBNAILS_ARGS ?=
bench-ai: $(STAMP) ## AI suggest route against the local Messages API stand-in vs a bare SDK call; SDK import time
	$(BIN)/python bench/ai_suggest.py $(BENCH_AI_ARGS)

bench-thumbnails: $(STAMP) ## 12 MP JPEG → 300×300 WebP: ours vs plain Pillow vs Sharp (npm, into var/); Lambda import time
	$(BIN)/python bench/thumbnails.py $(BENCH_THUMBNAILS_ARGS)

BENCH_INGEST_ARGS ?=
BENCH_INGEST_SMB ?= auto
bench-ingest: $(STAMP) ## 2,000 device files → S3 (moto): whole agent (from a folder and from an SMB share: BENCH_INGEST_SMB=auto|on|off) vs `aws s3 sync` (awscli into var/), no-op rescan, RSS
	$(BIN)/python bench/ingest_speed.py --smb $(BENCH_INGEST_SMB) $(BENCH_INGEST_ARGS)

SOAK ?= ci
soak: $(STAMP) system-deps ## Outage and crash soak: folder + MLLP + serial ASTM, agent SIGKILLed, S3 cut; SOAK=long: 2,000 items, 30 min, 50 kills
	$(BIN)/python bench/soak.py --size $(SOAK)

lock: ## Re-pin requirements.lock from requirements.in (needs the registry)
	rm -rf /tmp/medflow-lock && $(PYTHON) -m venv /tmp/medflow-lock
	/tmp/medflow-lock/bin/pip install -q -r requirements.in
	( echo "# Fully pinned; generated from requirements.in by \`make lock\`. Python 3.11+."; /tmp/medflow-lock/bin/pip freeze ) > requirements.lock

clean: ## Remove the virtual environment and caches (keeps var/ data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

STAGE ?= prod
infra: $(STAMP) ## Write the CloudFormation resources for STAGE (default prod) to var/infra/resources.json
	$(BIN)/python -m infra.template --stage $(STAGE) --out var/infra/resources.json

PACKAGE_DIR ?= $(CURDIR)/var/infra/package
package: infra layers ## Package the Chalice app, infra resources and the shared-models layer merged in (PACKAGE_DIR)
	cd cloud && AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} ../$(BIN)/chalice package --stage $(STAGE) --merge-template ../var/infra/resources.json $(PACKAGE_DIR)
	cp var/layers/shared-models.zip $(PACKAGE_DIR)/

layers: $(STAMP) ## Build the Lambda layer zips reproducibly into var/layers/
	$(BIN)/python -m layers.build
