"""``execpolicy check --rules FILE... [--pretty] [--resolve-host-executables] [--] CMD...``

Prints exactly what ``codex execpolicy check`` prints, with its exit codes: 0 for any decision,
1 when a rules file cannot be read or parsed, 2 for usage errors. The arguments follow clap's
rules (policy/fastpath.py, ``check_args``), as Codex's CLI does.

Cordon-only options: ``--codex-compat`` (Codex 0.169.0 host-executable semantics: an unlisted
path like ``/tmp/git`` matches no rule), ``--no-cache``.
"""

from __future__ import annotations

import os
import sys

PROG = "execpolicy check"

HELP = f"""Check a command against .rules files and print the matching rules as JSON

Usage: {PROG} [OPTIONS] --rules <PATH> <COMMAND>...

Arguments:
  <COMMAND>...  Command tokens to check (no shell parsing)

Options:
  -r, --rules <PATH>            Rules file or shipped rule-set name (repeatable; merged in order)
      --pretty                  Pretty-print the JSON output
      --resolve-host-executables
                                Match /path/to/git against rules for `git` (host_executable aware)
      --codex-compat            Codex 0.169.0 semantics: an unlisted path (e.g. /tmp/git) matches no
                                basename rule (Cordon's default keeps prompt/forbidden rules in force)
      --no-cache                Do not read or write the parsed-policy cache
  -h, --help                    Print help

Examples:
  execpolicy check --rules default -- git push --force origin main
  execpolicy check -r default -r python --pretty -- pip install requests
  execpolicy check --rules my.rules --resolve-host-executables -- /usr/bin/git status
"""


def run(args: list[str]) -> int:
    """Entry point shared by the fast path and the typer command; returns the exit code."""
    from cordon.policy.fastpath import Usage, check_args

    try:
        opts = check_args(args)
    except Usage as e:
        sys.stderr.write(str(e))
        return 2
    if opts["help"]:
        sys.stdout.write(HELP)
        return 0
    from cordon.policy.engine import RulesError, load_policy

    try:
        policy = load_policy(*opts["rules"], cache=opts["cache"])
    except RulesError as e:
        from cordon.policy.diagnostics import envelope

        sys.stderr.write(envelope(e.stage, e.source or "", e.report))
        hint = _unknown_name_hint(e)
        if hint:
            sys.stderr.write(f"\nhint: {hint}\n")
        return 1
    ev = policy.check(
        opts["command"],
        resolve_host_executables=opts["resolve"],
        restrictive_basename=not opts["compat"],
    )
    out = ev.to_json(pretty=opts["pretty"]) + "\n"
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _unknown_name_hint(e) -> str | None:
    """A bare ``--rules NAME`` (no ``/``, no ``.``) that is neither a file nor a shipped set.

    Only such names get a hint line: what Codex prints for a missing ``x.rules`` is kept byte for
    byte (the conformance suite compares it), and a bare name is what a mistyped set looks like.
    """
    src = e.source or ""
    if not e.unknown_name or "." in src:
        return None
    from cordon.policy.shipped import unknown_rules_hint

    return unknown_rules_hint(src)


def register(app) -> None:
    from cordon.policy.commands._raw import register_raw

    register_raw(
        app, "check", run, "Check a command against .rules files; prints Codex-compatible JSON (exit 0/1/2)."
    )
