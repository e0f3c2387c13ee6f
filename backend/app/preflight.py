"""Production refuses development secrets, whichever command starts it.

Two entry points share these rules:
- ``check_production(settings)``: the backend itself, at start-up, when ENVIRONMENT=production
  (ADMIN_TOKEN and API_KEYS set, no development value in them or in the database password);
- ``python -m app.preflight --defaults .env.example --secrets-dir /run/secrets``: a one-shot job in
  docker-compose.prod.yml that every service waits for; it checks every secret file Compose mounted.

Every password, key and token must also be strong: at least 16 characters, not predictable (8 different
characters, no repeated block, 40 bits by a character-frequency estimate; `make secrets` makes 43 random url-safe
ones), and each its own (ADMIN_TOKEN equal to an API key, or two equal passwords, are refused). Addresses
(webhook URLs, SENTRY_DSN) are only checked against the development values. Each problem is one sentence
naming the variable, never its value.

Values are compared after the normalisation a .env reader applies (surrounding quotes, a trailing
`` # comment``, CR of CRLF line endings, white space), so ``"postgres"`` is still ``postgres``.
"""
from __future__ import annotations

import argparse
import math
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
MIN_DISTINCT, MIN_BITS = 8, 40
ADDRESSES = ("SLACK_WEBHOOK_URL", "HEARTBEAT_URL", "ESCALATION_WEBHOOK_URL", "SENTRY_DSN")  # not secrets by strength


def estimated_bits(value: str) -> float:
    """Length x Shannon entropy of the value's own character frequencies: low for repeats and short alphabets."""
    counts = [value.count(c) for c in set(value)]
    return -sum(n * math.log2(n / len(value)) for n in counts)


def weakness(value: str) -> str | None:
    if len(value) < MIN_TOKEN_LENGTH:
        return f"is shorter than {MIN_TOKEN_LENGTH} characters"
    repeated = any(value == value[:k] * (len(value) // k)
                   for k in range(1, len(value) // 2 + 1) if len(value) % k == 0)
    if repeated or len(set(value)) < MIN_DISTINCT or estimated_bits(value) < MIN_BITS:
        return "is too predictable (a repeat, or too few different characters)"
    return None


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
        elif name not in ADDRESSES and (reason := next(filter(None, map(weakness, parts)), None)):
            subject = "API_KEYS has a key that" if name == "API_KEYS" else name
            found.append(f"{subject} {reason}: use a random value (`make secrets` writes them).")
    owners: dict[str, list[str]] = {}  # value -> the secrets holding it
    for name, value in values.items():
        value = normalise(value or "")
        for part in ([p.strip() for p in value.split(",")] if name == "API_KEYS" else [value]):
            if part and name not in ADDRESSES and name not in owners.setdefault(part, []):
                owners[part].append(name)
    for names in owners.values():
        if len(names) > 1:
            found.append(f"{' and '.join(names)} have the same value: give each secret its own.")
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
