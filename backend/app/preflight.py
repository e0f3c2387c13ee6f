"""Production refuses development secrets, whichever command starts it.

Two entry points share these rules:
- ``check_production(settings)``: the backend itself, at start-up, when ENVIRONMENT=production
  (ADMIN_TOKEN and API_KEYS set, no development value in them or in the database password);
- ``python -m app.preflight --defaults .env.example --secrets-dir /run/secrets``: a one-shot job in
  docker-compose.prod.yml that every service waits for; it checks every secret file Compose mounted.

Values are compared after the normalisation a .env reader applies (surrounding quotes, a trailing
`` # comment``, CR of CRLF line endings, white space), so ``"postgres"`` is still ``postgres``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The secrets production needs (Compose secret names are these, lower-cased). The list is
# docker-compose.prod.yml's x-required-secrets; the image has no overlay, so it keeps this copy,
# which tests/compose/test_compose_config.py holds equal to the overlay's.
SECRET_NAMES = ("POSTGRES_PASSWORD", "APP_DB_PASSWORD", "GRAFANA_DB_PASSWORD", "EXPORTER_DB_PASSWORD",
                "GRAFANA_ADMIN_PASSWORD", "SLACK_WEBHOOK_URL", "HEARTBEAT_URL", "ESCALATION_WEBHOOK_URL",
                "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD",
                "SUPERSET_DB_PASSWORD", "ADMIN_TOKEN", "API_KEYS", "REDIS_PASSWORD")
# Optional in production (empty is allowed), but never a development value.
OPTIONAL = ("SENTRY_DSN",)
# Secrets of a Compose profile's services (name prefix -> profile): checked only when COMPOSE_PROFILES
# (environment, else .env) turns the profile on; off, their .env.example values are harmless.
PROFILE_SECRETS = {"SUPERSET_": "bi"}


def secret_profile(name: str) -> str | None:
    return next((p for prefix, p in PROFILE_SECRETS.items() if name.startswith(prefix)), None)


def enabled(names, compose_profiles: str) -> tuple[str, ...]:
    """The names whose profile (if any) is in COMPOSE_PROFILES."""
    on = {p.strip() for p in normalise(compose_profiles).split(",")}
    return tuple(n for n in names if secret_profile(n) in (None, *on))
MIN_TOKEN_LENGTH = 16


def normalise(raw: str) -> str:
    """A value as a .env reader sees it: no CR, no surrounding quotes, no trailing comment."""
    value = raw.replace("\r", "").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if " #" in value:
        value = value.split(" #", 1)[0]
    return value.strip()


def read_env_file(path: str | Path) -> dict[str, str]:
    """NAME=value lines of an env file (the last one wins), normalised."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.replace("\r", "").strip()
        if line.startswith("export "):
            line = line[7:].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, raw = line.split("=", 1)
        values[name.strip()] = normalise(raw)
    return values


def development_values(defaults: dict[str, str]) -> set[str]:
    """Every non-empty secret value of .env.example: none may appear under any secret's name."""
    return {v for k, v in defaults.items() if v and k in SECRET_NAMES + OPTIONAL}


def problems(values: dict[str, str | None], dev: set[str], required=SECRET_NAMES) -> list[str]:
    found = []
    for name, value in values.items():
        value = normalise(value or "")
        parts = [p.strip() for p in value.split(",")] if name == "API_KEYS" else [value]
        if not value:
            if name in required:
                found.append(f"{name} is empty: production needs a value (see docs/production.md).")
        elif any(p in dev for p in parts):
            found.append(f"{name} still has a development value from .env.example: set a real secret.")
        elif name in ("ADMIN_TOKEN", "API_KEYS") and min(len(p) for p in parts) < MIN_TOKEN_LENGTH:
            found.append(f"{name} is shorter than {MIN_TOKEN_LENGTH} characters.")
    return found


def _defaults_file() -> Path | None:
    for candidate in (os.getenv("DEV_DEFAULTS_FILE"), Path(__file__).resolve().parents[2] / ".env.example"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def check_production(settings) -> None:
    """Raise SystemExit with every problem when ENVIRONMENT=production has development secrets."""
    if settings.environment != "production":
        return
    path = _defaults_file()
    dev = development_values(read_env_file(path)) if path else set()
    url = urlsplit(settings.database_url)
    values = {"ADMIN_TOKEN": settings.admin_token, "API_KEYS": settings.api_keys}
    if url.password is not None or not settings.database_url.startswith("sqlite"):
        values["DATABASE_URL password"] = unquote(url.password or "")
    found = problems(values, dev, required=("ADMIN_TOKEN", "API_KEYS", "DATABASE_URL password"))
    if found:
        raise SystemExit("refusing to start in production:\n  " + "\n  ".join(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defaults", required=True, help="the development defaults (.env.example)")
    parser.add_argument("--secrets-dir", help="files named after the secrets (Compose: /run/secrets)")
    parser.add_argument("--env-file", help="an env file to check instead (scripts/preflight.sh prod)")
    args = parser.parse_args(argv)
    dev = development_values(read_env_file(args.defaults))
    if args.env_file:
        values = read_env_file(args.env_file)
        names = enabled(SECRET_NAMES + OPTIONAL, os.environ.get("COMPOSE_PROFILES", values.get("COMPOSE_PROFILES", "")))
        # Compose lets the shell environment override .env, so check what Compose will really use.
        values = {n: os.environ.get(n, values.get(n, "")) for n in names}
    else:  # the overlay's job passes COMPOSE_PROFILES on
        names = enabled(SECRET_NAMES + OPTIONAL, os.environ.get("COMPOSE_PROFILES", ""))
        folder = Path(args.secrets_dir or "/run/secrets")
        values = {n: (folder / n.lower()).read_text(encoding="utf-8", errors="replace")
                  for n in names if (folder / n.lower()).is_file()}
        values.update({n: "" for n in names if n in SECRET_NAMES and n not in values})
    found = problems(values, dev)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
