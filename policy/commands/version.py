"""``execpolicy version``: print Cordon's version."""

from __future__ import annotations

import typer

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  execpolicy version
  sandbox version
"""


def register(app: typer.Typer) -> None:
    @app.command("version", epilog=EXAMPLES)
    def version() -> None:
        """Print the installed Cordon version."""
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            typer.echo(f"cordon {v('cordon')}")
        except PackageNotFoundError:
            typer.echo("cordon (not installed; running from a checkout)")
