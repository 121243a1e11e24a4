"""One exit-code convention for ``sandbox`` (docs/sandbox.md, "Exit status"), through real
subprocesses of ``python -m cordon.sandbox``:

- 2: a usage or configuration error (bad flag value, malformed config file, unknown platform,
  bad network pattern, unknown rule set); nothing ran;
- 125: a valid request that could not be confined; nothing ran;
- otherwise the command's own status.

Each error also gets the hint that fits it, and no hint that does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.shipped import list_shipped

from tests.support.cli import run_module

SHIPPED = list(list_shipped())


def sandbox(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return run_module("cordon.sandbox", *args, cwd=cwd, **env)


def execpolicy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_module("cordon.policy", *args, cwd=cwd)


def lines(p: subprocess.CompletedProcess) -> list[str]:
    return p.stderr.strip().splitlines()


def hint_of(p: subprocess.CompletedProcess) -> str | None:
    hints = [ln.split("hint: ", 1)[1] for ln in lines(p) if "hint: " in ln]
    assert len(hints) <= 1, p.stderr
    return hints[0] if hints else None


def marker_command(ws: Path) -> list[str]:
    """A command that leaves a file behind if it ever runs."""
    return ["/bin/sh", "-c", f"touch {ws}/RAN"]


# --- 2: usage and configuration errors --------------------------------------------------------

USAGE_CASES = {
    "bad flag value": (["run", "--mode", "sideways"], None, "--mode: expected one of read-only"),
    "flag value missing": (["run", "--network"], None, "--network: expected one of off, on, proxy"),
    "unknown platform": (["plan", "--platform", "plan9"], None, "unknown platform 'plan9'"),
    "bad allow pattern": (["run", "--allow-domain", "a..b"], None, "invalid network pattern 'a..b'"),
    "bad pattern in plan": (["plan", "--allow-domain", "*"], None, "invalid network pattern '*'"),
    "bad deny pattern": (
        ["run", "--allow-domain", "ok.test", "--deny-domain", "a..b"],
        None,
        "[deny_domains]: invalid network pattern",
    ),
    "project file syntax": ([], "mode = [\n", "invalid TOML"),
    "project file value": ([], 'mode = "sideways"\n', "[mode]: expected one of"),
    "project file key": ([], 'netwrk = "off"\n', "[netwrk]: unknown key"),
    "project file widens": ([], 'network = "on"\n', "a project file may only tighten"),
    "missing --config": (["run", "--config", "nowhere.toml"], None, "nowhere.toml: file not found"),
    "unknown rule set": (["run", "--rules", "pyhton"], None, "no rules file 'pyhton'"),
    "domains without proxy mode": (
        ["run", "--network", "on", "--allow-domain", "pypi.org"],
        None,
        "network proxy mode is needed",
    ),
    "writable root missing": (["run", "--writable-root", "/nonexistent-cordon"], None, "does not exist"),
    "writable root /proc": (["run", "--writable-root", "/proc"], None, "cannot be a writable root"),
}


@pytest.mark.parametrize("case", USAGE_CASES, ids=list(USAGE_CASES))
def test_usage_and_config_errors_exit_2_and_run_nothing(case, tmp_path):
    args, project_file, message = USAGE_CASES[case]
    ws = tmp_path / "ws"
    ws.mkdir()
    if project_file is not None:
        (ws / ".cordon.toml").write_text(project_file)
    p = sandbox(*(args or ["run"]), "--", *marker_command(ws), cwd=ws)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert not (ws / "RAN").exists()
    assert "Traceback" not in p.stderr


# --- the hint fits the error ------------------------------------------------------------------


def test_missing_config_says_file_not_found_not_fix_that_entry(tmp_path):
    p = sandbox("run", "--config", "nowhere.toml", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert lines(p)[0] == "sandbox: nowhere.toml: file not found"
    assert "fix that entry" not in p.stderr
    assert hint_of(p).startswith("check the path; --config takes")


def test_syntax_error_hint_is_about_syntax(tmp_path):
    (tmp_path / ".cordon.toml").write_text("mode = [\n")
    p = sandbox("run", "--", "true", cwd=tmp_path)
    assert p.returncode == 2 and "fix that entry" not in p.stderr
    assert hint_of(p) == "fix the file's syntax; nothing was run"


def test_a_widening_project_file_gets_no_generic_hint(tmp_path):
    """The message already says what to do (trusted_projects); "fix that entry" would mislead."""
    (tmp_path / ".cordon.toml").write_text('network = "on"\n')
    p = sandbox("run", "--", "true", cwd=tmp_path)
    assert p.returncode == 2 and "trusted_projects" in p.stderr
    assert hint_of(p) is None


def test_network_hint_names_what_the_config_file_said_not_allow_domain(tmp_path):
    """network = "off" in the project file, domains from a rule set: the message and hint name
    those two, and never the --allow-domain flag nobody used."""
    (tmp_path / ".cordon.toml").write_text('network = "off"\n')
    p = sandbox("run", "--rules", "registries", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert "--allow-domain" not in p.stderr and "--resolve" not in p.stderr
    assert f'network = "off" in {tmp_path / ".cordon.toml"}' in p.stderr
    assert "the network_rule entries of --rules registries" in p.stderr
    assert hint_of(p).startswith("say --network proxy (the command line wins over")


def test_network_hint_names_the_flags_that_were_used(tmp_path):
    p = sandbox("run", "--network", "on", "--allow-domain", "pypi.org", "--", "true", cwd=tmp_path)
    assert "--allow-domain pypi.org" in p.stderr and "--network on" in p.stderr
    assert hint_of(p) == (
        "say --network proxy to allow just those destinations, or drop --allow-domain pypi.org to "
        "keep the network on"
    )


@pytest.mark.parametrize("args", [["run", "--allow-domain", "a..b"], ["plan", "--allow-domain", "*"]])
def test_bad_pattern_hint_shows_the_pattern_forms(args, tmp_path):
    p = sandbox(*args, "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert hint_of(p).startswith("patterns are example.com, *.example.com (subdomains)")
    assert "sandbox doctor" not in p.stderr  # not a host problem


def test_pattern_from_a_config_file_names_the_file(tmp_path):
    (tmp_path / ".cordon.toml").write_text('deny_domains = ["a..b"]\n')
    p = sandbox("run", "--allow-domain", "ok.test", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert f"{tmp_path / '.cordon.toml'} [deny_domains]: invalid network pattern 'a..b'" in p.stderr


def test_unknown_platform_lists_the_platforms_without_a_doctor_hint(tmp_path):
    p = sandbox("plan", "--platform", "plan9", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert "expected one of linux, macos, windows" in p.stderr and hint_of(p) is None


def test_flag_value_problem_points_at_the_directory_not_the_doctor(tmp_path):
    p = sandbox("run", "--writable-root", str(tmp_path / "absent"), "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert hint_of(p) == "create the directory, or point --workspace/--writable-root at an existing one"


# --- unknown --rules names: every command that takes --rules lists the shipped sets ------------

RULES_COMMANDS = {
    "sandbox run": (sandbox, ["run", "--rules", "pyhton", "--", "true"], 2),
    "sandbox plan": (sandbox, ["plan", "--rules", "pyhton", "--", "true"], 2),
    "sandbox mcp": (sandbox, ["mcp", "--rules", "pyhton"], 2),
    "sandbox proxy": (sandbox, ["proxy", "--rules", "pyhton", "--listen", "127.0.0.1:0"], 2),
    # execpolicy keeps Codex's status for a rules file that cannot be loaded (docs/rules.md).
    "execpolicy check": (execpolicy, ["check", "--rules", "pyhton", "--", "ls"], 1),
    "execpolicy decide": (execpolicy, ["decide", "--rules", "pyhton", "--", "ls"], 1),
}


@pytest.mark.parametrize("name", RULES_COMMANDS, ids=list(RULES_COMMANDS))
def test_unknown_rule_set_name_lists_the_shipped_sets_once(name, tmp_path):
    tool, args, code = RULES_COMMANDS[name]
    p = tool(*args, cwd=tmp_path)
    assert p.returncode == code, p.stderr
    listed = [ln for ln in lines(p) if "shipped sets: " in ln]
    assert len(listed) == 1, p.stderr
    assert "no rules file 'pyhton'" in listed[0]
    assert all(n in listed[0].split("shipped sets: ", 1)[1] for n in SHIPPED)


def test_library_load_policy_lists_the_shipped_sets():
    from cordon.policy import PolicyError, load_policy

    with pytest.raises(PolicyError) as e:
        load_policy("pyhton")
    assert str(e.value).startswith("no rules file 'pyhton' and no shipped set of that name; shipped sets: ")
    assert all(n in str(e.value) for n in SHIPPED)
    with pytest.raises(PolicyError) as e:  # a path is a path: no list
        load_policy("./missing.rules")
    assert "shipped sets" not in str(e.value)


def test_broken_rules_file_hint_is_the_linter(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text("prefix_rule(pattern=[1])\n")
    p = sandbox("run", "--rules", str(bad), "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert f"{bad}:1:" in p.stderr
    assert hint_of(p) == f"`execpolicy lint {bad}` lists every problem with file:line:col"


# --- 125: a valid request that could not be confined -----------------------------------------


def test_valid_request_that_cannot_be_confined_exits_125(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    p = sandbox("run", "--", *marker_command(tmp_path), cwd=tmp_path, PATH=str(empty))
    assert p.returncode == 125
    assert "Refusing to run unconfined" in p.stderr and not (tmp_path / "RAN").exists()
    assert hint_of(p).startswith("install bubblewrap")


# --- otherwise the command's own status --------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.skipif(sys.platform != "linux", reason="runs the Linux sandbox")
@pytest.mark.parametrize("status", [0, 1, 2, 125, 126])
def test_the_commands_own_status_passes_through(status, tmp_path):
    """Even 2 and 125: a command may exit with them; they are not Cordon's then (no message)."""
    p = sandbox("run", "--", "/bin/sh", "-c", f"exit {status}", cwd=tmp_path)
    assert p.returncode == status
    assert "sandbox:" not in p.stderr


