"""A small SBPL reader and evaluator, independent of the generator, for semantic checks.

``read(text)`` parses s-expressions (strings with TinyScheme escapes, ``#"raw"`` strings,
symbols, comments). ``Profile(text, params).decide(op, query)`` answers allow/deny for
one operation the way Seatbelt does: the last matching rule wins over ``default``;
``decide(..., order="first")`` evaluates first-match-wins instead, so a test can show a
verdict does not depend on which reading of rule precedence is right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class Sym(str):
    """A bare symbol (``allow``, ``file-read*``)."""


class Str(str):
    """A string literal."""


class ParseError(ValueError):
    pass


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def read(text: str) -> list:
    """All top-level forms of ``text``."""
    pos = 0
    n = len(text)

    def skip() -> None:
        nonlocal pos
        while pos < n:
            if text[pos].isspace():
                pos += 1
            elif text[pos] == ";":
                while pos < n and text[pos] != "\n":
                    pos += 1
            else:
                return

    def string(raw: bool):
        nonlocal pos
        out = []
        while True:
            if pos >= n:
                raise ParseError("unterminated string")
            ch = text[pos]
            pos += 1
            if ch == '"':
                return Str("".join(out))
            if ch == "\\" and not raw:
                esc = text[pos]
                pos += 1
                if esc == "x":
                    end = text.index(";", pos)
                    out.append(chr(int(text[pos:end], 16)))
                    pos = end + 1
                elif esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                else:
                    raise ParseError(f"unknown escape \\{esc} at {pos}")
            else:
                out.append(ch)

    def form():
        nonlocal pos
        skip()
        if pos >= n:
            raise ParseError("unexpected end of input")
        ch = text[pos]
        if ch == "(":
            pos += 1
            items = []
            while True:
                skip()
                if pos >= n:
                    raise ParseError("unbalanced (")
                if text[pos] == ")":
                    pos += 1
                    return items
                items.append(form())
        if ch == ")":
            raise ParseError(f"unexpected ) at {pos}")
        if ch == '"':
            pos += 1
            return string(raw=False)
        if text.startswith('#"', pos):
            pos += 2
            return string(raw=True)
        start = pos
        while pos < n and not text[pos].isspace() and text[pos] not in '()";':
            pos += 1
        tok = text[start:pos]
        return int(tok) if tok.isdigit() else Sym(tok)

    forms = []
    while True:
        skip()
        if pos >= n:
            return forms
        forms.append(form())


@dataclass
class Query:
    """What an operation is about: a path, a remote endpoint, a service or sysctl name."""

    path: str | None = None
    remote: str | None = None  # "localhost:3128", "*:443"
    unix_socket: str | None = None
    name: str | None = None  # mach global-name / sysctl name
    vnode: str = "REGULAR-FILE"


@dataclass
class Rule:
    action: str
    ops: list[str]
    filters: list = field(default_factory=list)


class Profile:
    def __init__(self, text: str, params: dict[str, str]):
        self.forms = read(text)
        self.params = params
        self.default = None
        self.rules: list[Rule] = []
        self.version = None
        for f in self.forms:
            head = f[0]
            if head == "version":
                self.version = f[1]
            elif head in ("allow", "deny"):
                ops = [x for x in f[1:] if isinstance(x, Sym)]
                filters = [x for x in f[1:] if isinstance(x, list)]
                if ops == ["default"]:
                    self.default = str(head)
                else:
                    self.rules.append(Rule(str(head), [str(o) for o in ops], filters))
            else:
                raise ParseError(f"unknown top-level form {head}")

    # -- values -----------------------------------------------------------------
    def value(self, x) -> str:
        if isinstance(x, Str):
            return str(x)
        if isinstance(x, list) and x and x[0] == "param":
            if x[1] not in self.params:
                raise KeyError(f"profile uses undefined parameter {x[1]}")
            return self.params[x[1]]
        if isinstance(x, list) and x and x[0] == "string-append":
            return "".join(self.value(y) for y in x[1:])
        raise ParseError(f"not a string value: {x!r}")

    # -- filters ----------------------------------------------------------------
    def match(self, f, q: Query) -> bool:
        head = f[0]
        if head == "require-all":
            return all(self.match(g, q) for g in f[1:])
        if head == "require-any":
            return any(self.match(g, q) for g in f[1:])
        if head == "require-not":
            return not self.match(f[1], q)
        if head in ("subpath", "literal", "path", "regex"):
            target = q.path if q.path is not None else q.unix_socket
            if target is None:
                return False
            v = self.value(f[1])
            if head == "subpath":
                root = v.rstrip("/")
                return root == "" or target == root or target.startswith(root + "/")
            if head == "regex":
                return re.search(v, target) is not None
            return target == v
        if head == "vnode-type":
            return q.vnode == f[1]
        if head == "remote":
            if f[1] == "ip":
                return q.remote is not None and q.remote == self.value(f[2])
            if f[1] == "unix-socket":
                return q.unix_socket is not None and self.match(f[2], Query(path=q.unix_socket))
            raise ParseError(f"unknown remote kind {f[1]}")
        if head == "path-literal":
            return q.path == self.value(f[1])
        if head in ("global-name", "sysctl-name"):
            return q.name == self.value(f[1])
        if head == "sysctl-name-prefix" or head == "ipc-posix-name-prefix":
            return q.name is not None and q.name.startswith(self.value(f[1]))
        if head in ("target", "iokit-registry-entry-class", "socket-domain", "socket-protocol"):
            return False  # not modelled: never matches a query here
        raise ParseError(f"unknown filter {head}")

    @staticmethod
    def op_matches(rule_op: str, op: str) -> bool:
        if rule_op.endswith("*"):
            return op.startswith(rule_op[:-1])
        return rule_op == op

    def matching(self, op: str, q: Query) -> list[Rule]:
        out = []
        for r in self.rules:
            if any(self.op_matches(o, op) for o in r.ops) and (
                not r.filters or any(self.match(f, q) for f in r.filters)
            ):
                out.append(r)
        return out

    def decide(self, op: str, q: Query | str, order: str = "last") -> str:
        if isinstance(q, str):
            q = Query(path=q)
        hits = self.matching(op, q)
        if not hits:
            return self.default or "deny"
        return (hits[-1] if order == "last" else hits[0]).action

    def verdict(self, op: str, q: Query | str) -> str:
        """The verdict, asserted to be the same under both readings of rule precedence."""
        last, first = self.decide(op, q, "last"), self.decide(op, q, "first")
        assert last == first, f"{op} {q}: last-match says {last}, first-match says {first}"
        return last

    def rules_for(self, action: str, op_prefix: str) -> list[Rule]:
        return [r for r in self.rules if r.action == action and any(o.startswith(op_prefix) for o in r.ops)]

    def strings(self) -> list[str]:
        """Every string literal in the profile."""
        out: list[str] = []

        def walk(x):
            if isinstance(x, Str):
                out.append(str(x))
            elif isinstance(x, list):
                for y in x:
                    walk(y)

        walk(self.forms)
        return out
