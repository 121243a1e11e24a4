"""``execpolicy`` / ``python -m policy``: the command-line entry point."""

from __future__ import annotations

import sys


def _fast(args: list[str]) -> int | None:
    """Run the hot subcommands without building the typer app (typer + click cost ~50 ms).

    Each typer command hands its untouched arguments to the same ``run`` function, so both
    paths behave identically; ``None`` means "let the full CLI handle it" (help, typos...).
    """
    head = args[0] if args else ""
    if head in ("check", "decide", "assess"):
        from importlib import import_module

        return import_module(f"cordon.policy.commands.{head}").run(args[1:])
    if args[:2] == ["patch", "apply"]:
        from cordon.policy.commands.patch import fast_apply

        return fast_apply(args[2:])
    return None


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    code = _fast(args)
    if code is not None:
        sys.exit(code)
    from cordon.policy.cli import app

    app(args=args, prog_name="execpolicy")


if __name__ == "__main__":
    main()
