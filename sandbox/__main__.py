"""``sandbox`` / ``python -m sandbox``: the command-line entry point.

``sandbox run`` is the hot path: it is dispatched here without importing typer (or
pydantic), see sandbox/commands/run.py. Everything else goes through the typer app.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "run":
        if argv is None:  # the `sandbox` program itself: a start-up shortcut (sandbox/fastpath.py)
            from cordon.sandbox.fastpath import collector_off

            collector_off()
        from cordon.sandbox.commands.run import main_run

        code = main_run(args[1:])
        if argv is None:  # the `sandbox` program itself, not a caller in a longer-lived process
            from cordon.policy.fastpath import exit_now

            exit_now(code)
        sys.exit(code)
    # Import the CLI only when called: `import cordon.sandbox` must stay cheap for embedders.
    from cordon.sandbox.cli import app

    app(args=args, prog_name="sandbox")


if __name__ == "__main__":
    main()
