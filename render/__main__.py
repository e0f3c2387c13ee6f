"""`python3 -m render [--check] [--config FILE]`: write (or diff) every file rendered from vigil.toml.

Each module of this package that defines ``files(cfg)`` contributes {repo-relative path: text}.
Only files whose text changed are written; --check writes nothing and exits 1 naming each stale file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from . import config

PACKAGE = Path(__file__).resolve().parent


def render(cfg: config.Config) -> dict[str, str]:
    out: dict[str, str] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)])):
        mod = importlib.import_module(f"{__package__}.{module}")
        if callable(getattr(mod, "files", None)):
            for path, text in mod.files(cfg).items():
                if path in out:
                    raise RuntimeError(f"render.{module} writes {path}, which another module writes too")
                out[path] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m render", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    parser.add_argument("--config", default=str(config.DEFAULT_PATH), help="the config file (default: vigil.toml)")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    files = render(cfg)
    stale = [p for p, text in sorted(files.items())
             if not (config.REPO / p).exists() or (config.REPO / p).read_text() != text]
    if args.check:
        for path in stale:
            print(f"render: out of date: {path} (run `make render`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        target = config.REPO / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path])
        print(f"wrote {path}")
    print(f"render: {len(stale)} written, {len(files) - len(stale)} unchanged, from {Path(args.config).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
