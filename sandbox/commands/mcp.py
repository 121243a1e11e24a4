"""``sandbox mcp``: serve Cordon's sandboxed shell and exec-policy tools over MCP (stdio)."""

from __future__ import annotations

import typer
from cordon.sandbox.errors import EXIT_USAGE

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
An MCP client starts it as a server command, e.g. in its JSON config:
{"command": "sandbox", "args": ["mcp", "--workspace", "/path/to/project"]}

--approval granular takes Codex's switches: granular:rules=BOOL,sandbox_approval=BOOL.
Client set-up (Claude, Cursor, VS Code, Codex CLI...): docs/mcp.md.

Examples:
  sandbox mcp --workspace ~/src/project
  sandbox mcp --rules default --rules python --allow-domain pypi.org
  sandbox mcp --mode read-only --approval never --limit wall=10m
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
        approval: str = typer.Option(
            "on-request",
            "--approval",
            help="Approval policy for `decide` and rule-gated `shell`: untrusted | on-request | "
            "on-failure | never | granular (granular options: see below).",
        ),
        approve_prompts: bool = typer.Option(
            False, "--approve-prompts", help="Run commands that need approval (the client asked the user)."
        ),
        timeout: float = typer.Option(120.0, "--timeout", help="Default per-command timeout, seconds."),
        limit: list[str] = typer.Option(
            None,
            "--limit",
            help="Resource limit of every command, KEY=VALUE (memory, pids, cpu, wall, file-size, tmp).",
        ),
    ) -> None:
        """Serve an MCP server on stdin/stdout with tools `shell`, `execpolicy_check`, `decide`.

        Every `shell` call runs confined under the policy given by these flags.
        """
        import os
        import sys
        from pathlib import Path

        def usage_error(message: str, hint: str | None = None) -> typer.Exit:
            typer.echo(f"sandbox mcp: {message}", err=True)
            if hint:
                typer.echo(f"sandbox mcp: hint: {hint}", err=True)
            return typer.Exit(EXIT_USAGE)

        # Everything is checked before serving: a client would only see a closed pipe.
        if mode not in ("read-only", "workspace-write"):
            raise usage_error("--mode must be read-only or workspace-write for the MCP server")
        if network not in ("off", "on"):
            raise usage_error("--network must be off or on (use --allow-domain for a proxied network)")
        from cordon.vocabulary import Approval

        try:
            Approval.parse(approval)
        except ValueError as e:
            raise usage_error(f"--approval: {e}") from None
        if not timeout > 0:
            raise usage_error(f"--timeout must be a positive number of seconds, got {timeout}")
        ws = Path(workspace or os.getcwd()).resolve()
        if not ws.is_dir():
            raise usage_error(f"--workspace {ws} is not a directory")
        if rules:
            from cordon.policy.shipped import rules_next_step

            from cordon import policy

            try:
                policy.load_policy(*rules)  # fail now, before a client connects, with file:line:col
            except policy.PolicyError as e:
                raise usage_error(str(e), rules_next_step(e)) from None
        try:
            import mcp.server.mcpserver  # noqa: F401  (the server's own import is lazy: check it here)
        except ImportError as e:
            raise usage_error(
                f"the `mcp` package (2.x, a dependency of cordon-sandbox) cannot be imported: {e}",
                "pip install 'mcp>=2.3,<3' into this environment, or reinstall: pip install --upgrade "
                "cordon-sandbox (./scripts/install.sh in a checkout)",
            ) from None
        from cordon.sandbox.mcp_server import ServerConfig, serve

        if allow_domain:
            from cordon.sandbox.config import to_inputs
            from cordon.sandbox.errors import ConfigError

            try:  # the same pattern check as `sandbox run`
                to_inputs({"allow_domains": list(allow_domain)})
            except ConfigError as e:
                from cordon.sandbox.commands.run import next_step

                raise usage_error(f"--allow-domain: {e.message}", next_step(e)) from None
        from cordon.sandbox.errors import ConfigError
        from cordon.sandbox.limits import parse_items

        try:
            limits = parse_items(limit or [])
        except ConfigError as e:
            what = f"--limit {e.field[7:]}" if (e.field or "").startswith("limits.") else "--limit"
            raise usage_error(f"{what}: {e.message}", "see `sandbox run --help` for the keys") from None
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
            limits=limits,
        )
        print(f"cordon MCP server on stdio; workspace {ws}", file=sys.stderr)
        serve(cfg)
