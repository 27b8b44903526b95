# kubepve developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3.11
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Pinned Python test tools (fakepve is the Proxmox side of the tests).
PY_REQUIREMENTS := tools/requirements.txt
# Pinned packaging check tools (helm-python-sdk, PyYAML, lupa), in their own venv.
HELM_VENV := .venv-helm
HELM_PY := $(HELM_VENV)/bin/python
HELM_REQUIREMENTS := tools/helm/requirements.txt
IMAGE ?= ghcr.io/kubepve/kubepve:dev

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

# Every copy of the CRDs that `kubepve crd` generates (tests/suite/generated_crds.rs checks them).
CRD_DIRS := crds charts/kubepve/files/crds config/crd/bases

.PHONY: generate
generate: ## Regenerate the CRDs (crds/, the Helm chart's and kustomize's copies) and docs/argocd/argocd-cm.yaml
	for dir in $(CRD_DIRS); do rm -f $$dir/*.kubepve.io.yaml; $(CARGO) run --quiet --bin kubepve -- crd --out-dir $$dir || exit 1; done
	$(PYTHON) tools/helm/argocd_cm.py

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: test
test: venv helm-venv ## Run every test layer (pure, offline CRD, fakepve, chart/kustomize/ArgoCD checks; real API server when configured)
	KUBEPVE_VENV=$(CURDIR)/$(VENV) $(CARGO) nextest run --workspace --locked --no-fail-fast
	$(CARGO) test --workspace --locked --doc
	$(MAKE) --no-print-directory helm-lint argocd-health-test

.PHONY: e2e
e2e: venv ## Run only the real-API-server suites; fail without KUBEBUILDER_ASSETS or KUBEPVE_TEST_KUBECONFIG
	KUBEPVE_REQUIRE_APISERVER=1 KUBEPVE_VENV=$(CURDIR)/$(VENV) $(CARGO) nextest run --workspace -E 'test(/real_apiserver/)'

# Release build: the figures are about the operator and pvectl as shipped (a debug build is
# several times slower and larger). BENCH_ARGS passes options, e.g. BENCH_ARGS='--sizes 100'.
.PHONY: bench
bench: venv ## Performance and scale figures against their targets: table + bench/results.json (see bench/RESULTS.md)
	$(CARGO) build --release --locked -p kubepve -p pvectl --bins
	KUBEPVE_VENV=$(CURDIR)/$(VENV) $(CARGO) run --release --locked --example bench -- $(BENCH_ARGS)

$(HELM_VENV)/.installed: $(HELM_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) to create $(HELM_VENV)"; exit 1; }
	$(PYTHON) -m venv $(HELM_VENV)
	$(HELM_PY) -m pip install --quiet --disable-pip-version-check -r $(HELM_REQUIREMENTS)
	touch $@

.PHONY: helm-venv
helm-venv: $(HELM_VENV)/.installed ## Create .venv-helm with the pinned packaging check tools (helm-python-sdk, lupa)

.PHONY: helm-lint
helm-lint: helm-venv ## Lint and render the Helm chart offline, check its output and compare it with config/default
	$(HELM_PY) tools/helm/check_chart.py

.PHONY: argocd-health-test
argocd-health-test: helm-venv ## Run the ArgoCD Lua health checks (docs/argocd) against sample statuses in Lua 5.1
	$(HELM_PY) -m unittest -v tools/helm/test_argocd_health.py

.PHONY: docker-build
docker-build: ## Build the operator image (IMAGE=...; needs a Docker engine; TARGET=pvectl for the CLI image)
	@if ! docker info >/dev/null 2>&1; then \
		echo "docker-build: no Docker engine answers here ('docker info' failed), so the image cannot be built on this machine."; \
		echo "Build it where Docker runs: docker build -t $(IMAGE) ."; \
		echo "Without Docker, the binary runs on its own: cargo build --release --bin kubepve && ./target/release/kubepve run"; \
		exit 1; \
	fi
	docker build --target $(or $(TARGET),kubepve) -t $(IMAGE) .
