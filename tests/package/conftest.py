"""The session's clean virtualenv, installed from the repository path (tests/package/installs.py)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from .installs import PACKAGE, make_venv


@pytest.fixture(scope="session")
def venv():
    """Installed from the repository path, as `pip install ./backend/observability`, with the servers
    the guide gives command lines for (uvicorn, gunicorn with uvicorn-worker)."""
    root = Path(tempfile.mkdtemp(prefix="vigil-clean-venv-"))
    try:
        python = make_venv(root, str(PACKAGE), servers=("fastapi", "uvicorn", "gunicorn", "uvicorn-worker"))
        yield root, python
    finally:
        shutil.rmtree(root, ignore_errors=True)

