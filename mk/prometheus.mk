# Prometheus: validate the config and the rules, and run the rules' unit tests.
# Included by the Makefile. promtool: the pinned release, built by `make tools`.
PROMTOOL ?= promtool

.PHONY: check-prometheus
CHECKS += check-prometheus

check-prometheus: ## promtool: check prometheus.yml and the rules, run the rule unit tests (needs promtool only)
	@command -v $(PROMTOOL) >/dev/null || { echo "promtool not found: brew install prometheus, apt-get install prometheus, or make tools" >&2; exit 1; }
	$(PROMTOOL) check config prometheus/prometheus.yml
	$(PROMTOOL) check rules prometheus/rules/*/*.yml
	$(PROMTOOL) test rules prometheus/tests/*/*.yml
