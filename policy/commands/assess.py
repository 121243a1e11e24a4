"""``execpolicy assess``: how Cordon splits a command and what its heuristics say about it."""

from __future__ import annotations

import typer


def assess_argv(argv: list[str]) -> dict:
    """The JSON ``assess`` prints (a thin view over policy.shell and policy.safety)."""
    from policy.safety import command_might_be_dangerous, is_known_safe_command, unwrap_command
    from policy.shell import split_for_exec_policy

    split = split_for_exec_policy(argv)
    return {
        "knownSafe": is_known_safe_command(argv),
        "dangerous": command_might_be_dangerous(argv),
        "commands": split.argvs,
        "split": split.kind,
        "complex": split.complex,
        "unwrapped": unwrap_command(argv),
    }


def register(app: typer.Typer) -> None:
    @app.command(
        "assess",
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )
    def assess(
        argv: list[str] = typer.Argument(..., metavar="ARGV...", help="The command, after `--`."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON (the stable interface)."),
        pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON."),
    ) -> None:
        """Split a command like Codex does and report known-safe / dangerous."""
        import json

        result = assess_argv(argv)
        if json_out or pretty:
            indent = 2 if pretty else None
            separators = None if pretty else (",", ":")
            typer.echo(json.dumps(result, indent=indent, separators=separators, ensure_ascii=False))
            return
        typer.echo(f"known safe: {'yes' if result['knownSafe'] else 'no'}")
        typer.echo(f"dangerous:  {'yes' if result['dangerous'] else 'no'}")
        typer.echo(f"split:      {result['split']}{' (complex)' if result['complex'] else ''}")
        for command in result["commands"]:
            typer.echo(f"  {json.dumps(command, ensure_ascii=False)}")
