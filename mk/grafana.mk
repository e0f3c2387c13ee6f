# Grafana: the dashboards are generated (`make render`, which check-render diffs); check-grafana lints
# them and the provisioning (pytest: .venv; Grafana itself is not needed).
.PHONY: dashboards check-grafana
CHECKS += check-grafana

dashboards: render ## same as make render (the dashboards are rendered with everything else)

check-grafana: venv ## lint Grafana provisioning, dashboards and LogQL
	$(BIN)/python -m pytest -q tests/grafana/test_static.py tests/grafana/test_logql.py
