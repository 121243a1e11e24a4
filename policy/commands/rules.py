"""``execpolicy rules``: what rule sets ship with Cordon (``list``) and their text (``show``)."""

from __future__ import annotations

import typer

rules_app = typer.Typer(
    name="rules",
    help="The rule sets shipped with Cordon; pass a name to --rules (e.g. --rules default).",
    no_args_is_help=True,
    # The leading newline keeps the indentation through typer's dedent of help texts.
    epilog="""
Examples:
  execpolicy rules list
  execpolicy rules show default
  execpolicy check --rules default --rules python -- pip install requests
""",
)


@rules_app.command(
    "list",
    epilog="""
Examples:
  execpolicy rules list
  execpolicy rules list --json
  execpolicy check --rules default --rules python -- pip install requests
""",
)
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List the shipped rule sets."""
    from cordon.policy.shipped import describe_shipped

    sets = describe_shipped()
    if as_json:
        import json

        typer.echo(json.dumps([s.to_dict() for s in sets], indent=2))
        return
    if not sets:
        typer.echo("no shipped rule sets found (broken install?)", err=True)
        raise typer.Exit(1)
    width = max(len(s.name) for s in sets)
    for s in sets:
        typer.echo(f"{s.name:<{width}}  {s.kind:<8}  {s.summary}")
    typer.echo(
        f"\nUse one by name: execpolicy check --rules {sets[0].name} -- CMD...  (files: {sets[0].path.parent})"
    )


@rules_app.command(
    "show",
    epilog="""
Examples:
  execpolicy rules show default
  execpolicy rules show default > my.rules
""",
)
def show_cmd(name: str = typer.Argument(..., help="A shipped set's name, e.g. default.")) -> None:
    """Print a shipped rule set's source, to read it or copy it as a starting point."""
    from cordon.policy.shipped import list_shipped, unknown_rules_hint

    path = list_shipped().get(name)
    if path is None:
        typer.echo(f"error: {unknown_rules_hint(name)}", err=True)  # names the sets and `rules list`
        raise typer.Exit(2)
    typer.echo(path.read_text(encoding="utf-8"), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
