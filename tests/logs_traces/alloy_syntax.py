"""A small reader for the Alloy configuration syntax, enough to check alloy/config.alloy.

Alloy cannot run here, so the tests read its file with this parser: blocks
(``name.sub "label" { ... }``), attributes (``key = value``), strings, numbers,
booleans, lists, objects, and references/calls (kept as ``Ref``). Anything else is
a syntax error, which is what Alloy would report too.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}\[\]()=,.])
""", re.S | re.X)


@dataclass(frozen=True)
class Ref:
    """A reference to another component's export, or a function call (``sys.env("X")``)."""
    path: str
    args: tuple = ()


@dataclass
class Block:
    name: str
    label: str | None
    attrs: dict = field(default_factory=dict)
    blocks: list = field(default_factory=list)

    def all(self, name: str) -> list["Block"]:
        return [b for b in self.blocks if b.name == name]

    def walk(self):
        yield self
        for b in self.blocks:
            yield from b.walk()


def _tokens(text: str):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise SyntaxError(f"line {line}: unexpected {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        value = m.group()
        if kind == "string":
            value, kind = json.loads(value), "string"
        elif kind == "raw":
            value, kind = value[1:-1], "string"
        out.append((kind, value, text.count("\n", 0, m.start()) + 1))
    out.append(("eof", None, text.count("\n") + 1))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset=0):
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def take(self, kind=None, value=None):
        tok = self.toks[self.i]
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise SyntaxError(f"line {tok[2]}: expected {value or kind}, got {tok[1]!r}")
        self.i += 1
        return tok

    def body(self, end: str | None) -> Block:
        block = Block("", None)
        while not (self.peek()[0] == "eof" if end is None else self.peek()[1] == end):
            _, name, line = self.take("ident")
            if self.peek()[1] == "=":
                self.take(value="=")
                if name in block.attrs:
                    raise SyntaxError(f"line {line}: attribute {name} set twice")
                block.attrs[name] = self.expr()
                continue
            while self.peek()[1] == ".":
                self.take(value=".")
                name += "." + self.take("ident")[1]
            label = self.take("string")[1] if self.peek()[0] == "string" else None
            self.take(value="{")
            inner = self.body("}")
            self.take(value="}")
            block.blocks.append(Block(name, label, inner.attrs, inner.blocks))
        return block

    def expr(self):
        kind, value, line = self.peek()
        if kind in ("string", "number"):
            self.i += 1
            return value if kind == "string" else float(value)
        if value == "[":
            self.take(value="[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] != "]":
                    self.take(value=",")
            self.take(value="]")
            return items
        if value == "{":
            self.take(value="{")
            obj = {}
            while self.peek()[1] != "}":
                key_kind, key, _ = self.peek()
                if key_kind not in ("ident", "string"):
                    raise SyntaxError(f"line {line}: bad object key {key!r}")
                self.i += 1
                self.take(value="=")
                obj[key] = self.expr()
                if self.peek()[1] != "}":
                    self.take(value=",")
            self.take(value="}")
            return obj
        if kind == "ident":
            self.i += 1
            if value in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[value]
            path = value
            while self.peek()[1] == ".":
                self.take(value=".")
                path += "." + self.take("ident")[1]
            args = ()
            if self.peek()[1] == "(":
                self.take(value="(")
                items = []
                while self.peek()[1] != ")":
                    items.append(self.expr())
                    if self.peek()[1] != ")":
                        self.take(value=",")
                self.take(value=")")
                args = tuple(items)
            return Ref(path, args)
        raise SyntaxError(f"line {line}: unexpected {value!r}")


def parse(text: str) -> Block:
    """The file as a root Block whose ``blocks`` are the top-level components."""
    return _Parser(text).body(None)
