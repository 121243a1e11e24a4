"""The public engine: :func:`load_policy` -> :class:`Policy`; ``Policy.check(argv)`` -> :class:`Evaluation`.

Loading runs each rules file in a fresh bounded Starlark module (policy.starlark), collects
rules through the builtins (policy.builtins), then validates each rule's ``match`` /
``not_match`` examples, file by file, exactly when Codex does. Matching lives in policy.rules.

A loaded policy can be cached on disk keyed by the content of every file (``cache=True``, the
CLI's default), so ``execpolicy check`` usually skips Lark and the evaluator entirely.
"""

from __future__ import annotations

import os

from cordon.policy.errors import PolicyError
from cordon.policy.rules import Match, Matcher, Rule, compile_rules

ENGINE_VERSION = "cordon-engine-2"  # 2: network rules carry their source

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: `execpolicy check` imports this module
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence


class RulesError(PolicyError):
    """A rules file failed to load. ``report`` is the Codex-format explanation (what the CLI
    prints under ``Caused by:``); ``stage`` is ``"read"`` or ``"parse"``; ``source`` is the path
    exactly as given."""

    def __init__(
        self, message, file=None, line=None, column=None, *, report=None, stage="parse", source=None
    ):
        super().__init__(message, file, line, column)
        self.report = report if report is not None else message
        self.stage = stage
        self.source = source if source is not None else file
        # True when ``source`` is a bare name that is neither a file nor a shipped set; the
        # message then already lists the shipped sets.
        self.unknown_name = False


class Evaluation:
    """The result of checking one argv: every matching rule, and the strictest decision."""

    __slots__ = ("argv", "matches")

    def __init__(self, argv: list[str], matches: list[Match]):
        self.argv = argv
        self.matches = matches

    @property
    def decision(self) -> str | None:
        """``allow`` / ``prompt`` / ``forbidden``, or None when no rule matched."""
        best = None
        sev = -1
        for m in self.matches:
            if m.severity > sev:
                sev = m.severity
                best = m.decision
        return best

    @property
    def matched_rules(self) -> list:
        """Pydantic models (policy.models.RuleMatch) of every match, in Codex's order."""
        from cordon.policy.models import RuleMatch

        return [RuleMatch.model_validate(m.to_dict()) for m in self.matches]

    def to_dict(self) -> dict:
        d: dict = {"matchedRules": [m.to_dict() for m in self.matches]}
        dec = self.decision
        if dec is not None:
            d["decision"] = dec
        return d

    def to_json(self, pretty: bool = False) -> str:
        """Exactly what ``codex execpolicy check`` prints (without the trailing newline)."""
        from cordon.policy.fastpath import json_dumps

        return json_dumps(self.to_dict(), pretty)

    def __repr__(self) -> str:
        return f"Evaluation(decision={self.decision!r}, matches={len(self.matches)})"


class Policy:
    """A loaded set of rules (possibly merged from several files)."""

    def __init__(
        self,
        rules: list[Rule] | None,
        host_executables: dict[str, tuple[str, ...]],
        network_rules: list[dict] | None = None,
        sources: list[str] | None = None,
        *,
        _compiled=None,
        _rules_data=None,
    ):
        self._rules = rules
        self._rules_data = _rules_data
        self.host_executables = host_executables
        self._network = network_rules or []
        self.sources = sources or []
        self._compiled = _compiled if _compiled is not None else compile_rules(rules or [])
        self._matcher = Matcher(self._compiled, host_executables)
        self._match = self._matcher.match

    @property
    def rules(self) -> list[Rule]:
        """Every rule in declaration order (one per first-token alternative)."""
        if self._rules is None:
            import marshal

            self._rules = (
                [Rule.from_data(d) for d in marshal.loads(self._rules_data)] if self._rules_data else []
            )
        return self._rules

    def check(
        self,
        argv: Sequence[str],
        *,
        resolve_host_executables: bool = False,
        restrictive_basename: bool = True,
        cwd: str | None = None,
    ) -> Evaluation:
        """Evaluate one command (argv tokens, no shell parsing).

        ``resolve_host_executables`` enables the basename fallback (``/usr/bin/git`` -> rules for
        ``git``), as Codex core always does. ``restrictive_basename`` (Cordon's default) keeps
        ``prompt``/``forbidden`` basename rules in force for a path not listed by
        ``host_executable`` (closing Codex #37079); pass False for Codex 0.169.0's behaviour.
        """
        if type(argv) is not list:
            argv = list(argv)
        return Evaluation(argv, self._match(argv, resolve_host_executables, restrictive_basename, cwd))

    @property
    def network_rules(self) -> list:
        """``network_rule`` declarations as pydantic models (policy.models.NetworkRule)."""
        from cordon.policy.models import NetworkRule

        return [NetworkRule(**d) for d in self._network]

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"Policy(rules={len(self.rules)}, host_executables={len(self.host_executables)})"

    # -- cache form (marshal-able primitives only; the matcher is stored compiled)
    def to_data(self) -> tuple:
        import marshal

        # Rule details are only needed by lint/explain: kept as a nested blob, decoded on demand.
        return (
            self._rules_data if self._rules is None else marshal.dumps([r.to_data() for r in self._rules], 4),
            {k: list(v) for k, v in self.host_executables.items()},
            self._network,
            self.sources,
            self._compiled,
        )

    @classmethod
    def from_data(cls, data) -> Policy:
        rules, hosts, network, sources, compiled = data
        return cls(
            None,
            {k: tuple(v) for k, v in hosts.items()},
            network,
            sources,
            _compiled=compiled,
            _rules_data=rules,
        )


