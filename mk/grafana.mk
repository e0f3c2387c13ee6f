# Grafana: the dashboards are generated. check-grafana proves the committed JSON is the
# generator's output and passes the static checks (Grafana itself is not needed).
.PHONY: dashboards check-grafana
CHECKS += check-grafana

dashboards: venv ## regenerate grafana/dashboards/*/*.json from grafana/generate.py
	$(BIN)/python grafana/generate.py

check-grafana: venv ## lint Grafana provisioning, dashboards and LogQL; fail if the JSON is not regenerated
	$(BIN)/python grafana/generate.py --check
	$(BIN)/python -m pytest -q tests/grafana/test_static.py tests/grafana/test_logql.py
