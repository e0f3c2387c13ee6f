#!/usr/bin/env bash
# `make restore f=backups/vigil-....tar.gz`: puts a `make backup` archive back.
# Replaces the Prometheus, Loki and Grafana volumes and the app database; the stack is restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:?usage: scripts/restore.sh backups/vigil-YYYYmmdd-HHMMSS.tar.gz}
[ -f "$archive" ] || { echo "No such backup archive: $archive" >&2; exit 1; }
compose=${COMPOSE:-docker compose}
helper=busybox:1.37.0
volumes="prometheus:prometheus-data loki:loki-data grafana:grafana-data"

project=$($compose config --format json | sed -n 's/^  "name": "\(.*\)",$/\1/p' | head -n 1)
volume_of() {
  docker volume ls -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.volume=$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$archive" -C "$tmp"
src=$(echo "$tmp"/vigil-*)

# Create the volumes on a fresh host, then stop everything that writes to them or to the database.
$compose up --no-start
$compose stop
for pair in $volumes; do
  volume=${pair#*:} target=$(volume_of "${pair#*:}")
  [ -f "$src/$volume.tar.gz" ] || { echo "no $volume in the archive, skipped"; continue; }
  [ -n "$target" ] || { echo "no volume $volume (service not enabled here), skipped"; continue; }
  echo "restoring volume $volume"
  docker run --rm -v "$target:/data" -v "$src:/backup:ro" "$helper" \
    sh -c "find /data -mindepth 1 -delete && tar -xzf /backup/$volume.tar.gz -C /data"
done

echo "restoring the app database"
$compose up -d --wait postgres
$compose exec -T postgres sh -c 'pg_restore -U "$POSTGRES_USER" -d "$APP_DB_NAME" --clean --if-exists --exit-on-error' < "$src/postgres.dump"

$compose up -d --wait
echo "Restored from $archive"
