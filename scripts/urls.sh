#!/usr/bin/env bash
# Prints where everything is, after `make up`. Ports and the Grafana login come from .env.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh
value() { env_value "$1" "$2"; }   # NAME DEFAULT, from .env

cat <<TEXT

Vigil is up.
  Grafana        http://localhost:$(value GRAFANA_PORT 3001)   dashboards, logs, traces (login $(value GRAFANA_ADMIN_USER admin) / $(value GRAFANA_ADMIN_PASSWORD admin))
  Prometheus     http://localhost:$(value PROMETHEUS_PORT 9090)   metrics, targets, alert rules
  Alertmanager   http://localhost:$(value ALERTMANAGER_PORT 9093)   firing alerts, silences
  Jaeger         http://localhost:$(value JAEGER_PORT 16686)  traces
  Backend        http://localhost:$(value BACKEND_PORT 8000)   the reference API (/docs, /metrics)
  Alert sink     http://localhost:$(value ALERT_SINK_PORT 9099)   the Slack messages Alertmanager sent

The load generator is running so the dashboards fill: stop it with 'docker compose stop loadgen'.
Health: 'make ps'. Logs: 'make logs s=backend'. Stop everything: 'make down'.
TEXT
