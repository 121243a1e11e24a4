"""The policy builtins ``prefix_rule``, ``host_executable`` and ``network_rule`` (+ Cordon's opt-in
``command_rule``), with Codex 0.169.0's parameter types, defaults, validation order and messages.

They append to a :class:`RuleSink` owned by the loader; they never touch the OS.
"""

from __future__ import annotations

from cordon.policy.rules import Rule, canon, normalize_path
from cordon.policy.starlark.interp import Builtin, srepr, type_name

from cordon.vocabulary import DECISIONS

_MISSING = object()

_EXPECT = {"list": list, "str": str, "bool": bool}


class RuleSink:
    """What one load accumulates: rules, host executables, network rules, and example checks."""

    def __init__(self):
        self.rules: list[Rule] = []
        self.host_executables: dict[str, tuple[str, ...]] = {}
        self.network_rules: list[dict] = []
        # Per prefix_rule call in the current file: (rules, match, not_match, span, frames)
        self.pending_examples: list[tuple] = []
        self.file: str = "<text>"
        self.calls = 0


def _bind(interp, name: str, params: list[tuple[str, str, object]], args: list, kwargs: dict) -> dict:
    """Bind like starlark-rust's native function binder, then type-check in parameter order.

    An omitted optional parameter takes its default; an explicit ``None`` is a type error.
    """
    if len(args) > len(params):
        interp.fail(f"Found {len(args) - len(params)} extra positional argument(s) for call to {name}")
    values: dict = {}
    for (pname, _t, _d), v in zip(params, args, strict=False):
        values[pname] = v
    if kwargs:
        names = [p[0] for p in params]
        extra = [k for k in kwargs if k not in names]
        if extra:
            interp.fail(f"Found `{'` `'.join(extra)}` extra named parameter(s) for call to {name}")
        for k, v in kwargs.items():
            if k in values:
                interp.fail(f"Argument `{k}` occurs more than once")
            values[k] = v
    missing = []  # defaulted after the type checks, which only look at what was provided
    for pname, _t, default in params:
        if pname not in values:
            if default is _MISSING:
                interp.fail(f"Missing parameter `{pname}` for call to `{name}`")
            missing.append((pname, default))
    for pname, t, _default in params:
        if pname not in values:
            continue
        v = values[pname]
        ok = isinstance(v, bool) if t == "bool" else (isinstance(v, _EXPECT[t]) and not isinstance(v, bool))
        if not ok:
            interp.fail(
                f"Type of parameter `{pname}` doesn't match, expected `{t}`, "
                f"actual `{type_name(v)} (repr: {srepr(v)})`"
            )
    for pname, default in missing:
        values[pname] = default
    return values


def _validate_pattern(interp, pattern: list) -> tuple:
    if not pattern:
        interp.fail("invalid pattern element: pattern cannot be empty")
    out = []
    for el in pattern:
        if isinstance(el, str):
            out.append(el)
        elif isinstance(el, list):
            if not el:
                interp.fail("invalid pattern element: pattern alternatives cannot be empty")
            for alt in el:
                if not isinstance(alt, str):
                    interp.fail(
                        f"invalid pattern element: pattern alternative must be a string (got {type_name(alt)})"
                    )
            out.append(tuple(el) if len(el) > 1 else (el[0],))
        else:
            interp.fail(
                f"invalid pattern element: pattern element must be a string or list of strings (got {type_name(el)})"
            )
    return tuple(out)


def _validate_examples(interp, examples: list) -> list:
    if not examples:
        return []
    from cordon.policy import shellwords

    out = []
    for ex in examples:
        if isinstance(ex, str):
            words = shellwords.split(ex)
            if words is None:
                interp.fail("invalid example: example string has invalid shell syntax")
            if not words:
                interp.fail("invalid example: example cannot be an empty string")
            out.append((ex, words))
        elif isinstance(ex, list):
            if not ex:
                interp.fail("invalid example: example cannot be an empty list")
            for t in ex:
                if not isinstance(t, str):
                    interp.fail(f"invalid example: example tokens must be strings (got {type_name(t)})")
            out.append((None, list(ex)))
        else:
            interp.fail(f"invalid example: example must be a string or list of strings (got {type_name(ex)})")
    return out


def _decision(interp, value: str) -> str:
    if value not in DECISIONS:
        interp.fail(f"invalid decision: {value}")
    return value


def _justification(interp, value):
    if value is not None and not value.strip():
        interp.fail("invalid rule: justification cannot be empty")
    return value


def _rules_from(
    pattern, decision, justification, canonical, sink: RuleSink, span, kind="prefix", anywhere=()
):
    first, rest = pattern[0], pattern[1:]
    firsts = first if isinstance(first, tuple) else (first,)
    rules = []
    for f in firsts:
        rules.append(
            Rule(
                f,
                rest,
                decision,
                justification,
                canonical,
                kind=kind,
                anywhere=anywhere,
                source=(sink.file, span[0], span[1]) if span else None,
                call=sink.calls,
            )
        )
    return rules