# --- sandbox mcp: everything validated before serving ----------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["--approval", "sometimes"], "--approval: unknown approval policy 'sometimes'"),
        (["--approval", "never:rules=false"], "takes no options"),
        (["--mode", "danger-full-access"], "--mode must be read-only or workspace-write"),
        (["--network", "proxy"], "--network must be off or on"),
        (["--allow-domain", "a..b"], "invalid network pattern 'a..b'"),
        (["--timeout", "0"], "--timeout must be a positive number"),
    ],
)
def test_mcp_rejects_bad_flags_before_serving(args, message, tmp_path):
    p = sandbox("mcp", "--workspace", str(tmp_path), *args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert "MCP server on stdio" not in p.stderr  # never started


def test_mcp_without_a_usable_mcp_package_says_how_to_fix_it(tmp_path):
    """An environment holding mcp 1.x (no mcp.server.mcpserver): exit 2 with the install command,
    before the banner, instead of a traceback once a client connects."""
    old = tmp_path / "old-mcp" / "mcp" / "server"
    old.mkdir(parents=True)
    (old.parent / "__init__.py").write_text("")
    (old / "__init__.py").write_text("")
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "mcp", "--workspace", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=f"{repo}:{tmp_path / 'old-mcp'}"),
    )
    assert p.returncode == 2, p.stderr
    assert "the `mcp` package (2.x, a dependency of cordon-sandbox) cannot be imported" in p.stderr
    assert hint_of(p).startswith("pip install 'mcp>=2.3,<3'")
    assert "Traceback" not in p.stderr and "MCP server on stdio" not in p.stderr


