"""A local stand-in for a Slack incoming webhook, for development.

Alertmanager posts to it what it would post to Slack; the sink keeps the last
messages in memory, logs each one as a JSON line on stdout and lists them at
GET / (a page) and GET /api/messages (JSON). Standard library only, so it runs
in the backend image without touching the app. Run: ``python -m alert_sink``.
"""
from .server import MessageStore, make_server  # noqa: F401
