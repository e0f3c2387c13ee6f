"""Container entry point: put the database password into DATABASE_URL, then run the command.

The password arrives as a file (a Compose secret) named by DATABASE_PASSWORD_FILE, so it never
appears in the container's configuration; DATABASE_URL carries everything else, e.g.
postgresql+psycopg2://vigil@postgres:5432/vigil. Usage: python entrypoint.py COMMAND [ARGS...]
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


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py COMMAND [ARGS...]")
    password_file = os.environ.get("DATABASE_PASSWORD_FILE")
    if password_file and os.environ.get("DATABASE_URL"):
        with open(password_file, encoding="utf-8") as f:
            password = f.read().rstrip("\r\n")
        os.environ["DATABASE_URL"] = with_password(os.environ["DATABASE_URL"], password)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