# --------------------------------------------------------------------------- loading


def read_source(source) -> tuple[str, str, bytes]:
    """-> (path as given, resolved path, bytes); RulesError(stage="read") on failure."""
    given = os.fspath(source)
    if os.path.exists(given) or "/" in given or given.endswith(".rules"):
        path = given  # a path (resolve_rules_path's rule), decided without its imports
    else:
        path = _shipped_fast(given)
        if path is None:
            from cordon.policy.shipped import resolve_rules_path

            path = os.fspath(resolve_rules_path(given))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        report = f"{e.strerror} (os error {e.errno})" if e.errno else str(e)
        if path != given or "/" in given or given.endswith(".rules") or os.path.lexists(given):
            raise RulesError(report, given, stage="read", source=given) from None
        # A bare word that is neither a file nor a shipped set: most likely a mistyped set name,
        # so the message lists them (the CLI's Codex-format output keeps Codex's ``report``).
        from cordon.policy.shipped import unknown_rules_hint

        err = RulesError(unknown_rules_hint(given), stage="read", source=given, report=report)
        err.unknown_name = True
        raise err from None
    return given, path, data


def _shipped_fast(name: str) -> str | None:
    """A shipped set's file by name, found with os.path only (the hot path avoids pathlib and
    importlib.resources); None when unsure, so policy.shipped decides."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.path.join(here, "shipped_rules"), os.path.join(os.path.dirname(here), "rules")):
        if os.path.isdir(d):
            p = os.path.join(d, name + ".rules")
            return p if os.path.isfile(p) else None
    return None


def decode_source(given: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RulesError(
            "stream did not contain valid UTF-8", given, line, None, stage="read", source=given
        ) from None


def load_policy(
    *sources: str | os.PathLike,
    text: str | None = None,
    name: str = "<text>",
    cache: bool = False,
) -> Policy:
    """Load and merge rules files in order (paths or shipped names), and/or rule ``text``.

    Raises :class:`RulesError` (a :class:`PolicyError`) with file, line and column for the first
    broken file; nothing is loaded partially. ``cache=True`` reuses a previous successful load of
    identical content from ``$XDG_CACHE_HOME/cordon``.
    """
    inputs: list[tuple[str, bytes | str]] = []
    for src in sources:
        given, _path, data = read_source(src)
        inputs.append((given, data))
    if text is not None:
        inputs.append((name, text))
    key = None
    if cache:
        from cordon.policy import cache as _cache

        key = _cache.key(ENGINE_VERSION, inputs)
        data = _cache.get(key)
        if data is not None:
            return Policy.from_data(data)
    if len(inputs) == 1 and isinstance(inputs[0][1], bytes):
        # A shipped set by name: loaded when Cordon was installed (part of the install, like
        # the parser tables; used with or without the user cache).
        from cordon.policy import cache as _cache

        data = _cache.get_shipped(ENGINE_VERSION, *inputs[0])
        if data is not None:
            return Policy.from_data(data)
    policy, cacheable = _load_inputs(inputs)
    if key is not None and cacheable:
        from cordon.policy import cache as _cache

        _cache.put(key, policy.to_data())
    return policy


def write_shipped_store(path: str | None = None) -> int:
    """Load every shipped command set and store the results (policy/cache.py, SHIPPED_STORE;
    setup.py and scripts/install.sh call this); returns how many were stored. A set whose
    result depends on $HOME or the working directory (a relative example path) is left out,
    as from the user cache."""
    import marshal

    from cordon.policy import cache as _cache
    from cordon.policy.shipped import list_shipped

    path = path or _cache.SHIPPED_STORE
    entries = {}
    for name in list_shipped():
        given, _path, content = read_source(name)
        policy, cacheable = _load_inputs([(given, content)])
        if cacheable:
            entries[given] = (_cache.shipped_key(ENGINE_VERSION, given, content), policy.to_data())
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(marshal.dumps((_cache.STORE_FORMAT, entries), 4))
    os.replace(tmp, path)
    return len(entries)


def discover_rules(*dirs: str | os.PathLike) -> list[str]:
    """The rules files Codex core would load from each ``rules/`` directory, in its order.

    Codex takes regular files named ``*.rules`` (case-sensitive; ``.hidden.rules`` counts, a
    file named just ``.rules`` does not), sorted by path, no recursion, and silently skips
    symlinks (#14767, #32658). Cordon follows symlinks to regular files instead, and raises a
    RulesError for an entry it cannot use rather than skipping it.
    """
    out: list[str] = []
    for d in dirs:
        d = os.fspath(d)
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            raise RulesError(f"{e.strerror} (os error {e.errno})", d, stage="read", source=d) from None
        for name in names:
            if not name.endswith(".rules") or name == ".rules":
                continue
            path = os.path.join(d, name)
            if os.path.isfile(path):
                out.append(path)
            elif os.path.islink(path):
                raise RulesError("broken symbolic link", path, stage="read", source=path)
    return out


def load_rules_dirs(*dirs: str | os.PathLike, cache: bool = False) -> Policy:
    """Load every rules file of the given ``rules/`` directories (lowest precedence first)."""
    return load_policy(*discover_rules(*dirs), cache=cache)


def _load_inputs(inputs) -> tuple[Policy, bool]:
    from cordon.policy.builtins import RuleSink

    sink = RuleSink()
    cacheable = True
    for given, content in inputs:
        src = content if isinstance(content, str) else decode_source(given, content)
        sink.file = given
        sink.pending_examples = []
        cacheable &= load_source(sink, given, src)
    return Policy(
        sink.rules, dict(sink.host_executables), sink.network_rules, [g for g, _ in inputs]
    ), cacheable


def load_source(sink, given: str, src: str, collect: list | None = None) -> bool:
    """Evaluate one file into ``sink`` and validate its examples. Returns False when the result
    depends on the working directory or $HOME (relative example paths), i.e. is not cacheable.

    With ``collect`` (lint), errors that leave the file usable (a rejected builtin call, a failed
    example, each unknown name) are appended as RulesError and evaluation goes on where it can."""
    from cordon.policy import diagnostics
    from cordon.policy.builtins import make_builtins
    from cordon.policy.starlark import stdlib
    from cordon.policy.starlark.interp import EvalError, Interpreter
    from cordon.policy.starlark.syntax import StarlarkSyntaxError, parse

    lines = src.replace("\r\n", "\n").split("\n")
    try:
        stmts = parse(src)
    except StarlarkSyntaxError as e:
        span = (e.line, e.column, e.end_line, e.end_column)
        if e.outside:
            report = diagnostics.render_outside(given, e.message)
        else:
            report = diagnostics.render_static(given, lines, e.message, span)
        raise RulesError(e.message, given, e.line, e.column, report=report) from None
    except RecursionError:
        raise RulesError("Parse error: nesting too deep", given, 1, 1) from None

    def as_error(e: EvalError) -> RulesError:
        span = e.pos or (1, 1, 1, 1)
        if e.static:
            report = diagnostics.render_static(given, lines, e.message, span)
        else:
            report = diagnostics.render_runtime(given, lines, e.message, span, e.frames)
        return RulesError(e.message, given, span[0], span[1], report=report)

    lint_errors: list | None = [] if collect is not None else None
    interp = Interpreter(
        {**stdlib.GLOBALS, **make_builtins(sink, lint_errors)}, module=given, methods=stdlib.method
    )
    try:
        interp.run_module(stmts, lint_errors)
    except EvalError as e:
        if collect is None:
            raise as_error(e) from None
        lint_errors.append(e)  # type: ignore[union-attr]
    except RecursionError:
        if collect is None:
            raise RulesError("Starlark call stack overflow", given, 1, 1) from None
        collect.append(RulesError("Starlark call stack overflow", given, 1, 1))
    if collect is not None:
        collect.extend(as_error(e) for e in lint_errors or [])
    return validate_examples(sink, given, collect)


def validate_examples(sink, given: str, collect: list | None = None) -> bool:
    """Codex's load-time unit tests: per call, ``not_match`` then ``match``, against only that
    call's rules with host resolution on and this file's final host_executable table."""
    from cordon.policy import shellwords
    from cordon.policy.rules import rust_str

    cacheable = True
    for rules, match, not_match, span in sink.pending_examples:
        if not match and not not_match:
            continue  # nothing to check (most calls): no matcher to build
        mini = Matcher.from_rules(rules, sink.host_executables)
        for _raw, words in [*match, *not_match]:
            w0 = words[0]
            if w0.startswith("~/") or ("/" in w0 and not w0.startswith("/")):
                cacheable = False  # resolved against $HOME / the working directory
        errors = []
        for _raw, words in not_match:
            found = mini.match(words, True, False)
            if found:
                shown = shellwords.join(words)
                errors.append(
                    RulesError(
                        f"expected example to not match rule `{found[0].debug()}`: {shown}",
                        given,
                        span[0],
                        span[1],
                    )
                )
                break
        unmatched = [shellwords.join(words) for _raw, words in match if not mini.match(words, True, False)]
        if unmatched and not (errors and collect is None):
            rs = ", ".join(rust_str(r.debug()) for r in rules)
            ex = ", ".join(rust_str(u) for u in unmatched)
            errors.append(
                RulesError(
                    f"expected every example to match at least one rule. rules: [{rs}]; unmatched examples: [{ex}]",
                    given,
                    span[0],
                    span[1],
                )
            )
        if errors:
            if collect is None:
                raise errors[0]
            collect.extend(errors)
    return cacheable
