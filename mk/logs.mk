# Loki + Alloy: static checks of loki/loki-config.yml and alloy/config.alloy (neither program
# runs without Docker). The full checks, with the real backend's output, run in `make test`.

.PHONY: check-logs
CHECKS += check-logs

check-logs: venv ## Loki config structure, Alloy pipeline wiring and labels, Grafana's trace_id link
	$(BIN)/python -m pytest -q tests/logs_traces/test_log_pipeline.py \
	  -k "loki_config or alloy_pipeline or derived_field"
