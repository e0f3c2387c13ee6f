"""grafana/dashboards/*/*.json: grafana/generate.py's dashboards, for the services of vigil.toml."""
from __future__ import annotations

import importlib.util

from .config import REPO, Config


def generator():
    """grafana/generate.py as a module (it is a script beside its dashboards_src package)."""
    spec = importlib.util.spec_from_file_location("vigil_grafana_generate", REPO / "grafana" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files(cfg: Config) -> dict[str, str]:
    return {str(path.relative_to(REPO)): text for path, text in generator().render(cfg).items()}
