"""``sandbox mcp``: serve Cordon's sandboxed shell and exec-policy tools over MCP (stdio)."""

from __future__ import annotations

import typer

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
An MCP client starts it as a server command, e.g. in its JSON config:
{"command": "sandbox", "args": ["mcp", "--workspace", "/path/to/project"]}

Examples:
  sandbox mcp --workspace ~/src/project
  sandbox mcp --rules default --rules python --allow-domain pypi.org
  sandbox mcp --mode read-only --approval never
"""


def register(app: typer.Typer) -> None:
    @app.command("mcp", epilog=EXAMPLES)
    def mcp(
        workspace: str = typer.Option(
            None, "--workspace", help="Writable workspace (default: current directory)."
        ),
        mode: str = typer.Option("workspace-write", "--mode", help="read-only | workspace-write"),
        writable_root: list[str] = typer.Option(
            None, "--writable-root", help="Another writable root (repeatable)."
        ),
        network: str = typer.Option("off", "--network", help="off | on"),
        allow_domain: list[str] = typer.Option(
            None, "--allow-domain", help="Proxied network: allow this domain."
        ),
        rules: list[str] = typer.Option(
            None,
            "--rules",
            help="Rules for execpolicy_check/decide; with it, `shell` refuses what they forbid.",
        ),
        approval: str = typer.Option("on-request", "--approval", help="untrusted | on-request | never"),
        approve_prompts: bool = typer.Option(
            False, "--approve-prompts", help="Run commands that need approval (the client asked the user)."
        ),
        timeout: float = typer.Option(120.0, "--timeout", help="Default per-command timeout, seconds."),
    ) -> None:
        """Serve an MCP server on stdin/stdout with tools `shell`, `execpolicy_check`, `decide`.

        Every `shell` call runs confined under the policy given by these flags.
        """
        import os
        import sys
        from pathlib import Path

        try:
            from cordon.sandbox.mcp_server import ServerConfig, serve
        except ImportError as e:  # pragma: no cover - depends on the optional extra
            typer.echo(
                f"error: sandbox mcp needs the `mcp` package ({e}); pip install 'cordon[mcp]'", err=True
            )
            raise typer.Exit(2) from None
        if mode not in ("read-only", "workspace-write"):
            typer.echo("error: --mode must be read-only or workspace-write for the MCP server", err=True)
            raise typer.Exit(2)
        if network not in ("off", "on"):
            typer.echo(
                "error: --network must be off or on (use --allow-domain for a proxied network)", err=True
            )
            raise typer.Exit(2)
        ws = Path(workspace or os.getcwd()).resolve()
        if not ws.is_dir():
            typer.echo(f"error: --workspace {ws} is not a directory", err=True)
            raise typer.Exit(2)
        if rules:
            from cordon import policy

            try:
                policy.load_policy(*rules)  # fail now, before a client connects, with file:line:col
            except policy.PolicyError as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(1) from None
        cfg = ServerConfig(
            workspace=ws,
            mode=mode,
            writable_roots=[Path(p).resolve() for p in writable_root or []],
            network=network,
            allow_domains=list(allow_domain or []),
            rules=list(rules or []),
            approval=approval,
            approve_prompts=approve_prompts,
            timeout=timeout,
        )
        print(f"cordon MCP server on stdio; workspace {ws}", file=sys.stderr)
        serve(cfg)
