# kubepve developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3.11
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Pinned Python test tools (fakepve is the Proxmox side of the tests).
PY_REQUIREMENTS := tools/requirements.txt

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: $(PY_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) to create $(VENV)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(PY_REQUIREMENTS)
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the project-local Python venv with pinned test tools (fakepve)

.PHONY: demo
demo: venv ## pvectl and the operator on the samples against a local fake Proxmox, from nothing back to nothing
	$(CARGO) build --quiet -p pvectl
	KUBEPVE_VENV=$(CURDIR)/$(VENV) PVECTL=$(CURDIR)/target/debug/pvectl $(CARGO) run --quiet --example demo

.PHONY: generate
generate: ## Regenerate crds/ from the Rust types
	$(CARGO) run --quiet --bin kubepve -- crd --out-dir crds

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: venv ## Run every test layer (pure, offline CRD, fakepve; real API server when configured)
	KUBEPVE_VENV=$(CURDIR)/$(VENV) $(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

.PHONY: e2e
e2e: venv ## Run only the real-API-server suites; fail without KUBEBUILDER_ASSETS or KUBEPVE_TEST_KUBECONFIG
	KUBEPVE_REQUIRE_APISERVER=1 KUBEPVE_VENV=$(CURDIR)/$(VENV) $(CARGO) nextest run --workspace -E 'test(/real_apiserver/)'
