"""The ``execpolicy`` CLI: a thin typer shell; each subcommand lives in policy/commands/<name>.py."""

from __future__ import annotations

import importlib

import typer
from cordon.policy.commands.version import version_option

app = typer.Typer(
    name="execpolicy",
    help="Check commands and patches against Codex-compatible .rules files.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # The leading newline keeps the indentation through typer's dedent of help texts.
    epilog="""
Shell completion: execpolicy --install-completion (bash, zsh, fish, PowerShell);
execpolicy --show-completion prints the script instead.

Examples:
  execpolicy check --rules default -- git push --force origin main
  execpolicy decide --rules default -- rm -rf build
  execpolicy lint my.rules
  execpolicy rules list
""",
)


@app.callback()
def _root(version: bool = version_option()) -> None:
    """Keep subcommands as subcommands even while only one is registered."""


# Subcommand modules, in help order. A module listed here must exist.
COMMANDS: list[str] = ["check", "lint", "rules", "assess", "decide", "patch", "version"]

for _name in COMMANDS:
    importlib.import_module(f"cordon.policy.commands.{_name}").register(app)
