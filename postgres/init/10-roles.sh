#!/usr/bin/env bash
# Roles for Vigil's PostgreSQL: the backend's owner role, Grafana's read-only role and the
# exporter's monitoring role, plus pg_stat_statements in the app database.
#
# The official postgres image runs this once, on an empty data directory, from
# /docker-entrypoint-initdb.d as POSTGRES_USER (psql reaches the init server through its
# socket; PGHOST/PGPORT work too, which is how the tests run it). It is idempotent:
# running it again creates nothing twice and resets the passwords.
#
# Environment (defaults are for development only):
#   APP_DB_NAME (vigil), APP_DB_USER (vigil), APP_DB_PASSWORD or APP_DB_PASSWORD_FILE
#   GRAFANA_DB_USER (grafana_reader), GRAFANA_DB_PASSWORD or GRAFANA_DB_PASSWORD_FILE
#   EXPORTER_DB_USER (postgres_exporter), EXPORTER_DB_PASSWORD or EXPORTER_DB_PASSWORD_FILE
# pg_stat_statements only collects when the server runs with
# shared_preload_libraries=pg_stat_statements (set it in the Compose command).
set -euo pipefail

# secret NAME DEFAULT: the value of $NAME, or the contents of the file named by $NAME_FILE
# (Compose secrets), or DEFAULT. Setting both is an error, as in the official image.
secret() {
  local name=$1 default=$2 file_var="${1}_FILE"
  if [ -n "${!name:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "10-roles.sh: set $name or $file_var, not both" >&2
    exit 1
  fi
  if [ -n "${!file_var:-}" ]; then
    # $(< file) drops the trailing newline editors and `echo >` leave behind.
    printf '%s' "$(< "${!file_var}")"
  else
    printf '%s' "${!name:-$default}"
  fi
}

app_db=${APP_DB_NAME:-vigil}
app_user=${APP_DB_USER:-vigil}
app_password=$(secret APP_DB_PASSWORD vigil)
reader=${GRAFANA_DB_USER:-grafana_reader}
reader_password=$(secret GRAFANA_DB_PASSWORD grafana_reader)
exporter=${EXPORTER_DB_USER:-postgres_exporter}
exporter_password=$(secret EXPORTER_DB_PASSWORD postgres_exporter)

# Values travel as psql variables: :'x' quotes a literal, :"x" an identifier, so a
# password containing quotes cannot break (or inject into) the SQL. \gexec runs each
# statement the SELECT produces; format() with %I/%L quotes inside DDL.
run_psql() {
  psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" "$@" \
    -v app_db="$app_db" -v app_user="$app_user" -v app_password="$app_password" \
    -v reader="$reader" -v reader_password="$reader_password" \
    -v exporter="$exporter" -v exporter_password="$exporter_password"
}

run_psql --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
-- Three login roles; an existing role only gets its password reset.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r.name, r.pw)
  FROM (VALUES (:'app_user', :'app_password'), (:'reader', :'reader_password'),
               (:'exporter', :'exporter_password')) AS r(name, pw)
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name)
UNION ALL
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', r.name, r.pw)
  FROM (VALUES (:'app_user', :'app_password'), (:'reader', :'reader_password'),
               (:'exporter', :'exporter_password')) AS r(name, pw)
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = r.name)
\gexec

-- The app database, owned by the app role (when POSTGRES_DB already is that database,
-- it only changes owner), so the backend can create its tables in the public schema.
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db')
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_db', :'app_user')
\gexec

-- Grafana reads statistics of every statement (pg_stat_statements text of other roles);
-- the exporter gets the monitoring bundle (pg_read_all_stats + pg_read_all_settings + ...).
GRANT pg_read_all_stats TO :"reader";
GRANT pg_monitor TO :"exporter";
-- Belt and braces: every session of the reader is read-only even if a grant slips.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
SQL

run_psql --dbname "$app_db" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_db" TO :"reader", :"exporter";
GRANT USAGE ON SCHEMA public TO :"reader";
-- Tables that exist now, and (default privileges) the ones the backend creates later.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_user" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL

echo "10-roles.sh: roles $app_user, $reader, $exporter ready in database $app_db"
