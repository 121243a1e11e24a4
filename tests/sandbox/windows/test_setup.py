"""Provisioning: the script creates exactly what the probe checks for."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from cordon.sandbox.windows.setup import elevated_argv, provision_script, rule_command, uninstall_script

from tests.sandbox.windows.test_win32 import make_plan

REPO = Path(__file__).resolve().parents[3]


def test_script_creates_every_planned_rule_with_the_planned_fields():
    script = provision_script()
    plan = make_plan(method="sandbox-user")
    assert plan.network.firewall_rules
    for rule in plan.network.firewall_rules:
        line = next(
            x for x in script.splitlines() if x.startswith(f"New-NetFirewallRule -Name '{rule.name}'")
        )
        assert '-LocalUser "O:LSD:(A;;CC;;;$sid)"' in line  # PowerShell expands $sid: the account's SID
        assert "-Direction Outbound -Action Block" in line
        assert "-RemoteAddress " + ",".join(rule.remote_addresses) in line
        assert (f"-RemotePort {rule.remote_ports}" in line) == (rule.remote_ports != "Any")
        assert (f"-Protocol {rule.protocol}" in line) == (rule.protocol != "Any")
        # replaced, not duplicated, on a second run
        assert script.index(f"Remove-NetFirewallRule -Name '{rule.name}'") < script.index(line)


def test_script_creates_both_accounts_and_the_credentials_the_probe_reads():
    script = provision_script()
    for account, wants_rules in (("CordonSandboxOffline", True), ("CordonSandboxOnline", False)):
        assert f"New-LocalUser -Name '{account}'" in script
        assert f"Add-LocalGroupMember -SID S-1-5-32-545 -Member '{account}'" in script
        assert f'cmdkey /generic:cordon-sandbox/{account} /user:{account} /pass:"$pw"' in script
        assert (f"-Name '{account}-BlockRemote'" in script) == wants_rules
    # a random password from the system CSPRNG, never a fixed one; never admin
    assert "RandomNumberGenerator" in script and "Get-Random" not in script
    assert "Administrators" not in script and "S-1-5-32-544" not in script
    assert "Set-NetFirewallProfile -Profile Domain,Private,Public -Enabled True" in script


def test_script_follows_a_changed_proxy_port():
    line = next(
        x for x in provision_script(port=50000).splitlines() if "BlockLoopbackTCP'" in x and "New-" in x
    )
    assert "-RemotePort 1-49999,50001-65535" in line


def test_rule_command_quotes_names():
    from cordon.sandbox.windows.plan import FirewallRule

    rule = FirewallRule(
        name="it's", protocol="UDP", remote_addresses=["::1"], local_user="O:LSD:(A;;CC;;;S-1)"
    )
    assert rule_command(rule).startswith(
        "New-NetFirewallRule -Name 'it''s' -DisplayName 'Cordon sandbox: it''s'"
    )


def test_uninstall_removes_accounts_rules_and_credentials():
    script = uninstall_script()
    for name in ("BlockRemote", "BlockLoopbackTCP", "BlockLoopbackUDP"):
        assert f"Remove-NetFirewallRule -Name 'CordonSandboxOffline-{name}'" in script
    for account in ("CordonSandboxOffline", "CordonSandboxOnline"):
        assert f"Remove-LocalUser -Name '{account}'" in script
        assert f"cmdkey /delete:cordon-sandbox/{account}" in script


def test_elevated_argv_carries_the_script_intact():
    argv = elevated_argv("Write-Output 'hi'\n")
    assert argv[:3] == ["powershell.exe", "-NoProfile", "-Command"]
    assert "-Verb RunAs -Wait -PassThru" in argv[3] and argv[3].endswith("exit $p.ExitCode")
    encoded = argv[3].split("-EncodedCommand ")[1].split("'")[0]
    assert base64.b64decode(encoded).decode("utf-16-le") == "Write-Output 'hi'\n"


def test_cli_prints_the_script_anywhere_and_refuses_to_run_it_off_windows(tmp_path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "cordon.sandbox", "windows-setup"]
    r = subprocess.run([*cmd, "--print"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == provision_script()
    r = subprocess.run([*cmd, "--print", "--uninstall"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == uninstall_script()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Windows only" in r.stderr and "--print" in r.stderr


def test_refusal_points_at_windows_setup():
    from cordon.sandbox.windows.plan import refusal

    assert "`sandbox windows-setup`" in refusal(["network"], ["x"], "CordonSandboxOffline")
