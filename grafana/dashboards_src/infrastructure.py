"""Infrastructure (vigil-infra): host, PostgreSQL, Redis, the monitoring stack and a service's process."""
from __future__ import annotations

from .build import process_panels, service_var, dashboard, ds_var, panel, prom, query_var, row, sql, thresholds


def build() -> dict:
    n = 'job="node-exporter", instance=~"$node"'
    ri = "$__rate_interval"
    fs = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|overlay|nsfs|fuse.*|autofs"'
    pg = 'job="postgres-exporter"'
    # Mean seconds per call of each statement over the range, and its text (queryid -> query).
    pg_mean = (f"sum by (datname, queryid) (increase(pg_stat_statements_seconds_total{{{pg}}}[$__range])) / "
               f"sum by (datname, queryid) (increase(pg_stat_statements_calls_total{{{pg}}}[$__range])) > 0")
    pg_text = f"max by (queryid, query) (pg_stat_statements_query_id{{{pg}}})"
    rd = 'job="redis-exporter"'
    up_map = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                             "1": {"text": "up", "color": "green", "index": 1}}}]
    updown = thresholds(("red", None), ("green", 1))
    items = [
        row("Host (node-exporter)"),
        panel("timeseries", "CPU busy", "Share of CPU time not idle, averaged over all cores.",
              [prom(f"1 - avg by (instance) (rate(node_cpu_seconds_total{{{n}, mode=\"idle\"}}[{ri}]))",
                    "{{instance}}")], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.95))),
        panel("timeseries", "Memory used", "Share of memory not available to new programs.",
              [prom(f"1 - node_memory_MemAvailable_bytes{{{n}}} / node_memory_MemTotal_bytes{{{n}}}",
                    "{{instance}}")], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.85), ("red", 0.95))),
        panel("bargauge", "Disk used", "Share of each real filesystem in use.",
              [prom(f"1 - node_filesystem_avail_bytes{{{n}, {fs}}} / node_filesystem_size_bytes{{{n}, {fs}}}",
                    "{{mountpoint}}", instant=True)], "percentunit", w=6, lo=0, hi=1,
              steps=thresholds(("green", None), ("orange", 0.8), ("red", 0.9))),
        panel("timeseries", "Network traffic", "Bytes per second received (+) and sent (-) per interface.",
              [prom(f"sum by (device) (rate(node_network_receive_bytes_total{{{n}}}[{ri}]))", "rx {{device}}"),
               prom(f"-sum by (device) (rate(node_network_transmit_bytes_total{{{n}}}[{ri}]))", "tx {{device}}")],
              "Bps", w=6),
        panel("timeseries", "Load average", "1-minute load average against the number of CPUs.",
              [prom(f"node_load1{{{n}}}", "load1"),
               prom(f"count by (instance) (node_cpu_seconds_total{{{n}, mode=\"idle\"}})", "cpus")], "short", w=12),
        panel("timeseries", "Disk I/O", "Bytes per second read and written, all block devices.",
              [prom(f"sum(rate(node_disk_read_bytes_total{{{n}}}[{ri}]))", "read"),
               prom(f"sum(rate(node_disk_written_bytes_total{{{n}}}[{ri}]))", "written")], "Bps", w=12),
        row("PostgreSQL"),
        panel("stat", "PostgreSQL up", "Whether postgres-exporter can reach the database.",
              [prom(f"pg_up{{{pg}}}", "up")], "short", w=4, mappings=up_map, steps=updown),
        panel("timeseries", "Connections", "Server connections by database and state, against max_connections.",
              [prom(f"sum by (datname) (pg_stat_activity_count{{{pg}}})", "{{datname}}"),
               prom(f"max(pg_settings_max_connections{{{pg}}})", "max_connections")], "short", w=10),
        panel("timeseries", "Transactions", "Commits and rollbacks per second, all databases.",
              [prom(f"sum(rate(pg_stat_database_xact_commit{{{pg}}}[{ri}]))", "commits"),
               prom(f"sum(rate(pg_stat_database_xact_rollback{{{pg}}}[{ri}]))", "rollbacks")], "ops", w=10),
        panel("bargauge", "Database size", "On-disk size of each database.",
              [prom(f"pg_database_size_bytes{{{pg}, datname!~\"template.*\"}}", "{{datname}}", instant=True)],
              "bytes", w=8),
        panel("table", "Table sizes", "Tables of the app database by total size (data + indexes + TOAST).",
              [sql("SELECT relname AS \"table\", pg_total_relation_size(relid) AS total_bytes, "
                   "pg_relation_size(relid) AS data_bytes, n_live_tup AS live_rows "
                   "FROM pg_stat_user_tables ORDER BY total_bytes DESC LIMIT 20")], "bytes", w=16),
        panel("table", "Slowest statements", "Statements of the app database with the highest mean time, from "
              "pg_stat_statements (needs shared_preload_libraries=pg_stat_statements).",
              [sql("SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 140) AS statement, s.calls, "
                   "round(s.mean_exec_time::numeric, 2) AS mean_ms, round(s.total_exec_time::numeric, 1) AS total_ms, "
                   "s.rows FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                   "WHERE d.datname = current_database() ORDER BY s.mean_exec_time DESC LIMIT 10")],
              "short", w=24),
        panel("table", "Slowest queries", "Statements with the highest mean time over the dashboard's range, "
              "with their total time (postgres-exporter's stat_statements collector; every database).",
              [prom(f"topk(10, {pg_mean}) * on (queryid) group_left (query) {pg_text}", "mean", True, "table"),
               prom(f"(sum by (datname, queryid) (increase(pg_stat_statements_seconds_total{{{pg}}}[$__range]))"
                    f" and on (datname, queryid) topk(10, {pg_mean})) * on (queryid) group_left (query) {pg_text}",
                    "total", True, "table")], "s", w=24),
        row("Redis"),
        panel("stat", "Redis up", "Whether redis-exporter can reach Redis.",
              [prom(f"redis_up{{{rd}}}", "up")], "short", w=4, mappings=up_map, steps=updown),
        panel("timeseries", "Redis memory", "Memory used by Redis.",
              [prom(f"redis_memory_used_bytes{{{rd}}}", "used")], "bytes", w=6),
        panel("timeseries", "Redis commands", "Commands processed per second.",
              [prom(f"rate(redis_commands_processed_total{{{rd}}}[{ri}])", "commands")], "ops", w=7),
        panel("timeseries", "Redis clients and keys", "Connected clients and keys held (rate-limit windows, "
              "cache entries, blocks).",
              [prom(f"redis_connected_clients{{{rd}}}", "clients"),
               prom(f"sum(redis_db_keys{{{rd}}})", "keys")], "short", w=7),
        row("Monitoring stack"),
        panel("table", "Scrape targets", "Every Prometheus target and whether its last scrape worked.",
              [prom("up", "", instant=True, fmt="table")], "short", w=8, mappings=up_map, steps=updown),
        panel("timeseries", "Prometheus head series", "Series in Prometheus' in-memory head block (cardinality).",
              [prom('prometheus_tsdb_head_series{job="prometheus"}', "series")], "short", w=8),
        panel("timeseries", "Rule evaluation failures", "Recording and alerting rule evaluations that failed.",
              [prom(f"sum(rate(prometheus_rule_evaluation_failures_total{{job=\"prometheus\"}}[{ri}]))", "failures")],
              "ops", w=8, steps=thresholds(("green", None), ("red", 0.001))),
        panel("timeseries", "Alertmanager alerts", "Alerts Alertmanager holds, by state.",
              [prom('sum by (state) (alertmanager_alerts{job="alertmanager"})', "{{state}}")], "short", w=12),
        panel("timeseries", "Alert notifications", "Notifications sent and failed per second, by integration.",
              [prom(f"sum by (integration) (rate(alertmanager_notifications_total{{job=\"alertmanager\"}}[{ri}]))",
                    "sent {{integration}}"),
               prom(f"sum by (integration) (rate(alertmanager_notifications_failed_total{{job=\"alertmanager\"}}[{ri}]))",
                    "failed {{integration}}")], "ops", w=12),
        row("Service process ($service)"),
        *process_panels('job="$service"'),
    ]
    variables = [ds_var(), service_var(),
                 query_var("node", "Host", 'label_values(node_uname_info{job="node-exporter"}, instance)',
                           "node-exporter instances (hosts).")]
    return dashboard("vigil-infra", "Is the platform healthy? Host CPU, memory, disk and network; PostgreSQL, "
                     "Redis, and the monitoring stack itself.", ["infrastructure"], items, variables)
