#!/usr/bin/env bash
# `make backup`: PostgreSQL, Prometheus, Loki and Grafana into backups/vigil-YYYYmmdd-HHMMSS.tar.gz.
# PostgreSQL is dumped while it runs (pg_dump is consistent); the other three are stopped for the
# seconds it takes to copy their volume, then started again. Alertmanager's silences, Redis and Alloy's
# positions are not included (they rebuild themselves). Restore with `make restore f=<archive>`.
set -euo pipefail
cd "$(dirname "$0")/.."
compose=${COMPOSE:-docker compose}
helper=busybox:1.37.0   # only runs tar; pinned like every image

# Volume to copy for each service that owns state (names as in docker-compose.yml).
volumes="prometheus:prometheus-data loki:loki-data grafana:grafana-data"

project=$($compose config --format json | sed -n 's/^  "name": "\(.*\)",$/\1/p' | head -n 1)
volume_of() {  # the Docker volume behind a Compose volume name
  docker volume ls -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.volume=$1"
}

stamp=$(date +%Y%m%d-%H%M%S)
work=backups/vigil-$stamp
mkdir -p "$work"
stopped=""
trap '[ -z "$stopped" ] || $compose start $stopped >/dev/null' EXIT   # never leave a service stopped

echo "PostgreSQL: pg_dump of the app database"
$compose exec -T postgres sh -c 'pg_dump -U "$POSTGRES_USER" -d "$APP_DB_NAME" --format=custom' > "$work/postgres.dump"

for pair in $volumes; do
  service=${pair%%:*} volume=${pair#*:}
  source=$(volume_of "$volume")
  if [ -z "$source" ]; then echo "$service: no volume $volume (service never started here), skipped"; continue; fi
  echo "$service: copying volume $volume"
  $compose stop "$service" >/dev/null; stopped=$service
  docker run --rm -v "$source:/data:ro" -v "$PWD/$work:/backup" "$helper" \
    tar -czf "/backup/$volume.tar.gz" -C /data .
  $compose start "$service" >/dev/null; stopped=""
done

tar -czf "$work.tar.gz" -C backups "vigil-$stamp" && rm -rf "$work"
echo "Backup written to $work.tar.gz"
