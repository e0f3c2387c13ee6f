#!/usr/bin/env bash
# Fetch the Prometheus family at the versions the Compose images ship (major for major), without
# installing anything into the system: Debian's `testing` suite has them as .debs of Go programs
# that run on bookworm. apt-get downloads them with a private sources list and state directory,
# `dpkg-deb -x` unpacks them into a cache folder outside the repository.
#
#   scripts/prometheus-family.sh          fetch (once) and print "name version" for each program
#   scripts/prometheus-family.sh --bin    print only the folder of the binaries (for PATH)
#   scripts/prometheus-family.sh --root   print the unpacked root (alertmanager's working folder)
#
# VIGIL_TOOLS chooses the cache folder (default ~/.cache/vigil/tools). Needs apt-get and dpkg-deb.
set -euo pipefail

root=${VIGIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil/tools}
bin=$root/unpacked/usr/bin
packages=(prometheus promtool prometheus-alertmanager prometheus-node-exporter prometheus-postgres-exporter
          prometheus-redis-exporter prometheus-pushgateway)
# The binary that answers --version for each package (amtool and promtool come along).
programs=(prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter
          prometheus-postgres-exporter prometheus-redis-exporter prometheus-pushgateway)

fail() { echo "prometheus-family: $*" >&2; exit 1; }

fetch() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    fail "needs apt-get and dpkg-deb (a Debian or Ubuntu machine); or put prometheus 3.x, alertmanager 0.3x and the exporters on PATH and set VIGIL_TOOLS to a folder whose unpacked/usr/bin holds them."
  # This machine's own Debian archive, with the suite swapped for `testing`.
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || fail "$keyring is missing: apt-get install debian-archive-keyring"
  mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/debs"
  echo "deb [signed-by=$keyring] $uri testing main" >"$root/sources.list"
  local opts=(-qq -o "Dir::Etc::SourceList=$root/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root/cache"
              -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update || fail "apt-get update of the testing suite from $uri failed"
  (cd "$root/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download "${packages[@]}") ||
    fail "apt-get download ${packages[*]} failed"
  rm -rf "$root/unpacked.new"
  for deb in "$root"/debs/*.deb; do dpkg-deb -x "$deb" "$root/unpacked.new"; done
  relocate_alertmanager "$root/unpacked.new"
  rm -rf "$root/unpacked" && mv "$root/unpacked.new" "$root/unpacked"
  rm -rf "$root/lists" "$root/cache" "$root/debs"   # keep only what runs
}

# Debian's alertmanager reads its default templates (and UI) from the absolute path
# /usr/share/prometheus/alertmanager, which exists only when the package is installed; it
# refuses to start without default.tmpl. Rewrite that path, in place and at the same length,
# to the relative usr/share/prometheus//alertmanager: run from the unpacked root (as the
# tests do), the binary finds the package's own files there. Nothing else in it changes.
relocate_alertmanager() {
  local am=$1/usr/bin/prometheus-alertmanager
  grep -q -a /usr/share/prometheus/alertmanager "$am" || return 0
  perl -0777 -pi -e 's{/usr/share/prometheus/alertmanager}{usr/share/prometheus//alertmanager}g' "$am"
}

have_all() { for p in "${programs[@]}"; do [ -x "$bin/$p" ] || return 1; done; }

have_all || fetch >&2
relocate_alertmanager "$root/unpacked"   # a cache unpacked before this step existed
have_all || fail "after fetching, some programs are still missing from $bin"

if [ "${1:-}" = --root ]; then   # the folder alertmanager must run in (see relocate_alertmanager)
  echo "$root/unpacked"
  exit 0
fi
if [ "${1:-}" = --bin ]; then
  echo "$bin"
  exit 0
fi
for p in "${programs[@]}"; do
  # Most print "NAME, version 3.5.3 (...)"; redis_exporter logs "Redis Metrics Exporter 1.86.0-1".
  v=$(timeout 10 "$bin/$p" --version 2>&1 | grep -oE '(version|Exporter) v?[0-9]+\.[0-9]+\.[0-9]+' |
      head -n 1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' || true)
  printf '%-30s %s\n' "$p" "${v:-unknown}"
done
