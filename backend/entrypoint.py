"""Container entry point: read secrets from files into the environment, then run the command.

Secrets arrive as files (Compose secrets), so they never appear in the container's configuration:
- DATABASE_PASSWORD_FILE: the password is put into DATABASE_URL, which carries everything else, e.g.
  postgresql+psycopg2://vigil@postgres:5432/vigil; REDIS_PASSWORD_FILE likewise into REDIS_URL;
- API_KEYS_FILE, ADMIN_TOKEN_FILE, SENTRY_DSN_FILE: the file's content becomes API_KEYS, ADMIN_TOKEN, SENTRY_DSN.
Usage: python entrypoint.py COMMAND [ARGS...]
"""
import os
import sys
from urllib.parse import quote, urlsplit, urlunsplit


def with_password(url: str, password: str) -> str:
    """Return url with password set (percent-encoded, so any character is safe)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


FILE_SECRETS = ("API_KEYS", "ADMIN_TOKEN", "SENTRY_DSN")


def read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py COMMAND [ARGS...]")
    for url, password_file in (("DATABASE_URL", "DATABASE_PASSWORD_FILE"), ("REDIS_URL", "REDIS_PASSWORD_FILE")):
        if os.environ.get(password_file) and os.environ.get(url):
            os.environ[url] = with_password(os.environ[url], read_secret(os.environ[password_file]))
    for name in FILE_SECRETS:
        path = os.environ.get(f"{name}_FILE")
        # Compose creates no file for a secret whose variable is empty (SENTRY_DSN, optional, by default):
        # empty then, as the variable was; the app's production check still refuses empty required ones.
        if path:
            os.environ[name] = read_secret(path) if os.path.exists(path) else ""
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
