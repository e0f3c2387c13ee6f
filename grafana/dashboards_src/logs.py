"""Logs (vigil-logs): volume by level and service, errors, request-id / trace-id search (Loki)."""
from __future__ import annotations

from .build import ERROR_LEVELS, LOKI, custom_var, dashboard, loki, panel, query_var, text_var


def build() -> dict:
    sel = 'service=~"$service", level=~"$level"'
    items = [
        panel("timeseries", "Log volume by level", "Log lines per interval, by level.",
              [loki(f"sum by (level) (count_over_time({{{sel}}}[$__interval]))", "{{level}}")], "short",
              w=12, stack=True, custom={"drawStyle": "bars"}),
        panel("timeseries", "Log volume by service", "Log lines per interval, by Compose service.",
              [loki(f"sum by (service) (count_over_time({{{sel}}}[$__interval]))", "{{service}}")], "short",
              w=12, stack=True, custom={"drawStyle": "bars"}),
        panel("logs", "Error logs", "Error and critical lines of the selected services.",
              [loki(f'{{service=~"$service", level=~"{ERROR_LEVELS}"}}')], w=24, h=9),
        panel("logs", "Search by request id or trace id", "Lines containing the text of the Search box (a "
              "request_id, a trace_id, or any text). The trace_id field links to the trace in Jaeger.",
              [loki(f'{{{sel}}} |= "$search"')], w=24, h=12),
    ]
    variables = [
        query_var("service", "Service", "label_values(service)", "Compose services whose logs Alloy collects.",
                  ds=LOKI),
        custom_var("level", "Level", ["debug", "info", "warn", "warning", "error", "critical", "fatal"],
                   "Log levels to show (Alloy lower-cases them; Go services say warn, Python warning)."),
        text_var("search", "Search", "A request_id or trace_id (or any text) to find in the log lines."),
    ]
    return dashboard("vigil-logs", "What did the services log? Volume by level and service, errors, and a "
                     "request-id / trace-id search that links to traces.", ["logs"], items, variables)
