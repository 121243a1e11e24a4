"""Compiled rules and the matcher (pure data + pure functions; no parsing, no pydantic).

Kept import-light on purpose: ``execpolicy check`` with a cached policy imports only this
module, policy.engine and json.
"""

from __future__ import annotations

from cordon.vocabulary import DECISION_RANK


def canon(s: str) -> str:
    """Caseless canonical form used by ``canonical_matching=True`` (NFD + full case folding)."""
    import unicodedata

    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", s).casefold())


def normalize_path(p: str) -> str:
    """Lexical normalisation of an absolute path: resolve ``.``/``..``, collapse ``//``, drop a trailing ``/``.

    Unlike :func:`posixpath.normpath`, a leading ``//`` collapses too. Symlinks are never resolved.
    """
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/" + "/".join(out)


class Rule:
    """One compiled rule: the literal first token (bucket key) and the remaining pattern.

    ``rest`` holds str (one token) or tuple[str, ...] (alternatives); ``_sets`` the same as
    frozensets (canonicalised for canonical rules) for matching. ``kind`` is "prefix" for
    Codex rules; "exact"/"anywhere" only come from Cordon's opt-in ``command_rule``.
    """

    __slots__ = (
        "_anyset",
        "_sets",
        "anywhere",
        "call",
        "canonical",
        "decision",
        "first",
        "justification",
        "kind",
        "length",
        "rest",
        "severity",
        "source",
    )

    def __init__(
        self,
        first: str,
        rest: tuple,
        decision: str,
        justification: str | None,
        canonical: bool,
        kind: str = "prefix",
        anywhere: tuple = (),
        source: tuple | None = None,
        call: int = 0,
    ):
        self.first = first
        self.rest = rest
        self.decision = decision
        self.severity = DECISION_RANK[decision]
        self.justification = justification
        self.canonical = canonical
        self.kind = kind
        self.anywhere = anywhere
        self.source = source
        self.call = call
        self.length = 1 + len(rest)
        f = canon if canonical else None
        self._sets = tuple(_tokset(t, f) for t in rest)
        self._anyset = tuple(_tokset(t, f) for t in anywhere)

    def to_data(self) -> tuple:
        return (
            self.first,
            [list(t) if isinstance(t, tuple) else t for t in self.rest],
            self.decision,
            self.justification,
            self.canonical,
            self.kind,
            [list(t) if isinstance(t, tuple) else t for t in self.anywhere],
            list(self.source) if self.source else None,
            self.call,
        )

    @classmethod
    def from_data(cls, d) -> Rule:
        first, rest, decision, just, can, kind, anywhere, source, call = d
        return cls(
            first,
            tuple(tuple(t) if isinstance(t, list) else t for t in rest),
            decision,
            just,
            can,
            kind,
            tuple(tuple(t) if isinstance(t, list) else t for t in anywhere),
            tuple(source) if source else None,
            call,
        )

    def pattern_tokens(self) -> list:
        """The pattern as written (first, then str or list alternatives), for display."""
        return [self.first, *[list(t) if isinstance(t, tuple) else t for t in self.rest]]

    def debug(self) -> str:
        """Rust ``{:?}`` of Codex's PrefixRule (used verbatim in example-validation errors)."""
        rest = ", ".join(
            f"Alts([{', '.join(rust_str(a) for a in t)}])"
            if isinstance(t, tuple)
            else f"Single({rust_str(t)})"
            for t in self.rest
        )
        j = f"Some({rust_str(self.justification)})" if self.justification is not None else "None"
        return (
            f"PrefixRule {{ pattern: PrefixPattern {{ canonical_matching: {str(self.canonical).lower()}, "
            f"first: {rust_str(self.first)}, rest: [{rest}] }}, decision: {self.decision.capitalize()}, "
            f"justification: {j} }}"
        )


def _tokset(t, f) -> frozenset:
    items = t if isinstance(t, tuple) else (t,)
    return frozenset(f(x) for x in items) if f else frozenset(items)


