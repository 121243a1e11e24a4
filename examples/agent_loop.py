"""A minimal agent loop on Cordon: decide, ask, run sandboxed, stream the output.

An agent frontend does this for every command its model proposes. Here the "model" is a
file of commands (one shell command per line), so the loop can be read top to bottom:

    python examples/agent_loop.py --rules default --commands plan.txt
    printf 'ls -la\\ngit push\\n' | python examples/agent_loop.py --commands -   # answers come from the tty

For each command:
  1. ``policy.decide`` says allow (sandboxed or not), prompt, or forbidden, with a reason;
  2. forbidden: tell the model why and move on; prompt: ask the user on stdin
     (y = once, a = always for this session, anything else = no);
  3. run it with ``sandbox.spawn`` under a ``SandboxPolicy`` (the workspace writable,
     secrets hidden, no network) and stream stdout/stderr line by line as they arrive.
     This example runs even rule-allowed commands sandboxed: confinement is cheap.
"""

from __future__ import annotations

import argparse
import os
import selectors
import sys
from pathlib import Path

from cordon.sandbox import SandboxPolicy, spawn

from cordon import policy


def ask(question: str, answers) -> str:
    """Ask the user; the answer is read from ``answers`` (stdin). EOF means no."""
    print(question, end="", file=sys.stderr, flush=True)
    line = answers.readline()
    return line.strip().lower()[:1]


def stream(proc) -> int:
    """Print the sandboxed command's output as it arrives; return its exit status."""
    sel = selectors.DefaultSelector()
    for f, tag in ((proc.stdout, "│ "), (proc.stderr, "┆ ")):
        sel.register(f, selectors.EVENT_READ, tag)
    pending = {proc.stdout: b"", proc.stderr: b""}
    while sel.get_map():
        for key, _ in sel.select():
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                if pending[key.fileobj]:
                    _emit(key.data, pending[key.fileobj])
                continue
            data = pending[key.fileobj] + chunk
            *lines, pending[key.fileobj] = data.split(b"\n")
            for line in lines:
                _emit(key.data, line)
    return proc.wait()


def _emit(tag: str, line: bytes) -> None:
    print(tag + line.decode("utf-8", "replace"), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rules", action="append", help="rules file or shipped set (repeatable; default: default)"
    )
    ap.add_argument("--approval", default="on-request", help="untrusted | on-request | never")
    ap.add_argument("--workspace", default=os.getcwd(), help="the writable project folder")
    ap.add_argument("--commands", required=True, help="file with one shell command per line ('-' = stdin)")
    ap.add_argument("--answers", default="-", help="where the user's answers come from (default: stdin)")
    args = ap.parse_args(argv)

    rules = policy.load_policy(*(args.rules or ["default"]))
    sandbox_policy = SandboxPolicy(mode="workspace-write", workspace=Path(args.workspace))
    if args.commands == "-":
        commands = sys.stdin.read().splitlines()
        answers = open("/dev/tty") if args.answers == "-" else open(args.answers)  # noqa: SIM115
    else:
        commands = Path(args.commands).read_text().splitlines()
        answers = sys.stdin if args.answers == "-" else open(args.answers)  # noqa: SIM115
    always: set[tuple[str, ...]] = set()

    for line in commands:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd = ["bash", "-c", line]
        print(f"$ {line}", flush=True)
        d = policy.decide(cmd, policy=rules, approval=args.approval, sandbox="workspace-write")
        if d.decision == "forbidden":
            print(f"  refused: {d.reason}", flush=True)  # a real loop returns this to the model
            continue
        how = d.outcome
        if d.decision == "prompt" and tuple(cmd) in always:
            how = "approved earlier this session"
        elif d.decision == "prompt":
            why = f" ({d.reason})" if d.reason else ""
            answer = ask(f"  run `{line}`?{why} [y]es/[a]lways/[N]o: ", answers)
            if answer == "a":
                always.add(tuple(cmd))
            elif answer != "y":
                print("  skipped: the user declined", flush=True)
                continue
            how = "approved by the user"
        print(f"  running sandboxed ({how})", flush=True)
        with spawn(cmd, policy=sandbox_policy, cwd=args.workspace) as proc:
            code = stream(proc)
        print(f"  exit {code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