def make_builtins(sink: RuleSink, lint_errors: list | None = None) -> dict:
    """The policy builtins writing into ``sink``. With ``lint_errors``, a rejected call is
    recorded there and skipped (evaluation continues), so lint can report every bad call."""

    def prefix_rule(interp, args, kwargs):
        v = _bind(
            interp,
            "prefix_rule",
            [
                ("pattern", "list", _MISSING),
                ("decision", "str", None),
                ("match", "list", None),
                ("not_match", "list", None),
                ("justification", "str", None),
                ("canonical_matching", "bool", False),
            ],
            args,
            kwargs,
        )
        decision = _decision(interp, v["decision"] if v["decision"] is not None else "allow")
        justification = _justification(interp, v["justification"])
        pattern = _validate_pattern(interp, v["pattern"])
        match = _validate_examples(interp, v["match"] or [])
        not_match = _validate_examples(interp, v["not_match"] or [])
        span = interp.frames[-1][1]
        sink.calls += 1
        rules = _rules_from(pattern, decision, justification, v["canonical_matching"], sink, span)
        sink.rules.extend(rules)
        sink.pending_examples.append((rules, match, not_match, span))

    def command_rule(interp, args, kwargs):
        # Cordon extension (not in Codex): whole-command rules and arguments anywhere after the prefix.
        v = _bind(
            interp,
            "command_rule",
            [
                ("pattern", "list", _MISSING),
                ("decision", "str", None),
                ("match", "list", None),
                ("not_match", "list", None),
                ("justification", "str", None),
                ("canonical_matching", "bool", False),
                ("exact", "bool", False),
                ("anywhere", "list", None),
            ],
            args,
            kwargs,
        )
        decision = _decision(interp, v["decision"] if v["decision"] is not None else "allow")
        justification = _justification(interp, v["justification"])
        pattern = _validate_pattern(interp, v["pattern"])
        anywhere = _validate_pattern(interp, v["anywhere"]) if v["anywhere"] else ()
        if not v["exact"] and not anywhere:
            interp.fail(
                "invalid rule: command_rule needs exact=True or a non-empty anywhere=[...] (else use prefix_rule)"
            )
        if v["exact"] and anywhere:
            interp.fail("invalid rule: command_rule cannot combine exact=True with anywhere=[...]")
        match = _validate_examples(interp, v["match"] or [])
        not_match = _validate_examples(interp, v["not_match"] or [])
        span = interp.frames[-1][1]
        sink.calls += 1
        kind = "exact" if v["exact"] else "anywhere"
        rules = _rules_from(
            pattern, decision, justification, v["canonical_matching"], sink, span, kind, anywhere
        )
        sink.rules.extend(rules)
        sink.pending_examples.append((rules, match, not_match, span))

    def host_executable(interp, args, kwargs):
        v = _bind(
            interp, "host_executable", [("name", "str", _MISSING), ("paths", "list", _MISSING)], args, kwargs
        )
        name = v["name"]
        if not name:
            interp.fail("invalid rule: host_executable name cannot be empty")
        if "/" in name or name in (".", ".."):
            interp.fail(f"invalid rule: host_executable name must be a bare executable name (got {name})")
        paths: list[str] = []
        for p in v["paths"]:
            if not isinstance(p, str):
                interp.fail(f"invalid rule: host_executable paths must be strings (got {type_name(p)})")
            if not p.startswith("/"):
                interp.fail(f"invalid rule: host_executable paths must be absolute (got {p})")
            norm = normalize_path(p)
            if norm.rsplit("/", 1)[-1] != name:
                interp.fail(f"invalid rule: host_executable path `{p}` must have basename `{name}`")
            if norm not in paths:
                paths.append(norm)
        sink.host_executables[name] = tuple(paths)

    def network_rule(interp, args, kwargs):
        v = _bind(
            interp,
            "network_rule",
            [
                ("host", "str", _MISSING),
                ("protocol", "str", _MISSING),
                ("decision", "str", _MISSING),
                ("justification", "str", None),
            ],
            args,
            kwargs,
        )
        proto = {"http": "http", "https": "https", "https_connect": "https", "http-connect": "https"}.get(
            v["protocol"], v["protocol"] if v["protocol"] in ("socks5_tcp", "socks5_udp") else None
        )
        if proto is None:
            interp.fail(
                "invalid rule: network_rule protocol must be one of http, https, socks5_tcp, socks5_udp "
                f"(got {v['protocol']})"
            )
        d = v["decision"]
        if d == "deny":
            d = "forbidden"
        _decision(interp, d)
        justification = _justification(interp, v["justification"])
        host = _normalize_host(interp, v["host"])
        span = interp.frames[-1][1]  # the call's position, as prefix rules record theirs
        sink.network_rules.append(
            {
                "host": host,
                "protocol": proto,
                "decision": d,
                "justification": justification,
                "source": (sink.file, span[0], span[1]) if span else None,
            }
        )

    fns = {
        "command_rule": command_rule,
        "prefix_rule": prefix_rule,
        "host_executable": host_executable,
        "network_rule": network_rule,
    }
    if lint_errors is not None:
        fns = {name: _recording(fn, lint_errors) for name, fn in fns.items()}
    return {name: Builtin(name, fn) for name, fn in fns.items()}


def _recording(fn, errors: list):
    from cordon.policy.starlark.interp import EvalError

    def call(interp, args, kwargs):
        try:
            return fn(interp, args, kwargs)
        except EvalError as e:
            errors.append(e)
            return None

    return call


def _normalize_host(interp, raw: str) -> str:
    h = raw.strip()
    pre = "invalid rule: network_rule host"
    if not h:
        interp.fail(f"{pre} cannot be empty")
    if "://" in h or any(c in h for c in "/?#"):
        interp.fail(f"{pre} must be a hostname or IP literal (without scheme or path)")
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            interp.fail(f"{pre} contains an unsupported suffix: {raw}")
        rest = h[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            interp.fail(f"{pre} contains an unsupported suffix: {raw}")
        h = h[1:end]
    elif h.count(":") == 1:
        name, port = h.split(":")
        if port.isdigit():
            h = name
    h = h.rstrip(".").lower()
    if "*" in h:
        interp.fail(f"{pre} must be a specific host; wildcards are not allowed")
    if any(c.isspace() for c in h):
        interp.fail(f"{pre} cannot contain whitespace")
    if not h:
        interp.fail(f"{pre} cannot be empty")
    return h


__all__ = ["RuleSink", "canon", "make_builtins"]
