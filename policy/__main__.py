"""``execpolicy`` / ``python -m policy``: the command-line entry point."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if args and args[0] == "check":
        # Hot path: `execpolicy check` runs once per command an agent wants to run, so it skips
        # building the typer app (typer + click cost ~50 ms); the typer command calls the same run().
        from policy.commands.check import run

        sys.exit(run(args[1:]))
    from policy.cli import app

    app(args=args, prog_name="execpolicy")


if __name__ == "__main__":
    main()
