"""``sandbox`` / ``python -m sandbox``: the command-line entry point.

``sandbox run`` is the hot path: it is dispatched here without importing typer (or
pydantic), see sandbox/commands/run.py. Everything else goes through the typer app.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "run":
        from cordon.sandbox.commands.run import main_run

        code = main_run(args[1:])
        if argv is None:  # the `sandbox` program itself, not a caller in a longer-lived process
            _exit(code)
        sys.exit(code)
    # Import the CLI only when called: `import cordon.sandbox` must stay cheap for embedders.
    from cordon.sandbox.cli import app

    app(args=args, prog_name="sandbox")


def _exit(code: int) -> None:
    """Exit with ``code``, skipping the interpreter's finalization (~5 ms of module teardown
    after the command has already finished) when nothing is registered to run at exit."""
    import atexit

    threading = sys.modules.get("threading")
    if atexit._ncallbacks() or (threading is not None and threading.active_count() > 1):
        sys.exit(code)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)  # let the normal exit report it, as before
    os._exit(code)


if __name__ == "__main__":
    main()
