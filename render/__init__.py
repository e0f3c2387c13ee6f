"""Render every generic Prometheus, Grafana and Kubernetes file from vigil.toml.

    python3 -m render            # write what changed, say what it wrote (make render)
    python3 -m render --check    # exit 1 naming every stale file (make check)

Standard library only (Python >= 3.11 for tomllib): no virtualenv, no packages.
config.py reads and validates vigil.toml; yamlout.py writes YAML; each other module renders one kind of
file and exposes ``files(cfg) -> {repo-relative path: text}``; __main__.py collects them.
"""
