#!/usr/bin/env python3
"""Kept for `make deploy-files` and old links: the Kubernetes objects are rendered by render/kubernetes.py.

    python3 deploy/generate.py [--check]   ==   python3 -m render [--check]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from render.__main__ import main  # noqa: E402
from render.kubernetes import AM_CONFIG_DIR, AM_SECRETS_DIR, SLACK_SECRET  # noqa: E402,F401  (tests read them)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
