"""A small YAML writer for the rendered files (the standard library has none).

Handles what Prometheus, Alertmanager and Kubernetes files need: mappings (insertion order kept), lists,
strings, numbers, booleans and None. Multi-line strings become literal blocks (``|``) so PromQL and
templates stay readable; other strings are quoted only when YAML would misread them.
"""
from __future__ import annotations

import json
import re

# Plain (unquoted) scalars that YAML reads back as the same string.
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else json.dumps(str(value))
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)   # a JSON string is a valid YAML double-quoted scalar


def _block(text: str, indent: str) -> str:
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    return f"|{chomp}\n" + "\n".join((indent + line) if line else "" for line in body.split("\n"))


def _lines(value, indent: str) -> list[str]:
    """The value as YAML lines, each already indented by ``indent``; mappings and lists only."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _item(f"{indent}{scalar(key)}:", item, indent)
    else:
        for item in value:
            out += _item(f"{indent}-", item, indent, in_list=True)
    return out


def _item(head: str, item, indent: str, in_list: bool = False) -> list[str]:
    child = indent + "  "
    if isinstance(item, str) and "\n" in item:
        return [f"{head} {_block(item, child)}"]
    if isinstance(item, (dict, list)) and item:
        if in_list and isinstance(item, dict):   # "- key: value" with the rest aligned under key
            first, *rest = _lines(item, child)
            return [f"{head} {first.lstrip()}"] + rest
        return [head] + _lines(item, child)
    if isinstance(item, (dict, list)):
        return [f"{head} {'{}' if isinstance(item, dict) else '[]'}"]
    return [f"{head} {scalar(item)}"]


def dump(value, header: str = "") -> str:
    """A document: ``header`` (comment lines, each starting with '#') then the mapping or list."""
    return header + "\n".join(_lines(value, "")) + "\n"
