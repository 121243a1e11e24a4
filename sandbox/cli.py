"""The ``sandbox`` CLI: a thin typer shell; each subcommand lives in sandbox/commands/<name>.py.

Each command module defines ``register(app)``; heavy imports stay inside the command
bodies so `sandbox --help` and `sandbox run` import only what they use.
"""

from __future__ import annotations

import importlib

import typer
from cordon.policy.commands.version import version_option

app = typer.Typer(
    name="sandbox",
    help="Run commands confined: bubblewrap + Landlock + seccomp on Linux, Seatbelt on macOS, "
    "a restricted token on Windows.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # The leading newline keeps the indentation through typer's dedent of help texts.
    epilog="""
Shell completion: sandbox --install-completion (bash, zsh, fish, PowerShell);
sandbox --show-completion prints the script instead.

Examples:
  sandbox run -- make test
  sandbox run --allow-domain pypi.org -- pip index versions requests
  sandbox run --explain --mode read-only -- ls
  sandbox doctor
""",
)


@app.callback()
def _root(version: bool = version_option()) -> None:
    """Keep subcommands as subcommands even while only one is registered."""


# Subcommand modules, in help order. A module listed here must exist.
COMMANDS: list[str] = ["run", "learn", "plan", "doctor", "version", "schema", "proxy", "mcp", "windows_setup"]

for _name in COMMANDS:
    importlib.import_module(f"cordon.sandbox.commands.{_name}").register(app)
