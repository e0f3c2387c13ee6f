#!/usr/bin/env bash
# `make demo-alert`: make the running stack fail for DEMO_SECONDS (default 420) so that real alerts
# reach the alert sink (or Slack). Every 10 s the faults are set again (the Compose load generator
# sets short faults of its own now and then, which replace ours); they are cleared when the demo
# ends or on Ctrl-C.
#   DEMO_SECONDS   how long (seconds)
#   DEMO_BACKEND   the backend's base URL (default http://localhost:$BACKEND_PORT from .env)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh

seconds=${DEMO_SECONDS:-420}
api="${DEMO_BACKEND:-http://localhost:$(env_value BACKEND_PORT 8000)}/api"
headers=(-H "Content-Type: application/json")
key=$(env_value API_KEYS "" | cut -d, -f1)
[ -z "$key" ] || headers+=(-H "X-API-Key: $key")
faults='{"providers": {"openai": {"failure_rate": 1.0}}, "http_error_rate": 0.3, "duration_seconds": 60}'

curl -fsS -o /dev/null -X PUT "${headers[@]}" -d "$faults" "$api/admin/faults" ||
  { echo "Cannot set faults through $api/admin/faults: is the stack up ('make up')?" >&2; exit 1; }
trap 'curl -fsS -o /dev/null -X DELETE "${headers[@]}" "$api/admin/faults" && echo && echo "Faults cleared: the resolved messages follow (critical within ~1 min, warnings within ~5 min)."' EXIT
trap 'exit 130' INT TERM

cat <<TEXT
For $seconds s: 30% of /api requests answer 503 and every openai call fails.
With the shipped rules (their 'for:' durations) expect about:
  3 min  ErrorBudgetBurnFast  critical -> #vigil-critical
  4 min  CircuitBreakerOpen   warning  -> #vigil-warnings
  6 min  HighErrorRatio       critical -> #vigil-critical
Where to look:
  Alert sink (what Slack receives)  http://localhost:$(env_value ALERT_SINK_PORT 9099)  (your channel if SLACK_WEBHOOK_URL is a real webhook)
  Alertmanager (groups, silences)   http://localhost:$(env_value ALERTMANAGER_PORT 9093)/#/alerts
  Prometheus (pending -> firing)    http://localhost:$(env_value PROMETHEUS_PORT 9090)/alerts
  Grafana (the error ratio climbs)  http://localhost:$(env_value GRAFANA_PORT 3001)/d/vigil-overview
Ctrl-C stops early and clears the faults.
TEXT

end=$((SECONDS + seconds)) i=0
while [ $SECONDS -lt $end ]; do
  [ $((i % 10)) -ne 0 ] || curl -fsS -o /dev/null -X PUT "${headers[@]}" -d "$faults" "$api/admin/faults" || true
  curl -sS -o /dev/null -X POST "${headers[@]}" "$api/workflows" \
    -d "{\"name\": \"demo-alert\", \"input\": \"demo $i\", \"steps\": [{\"agent\": \"planner\", \"model\": \"gpt-4o-mini\"}]}" || true
  curl -sS -o /dev/null "$api/stats/real-time" || true
  printf '\r  %4d s left ' $((end - SECONDS)); i=$((i + 1)); sleep 1
done
