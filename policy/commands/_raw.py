"""Register a hand-parsed subcommand with typer.

``check``, ``decide`` and ``assess`` parse their own arguments (their ``run(args)`` is the hot
path that ``policy.__main__`` calls without typer). Under typer they must still receive the
untouched argument list: click would otherwise eat the first ``--`` and reject options it
does not know.
"""

from __future__ import annotations

from collections.abc import Callable


def register_raw(app, name: str, run: Callable[[list[str]], int], help: str) -> None:
    """Add ``name`` to ``app``; it hands its raw arguments to ``run`` and exits with its result."""
    import typer
    from typer.core import TyperCommand

    class RawArgs(TyperCommand):
        def parse_args(self, ctx, args):
            ctx.meta["cordon_raw_args"] = list(args)
            return super().parse_args(ctx, args)

    def command(ctx):
        raise typer.Exit(run(ctx.meta["cordon_raw_args"]))

    # Real objects, not string annotations: typer evaluates strings in this module's globals,
    # where typer is deliberately not imported (the hot paths must not pay for it).
    command.__annotations__ = {"ctx": typer.Context, "return": None}
    command.__doc__ = help
    app.command(
        name,
        cls=RawArgs,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(command)
