"""``execpolicy decide``: allow (sandboxed or not), prompt or forbid a command, as JSON.

An agent frontend runs this once per command: its arguments are parsed on the fast path
(policy/fastpath.py, ``decide_args``). Options come before the command (which may start with
``-``); a first ``--`` ends them.
Exit 0 whatever the decision, 1 if a rules file cannot be loaded, 2 on usage errors.
"""

from __future__ import annotations

import sys

PROG = "execpolicy decide"

HELP = f"""Decide whether a command may run: allow (sandboxed or not), prompt, or forbidden (JSON)

Usage: {PROG} [OPTIONS] [--] <COMMAND>...

Options:
  -r, --rules <PATH>          Rules file or shipped rule-set name (repeatable; merged in order)
      --approval <POLICY>     untrusted | on-request | on-failure | never | granular
                              [granular:rules=BOOL,sandbox_approval=BOOL]  (default: on-request)
      --sandbox <MODE>        read-only | workspace-write | danger-full-access | external
                              (default: workspace-write)
      --escalated             The caller asks to run outside the sandbox
      --additional-permissions
                              The caller asks for more than the sandbox grants
      --prefix-rule <JSON>    The prefix the agent suggests remembering, e.g. '["npm","test"]'
      --cwd <DIR>             Judge apply_patch invocations as patches: paths against DIR
      --writable-root <DIR>   Another writable root for that patch check (repeatable)
      --pretty                Indent the JSON
  -h, --help                  Print help

Examples:
  execpolicy decide --rules default -- git status
  execpolicy decide --rules default --approval never -- rm -rf /
  execpolicy decide --sandbox read-only --pretty -- bash -lc 'make && make test'
  execpolicy decide --rules default --escalated -- git push origin main
"""


def run(args: list[str]) -> int:
    """Entry point shared by the fast path and the typer command; returns the exit code."""
    import json

    from cordon.policy.decision import decide
    from cordon.policy.fastpath import Usage, decide_args

    from cordon.vocabulary import SANDBOX_MODES, Approval, parse_sandbox_mode

    try:
        opts = decide_args(args)
        if opts["help"]:
            sys.stdout.write(HELP)
            return 0
        try:
            approval = Approval.parse(opts["approval"])
        except ValueError as exc:
            raise Usage(f"error: invalid value for '--approval': {exc}") from exc
        try:
            parse_sandbox_mode(opts["sandbox"])
        except ValueError:
            raise Usage(
                f"error: invalid value '{opts['sandbox']}' for '--sandbox': expected one of "
                f"{', '.join(SANDBOX_MODES)}"
            ) from None
        requested = None
        if opts["prefix_rule"] is not None:
            try:
                requested = json.loads(opts["prefix_rule"])
            except json.JSONDecodeError as exc:
                raise Usage(f"error: invalid value for '--prefix-rule': not JSON ({exc})") from exc
            if not isinstance(requested, list) or not all(isinstance(t, str) for t in requested):
                raise Usage("error: invalid value for '--prefix-rule': expected a JSON list of strings")
    except Usage as exc:
        sys.stderr.write(
            f"{exc}\n\nUsage: {PROG} [OPTIONS] [--] <COMMAND>...\n\nFor more information, try '--help'.\n"
        )
        return 2

    policy = None
    if opts["rules"]:
        from cordon.policy.engine import load_policy
        from cordon.policy.errors import PolicyError

        try:
            policy = load_policy(*opts["rules"], cache=True)  # the parsed-policy cache `check` uses
        except PolicyError as exc:
            sys.stderr.write(f"error: {exc}\n{_hint_line(exc)}")
            return 1
        except OSError as exc:
            sys.stderr.write(f"error: {exc.filename}: {exc.strerror}\n{_hint_line(exc)}")
            return 1
    result = decide(
        opts["command"],
        policy=policy,
        approval=approval,
        sandbox=opts["sandbox"],
        escalated=opts["escalated"],
        additional_permissions=opts["additional_permissions"],
        requested_prefix=requested,
        cwd=opts["cwd"],
        writable_roots=opts["writable_roots"],
    )
    sys.stdout.write(result.to_json(pretty=opts["pretty"]) + "\n")
    sys.stdout.flush()
    return 0


def _hint_line(exc: Exception) -> str:
    from cordon.policy.shipped import rules_next_step

    hint = rules_next_step(exc)
    return f"hint: {hint}\n" if hint else ""


def register(app) -> None:
    from cordon.policy.commands._raw import register_raw

    register_raw(
        app,
        "decide",
        run,
        "Decide whether a command may run: allow (sandboxed or not), prompt or forbidden (JSON).",
    )
