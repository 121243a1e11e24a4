"""``sandbox windows-setup [--print] [--uninstall]``: provision the Windows sandbox accounts.

One elevated step (a UAC prompt) that creates what the Windows sandbox-user method needs
to enforce network off/proxy and deny-read; the script comes from sandbox.windows.setup.
``--print`` shows the script on any platform, to review or run by hand.
"""

from __future__ import annotations

import typer

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  sandbox windows-setup --print
  sandbox windows-setup
  sandbox windows-setup --uninstall
"""


def register(app: typer.Typer) -> None:
    @app.command("windows-setup", epilog=EXAMPLES)
    def windows_setup(
        print_only: bool = typer.Option(False, "--print", help="Print the PowerShell script; change nothing"),
        uninstall: bool = typer.Option(
            False, "--uninstall", help="Remove the accounts, rules and credentials"
        ),
    ) -> None:
        """Provision (or remove) the Windows sandbox accounts and firewall rules (elevated, once)."""
        import subprocess

        from cordon.sandbox.windows.setup import elevated_argv, provision_script, uninstall_script

        script = uninstall_script() if uninstall else provision_script()
        if print_only:
            typer.echo(script, nl=False)
            return
        from cordon.sandbox import _platform

        if _platform.NAME != "windows":
            typer.echo(
                f"sandbox windows-setup: runs on Windows only (this is {_platform.NAME or 'another system'}); "
                "use --print to see the script",
                err=True,
            )
            raise typer.Exit(2)
        code = subprocess.run(elevated_argv(script)).returncode
        if code != 0:
            typer.echo(f"sandbox windows-setup: the elevated script failed (exit {code})", err=True)
            raise typer.Exit(125)
        if not uninstall:
            raise typer.Exit(_verify())

    def _verify() -> int:
        """Probe what `sandbox run` will probe; 0 if everything is in place."""
        from cordon.sandbox.model import NetworkMode, NetworkPolicy, SandboxPolicy
        from cordon.sandbox.windows import build_plan
        from cordon.sandbox.windows.win32 import probe

        bad = 0
        for mode in (NetworkMode.OFF, NetworkMode.ON):
            policy = SandboxPolicy(network=NetworkPolicy(mode=mode)).resolve()
            plan = build_plan(policy, ["cmd"], {})
            missing = probe(plan)
            status = "ok" if not missing else "missing: " + "; ".join(missing)
            typer.echo(f"{plan.identity.account}: {status}")
            bad |= bool(missing)
        return 125 if bad else 0
