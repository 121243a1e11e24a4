"""``execpolicy lint FILE...``: report every error (file:line:col) and rule warnings.

Exit 0 when the files load (warnings allowed; ``--strict`` makes warnings fail too), 1 when any
file has an error, 2 for usage errors. ``--json`` prints the diagnostics as a JSON list.
"""

from __future__ import annotations

import sys


def run(files: list[str], as_json: bool = False, strict: bool = False) -> int:
    from cordon.policy.lint import lint_files

    diags = lint_files(files)
    if as_json:
        import json

        print(json.dumps([d.model_dump() for d in diags], indent=2, ensure_ascii=False))
    else:
        for d in diags:
            print(d)
        errors = sum(d.severity == "error" for d in diags)
        warnings = len(diags) - errors
        print(
            f"{len(files)} file(s): {errors} error(s), {warnings} warning(s)",
            file=sys.stderr,
        )
    if any(d.severity == "error" for d in diags):
        return 1
    return 1 if strict and diags else 0


def register(app) -> None:
    import typer

    def lint(
        files: list[str] = typer.Argument(..., help="Rules files (merged in order, as with check --rules)"),
        as_json: bool = typer.Option(False, "--json", help="Print diagnostics as JSON"),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too"),
    ) -> None:
        """Check rules files: every error with file:line:col, plus shadowed/duplicate/overridden rules."""
        raise typer.Exit(run(files, as_json, strict))

    lint.__annotations__ = {"files": list[str], "as_json": bool, "strict": bool, "return": None}
    app.command("lint", epilog=EXAMPLES)(lint)


# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  execpolicy lint my.rules
  execpolicy lint --strict default python
  execpolicy lint --json base.rules extra.rules
"""
