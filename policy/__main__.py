"""``execpolicy`` / ``python -m cordon.policy``: the command-line entry point.

The hot subcommands (``check``, ``decide``, ``assess``, ``patch apply``) take the fast path
(policy/fastpath.py); everything else goes through the typer app (policy/cli.py).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from cordon.policy.fastpath import exit_now, main_fast

    args = argv if argv is not None else sys.argv[1:]
    code = main_fast(args)
    if code is not None:
        if argv is None:  # the `execpolicy` program itself, not a caller in a longer-lived process
            exit_now(code)
        sys.exit(code)
    from cordon.policy.cli import app

    app(args=args, prog_name="execpolicy")


if __name__ == "__main__":
    main()
