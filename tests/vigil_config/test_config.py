"""vigil.toml's validation: each mistake a user makes gives one sentence naming the line.

Runs `python3 -m render` (the system Python, no virtualenv: what `make render` runs) on broken copies of
the shipped vigil.toml, and render.config.load() on the same copies.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from harness import REPO

sys.path.insert(0, str(REPO))
from render import config  # noqa: E402

from .test_render import SHOP  # noqa: E402

SHIPPED = (REPO / "vigil.toml").read_text()
SERVICE = SHOP   # a static service with its SLO, as docs/your-own-service.md adds it


CASES = {
    # case: (edit of the shipped file + SERVICE, text the error names, marker of the line it must name)
    "unknown key": (lambda t: t.replace('scrape = "static"', 'scrape = "static"\nscrape_timeout = "5s"'),
                    "unknown key 'scrape_timeout'", "scrape_timeout"),
    "unknown threshold": (lambda t: t.replace("[thresholds]\n", "[thresholds]\nhttp_5xx_ratio = 0.02\n"),
                          "unknown key 'http_5xx_ratio'", "http_5xx_ratio = 0.02"),
    "bad objective": (lambda t: t.replace("availability = 0.995", "availability = 99.5"),
                      "availability = 99.5 must be a share from 0.95 to below 1", "availability = 99.5"),
    "objective of 1": (lambda t: t.replace("latency_objective = 0.95", "latency_objective = 1"),
                       "latency_objective = 1 must be a share", "latency_objective = 1"),
    "duplicate name": (lambda t: t.replace('name = "shop"', 'name = "backend"'),
                       "service name 'backend' is used twice (first at line", 'name = "backend"\nscrape = "static"'),
    "bad target": (lambda t: t.replace('targets = ["host.docker.internal:8080"]', 'targets = ["http://localhost:8080"]'),
                   'needs targets = ["host:port", ...]', "targets = "),
    "missing slo": (lambda t: t[:t.rindex("[service.slo]")], "service 'shop' has no [service.slo] table",
                    '[[service]]\nname = "shop"'),
    "bad name": (lambda t: t.replace('name = "shop"', 'name = "Shop API"'),
                 "service name 'Shop API' must be lower-case letters", 'name = "Shop API"'),
    "compose without port": (lambda t: t.replace('scrape = "static"\ntargets = ["host.docker.internal:8080"]',
                                                 'scrape = "compose"'),
                             "needs port = the container port", '[[service]]\nname = "shop"'),
}


def expected_line(text: str, marker: str) -> int:
    """The line where the marker starts (its last occurrence: a two-line marker picks the added block)."""
    return text[:text.rindex(marker)].count("\n") + 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_mistake_is_one_sentence_naming_its_line(case, tmp_path):
    edit, message, marker = CASES[case]
    text = edit(SHIPPED + SERVICE)
    path = tmp_path / "vigil.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    sentence = str(err.value)
    assert message in sentence, sentence
    assert "\n" not in sentence and sentence.endswith("."), sentence
    line = expected_line(text, marker)
    assert sentence.startswith(f"vigil.toml line {line}:"), (sentence, line)
    # The CLI says the same sentence and exits 2, writing nothing.
    result = subprocess.run(["python3", "-m", "render", "--check", "--config", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"render: {sentence}"


def test_a_valid_service_loads_with_its_slo_and_defaults(tmp_path):
    path = tmp_path / "vigil.toml"
    path.write_text(SHIPPED + SERVICE)
    cfg = config.load(path)
    shop = cfg.service("shop")
    assert (shop.scrape, shop.targets, shop.metrics_path, shop.port) == ("static", ("host.docker.internal:8080",),
                                                                          "/metrics", None)
    assert (shop.slo.availability, shop.slo.latency_threshold, shop.slo.period_days) == (0.995, 0.5, 30)
    assert cfg.thresholds == {**config.THRESHOLDS, **{k: v for k, v in cfg.thresholds.items()}}
    assert [s.name for s in cfg.services] == ["backend", "shop"]
