# Vigil: `make up` runs the stack, `make test` proves it. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
BASE_URL ?= http://127.0.0.1:$(PORT)
DURATION ?= 60
# The Prometheus family, Jaeger and the collector at the pinned versions, built from the Go module
# proxy by `make tools` (scripts/build-tools.sh) and put first on PATH for every recipe: promtool,
# amtool, tests.
export VIGIL_TOOLS ?= $(HOME)/.cache/vigil/tools
export PATH := $(VIGIL_TOOLS)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help deps bench-deps venv tools run test check load bench lock package previews

# One fragment per component (prometheus, alertmanager, grafana, compose): each adds a check-* target.
include $(sort $(wildcard mk/*.mk))

help: ## list the targets
	@# The variables a description names are shown with their values (a test keeps "$$(" out of the output).
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E -e 's/:.*## /\t/' -e 's|[$$][(]PORT[)]|$(PORT)|g' \
	  -e 's|[$$][(]VIGIL_TOOLS[)]|$(VIGIL_TOOLS)|g' | sort | column -t -s $$'\t'

venv: $(VENV)/.installed ## create .venv with the backend and test dependencies (idempotent)
$(VENV)/.installed: backend/requirements.txt backend/requirements-dev.txt bench/requirements.txt backend/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r backend/requirements-dev.txt -c backend/constraints.txt
	touch $@

tools: ## build the Prometheus family, Jaeger and the collector at the pinned versions into $(VIGIL_TOOLS)/bin; print versions
	scripts/build-tools.sh

run: venv ## run the backend alone on 127.0.0.1:$(PORT) (SQLite unless DATABASE_URL is set)
	cd backend && FORWARDED_ALLOW_IPS="$${FORWARDED_ALLOW_IPS:-}" ../$(BIN)/uvicorn app.asgi:app --host 127.0.0.1 --port $(PORT) \
	  --http h11 --h11-max-incomplete-event-size 16384

deps: ## check the programs make test needs (PostgreSQL, Redis, ...): one sentence names what to install
	@scripts/test-deps.sh test
bench-deps:
	@scripts/test-deps.sh bench

# The whole set-up on a fresh Debian/Ubuntu clone: programs, .venv, .superset-venv, the Prometheus family.
test: deps venv superset-venv tools ## run every test against real processes
	$(BIN)/python -m pytest tests

check: $(CHECKS) ## every static check (configs, rules, dashboards); no Docker needed

load: venv ## send mixed traffic to BASE_URL for DURATION seconds (key: the first of API_KEYS in .env)
	. scripts/lib/env.sh && cd backend && API_KEYS="$${API_KEYS:-$$(env_value API_KEYS "" ../.env)}" \
	  ../$(BIN)/python -m loadgen --base-url $(BASE_URL) --duration $(DURATION)

bench: bench-deps venv ## instrumentation overhead: instructions/request under callgrind (needs valgrind), then req/s (wrk)
	$(BIN)/python bench/instrumentation.py

DIST ?= dist
package: venv ## build the instrumentation's wheel into dist/ (then: pip install dist/vigil_stack_instrumentation-*.whl)
	$(BIN)/pip wheel -q --no-deps --disable-pip-version-check -w $(DIST) ./backend/observability
	@ls $(DIST)/vigil_stack_instrumentation-*.whl

previews: deps venv tools ## draw docs/images/<uid>.png per dashboard from its JSON and a 150 s live demo (~4 min)
	$(BIN)/pip install -q --disable-pip-version-check -r scripts/previews-requirements.txt
	$(BIN)/python scripts/previews.py

lock: ## re-pin backend/constraints.txt from requirements*.txt in a scratch venv
	rm -rf /tmp/vigil-lock && $(PYTHON) -m venv /tmp/vigil-lock
	/tmp/vigil-lock/bin/pip install -q -r backend/requirements-dev.txt
	{ echo "# Exact versions the tests, CI and the image install (pip install -c constraints.txt)."; \
	  echo "# Regenerate with \`make lock\` after changing requirements*.txt."; \
	  /tmp/vigil-lock/bin/pip freeze --exclude-editable; } > backend/constraints.txt
