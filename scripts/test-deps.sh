#!/usr/bin/env bash
# What `make test` (or `make bench`) needs besides Python packages and the Prometheus family
# (built by scripts/build-tools.sh, which finds or fetches Go itself), checked before anything runs:
#   scripts/test-deps.sh [test|bench]
# A missing program stops the run at once with one sentence naming the Debian/Ubuntu packages to
# install; run as root with CI=true (.ci/run) it installs them with apt-get instead.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-test}
missing=()

have_pg() { command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
have_pg initdb && have_pg pg_ctl || missing+=(postgresql)
# The tests' clusters preload pg_stat_statements (a separate package on some releases).
compgen -G "/usr/lib/postgresql/*/lib/pg_stat_statements.so" >/dev/null || missing+=(postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v curl >/dev/null 2>&1 || missing+=(curl)               # scripts/demo-alert.sh
# `python3 -m venv` needs ensurepip (Debian's python3-venv) to create .venv and .superset-venv.
if [ ! -x .venv/bin/python ] || [ ! -x .superset-venv/bin/python ]; then
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
fi
# tests/runtime starts its own Docker engine and builds every image from a debootstrap base. Strict runs
# (CI=true) need both; elsewhere the runtime suite is skipped when no engine can be started.
if [ "$purpose" = test ] && [ "${CI:-}" = true ]; then
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)  # the socket proxy's program (test_socket_proxy.py)
fi
[ "$purpose" != bench ] || command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# valgrind: `make bench` counts instructions with callgrind; tests/backend/test_bench.py runs that path briefly.
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && [ "${CI:-}" = true ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "make $purpose needs ${missing[*]}: install with 'sudo apt-get install ${missing[*]}', then run it again." >&2
exit 1
