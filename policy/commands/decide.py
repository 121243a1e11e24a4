"""``execpolicy decide``: allow (sandboxed or not), prompt or forbid a command, as JSON."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command(
        "decide",
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )
    def decide_cmd(
        argv: list[str] = typer.Argument(..., metavar="ARGV...", help="The command, after `--`."),
        rules: list[str] = typer.Option(
            [], "--rules", "-r", help="A .rules file or shipped rule-set name (repeatable, merged in order)."
        ),
        approval: str = typer.Option(
            "on-request",
            "--approval",
            help="untrusted | on-request | on-failure | never | granular[:rules=BOOL,sandbox_approval=BOOL]",
        ),
        sandbox: str = typer.Option(
            "workspace-write", "--sandbox", help="read-only | workspace-write | danger-full-access | external"
        ),
        escalated: bool = typer.Option(
            False, "--escalated", help="The caller asks to run outside the sandbox."
        ),
        additional_permissions: bool = typer.Option(
            False, "--additional-permissions", help="The caller asks for more than the sandbox grants."
        ),
        prefix_rule: str | None = typer.Option(
            None, "--prefix-rule", help='The prefix the agent suggests remembering, as JSON: ["npm","test"].'
        ),
        pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON."),
    ) -> None:
        """Decide whether a command may run (JSON on stdout; exit 0 whatever the decision)."""
        import json

        from policy.decide import Approval, decide
        from policy.errors import PolicyError

        try:
            appr = Approval.parse(approval)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--approval") from exc
        from policy.decide import SANDBOX_MODES

        if sandbox not in SANDBOX_MODES:
            raise typer.BadParameter(f"expected one of {', '.join(SANDBOX_MODES)}", param_hint="--sandbox")
        requested = None
        if prefix_rule is not None:
            try:
                requested = json.loads(prefix_rule)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"not JSON: {exc}", param_hint="--prefix-rule") from exc
            if not isinstance(requested, list) or not all(isinstance(t, str) for t in requested):
                raise typer.BadParameter("expected a JSON list of strings", param_hint="--prefix-rule")
        policy = None
        if rules:
            from policy import load_policy

            try:
                policy = load_policy(*rules)
            except PolicyError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from exc
            except OSError as exc:
                typer.echo(f"error: {exc.filename}: {exc.strerror}", err=True)
                raise typer.Exit(1) from exc
        try:
            result = decide(
                argv,
                policy=policy,
                approval=appr,
                sandbox=sandbox,
                escalated=escalated,
                additional_permissions=additional_permissions,
                requested_prefix=requested,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(result.to_json(pretty=pretty))
