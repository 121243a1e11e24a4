"""``execpolicy`` / ``python -m cordon.policy``: the command-line entry point.

The hot subcommands (``check``, ``decide``, ``assess``, ``patch apply``) run without the typer
app (see policy/fastpath.py for every start-up shortcut); everything else goes through it
(policy/cli.py).
"""

from __future__ import annotations

import sys


def main_fast(args: list[str]) -> int | None:
    """Run a hot subcommand without the typer app; its exit code, or None when ``args`` need
    the full CLI (help, a typo, any other subcommand)."""
    head = args[0] if args else ""
    if head == "check":
        from cordon.policy.commands.check import run
    elif head == "decide":
        from cordon.policy.commands.decide import run
    elif head == "assess":
        from cordon.policy.commands.assess import run
    elif args[:2] == ["patch", "apply"]:
        from cordon.policy.fastpath import patch_apply_args

        opts = patch_apply_args(args[2:])
        if opts is None:
            return None  # typer reports the misuse
        from cordon.policy.commands.patch import run_apply

        return run_apply(opts["cwd"], opts["file"], opts["confine"])
    else:
        return None
    return run(args[1:])


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    code = main_fast(args)
    if code is not None:
        if argv is None:  # the `execpolicy` program itself, not a caller in a longer-lived process
            from cordon.policy.fastpath import exit_now

            exit_now(code)
        sys.exit(code)
    from cordon.policy.cli import app

    app(args=args, prog_name="execpolicy")


if __name__ == "__main__":
    main()
