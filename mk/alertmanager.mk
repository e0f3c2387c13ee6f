# Alerting: check the Alertmanager config, and trigger real alerts on the running stack.
# Included by the Makefile. amtool comes with Alertmanager (Debian: prometheus-alertmanager).
AMTOOL ?= amtool
AM_CONFIG ?= alertmanager/alertmanager.yml
DEMO_SECONDS ?= 420
DEMO_BACKEND ?=

# Route tests: "<receiver it must reach> <alert labels...>".
AM_ROUTE_TESTS := \
	"critical alertname=BackendDown severity=critical service=backend" \
	"critical alertname=HighErrorRatio severity=critical service=backend" \
	"warning alertname=LLMErrorRatioHigh severity=warning service=backend" \
	"warning alertname=TargetDown severity=warning service=redis-exporter" \
	"default alertname=Notice severity=info service=backend" \
	"default alertname=Unlabelled"

.PHONY: check-alertmanager demo-alert
CHECKS += check-alertmanager

check-alertmanager: tools ## validate alertmanager.yml and its templates, and test which receiver each severity reaches
	@command -v $(firstword $(AMTOOL)) >/dev/null || { echo "amtool not found: run make tools" >&2; exit 1; }
	$(AMTOOL) check-config $(AM_CONFIG)
	@for t in $(AM_ROUTE_TESTS); do set -- $$t; want=$$1; shift; \
	  $(AMTOOL) config routes test --config.file=$(AM_CONFIG) --verify.receivers=$$want "$$@" >/dev/null 2>&1 \
	    || { echo "route test FAILED: {$$*} does not reach receiver $$want" >&2; exit 1; }; \
	  echo "route ok: {$$*} -> $$want"; \
	done

# The faults are re-applied every 10 s (the Compose load generator sets short faults of its
# own now and then, which replace ours) and cleared when the demo ends or on Ctrl-C.
demo-alert: ## make the running stack fail for DEMO_SECONDS (default 420): real alerts reach the alert sink (or Slack)
	@set -euo pipefail; \
	env_value() { v=$$(sed -n "s/^$$1=//p" .env 2>/dev/null | tail -n 1); echo "$${v:-$$2}"; }; \
	api="$${DEMO_BACKEND:-$(DEMO_BACKEND)}"; api="$${api:-http://localhost:$$(env_value BACKEND_PORT 8000)}/api"; \
	headers=(-H "Content-Type: application/json"); key=$$(env_value API_KEYS "" | cut -d, -f1); \
	[ -z "$$key" ] || headers+=(-H "X-API-Key: $$key"); \
	faults='{"providers": {"openai": {"failure_rate": 1.0}}, "http_error_rate": 0.3, "duration_seconds": 60}'; \
	curl -fsS -o /dev/null -X PUT "$${headers[@]}" -d "$$faults" "$$api/admin/faults" \
	  || { echo "Cannot set faults through $$api/admin/faults: is the stack up ('make up')?" >&2; exit 1; }; \
	trap 'curl -fsS -o /dev/null -X DELETE "$${headers[@]}" "$$api/admin/faults" && echo && echo "Faults cleared: the resolved messages follow (critical within ~1 min, warnings within ~5 min)."' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "For $(DEMO_SECONDS) s: 30% of /api requests answer 503 and every openai call fails."; \
	echo "With the shipped rules (their 'for:' durations) expect about:"; \
	echo "  3 min  ErrorBudgetBurnFast  critical -> #vigil-critical"; \
	echo "  4 min  CircuitBreakerOpen   warning  -> #vigil-warnings"; \
	echo "  6 min  HighErrorRatio       critical -> #vigil-critical"; \
	echo "Where to look:"; \
	echo "  Alert sink (what Slack receives)  http://localhost:$$(env_value ALERT_SINK_PORT 9099)  (your channel if SLACK_WEBHOOK_URL is a real webhook)"; \
	echo "  Alertmanager (groups, silences)   http://localhost:$$(env_value ALERTMANAGER_PORT 9093)/#/alerts"; \
	echo "  Prometheus (pending -> firing)    http://localhost:$$(env_value PROMETHEUS_PORT 9090)/alerts"; \
	echo "  Grafana (the error ratio climbs)  http://localhost:$$(env_value GRAFANA_PORT 3001)/d/vigil-overview"; \
	echo "Ctrl-C stops early and clears the faults."; \
	end=$$((SECONDS + $(DEMO_SECONDS))); i=0; \
	while [ $$SECONDS -lt $$end ]; do \
	  [ $$((i % 10)) -ne 0 ] || curl -fsS -o /dev/null -X PUT "$${headers[@]}" -d "$$faults" "$$api/admin/faults" || true; \
	  curl -sS -o /dev/null -X POST "$${headers[@]}" "$$api/workflows" \
	    -d "{\"name\": \"demo-alert\", \"input\": \"demo $$i\", \"steps\": [{\"agent\": \"planner\", \"model\": \"gpt-4o-mini\"}]}" || true; \
	  curl -sS -o /dev/null "$$api/stats/real-time" || true; \
	  printf '\r  %4d s left ' $$((end - SECONDS)); i=$$((i + 1)); sleep 1; \
	done
