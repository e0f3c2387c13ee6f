# Superset (Compose profile `bi`): the business dashboards. Included by the Makefile.
# SUPERSET_VENV is separate from .venv: apache-superset pins its own Flask, SQLAlchemy, ...
SUPERSET_VENV ?= .superset-venv

.PHONY: up-bi superset-venv superset-bundle check-superset superset-lock
CHECKS += check-superset

up-bi: ## start the stack with Superset (profile bi), then open http://localhost:8088
	@scripts/preflight.sh dev
	COMPOSE_PROFILES=bi $(COMPOSE) up -d --build --wait --wait-timeout $(UP_TIMEOUT)
	@scripts/urls.sh
	@. scripts/lib/env.sh && echo "Superset: http://localhost:$$(env_value SUPERSET_PORT 8088)"

superset-venv: $(SUPERSET_VENV)/.installed ## create .superset-venv (apache-superset, pinned) for the Superset tests
$(SUPERSET_VENV)/.installed: superset/requirements.txt superset/constraints.txt
	test -x $(SUPERSET_VENV)/bin/python || $(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install -q --disable-pip-version-check -r superset/requirements.txt -c superset/constraints.txt
	touch $@

superset-bundle: venv ## regenerate superset/bundle/ from superset/dashboards.py
	$(BIN)/python superset/build_bundle.py

check-superset: venv ## fail if superset/bundle/ is stale; the bi profile validates with Compose
	$(BIN)/python superset/build_bundle.py --check
	@test -n "$(COMPOSE_CHECK)" || { echo "No Compose binary in $(VENV): run 'make venv'." >&2; exit 1; }
	$(COMPOSE_CHECK) --env-file .env.example -f docker-compose.yml --profile bi config --quiet

superset-lock: ## re-pin superset/constraints.txt from superset/requirements.txt in a scratch venv
	rm -rf /tmp/vigil-superset-lock && $(PYTHON) -m venv /tmp/vigil-superset-lock
	/tmp/vigil-superset-lock/bin/pip install -q -r superset/requirements.txt
	{ echo "# Exact versions for .superset-venv (pip install -r requirements.txt -c constraints.txt)."; \
	  echo "# Regenerate: make superset-lock."; \
	  /tmp/vigil-superset-lock/bin/pip freeze --exclude-editable; } > superset/constraints.txt