def rust_str(s: str) -> str:
    """Rust's Debug formatting of a str."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif o < 0x20 or 0x7F <= o < 0xA0 or (not ch.isprintable() and o > 0x7F):
            out.append(f"\\u{{{o:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# A compiled rule ("rt") is a plain tuple, cheap to marshal and to test:
#   (index, first, length, sets, kind, anysets, severity, decision, justification, canonical)
# sets[i - 1] is the frozenset of tokens accepted at argv position i (canonicalised when
# canonical); kind is 0 prefix, 1 exact, 2 anywhere (Cordon's command_rule).
_KINDS = {"prefix": 0, "exact": 1, "anywhere": 2}
KIND_NAMES = ("prefix", "exact", "anywhere")


def compile_rule(index: int, r: Rule) -> tuple:
    return (
        index,
        r.first,
        r.length,
        r._sets,
        _KINDS[r.kind],
        r._anyset,
        r.severity,
        r.decision,
        r.justification,
        r.canonical,
    )


def _rest_ok(rt: tuple, argv, n: int, start: int) -> bool:
    length = rt[2]
    if n < length:
        return False
    sets = rt[3]
    if rt[9]:
        for i in range(start, length):
            if canon(argv[i]) not in sets[i - 1]:
                return False
    else:
        for i in range(start, length):
            if argv[i] not in sets[i - 1]:
                return False
    kind = rt[4]
    if kind == 0:
        return True
    if kind == 1:
        return n == length
    tail = argv[length:]
    if rt[9]:
        tail = [canon(a) for a in tail]
    return all(any(a in s for a in tail) for s in rt[5])


class Match:
    """One matched rule for one command (what Codex calls a ``RuleMatch``)."""

    __slots__ = ("matched_prefix", "resolved_program", "rt")

    def __init__(self, rt: tuple, matched_prefix: list[str], resolved_program: str | None):
        self.rt = rt
        self.matched_prefix = matched_prefix
        self.resolved_program = resolved_program

    @property
    def decision(self) -> str:
        return self.rt[7]

    @property
    def severity(self) -> int:
        return self.rt[6]

    @property
    def justification(self) -> str | None:
        return self.rt[8]

    @property
    def kind(self) -> str:
        return KIND_NAMES[self.rt[4]]

    @property
    def rule_index(self) -> int:
        """Index of the matched rule in ``Policy.rules`` (declaration order across files)."""
        return self.rt[0]

    def to_dict(self) -> dict:
        rt = self.rt
        body: dict = {"matchedPrefix": self.matched_prefix, "decision": rt[7]}
        if self.resolved_program is not None:
            body["resolvedProgram"] = self.resolved_program
        if rt[8] is not None:
            body["justification"] = rt[8]
        if rt[4] == 0:
            return {"prefixRuleMatch": body}
        body["match"] = KIND_NAMES[rt[4]]
        return {"commandRuleMatch": body}

    def debug(self) -> str:
        rp = f"Some(AbsolutePathBuf({rust_str(self.resolved_program)}))" if self.resolved_program else "None"
        j = f"Some({rust_str(self.justification)})" if self.justification is not None else "None"
        return (
            f"PrefixRuleMatch {{ matched_prefix: [{', '.join(rust_str(t) for t in self.matched_prefix)}], "
            f"decision: {self.decision.capitalize()}, resolved_program: {rp}, justification: {j} }}"
        )


def compile_rules(rules: list[Rule]) -> tuple[dict, dict]:
    """-> (buckets, canon_index), the marshal-able matching program.

    buckets[first] = (all rules, by_second, short): with ``by_second`` (None when the bucket has a
    canonical rule) mapping argv[1] to the candidate rules (declaration order, position 1 already
    satisfied) and ``short`` the one-token rules, candidates whatever argv[1] is.
    canon_index[canon(first)] = canonical rules, for argv[0] spelled differently.
    """
    grouped: dict[str, list[tuple]] = {}
    canon_index: dict[str, list[tuple]] = {}
    for i, r in enumerate(rules):
        rt = compile_rule(i, r)
        grouped.setdefault(r.first, []).append(rt)
        if r.canonical:
            canon_index.setdefault(canon(r.first), []).append(rt)
    buckets: dict = {}
    for first, rts in grouped.items():
        if any(rt[9] for rt in rts):
            buckets[first] = (tuple(rts), None, ())
            continue
        short = tuple(rt for rt in rts if rt[2] == 1)
        by2: dict[str, list[tuple]] = {}
        for rt in rts:
            if rt[2] > 1:
                for tok in rt[3][0]:
                    by2.setdefault(tok, []).append(rt)
        merged = {tok: tuple(sorted([*short, *lst], key=lambda t: t[0])) for tok, lst in by2.items()}
        buckets[first] = (tuple(rts), merged, short)
    return buckets, {k: tuple(v) for k, v in canon_index.items()}


class Matcher:
    """Evaluates argv against compiled rules (see :func:`compile_rules`)."""

    __slots__ = ("buckets", "canon_index", "host_executables")

    def __init__(self, compiled: tuple[dict, dict], host_executables: dict[str, tuple[str, ...]]):
        self.buckets, self.canon_index = compiled
        self.host_executables = host_executables

    @classmethod
    def from_rules(cls, rules: list[Rule], host_executables) -> Matcher:
        return cls(compile_rules(rules), host_executables)

    def _exact(self, argv, n, head: str, out: list, resolved: str | None, only_strict: bool = False) -> None:
        bucket = self.buckets.get(head)
        if bucket is not None:
            by2 = bucket[1]
            if by2 is None:
                cands = bucket[0]
                start = 1
            else:
                cands = by2.get(argv[1], bucket[2]) if n > 1 else bucket[2]
                start = 2
            for rt in cands:
                if only_strict and rt[6] == 0:
                    continue
                length = rt[2]
                if (length > start or rt[4]) and not _rest_ok(rt, argv, n, start):
                    continue
                out.append(Match(rt, [head, *argv[1:length]] if resolved else argv[:length], resolved))
        if self.canon_index:
            others = self.canon_index.get(canon(head))
            if others:
                for rt in others:
                    if rt[1] != head and _rest_ok(rt, argv, n, 1) and not (only_strict and rt[6] == 0):
                        length = rt[2]
                        out.append(
                            Match(rt, [head, *argv[1:length]] if resolved else argv[:length], resolved)
                        )

    def has_rules_for(self, name: str) -> bool:
        if name in self.buckets:
            return True
        return bool(self.canon_index) and canon(name) in self.canon_index

    def match(
        self,
        argv,
        resolve_host_executables: bool = False,
        restrictive_basename: bool = True,
        cwd: str | None = None,
        home: str | None = None,
    ) -> list[Match]:
        n = len(argv)
        if n == 0:
            return []
        out: list[Match] = []
        head = argv[0]
        self._exact(argv, n, head, out, None)
        if out or not resolve_host_executables or "/" not in head:
            # A bare name was already tried by the exact step; fallback could add nothing.
            return out
        # Host-executable fallback: /usr/bin/git -> rules for `git`.
        base = file_name(head)
        if not base or not self.has_rules_for(base):
            return out
        program = absolutize(head, cwd, home)
        found: list[Match] = []
        self._exact(argv, n, base, found, program)
        hosts = self.host_executables
        for m in found:
            # The allow-list is the one declared for the rule's own first token (a canonical
            # rule for `git` is reached by `/usr/bin/GIT` but checked against `git`'s list).
            allowed = hosts.get(m.rt[1]) if hosts else None
            if allowed is None or program in allowed:
                out.append(m)
            elif restrictive_basename and m.rt[6] > 0:
                # Cordon (Codex #37079): an unlisted path must not dodge prompt/forbidden rules.
                out.append(m)
        return out


def file_name(p: str) -> str | None:
    """The last component of ``p`` (Rust ``Path::file_name``): None for ``/``, ``.``, ``x/..``."""
    comps = [c for c in p.split("/") if c not in ("", ".")]
    if not comps or comps[-1] == "..":
        return None
    return comps[-1]


def absolutize(p: str, cwd: str | None, home: str | None) -> str:
    if p.startswith("~/"):
        import os

        p = (home if home is not None else os.environ.get("HOME", "/")) + p[1:]
    elif not p.startswith("/"):
        import os

        p = (cwd if cwd is not None else os.getcwd()) + "/" + p
    return normalize_path(p)
