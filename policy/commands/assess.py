"""``execpolicy assess``: how Cordon splits a command and what its heuristics say about it.

Its arguments are parsed on the fast path (policy/fastpath.py, ``assess_args``).
"""

from __future__ import annotations

import sys

PROG = "execpolicy assess"

HELP = f"""Split a command like Codex does and report known-safe / dangerous

Usage: {PROG} [--json] [--pretty] [--] <COMMAND>...

Options:
      --json     Print JSON (the stable interface): knownSafe, dangerous, commands, split, ...
      --pretty   Indented JSON
  -h, --help     Print help

Examples:
  execpolicy assess -- ls -la
  execpolicy assess --json -- bash -lc 'git status && rm -rf build'
  execpolicy assess --pretty -- find . -name '*.pyc' -delete
"""


def assess_argv(argv: list[str]) -> dict:
    """The JSON ``assess`` prints (a thin view over policy.shell and policy.safety)."""
    from cordon.policy.safety import command_might_be_dangerous, is_known_safe_command, unwrap_command
    from cordon.policy.shell import split_for_exec_policy

    split = split_for_exec_policy(argv)
    return {
        "knownSafe": is_known_safe_command(argv),
        "dangerous": command_might_be_dangerous(argv),
        "commands": split.argvs,
        "split": split.kind,
        "complex": split.complex,
        "unwrapped": unwrap_command(argv),
    }


def run(args: list[str]) -> int:
    """Entry point shared by a fast path and the typer command; returns the exit code."""
    import json

    from cordon.policy.fastpath import Usage, assess_args

    try:
        opts = assess_args(args)
    except Usage as e:
        sys.stderr.write(f"{e}\n")
        return 2
    if opts["help"]:
        sys.stdout.write(HELP)
        return 0
    command, as_json, pretty = opts["command"], opts["json"], opts["pretty"]
    if not command:
        sys.stderr.write(
            "error: the following required arguments were not provided:\n  <COMMAND>...\n\n"
            f"Usage: {PROG} [--json] [--pretty] [--] <COMMAND>...\n\n"
            f"For example: {PROG} -- git status\n"
        )
        return 2
    result = assess_argv(command)
    if as_json:
        if pretty:
            text = json.dumps(result, indent=2, ensure_ascii=False)
        else:
            text = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
        sys.stdout.write(text + "\n")
        return 0
    lines = [
        f"known safe: {'yes' if result['knownSafe'] else 'no'}",
        f"dangerous:  {'yes' if result['dangerous'] else 'no'}",
        f"split:      {result['split']}{' (complex)' if result['complex'] else ''}",
        *(f"  {json.dumps(c, ensure_ascii=False)}" for c in result["commands"]),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def register(app) -> None:
    from cordon.policy.commands._raw import register_raw

    register_raw(app, "assess", run, "Split a command like Codex does and report known-safe / dangerous.")
