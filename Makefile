# kubetask: `make dev` runs the whole system locally; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
PYTEST_ARGS ?=
DEV_ARGS ?=
BASE_IMAGE ?=

.DEFAULT_GOAL := help

help: ## Show the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,operator]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP) ## Create .venv and install kubetask with its test extras

dev: venv ## Run etcd, a scheduler, 3 workers, the dashboard; demo tasks on fresh data (Ctrl-C stops)
	$(VENV)/bin/kubetask dev $(DEV_ARGS)

system-deps: ## Debian packages the tests need (chromium for the browser tests)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: venv ## ruff, mypy --strict, import-linter layer contracts
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv ## Unit tests only (no etcd)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test: venv system-deps lint kube-tools container-setup cluster-deps shellcheck ## Everything: lint (+ shellcheck), unit, integration (real etcd), k8s, containers, e2e (root), load, faults, browser, soak (60 s)
	$(PY) -m pytest -q --durations=25 $(PYTEST_ARGS)

soak: venv ## 30 min of steady load on real processes; figures to bench/results/soak-30min.json
	KUBETASK_SOAK_SECONDS=$${KUBETASK_SOAK_SECONDS:-1800} \
	KUBETASK_SOAK_REPORT=$${KUBETASK_SOAK_REPORT:-bench/results/soak-30min.json} \
	$(PY) -m pytest tests/soak -m soak -q -s $(PYTEST_ARGS)

kube-tools: ## kube-apiserver, -controller-manager, -scheduler, etcd 3.6, helm from the Go module proxy into hack/bin (quick when built)
	@if command -v go >/dev/null; then hack/kube-tools/build.sh; \
	else echo "kube-tools: no Go on PATH, so tests/k8s will skip (CI=true: fail)"; fi

container-setup: ## podman, runc, podman-compose, a local base and etcd image (Debian, root; quick when done)
	@if command -v podman >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then \
		hack/containers/setup.sh; \
	else echo "container-setup: no podman and no apt-get as root, so tests/containers will skip"; fi

images: ## Build kubetask/worker and kubetask/operator (podman or docker; BASE_IMAGE=... another base)
	BASE_IMAGE="$(BASE_IMAGE)" hack/containers/images.sh

cluster-deps: ## containerd, CNI plugins, nftables, shellcheck (Debian, root) for hack/cluster (quick when installed)
	@command -v containerd >/dev/null && command -v shellcheck >/dev/null && command -v nft >/dev/null \
		&& [ -x /usr/lib/cni/bridge ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc \
		containernetworking-plugins nftables iptables shellcheck >/dev/null; } \
		|| echo "cluster-deps: not root with apt-get, so tests/e2e will skip without KUBETASK_E2E_KUBECONFIG"

shellcheck: ## shellcheck every shell script under hack/ (installed by cluster-deps)
	@command -v shellcheck >/dev/null || { [ "$${CI:-}" != true ] \
		&& echo "shellcheck: not installed (make cluster-deps, as root), scripts not checked"; } \
		|| { echo "shellcheck: not installed under CI=true" >&2; exit 1; }
	@command -v shellcheck >/dev/null || exit 0; shellcheck -x hack/cluster/up hack/cluster/down hack/cluster/lib.sh hack/e2e-kind.sh \
		hack/kube-tools/*.sh hack/containers/*.sh hack/etcd-certs.sh

cluster-up: kube-tools container-setup images cluster-deps ## A single-node Kubernetes cluster here (root): prints its KUBECONFIG
	hack/cluster/up

cluster-down: ## Stop the cluster of cluster-up and undo its changes to the machine
	hack/cluster/down

e2e: venv kube-tools container-setup images cluster-deps ## End-to-end tests on a real cluster (KUBETASK_E2E_KUBECONFIG=..., else the local one)
	$(PY) -m pytest tests/e2e -q $(PYTEST_ARGS)

requirements: venv ## Re-pin requirements/*.txt (the images' dependencies) from pyproject.toml
	hack/containers/lock.sh

bench-deps: venv ## redis-server (Debian) and the peers (Celery, Dramatiq, RQ) for the benchmarks
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	$(PIP) install --quiet -r bench/requirements-peers.txt

bench-quick: bench-deps ## A small benchmark run (a few minutes)
	$(PY) -m bench.run --quick

bench: bench-deps ## The full benchmark against Celery, Dramatiq and RQ; writes bench/results/
	$(PY) -m bench.run

clean-dev: ## Remove only the dev data (.kubetask-dev: etcd data, tasks, logs); keeps .venv
	rm -rf .kubetask-dev

clean: ## Remove everything made here: .venv, the tool caches and the dev data (.kubetask-dev)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .kubetask-dev

.PHONY: help venv dev system-deps lint unit test kube-tools container-setup images requirements soak bench-deps bench bench-quick clean clean-dev \
	cluster-deps shellcheck cluster-up cluster-down e2e
