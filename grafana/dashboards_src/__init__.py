"""The sources of grafana/dashboards/: build.py holds the JSON helpers, each other module one dashboard
(named like its JSON file, with a build() function) or, for runbooks.py, one dashboard per runbook.
grafana/generate.py renders them all."""
