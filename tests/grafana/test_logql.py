"""LogQL of the dashboards: labels the collector really attaches, and queries that parse.

Runs no program (Loki and Alloy cannot run here). Reads alloy/config.alloy to learn which
labels and structured-metadata keys Alloy attaches, and checks every Loki query of every
panel and variable with a small LogQL grammar: balanced brackets and quotes, stream
selectors Loki accepts, known functions and pipeline stages, valid range durations.
"""
from __future__ import annotations

import re

from harness import REPO

from .panels import datasources, dashboards, expand, queries, variables

ALLOY_CONFIG = REPO / "alloy" / "config.alloy"
CONTRACT_LABELS = {"service", "container", "level"}  # the brief's contract for Alloy's labels
FUNCTIONS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time",
             "max_over_time", "min_over_time", "quantile_over_time", "absent_over_time",
             "sum", "avg", "min", "max", "count", "topk", "bottomk", "sort", "sort_desc", "by", "without"}
PARSERS = {"json", "logfmt", "unpack"}
MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def alloy_labels() -> tuple[set[str], set[str]]:
    """(labels, structured-metadata keys) that alloy/config.alloy attaches to log lines."""
    text = re.sub(r"//[^\n]*", "", ALLOY_CONFIG.read_text())
    labels = {m for m in re.findall(r'target_label\s*=\s*"(\w+)"', text) if not m.startswith("__")}

    def block_keys(stage: str) -> set[str]:
        keys = set()
        for body in re.findall(rf"stage\.{stage}\s*\{{\s*values\s*=\s*\{{([^}}]*)\}}", text):
            keys |= set(re.findall(r'"?([a-zA-Z_]\w*)"?\s*=', body))
        return keys

    labels |= block_keys("labels") | block_keys("static_labels")
    keep = re.findall(r"stage\.label_keep\s*\{\s*values\s*=\s*\[([^\]]*)\]", text)
    if keep:
        labels &= set(re.findall(r'"(\w+)"', " ".join(keep)))
    for drop in re.findall(r"stage\.label_drop\s*\{\s*values\s*=\s*\[([^\]]*)\]", text):
        labels -= set(re.findall(r'"(\w+)"', drop))
    return labels, block_keys("structured_metadata")


def strip_strings(q: str) -> str:
    """The query with every string literal's content blanked (quotes kept)."""
    out, i = [], 0
    while i < len(q):
        c = q[i]
        if c in "\"`":
            j = i + 1
            while j < len(q) and q[j] != c:
                j += 2 if (q[j] == "\\" and c == '"') else 1
            assert j < len(q), f"unterminated string in {q!r}"
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_logql(q: str, labels: set[str], metadata: set[str]) -> None:
    bare = strip_strings(q)
    pairs = {")": "(", "}": "{", "]": "["}
    stack = []
    for c in bare:
        if c in "({[":
            stack.append(c)
        elif c in pairs:
            assert stack and stack.pop() == pairs[c], f"unbalanced {c!r} in {q!r}"
    assert not stack, f"unclosed {stack} in {q!r}"
    selectors = [(m.start(), m.end()) for m in re.finditer(r"\{[^{}]*\}", bare)]
    assert selectors, f"no stream selector in {q!r}"
    for start, end in selectors:
        body = q[start + 1:end - 1]
        matchers = [MATCHER.fullmatch(part) for part in _split_matchers(body)]
        assert all(matchers), f"bad matcher in {q[start:end]!r}"
        names = {m.group(1) for m in matchers}
        assert names <= labels, f"{q!r} uses labels {names - labels} that Alloy does not attach"
        # Loki refuses a selector whose every matcher also matches the empty string.
        assert any(not _matches_empty(m.group(2), m.group(3)) for m in matchers), \
            f"{q[start:end]!r}: at least one matcher must exclude the empty value"
    for fn in re.findall(r"([a-zA-Z_]\w*)\s*\(", bare):
        assert fn in FUNCTIONS, f"unknown function {fn} in {q!r}"
    for rng in re.findall(r"\[([^\]]*)\]", bare):
        assert re.fullmatch(r"\d+(ms|s|m|h|d|w)", rng), f"bad range [{rng}] in {q!r}"
    # Pipeline: line filters, parsers, label filters on labels or structured metadata.
    for stage in re.findall(r"(\|=|!=|\|~|!~|\|)\s*([^|]*?)(?=\s*(?:\||!=|!~|\)|\[|$))", bare[selectors[-1][1]:]):
        op, rest = stage
        if op != "|":
            assert rest.startswith('"') or rest.startswith("`"), f"line filter without a string in {q!r}"
            continue
        word = re.match(r"[a-zA-Z_]\w*", rest)
        assert word, f"bad pipeline stage {rest!r} in {q!r}"
        name = word.group(0)
        assert name in PARSERS or name in labels or name in metadata, \
            f"{q!r} filters on {name}, neither a parser, a label nor structured metadata"


def _split_matchers(body: str) -> list[str]:
    parts, cur, in_str = [], "", False
    for i, c in enumerate(body):
        if c == '"' and (i == 0 or body[i - 1] != "\\"):
            in_str = not in_str
        if c == "," and not in_str:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p for p in parts if p.strip()]


def _matches_empty(op: str, value: str) -> bool:
    if op in ("=", "!="):
        return (value == "") == (op == "=")
    full = re.fullmatch(value, "") is not None
    return full if op == "=~" else not full


def loki_texts() -> list[tuple[str, str]]:
    sources = datasources()
    out = []
    dash_by_uid = {d["uid"]: d for d in dashboards().values()}
    for q in queries(sources):
        if q.kind == "loki":
            out.append((f"{q.dashboard} / {q.panel}", expand(q.text, dash_by_uid[q.dashboard], sources, kind="loki")))
    return out


def test_alloy_attaches_the_contract_labels():
    labels, metadata = alloy_labels()
    assert labels == CONTRACT_LABELS, f"alloy/config.alloy attaches {labels}"
    assert {"trace_id", "request_id"} <= metadata, f"structured metadata: {metadata}"


def test_every_loki_query_parses_and_uses_attached_labels():
    labels, metadata = alloy_labels()
    texts = loki_texts()
    assert len(texts) >= 5
    for where, q in texts:
        try:
            check_logql(q, labels & CONTRACT_LABELS, metadata)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None


def test_loki_variables_use_attached_labels():
    labels, _ = alloy_labels()
    for d in dashboards().values():
        for name, var in variables(d).items():
            if var["type"] == "query" and var["datasource"]["uid"] == "loki":
                m = re.fullmatch(r"label_values\((?:\{[^}]*\},\s*)?(\w+)\)", var["query"])
                assert m and m.group(1) in labels, f"{d['uid']}: ${name} = {var['query']}"
                assert var.get("allValue") != ".*", f"{d['uid']}: ${name} All must not match the empty value"


def test_checker_rejects_broken_queries():
    """The grammar check itself catches what it should (so a pass means something)."""
    labels, metadata = CONTRACT_LABELS, {"trace_id"}
    bad = ['{service="a"', '{pod="x"}', '{service=~".*"}', 'rate({service="a"}[5x])',
           'summ(count_over_time({service="a"}[1m]))', '{service="a"} | span_id="1"', '{service="a"} |= x']
    for q in bad:
        try:
            check_logql(q, labels, metadata)
        except AssertionError:
            continue
        raise AssertionError(f"accepted a broken query: {q}")
    check_logql('sum by (level) (count_over_time({service=~".+", level=~".*"} |= "x" | trace_id="1" [1m]))',
                labels, metadata)
