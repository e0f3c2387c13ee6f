"""ASGI entry point: `uvicorn app.asgi:app` (run from backend/)."""
from .main import create_app

app = create_app()
