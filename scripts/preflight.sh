#!/usr/bin/env bash
# Checks before the Docker targets. Each failure prints one sentence and exits 1.
#   scripts/preflight.sh dev    Docker + Compose v2, .env (created from .env.example), free host ports
#   scripts/preflight.sh prod   the same, and every secret set and different from its development default
#   scripts/preflight.sh docker TARGET   Docker + Compose v2 and an existing .env, for the targets that act
#                               on a stack already created (down, ps, logs, restart, backup, restore, clean)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}
target=${2:-up}   # named in the messages: "then run 'make <target>' again"
compose=${COMPOSE:-docker compose}

fail() { echo "$*" >&2; exit 1; }

. scripts/lib/env.sh
value() { env_value "$1" "" "$2"; }   # NAME FILE

command -v docker >/dev/null 2>&1 ||
  fail "Docker is not installed (no 'docker' on PATH): install Docker Engine or Docker Desktop with Compose v2, then run 'make $target' again."
# Docker's own error goes under the sentence: it tells a stopped daemon from a socket's permissions or a DOCKER_HOST.
if ! said=$(docker info 2>&1 >/dev/null); then
  fail "Docker is installed but its daemon is not reachable: start Docker (or add your user to the 'docker' group), then run 'make $target' again.
Docker said: $(printf '%s\n' "$said" | grep -v '^[[:space:]]*$' | tail -n 3)"
fi
version=$($compose version --short 2>/dev/null) ||
  fail "Docker Compose v2 is missing: install the Compose plugin so that 'docker compose version' works, then run 'make $target' again."
# !reset/!override in docker-compose.prod.yml need Compose 2.24.4 or later (v5 is the newest line).
IFS=. read -r major minor _ <<<"${version#v}"
if [ "${major:-0}" -lt 2 ] || { [ "$major" -eq 2 ] && [ "${minor:-0}" -lt 24 ]; }; then
  fail "Docker Compose $version is too old: Vigil needs 2.24 or later ('docker compose version'), please upgrade."
fi

if [ "$mode" = docker ]; then
  # COMPOSE may name its own env file (make backup COMPOSE="docker compose --env-file prod.env ..."): no .env then.
  case " $compose " in *" --env-file "*) exit 0 ;; esac
  [ -f .env ] || fail "There is no .env here, so no Vigil stack was created from this folder: run 'make up' first."
  exit 0
fi

if [ ! -f .env ]; then
  cp .env.example .env
  echo "Created .env from .env.example (development defaults; edit it to change ports or passwords)."
fi

if [ "$mode" = prod ]; then
  # backend/app/preflight.py reads .env as Compose does (quotes, trailing comments, CRLF) and lets the
  # environment win, as Compose does; the same check runs again as the prod overlay's `preflight` job.
  python3 backend/app/preflight.py --defaults .env.example --env-file .env >&2 ||
    fail "Production secrets above are empty, weak, shared or development values: set real values in .env (make secrets; see docs/production.md)."
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
