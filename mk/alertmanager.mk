# Alerting: check the Alertmanager config, and trigger real alerts on the running stack.
# Included by the Makefile. amtool: the pinned release, built by `make tools`.
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

check-alertmanager: ## validate alertmanager.yml and its templates, and test which receiver each severity reaches (amtool only)
	@command -v $(firstword $(AMTOOL)) >/dev/null || { echo "amtool not found: brew install alertmanager, apt-get install prometheus-alertmanager, or make tools" >&2; exit 1; }
	$(AMTOOL) check-config $(AM_CONFIG)
	@for t in $(AM_ROUTE_TESTS); do set -- $$t; want=$$1; shift; \
	  $(AMTOOL) config routes test --config.file=$(AM_CONFIG) --verify.receivers=$$want "$$@" >/dev/null 2>&1 \
	    || { echo "route test FAILED: {$$*} does not reach receiver $$want" >&2; exit 1; }; \
	  echo "route ok: {$$*} -> $$want"; \
	done

demo-alert: ## make the running stack fail for DEMO_SECONDS (default 420): real alerts reach the alert sink (or Slack)
	@DEMO_SECONDS="$(DEMO_SECONDS)" DEMO_BACKEND="$(DEMO_BACKEND)" scripts/demo-alert.sh
