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

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Summary, multiprocess
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest
from prometheus_client.utils import floatToGoString
from prometheus_client.values import MutexValue, ValueClass
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
    per-label name validation, and reads Counter, Gauge, Histogram and Summary children
    directly instead of through collect() (see _write_children; tests/backend/test_exposition.py
    compares the two). A registry with a name that needs quoting (UTF-8 names) goes to generate_latest."""
    out: list[str] = []
    collectors = _collectors(registry)
    if collectors is None:
        families = registry.collect()
    else:  # collect()'s walk, one collector at a time: most are written without collect()
        families = (metric for c in collectors if not (type(c) in _DIRECT and _write_children(c, out))
                    for metric in c.collect())
    for metric in families:
        if not _write_family(metric, out):
            return generate_latest(registry)
    return "".join(out).encode()


def _write_family(metric, out: list[str]) -> bool:
    """One family from collect(), as generate_latest writes it; False for a name that needs quoting."""
    name, mtype = metric.name, metric.type
    samples = metric.samples
    if not _LEGACY_NAME.match(name) or any(not _LEGACY_NAME.match(k) for s in samples[:1] for k in s.labels):
        return False
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
                labels = _label_cache[key] = _label_text(s.labels)
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
    return True


def _label_text(labels: dict) -> str:
    return ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items()))


# --- Counter, Gauge, Histogram and Summary without collect() -----------------------------------------
# collect() builds a Sample (a namedtuple) and a label dict per line, then the text is made from them: most of
# a render. Here each child's lines are written from its values, after text made once per child (_heads).
# Only the exact prometheus_client classes in single-process mode (MutexValue: a float read as it is, which
# the GIL makes atomic; get()'s lock gives no more, each value having its own), else collect() as before.
_DIRECT = frozenset({Counter, Gauge, Histogram, Summary})
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "summary": ("_count", "_sum")}
_heads: dict = {}  # child -> the text before each of its values ("name{labels} "); children live long
_INF = float("inf")


def _collectors(registry):
    """The registry's collectors in collect()'s order, or None when collect() itself must be used."""
    if (type(registry) is not CollectorRegistry or getattr(registry, "_target_info", True)
            or ValueClass is not MutexValue or not hasattr(registry, "_collector_to_names")):
        return None
    with registry._lock:  # as collect() copies them
        return list(registry._collector_to_names)


def _go(v: float) -> str:
    """floatToGoString(v): repr() but for infinities, NaN (comparisons fail) and 1e6 or more (Go's exponents)."""
    return repr(v) if type(v) is float and -_INF < v < 1e6 else floatToGoString(v)


def _write_children(metric, out: list[str]) -> bool:
    """Write one Counter, Gauge, Histogram or Summary as generate_latest would; False (nothing written) when
    this metric needs collect(): *_created series on, a name that needs quoting."""
    kind, name = metric._type, metric._name
    if (kind != "gauge" and prometheus_metrics._use_created) or not _LEGACY_NAME.match(name) \
            or any(not _LEGACY_NAME.match(k) for k in metric._labelnames):
        return False
    if metric._is_parent():
        with metric._lock:  # as _multi_samples() copies them
            children = list(metric._metrics.items())
    else:
        children = [((), metric)]
    shown = name + "_total" if kind == "counter" else name
    out.append(f"# HELP {shown} {_help(metric._documentation)}\n# TYPE {shown} {kind}\n")
    for labelvalues, child in children:
        heads = _heads.get(child)
        if heads is None:
            heads = _child_heads(metric, labelvalues, child)
        if kind == "histogram":
            acc = 0.0  # buckets are written cumulative, then _count (their total) and _sum
            for head, bucket in zip(heads, child._buckets):
                acc += bucket._value
                out.append(f"{head}{_go(acc)}\n")
            out.append(f"{heads[-2]}{_go(acc)}\n")
            if child._upper_bounds[0] >= 0:
                out.append(f"{heads[-1]}{_go(child._sum._value)}\n")
        elif kind == "summary":
            out.append(f"{heads[0]}{_go(child._count._value)}\n{heads[1]}{_go(child._sum._value)}\n")
        elif "_child_samples" in child.__dict__:  # a Gauge given set_function(): its one sample
            out.append(f"{heads[0]}{_go(child._child_samples()[0].value)}\n")
        else:
            out.append(f"{heads[0]}{_go(child._value._value)}\n")
    return True


def _child_heads(metric, labelvalues: tuple, child) -> tuple[str, ...]:
    """The text before each value of a child: "name_suffix{sorted labels} "."""
    labels = dict(zip(metric._labelnames, labelvalues))
    name = metric._name

    def head(suffix: str, extra: dict | None = None) -> str:
        pairs = {**labels, **extra} if extra else labels
        return f"{name}{suffix}{{{_label_text(pairs)}}} " if pairs else f"{name}{suffix} "
    if metric._type == "histogram":
        heads = tuple(head("_bucket", {"le": floatToGoString(b)}) for b in child._upper_bounds) + (
            head("_count"), head("_sum"))
    else:
        heads = tuple(head(suffix) for suffix in _SUFFIXES[metric._type])
    if len(_heads) > 50_000:  # series churn (removed children stay here until then): start over
        _heads.clear()
    _heads[child] = heads
    return heads


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
