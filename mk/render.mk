# vigil.toml -> every generic file: scrape jobs, rules, alerts, their unit tests, dashboards, Kubernetes
# objects (render/, Python 3.11+ standard library: no virtualenv). check-render = render and diff.
.PHONY: render check-render
CHECKS += check-render
NEED_PYTHON = @$(PYTHON) -c 'import tomllib' 2>/dev/null || { echo "$(PYTHON) 3.11 or newer not found: install Python 3.11+ (python.org, brew install python, apt-get install python3)" >&2; exit 1; }

render: ## write every file generated from vigil.toml (prometheus.yml, rules, tests, dashboards, deploy/)
	$(NEED_PYTHON)
	$(PYTHON) -m render

check-render: ## fail if a file generated from vigil.toml is stale (python3 only)
	$(NEED_PYTHON)
	$(PYTHON) -m render --check
