"""``execpolicy lint``: every error in a set of rules files, plus warnings Codex never gives.

Errors are what would stop Codex (and Cordon) from loading the files, all of them, not just
the first: each rejected builtin call, each failed example, each unknown name, with
file:line:col. Warnings are about rules that load but cannot do what their author meant:

* ``shadowed``   another rule matches everything this one matches, at least as strictly (in the
  same file before or after it, since the strictest match wins whatever the order; or in an
  earlier file);
* ``duplicate``  the same rule twice;
* ``overridden`` an ``allow`` rule that a ``forbidden`` rule always beats;
* ``vacuous-example``  a ``not_match`` example for an unrelated program (it could never match,
  so it tests nothing; ``lsof`` against ``ls`` is kept: it checks token boundaries).
"""

from __future__ import annotations

import os

from cordon.policy.models import Diagnostic
from cordon.policy.rules import Rule, canon


def _mk(file, line, column, severity, code, message) -> Diagnostic:
    return Diagnostic(file=file, line=line, column=column, severity=severity, code=code, message=message)


def lint_files(paths: list[str]) -> list[Diagnostic]:
    """Lint files as ``execpolicy check --rules`` would merge them (in order)."""
    from cordon.policy.builtins import RuleSink
    from cordon.policy.engine import RulesError, decode_source, load_source, read_source

    diags: list[Diagnostic] = []
    sink = RuleSink()
    for path in paths:
        try:
            given, _p, data = read_source(path)
            src = decode_source(given, data)
        except RulesError as e:
            diags.append(_mk(e.file or path, e.line, e.column, "error", "read", e.message))
            continue
        sink.file = given
        sink.pending_examples = []
        errors: list = []
        try:
            load_source(sink, given, src, collect=errors)
        except RulesError as e:  # a syntax error: nothing else in this file can be checked
            errors.append(e)
        for e in errors:
            diags.append(_mk(e.file or given, e.line, e.column, "error", _code(e.message), _first(e.message)))
        diags.extend(_example_warnings(sink))
    diags.extend(rule_warnings(sink.rules))
    return sorted(diags, key=lambda d: (paths_index(paths, d.file), d.line or 0, d.column or 0))


def paths_index(paths, f) -> int:
    try:
        return [os.fspath(p) for p in paths].index(f)
    except ValueError:
        return len(paths)


def _first(message: str) -> str:
    return message.split("\n", 1)[0]


def _code(message: str) -> str:
    if message.startswith("Parse error") or "repeated named argument" in message:
        return "syntax"
    if message.startswith("expected "):
        return "example"
    if message.startswith("Variable "):
        return "name"
    if message.startswith(("invalid ", "Type of parameter", "Missing parameter", "Found ")):
        return "rule"
    return "eval"


def covers(a: Rule, b: Rule) -> bool:
    """Does rule ``a`` match every command rule ``b`` matches (same first token)?"""
    if a.kind != "prefix" or a.first != b.first or a.length > b.length:
        return False
    if b.canonical and not a.canonical:
        return False
    for sa, tb in zip(a._sets, b.rest, strict=False):
        toks = tb if isinstance(tb, tuple) else (tb,)
        if a.canonical:
            toks = tuple(canon(t) for t in toks)
        if not set(toks) <= sa:
            return False
    return True


def _file(r: Rule) -> str | None:
    return r.source[0] if r.source else None


def _where(r: Rule) -> str:
    return f"{r.source[0]}:{r.source[1]}" if r.source else "?"


def _diag(r: Rule, code: str, message: str) -> Diagnostic:
    src = r.source or (None, None, None)
    return _mk(src[0] or "?", src[1], src[2], "warning", code, message)


def _same(a: Rule, b: Rule) -> bool:
    return (a.first, a.rest, a.decision, a.justification, a.canonical, a.kind, a.anywhere) == (
        b.first,
        b.rest,
        b.decision,
        b.justification,
        b.canonical,
        b.kind,
        b.anywhere,
    )


def rule_warnings(rules: list[Rule]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    by_first: dict[str, list[Rule]] = {}
    for r in rules:
        by_first.setdefault(r.first, []).append(r)
    for group in by_first.values():
        # Index: a rule can only cover b if it has one token, or its second-token set holds b's.
        order = {id(r): n for n, r in enumerate(group)}
        short = [r for r in group if r.length == 1]
        by_second: dict[str, list[Rule]] = {}
        for r in group:
            if r.length > 1:
                for tok in r._sets[0]:
                    by_second.setdefault(tok, []).append(r)
        for j, b in enumerate(group):
            if b.length > 1:
                t = b.rest[0][0] if isinstance(b.rest[0], tuple) else b.rest[0]
                pool = [*short, *by_second.get(t, ()), *by_second.get(canon(t), ())]
                cands = sorted({id(a): a for a in pool}.values(), key=lambda a: order[id(a)])
            else:
                cands = short
            out.extend(_warn_one(b, j, cands, order))
    return out


def _warn_one(b: Rule, j: int, cands: list[Rule], order: dict) -> list[Diagnostic]:
    shown = " ".join(_tok(t) for t in b.pattern_tokens())
    earlier = [a for a in cands if order[id(a)] < j and not (a.call == b.call and a.source == b.source)]
    for a in earlier:
        if _same(a, b):
            return [_diag(b, "duplicate", f"rule [{shown}] duplicates the rule at {_where(a)}")]
    for a in cands:
        if (
            a is not b
            and a.call != b.call
            and b.decision == "allow"
            and a.decision == "forbidden"
            and covers(a, b)
        ):
            return [
                _diag(
                    b,
                    "overridden",
                    f"allow rule [{shown}] is always overridden by the forbidden rule at {_where(a)}",
                )
            ]
    # Every matching rule counts and the strictest wins, so within a file order is irrelevant:
    # a broader rule shadows whether it comes before or after. Across files only earlier files
    # count: a base set (default.rules) must stay useful alone, so an add-on loaded after it that
    # broadens one of its rules is not a defect of the base.
    for a in cands:
        if a is b or a.call == b.call or _same(a, b) or a.severity < b.severity or not covers(a, b):
            continue
        if order[id(a)] > j and _file(a) != _file(b):
            continue
        if a.severity == b.severity and covers(b, a) and order[id(a)] > j:
            continue  # two equivalent rules: report only the later one
        return [
            _diag(
                b,
                "shadowed",
                f"rule [{shown}] ({b.decision}) is shadowed by the broader {a.decision} rule at "
                f"{_where(a)}: it can never change a decision",
            )
        ]
    return []


def _tok(t) -> str:
    return "[" + "|".join(t) + "]" if isinstance(t, list) else t


def _example_warnings(sink) -> list[Diagnostic]:
    from cordon.policy.rules import file_name

    out = []
    for rules, _match, not_match, span in sink.pending_examples:
        firsts = {r.first for r in rules}
        cfirsts = {canon(r.first) for r in rules if r.canonical}
        for _raw, words in not_match:
            w0 = words[0]
            base = (file_name(w0) if "/" in w0 else w0) or w0
            names = {w0, base} | ({canon(w0), canon(base)} if cfirsts else set())
            # `lsof` against a rule for `ls` does test something (tokens, not string prefixes);
            # `git clone` against a rule for `curl` cannot match whatever the rule says.
            related = any(n.startswith(f) or f.startswith(n) for n in names for f in firsts | cfirsts)
            if related:
                continue
            out.append(
                _mk(
                    sink.file,
                    span[0],
                    span[1],
                    "warning",
                    "vacuous-example",
                    f"not_match example `{' '.join(words)}` is for another program; it tests nothing",
                )
            )
    return out
