"""Clean virtualenvs with the instrumentation installed the ways docs/instrumenting-your-app.md gives."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import BACKEND_DIR

PACKAGE = BACKEND_DIR / "observability"
DISTRIBUTION = "vigil-stack-instrumentation"

BARE_APP = '''
import os

from fastapi import FastAPI
from observability import instrument

app = FastAPI()
instrument(app, service="bare-api", version="9.9.9")


@app.get("/hello/{name}")
async def hello(name: str):
    return {"hello": name}


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}


@app.get("/boom")
async def boom():
    raise RuntimeError("boom")
'''


def make_venv(root: Path, *requirements: str, servers: tuple[str, ...] = ("fastapi", "uvicorn")) -> Path:
    """A new virtualenv in root/venv with requirements (pip arguments) and servers, pinned by
    backend/constraints.txt; root/app/main.py is the bare app. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-c", str(BACKEND_DIR / "constraints.txt"), *requirements, *servers],
                   check=True, timeout=600)
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text(BARE_APP)
    return python
