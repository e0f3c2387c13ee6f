"""The /metrics endpoint, single-process or multi-process.

With several workers (gunicorn, ``uvicorn --workers``) set PROMETHEUS_MULTIPROC_DIR
to a writable folder before the workers start (metrics.py creates it if missing):
each worker writes its samples there and any worker can serve the sum. Call
``wipe_multiproc_dir()`` once in the parent before the workers start and
``mark_worker_dead(pid)`` when a worker exits: workers.py does both (gunicorn hooks,
and ``python -m observability.workers`` before ``uvicorn --workers``).
Exemplars exist only in single-process mode and only in OpenMetrics output.
"""
from __future__ import annotations

import glob
import os
import re

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response

_LEGACY_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_TYPE_IN_TEXT = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SUFFIX_IN_TEXT = {"counter": "_total", "info": "_info"}
_exemplars = False  # see set_exemplars()


def multiproc_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, or None in single-process mode (read at call time)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def set_exemplars(on: bool) -> None:
    """Answer OpenMetrics (the only format that carries exemplars) to scrapers that accept it.
    instrument() turns it on with tracing; ignored in multi-process mode, which has no exemplars."""
    global _exemplars
    _exemplars = on


_label_cache: dict[tuple, str] = {}  # label pairs -> their rendered form; series repeat every scrape


def _help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def render_text(registry) -> bytes:
    """The Prometheus text format (0.0.4), byte for byte what prometheus_client's
    generate_latest writes for legacy metric names, at a fraction of its cost: it skips
    per-label name validation (tests/backend/test_exposition.py compares the two).
    A registry with a name that needs quoting (UTF-8 names) goes to generate_latest."""
    out = []
    for metric in registry.collect():
        name, mtype = metric.name, metric.type
        samples = metric.samples
        if not _LEGACY_NAME.match(name) or any(not _LEGACY_NAME.match(k) for s in samples[:1] for k in s.labels):
            return generate_latest(registry)
        shown = name + _SUFFIX_IN_TEXT.get(mtype, "")
        doc = _help(metric.documentation)
        out.append(f"# HELP {shown} {doc}\n# TYPE {shown} {_TYPE_IN_TEXT.get(mtype, mtype)}\n")
        extra: dict[str, list[str]] = {}
        for s in samples:
            if s.labels:
                key = tuple(s.labels.items())
                labels = _label_cache.get(key)
                if labels is None:
                    if len(_label_cache) > 50_000:  # series churn: start over rather than grow
                        _label_cache.clear()
                    labels = _label_cache[key] = ",".join(
                        f'{k}="{_label_value(v)}"' for k, v in sorted(s.labels.items()))
                line = f"{s.name}{{{labels}}} {floatToGoString(s.value)}"
            else:
                line = f"{s.name} {floatToGoString(s.value)}"
            if s.timestamp is not None:
                line += f" {int(float(s.timestamp) * 1000):d}"
            suffix = s.name[len(name):]
            if suffix in ("_created", "_gsum", "_gcount"):  # OpenMetrics-only samples: own gauge at the end
                extra.setdefault(suffix, []).append(line + "\n")
            else:
                out.append(line + "\n")
        for suffix, lines in sorted(extra.items()):
            out.append(f"# HELP {name}{suffix} {doc}\n# TYPE {name}{suffix} gauge\n")
            out.extend(lines)
    return "".join(out).encode()


def _label_value(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return v


class _MultiProcessCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's collector, minus the files a worker has created but not yet sized (0 bytes): read
    at that instant, one would fail the whole scrape with struct.error (seen as two uvicorn workers start)."""

    def collect(self):
        return self.merge([f for f in glob.glob(os.path.join(self._path, "*.db")) if _sized(f)], accumulate=True)


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) >= 4  # the header: how many bytes are in use
    except OSError:  # removed meanwhile (a dead worker's live gauges)
        return False


def render(accept: str | None = None) -> tuple[bytes, str]:
    """Return (body, content type) for the given Accept header.

    OpenMetrics only when exemplars are on and the scraper accepts it: Prometheus prefers
    OpenMetrics, but prometheus_client renders it several times slower than the text format.
    """
    path = multiproc_dir()
    if path:
        registry = CollectorRegistry()  # fresh per scrape: it reads every worker's files
        _MultiProcessCollector(registry, path)
    else:
        registry = REGISTRY
    if _exemplars and not path:
        encoder, content_type = choose_encoder(accept or "")
        if content_type != CONTENT_TYPE_LATEST:
            return encoder(registry), content_type
    return render_text(registry), CONTENT_TYPE_LATEST


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = render(request.headers.get("accept"))
    return Response(body, media_type=content_type)


# The files prometheus_client writes: <type>[_<gauge mode>]_<pid>.db. Only those are removed, so a folder
# set by mistake (PROMETHEUS_MULTIPROC_DIR=$HOME) loses nothing else.
_SAMPLE_FILE = re.compile(r"^(counter|histogram|summary|gauge_[a-z]+)_\d+\.db$")


def wipe_multiproc_dir() -> int:
    """Create PROMETHEUS_MULTIPROC_DIR if missing and remove a previous run's sample files (they would be
    summed in). Once, in the parent, before any worker starts: never in a worker. Returns files removed."""
    folder = multiproc_dir()
    if not folder:
        return 0
    os.makedirs(folder, exist_ok=True)
    removed = 0
    for name in os.listdir(folder):
        if _SAMPLE_FILE.match(name):
            os.remove(os.path.join(folder, name))
            removed += 1
    return removed


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (livesum/liveall/livemax modes)."""
    folder = multiproc_dir()
    if folder:
        multiprocess.mark_process_dead(pid, folder)