def test_mcp_help_lists_every_approval_policy():
    from cordon.vocabulary import APPROVAL_POLICIES as APPROVAL_KINDS

    p = run_module("cordon.sandbox", "mcp", "--help", COLUMNS="200")
    text = " ".join(p.stdout.split())
    for kind in APPROVAL_KINDS:
        assert kind in text
    assert "granular:rules=BOOL,sandbox_approval=BOOL" in text


@pytest.mark.parametrize("value", ["granular", "granular:rules=false,sandbox_approval=true", "never"])
def test_mcp_accepts_every_documented_approval(value, tmp_path):
    """A valid --approval gets past validation: the server starts and exits on end of input."""
    p = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "mcp", "--workspace", str(tmp_path), "--approval", value],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    assert p.returncode == 0, p.stderr
    assert "MCP server on stdio" in p.stderr


# --- sandbox doctor reads the configuration run reads -----------------------------------------


def test_doctor_reports_an_invalid_project_file_like_run(tmp_path):
    cfg = tmp_path / ".cordon.toml"
    cfg.write_text('mode = "sideways"\n')
    p = sandbox("doctor", "--json", cwd=tmp_path)
    assert p.returncode == 2
    d = json.loads(p.stdout)
    assert d["config_files"][-1] == str(cfg) and d["run_engine"] == "error"
    assert f"{cfg} [mode]" in d["config_error"]
    human = sandbox("doctor", cwd=tmp_path)
    assert human.returncode == 2 and f"config: {cfg}" in human.stdout and "INVALID" in human.stdout


def test_doctor_uses_the_project_files_mode(tmp_path):
    """A trusted-or-not project file may only tighten; --config (explicit) may say anything."""
    (tmp_path / ".cordon.toml").write_text('mode = "read-only"\n')
    d = json.loads(sandbox("doctor", "--json", cwd=tmp_path).stdout)
    assert d["config_files"] == [str(tmp_path / ".cordon.toml")] and d["config_error"] is None
    wide = tmp_path / "wide.toml"
    wide.write_text('mode = "danger-full-access"\n')
    p = sandbox("doctor", "--json", "--config", str(wide), cwd=tmp_path)
    d = json.loads(p.stdout)
    assert p.returncode == 0 and d["run_engine"] == "none" and "UNCONFINED" in d["explanation"]
    assert d["config_files"][-1] == str(wide)


def test_doctor_finds_the_project_file_from_a_subdirectory(tmp_path):
    (tmp_path / ".cordon.toml").write_text("mode = [\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    p = sandbox("doctor", cwd=sub)
    assert p.returncode == 2 and "invalid TOML" in p.stdout
