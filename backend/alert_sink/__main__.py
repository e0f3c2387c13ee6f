"""Entry point: ``python -m alert_sink`` (settings from the environment).

ALERT_SINK_HOST          address to bind (default 0.0.0.0, for a container)
ALERT_SINK_PORT          port (default 9099)
ALERT_SINK_MAX_MESSAGES  how many messages to keep (default 100; older ones are dropped)
"""
import os
import signal
import sys

from .server import MessageStore, log, make_server


def main() -> None:
    host = os.environ.get("ALERT_SINK_HOST", "0.0.0.0")
    port = int(os.environ.get("ALERT_SINK_PORT", "9099"))
    keep = int(os.environ.get("ALERT_SINK_MAX_MESSAGES", "100"))
    server = make_server(host, port, MessageStore(keep))
    # `docker stop` sends SIGTERM: leave serve_forever cleanly instead of being killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f"listening on {host}:{port}", keep=keep)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
