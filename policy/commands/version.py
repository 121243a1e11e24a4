"""``execpolicy version``: print Cordon's version."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the installed Cordon version."""
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            typer.echo(f"cordon {v('cordon')}")
        except PackageNotFoundError:
            typer.echo("cordon (not installed; running from a checkout)")
