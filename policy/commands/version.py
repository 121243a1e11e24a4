"""``execpolicy version`` / ``sandbox version`` and the ``--version`` option of both commands."""

from __future__ import annotations

import typer

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  execpolicy --version
  sandbox --version
  sandbox version
"""


def version_text() -> str:
    """``cordon-sandbox X.Y.Z``: the distribution name, which is what ``pip install`` takes."""
    from cordon import __version__

    return f"cordon-sandbox {__version__}"


def on_version_option(value: bool) -> None:
    """typer callback of the eager ``--version`` option: print and stop before any subcommand."""
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def version_option():
    """The root ``--version`` option of both CLIs (a typer parameter default)."""
    return typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=on_version_option,
        help="Print the installed Cordon version and exit.",
    )


def register(app: typer.Typer) -> None:
    @app.command("version", epilog=EXAMPLES)
    def version() -> None:
        """Print the installed Cordon version (the same as --version)."""
        typer.echo(version_text())
