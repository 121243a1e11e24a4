"""Provisioning the sandbox accounts: the one-time, elevated step of the sandbox-user method.

``provision_script()`` is a PowerShell script built from the same data the plan and the
probe use (account names, credential targets, ``plan.firewall_rules``), so what setup
creates is exactly what ``win32.probe`` checks for. ``elevated_argv()`` runs a script
through an elevated PowerShell (one UAC prompt). Pure data; nothing runs at import.
"""

from __future__ import annotations

import base64

from cordon.sandbox.windows.plan import (
    CREDENTIAL_TARGET,
    USER_OFFLINE,
    USER_ONLINE,
    FirewallRule,
    firewall_rules,
)

ACCOUNTS = (USER_OFFLINE, USER_ONLINE)
USERS_GROUP_SID = "S-1-5-32-545"  # BUILTIN\Users, by SID: the group name is localised
HIDE_KEY = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon\SpecialAccounts\UserList"


def _ps(text: str) -> str:
    """A PowerShell single-quoted literal."""
    return "'" + text.replace("'", "''") + "'"


def rule_command(rule: FirewallRule) -> str:
    """``New-NetFirewallRule`` for one planned rule; ``$sid`` is expanded by PowerShell."""
    parts = [
        "New-NetFirewallRule",
        f"-Name {_ps(rule.name)}",
        f"-DisplayName {_ps('Cordon sandbox: ' + rule.name)}",
        f"-Direction {rule.direction}",
        f"-Action {rule.action}",
        f'-LocalUser "{rule.local_user}"',
    ]
    if rule.protocol != "Any":
        parts.append(f"-Protocol {rule.protocol}")
    parts.append("-RemoteAddress " + ",".join(rule.remote_addresses))
    if rule.remote_ports != "Any":
        parts.append(f"-RemotePort {rule.remote_ports}")
    return " ".join(parts) + " | Out-Null"


def provision_script(port: int | None = None) -> str:
    """Create (or refresh) both accounts, the offline account's firewall rules and the credentials.

    Idempotent: an existing account gets a new password, rules are replaced. Run it
    elevated, as the user who will run ``sandbox`` (the credentials go to that user's
    Credential Manager; if you elevate as another account, run the printed cmdkey lines
    in your own shell instead).
    """
    lines = [
        "$ErrorActionPreference = 'Stop'",
        "function New-Password { $b = New-Object byte[] 24; "
        "[Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($b); [Convert]::ToBase64String($b) }",
        f"New-Item -Path {_ps(HIDE_KEY)} -Force | Out-Null",
    ]
    for account in ACCOUNTS:
        name = _ps(account)
        lines += [
            f"# --- {account}",
            "$pw = New-Password",
            "$secure = ConvertTo-SecureString $pw -AsPlainText -Force",
            f"if (Get-LocalUser -Name {name} -ErrorAction SilentlyContinue) {{ "
            f"Set-LocalUser -Name {name} -Password $secure -PasswordNeverExpires $true }} else {{ "
            f"New-LocalUser -Name {name} -Password $secure -PasswordNeverExpires -UserMayNotChangePassword "
            f"-Description 'Cordon sandbox account (managed)' | Out-Null }}",
            f"Add-LocalGroupMember -SID {USERS_GROUP_SID} -Member {name} -ErrorAction SilentlyContinue",
            f"New-ItemProperty -Path {_ps(HIDE_KEY)} -Name {name} -Value 0 -PropertyType DWord -Force | Out-Null",
            f"$sid = (Get-LocalUser -Name {name}).SID.Value",
        ]
        if account == USER_OFFLINE:
            for rule in firewall_rules(account, "$sid", port):
                lines += [
                    f"Remove-NetFirewallRule -Name {_ps(rule.name)} -ErrorAction SilentlyContinue",
                    rule_command(rule),
                ]
        target = CREDENTIAL_TARGET.format(user=account)
        lines.append(f'cmdkey /generic:{target} /user:{account} /pass:"$pw" | Out-Null')
    lines += [
        "Set-NetFirewallProfile -Profile Domain,Private,Public -Enabled True",
        "Write-Output 'Cordon sandbox accounts provisioned.'",
    ]
    return "\n".join(lines) + "\n"


def uninstall_script() -> str:
    """Remove the accounts, their firewall rules and credentials (ACEs stay; see docs)."""
    lines = ["$ErrorActionPreference = 'Continue'"]
    for rule in firewall_rules(USER_OFFLINE, "$sid"):
        lines.append(f"Remove-NetFirewallRule -Name {_ps(rule.name)} -ErrorAction SilentlyContinue")
    for account in ACCOUNTS:
        lines += [
            f"Remove-LocalUser -Name {_ps(account)} -ErrorAction SilentlyContinue",
            f"Remove-ItemProperty -Path {_ps(HIDE_KEY)} -Name {_ps(account)} -ErrorAction SilentlyContinue",
            f"cmdkey /delete:{CREDENTIAL_TARGET.format(user=account)} | Out-Null",
        ]
    return "\n".join(lines) + "\n"


def elevated_argv(script: str) -> list[str]:
    """PowerShell that starts an elevated PowerShell (UAC prompt) running ``script`` and waits."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    inner = f"-NoProfile -ExecutionPolicy Bypass -EncodedCommand {encoded}"
    outer = f"$p = Start-Process powershell.exe -Verb RunAs -Wait -PassThru -ArgumentList {_ps(inner)}; exit $p.ExitCode"
    return ["powershell.exe", "-NoProfile", "-Command", outer]
