#!/usr/bin/env bash
# The superset-init job (Compose profile `bi`): prepares Superset's metadata database, the admin
# and the Vigil dashboards, then exits; the superset service starts once it exited with 0.
# Safe to run on every `up`: each step is idempotent and the import overwrites the bundle's objects.
#
# Environment: SUPERSET_CONFIG_PATH (superset_config.py and what it reads), SUPERSET_ADMIN_USER
# (admin), SUPERSET_ADMIN_EMAIL, SUPERSET_ADMIN_PASSWORD(_FILE) (required), and VIGIL_DB_URI +
# VIGIL_DB_PASSWORD(_FILE) for superset/import_bundle.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
superset=${SUPERSET_BIN:-superset}
python=${PYTHON:-python}

admin=${SUPERSET_ADMIN_USER:-admin}
if [ -n "${SUPERSET_ADMIN_PASSWORD:-}" ] && [ -n "${SUPERSET_ADMIN_PASSWORD_FILE:-}" ]; then
  echo "init.sh: set SUPERSET_ADMIN_PASSWORD or SUPERSET_ADMIN_PASSWORD_FILE, not both" >&2; exit 1
fi
if [ -n "${SUPERSET_ADMIN_PASSWORD_FILE:-}" ]; then
  password=$(< "$SUPERSET_ADMIN_PASSWORD_FILE")
else
  password=${SUPERSET_ADMIN_PASSWORD:-}
fi
[ -n "$password" ] || { echo "init.sh: SUPERSET_ADMIN_PASSWORD (or _FILE) is not set" >&2; exit 1; }

echo "init.sh: upgrading Superset's metadata database"
"$superset" db upgrade

# create-admin leaves an existing user alone (it only logs "already exists"), so the password
# only applies to a new metadata database, as with Grafana; reset-password changes it later.
echo "init.sh: admin user $admin"
"$superset" fab create-admin --username "$admin" --firstname Vigil --lastname Admin \
  --email "${SUPERSET_ADMIN_EMAIL:-admin@localhost}" --password "$password"

echo "init.sh: roles and permissions"
"$superset" init

echo "init.sh: importing the Vigil dashboards"
"$python" "$here/import_bundle.py"
