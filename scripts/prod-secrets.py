#!/usr/bin/env python3
"""`make secrets`: strong random values for the production secrets, written into .env.

The list is docker-compose.prod.yml's x-required-secrets (what `make prod-up` refuses to start without).
- Generated: each password and token, 43 url-safe characters (32 random bytes, `secrets.token_urlsafe`),
  all different. Superset's only when the `bi` profile is on (COMPOSE_PROFILES, environment or .env).
- Kept: a value you set yourself (not empty, not a development value of .env.example) is never replaced.
- By hand: the alert URLs (Slack webhook, heartbeat, escalation) are issued by those services: named, not made.
Prints what it wrote where, never a value. Running it again writes nothing.
Usage: scripts/prod-secrets.py [--env-file .env] [--example .env.example] [--overlay docker-compose.prod.yml]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
# The .env reading and the profile of each secret, as the prod preflight has them.
from app.preflight import normalise, read_env_file, secret_profile  # noqa: E402


def required(overlay: Path) -> list[str]:
    """The `${NAME:?...}` names of the overlay's x-required-secrets block, in order."""
    block = re.search(r"^x-required-secrets:\n((?:[ #].*\n)+)", overlay.read_text(), re.M).group(1)
    return re.findall(r"\$\{(\w+):\?", block)


def set_values(env_file: Path, new: dict[str, str]) -> None:
    """Replace each NAME= line (every one: the last would win) or append it; other lines stay as they are."""
    lines = env_file.read_text(encoding="utf-8").splitlines()
    done = set()
    for i, line in enumerate(lines):
        name = line.split("=", 1)[0].strip().removeprefix("export ").strip() if "=" in line else ""
        if name in new and not line.lstrip().startswith("#"):
            lines[i] = f"{name}={new[name]}"
            done.add(name)
    lines += [f"{name}={value}" for name, value in new.items() if name not in done]
    tmp = env_file.with_name(env_file.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)  # secrets inside: the owner only
    os.replace(tmp, env_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env")
    parser.add_argument("--example", type=Path, default=ROOT / ".env.example")
    parser.add_argument("--overlay", type=Path, default=ROOT / "docker-compose.prod.yml")
    args = parser.parse_args(argv)
    where = os.path.relpath(args.env_file)
    if not args.env_file.exists():
        shutil.copyfile(args.example, args.env_file)
        print(f"Created {where} from {os.path.relpath(args.example)}.")
    dev_defaults = read_env_file(args.example)
    dev = {v for v in dev_defaults.values() if v}
    current = read_env_file(args.env_file)
    profiles = {p.strip() for p in normalise(os.environ.get("COMPOSE_PROFILES", current.get("COMPOSE_PROFILES", "")))
                .split(",") if p.strip()}
    new, kept, by_hand, skipped = {}, [], [], []
    for name in required(args.overlay):
        value = current.get(name, "")
        if value and value not in dev:
            kept.append(name)
        elif name.endswith("_URL"):
            by_hand.append(name)
        elif secret_profile(name) and secret_profile(name) not in profiles:
            skipped.append(name)
        else:
            new[name] = secrets.token_urlsafe(32)
        if name in os.environ:
            print(f"Note: {name} is set in your environment, which wins over {where} for Compose.")
    if new:
        set_values(args.env_file, new)
        print(f"Wrote {len(new)} new secrets to {where} (mode 600): {', '.join(new)}.")
    else:
        print(f"Wrote nothing: {where} already has every secret make secrets can generate.")
    if kept:
        print(f"Already set, kept: {', '.join(kept)}.")
    if skipped:
        print(f"Not generated, profile {' / '.join(sorted({secret_profile(n) for n in skipped}))} is off: "
              f"{', '.join(skipped)} (COMPOSE_PROFILES=bi make secrets adds them).")
    if by_hand:
        print(f"Set by hand in {where} (issued by those services): {', '.join(by_hand)}; see docs/production.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
