#!/usr/bin/env bash
# Checks before `make up` / `make prod-up`. Each failure prints one sentence and exits 1.
#   scripts/preflight.sh dev    Docker + Compose v2, .env (created from .env.example), free host ports
#   scripts/preflight.sh prod   the same, and every secret set and different from its development default
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}
compose=${COMPOSE:-docker compose}

fail() { echo "$*" >&2; exit 1; }

# value NAME FILE: the last NAME=value in an env file (no shell evaluation of the file).
value() { sed -n "s/^$1=//p" "$2" | tail -n 1; }

command -v docker >/dev/null 2>&1 ||
  fail "Docker is not installed (no 'docker' on PATH): install Docker Engine or Docker Desktop with Compose v2, then run 'make up' again."
docker info >/dev/null 2>&1 ||
  fail "Docker is installed but its daemon is not reachable: start Docker (or add your user to the 'docker' group), then run 'make up' again."
version=$($compose version --short 2>/dev/null) ||
  fail "Docker Compose v2 is missing: install the Compose plugin so that 'docker compose version' works, then run 'make up' again."
# !reset/!override in docker-compose.prod.yml need Compose 2.24.4 or later (v5 is the newest line).
IFS=. read -r major minor _ <<<"${version#v}"
if [ "${major:-0}" -lt 2 ] || { [ "$major" -eq 2 ] && [ "${minor:-0}" -lt 24 ]; }; then
  fail "Docker Compose $version is too old: Vigil needs 2.24 or later ('docker compose version'), please upgrade."
fi

if [ ! -f .env ]; then
  cp .env.example .env
  echo "Created .env from .env.example (development defaults; edit it to change ports or passwords)."
fi

if [ "$mode" = prod ]; then
  for name in POSTGRES_PASSWORD APP_DB_PASSWORD GRAFANA_DB_PASSWORD EXPORTER_DB_PASSWORD GRAFANA_ADMIN_PASSWORD SLACK_WEBHOOK_URL HEARTBEAT_URL ESCALATION_WEBHOOK_URL \
              SUPERSET_SECRET_KEY SUPERSET_ADMIN_PASSWORD SUPERSET_DB_PASSWORD API_KEYS; do
    current=$(value "$name" .env)
    [ -n "$current" ] || fail "$name is empty in .env: production needs a value (see docs/production.md)."
    [ "$current" != "$(value "$name" .env.example)" ] ||
      fail "$name in .env still has its development default: set a real value before 'make prod-up'."
  done
fi

# Host ports: skip when this stack already runs (its own containers hold them).
if [ -z "$($compose ps -q 2>/dev/null)" ]; then
  for pair in GRAFANA_PORT:3001 PROMETHEUS_PORT:9090 ALERTMANAGER_PORT:9093 JAEGER_PORT:16686 BACKEND_PORT:8000 ALERT_SINK_PORT:9099; do
    name=${pair%%:*}
    port=$(value "$name" .env); port=${port:-${pair#*:}}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      fail "Port $port is already in use on this machine: stop what uses it or set $name to a free port in .env, then run 'make up' again."
    fi
  done
fi
