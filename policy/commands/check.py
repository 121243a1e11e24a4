"""``execpolicy check --rules FILE... [--pretty] [--resolve-host-executables] [--] CMD...``

Prints exactly what ``codex execpolicy check`` prints, with its exit codes: 0 for any decision,
1 when a rules file cannot be read or parsed, 2 for usage errors. Arguments are parsed here
(not by typer) with clap's rules: options only before the first command token, which may start
with ``-``; a first ``--`` is the separator. ``policy.__main__`` calls :func:`run` directly so
the hot path never imports typer, pydantic or (with a warm cache) lark.

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


class Usage(Exception):
    pass


def _usage_missing(missing: list[str], used: list[str]) -> str:
    lines = "".join(f"  {m}\n" for m in missing)
    usage = " ".join(["--rules <PATH>", *used, "<COMMAND>..."])
    return (
        f"error: the following required arguments were not provided:\n{lines}\n"
        f"Usage: {PROG} {usage}\n\nFor more information, try '--help'.\n"
    )


def parse_args(args: list[str]) -> dict:
    rules: list[str] = []
    flags = {"pretty": False, "resolve": False, "compat": False, "cache": True}
    used: list[str] = []
    command: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        if a == "--":
            command = args[i + 1 :]
            break
        if a in ("-r", "--rules") or a.startswith("--rules="):
            # clap: `-rX` is not `-r X` here; it starts the command (hyphen values allowed).
            if a.startswith("--rules="):
                if a == "--rules=":
                    raise Usage(
                        "error: a value is required for '--rules <PATH>' but none was supplied\n\n"
                        "For more information, try '--help'.\n"
                    )
                rules.append(a[len("--rules=") :])
            else:
                if i + 1 >= n:
                    raise Usage(
                        "error: a value is required for '--rules <PATH>' but none was supplied\n\n"
                        "For more information, try '--help'.\n"
                    )
                rules.append(args[i + 1])
                i += 1
        elif a in ("--pretty", "--resolve-host-executables"):
            key = "pretty" if a == "--pretty" else "resolve"
            if flags[key]:
                raise Usage(
                    f"error: the argument '{a}' cannot be used multiple times\n\n"
                    f"Usage: {PROG} [OPTIONS] --rules <PATH> <COMMAND>...\n\n"
                    "For more information, try '--help'.\n"
                )
            flags[key] = True
            used.append(a)
        elif a.startswith(("--pretty=", "--resolve-host-executables=")):
            flag, value = a.split("=", 1)
            usage = " ".join(["--rules <PATH>", *used, flag, "<COMMAND>..."])
            raise Usage(
                f"error: unexpected value '{value}' for '{flag}' found; no more were expected\n\n"
                f"Usage: {PROG} {usage}\n\nFor more information, try '--help'.\n"
            )
        elif a == "--codex-compat":
            flags["compat"] = True
        elif a == "--no-cache":
            flags["cache"] = False
        elif a in ("-h", "--help"):
            raise SystemExit(_help())
        elif a in ("-c", "--config", "--enable", "--disable"):
            i += 1  # Codex's global options; accepted and ignored
        elif a.startswith(("--config=", "--enable=", "--disable=")):
            pass
        else:
            command = args[i:]
            break
        i += 1
    missing = []
    if not rules:
        missing.append("--rules <PATH>")
    if not command:
        missing.append("<COMMAND>...")
    if missing:
        raise Usage(_usage_missing(missing, used))
    return {"rules": rules, "command": command, **flags}


def _help() -> int:
    sys.stdout.write(HELP)
    return 0


def run(args: list[str]) -> int:
    """Entry point shared by the fast path and the typer command; returns the exit code."""
    try:
        opts = parse_args(args)
    except Usage as e:
        sys.stderr.write(str(e))
        return 2
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
