"""`sandbox` for a first-time user: every --help ends with working examples, errors name a next
step, a status line appears only for slow work, and shell completion is there. Real subprocesses
through ``python -m sandbox`` (the console script's entry point, ``run``'s hand parser included)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cordon.sandbox.cli import app as _app

from tests.support.cli import REPO, cli_env, command_paths, examples, run_module


def _env(**extra: str) -> dict[str, str]:
    return cli_env(**extra)


def sandbox(*args: str, cwd: Path | str = REPO, **env: str) -> subprocess.CompletedProcess:
    return run_module("cordon.sandbox", *args, cwd=cwd, timeout=120, **env)


PATHS = command_paths(_app)


# --- --help ---------------------------------------------------------------------------------


def test_every_command_is_covered():
    names = {" ".join(p) for p in PATHS}
    assert {"", "run", "plan", "doctor", "proxy", "schema", "mcp", "windows-setup", "version"} <= names


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "sandbox" for p in PATHS])
def test_help_ends_with_examples(path):
    p = sandbox(*path, "--help")
    assert p.returncode == 0, p.stderr
    ex = examples(p.stdout)
    assert 2 <= len(ex) <= 4, (path, ex)
    # Every line after the header is a real invocation (so the examples end the help text).
    assert all(e.split()[0] in ("sandbox", "execpolicy") for e in ex), ex


def test_run_help_is_the_same_through_typer():
    """``sandbox.cli.app`` (embedders, tests) shows run's examples too, the same lines."""
    from cordon.sandbox.cli import app
    from cordon.sandbox.commands.run import USAGE
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["run", "--help"])
    assert r.exit_code == 0
    assert examples(r.output) == examples(USAGE) == examples(sandbox("run", "--help").stdout)


# Examples that need what this machine has not (internet, Windows) or that serve until killed.
SKIP = ("--allow-domain", "--network on", "sandbox proxy", "sandbox mcp", "npm ")


def _runnable(line: str) -> bool:
    if line.startswith("sandbox windows-setup") and "--print" not in line:
        return False
    return line.split()[0] in ("sandbox", "execpolicy") and not any(s in line for s in SKIP)


@pytest.mark.sandbox
def test_examples_run(tmp_path):
    seen: set[str] = set()
    ran = 0
    for path in PATHS:
        for i, line in enumerate(examples(sandbox(*path, "--help").stdout)):
            if line in seen or not _runnable(line):
                continue
            seen.add(line)
            if "make" in line.split() and "plan" not in line and shutil.which("make") is None:
                continue  # the example runs `make test`; this host has no make
            cwd = tmp_path / f"{'-'.join(path) or 'top'}-{i}"
            cwd.mkdir()
            (cwd / "Makefile").write_text("test:\n\t@echo tests pass\n")
            p = subprocess.run(
                ["bash", "-c", line],
                cwd=cwd,
                env=_env(XDG_CACHE_HOME=str(tmp_path / "cache")),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert p.returncode == 0, (line, p.stdout, p.stderr)
            ran += 1
    assert ran >= 10, ran
    for wanted in ("sandbox doctor", "sandbox plan --json -- make test", "sandbox schema --list"):
        assert wanted in seen


@pytest.mark.sandbox
def test_run_true_is_quiet(tmp_path):
    """The plain case prints nothing of its own: no status line, no hint."""
    # Warm the host-probe cache first: a first run on a loaded machine may rightly show a status line.
    sandbox("run", "--", "true", cwd=tmp_path)
    p = sandbox("run", "--", "true", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""


# --- shell completion -----------------------------------------------------------------------


def test_top_level_help_mentions_completion():
    out = sandbox("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


def test_show_completion_prints_a_bash_script():
    p = sandbox("--show-completion", "bash", SHELL="/bin/bash")
    assert p.returncode == 0, p.stderr
    assert "_sandbox_completion()" in p.stdout and "complete " in p.stdout
    # The protocol that script speaks answers with real candidates.
    p = sandbox(_SANDBOX_COMPLETE="complete_bash", COMP_WORDS="sandbox do", COMP_CWORD="1")
    assert p.stdout.split() == ["doctor"]
    p = sandbox(_SANDBOX_COMPLETE="complete_bash", COMP_WORDS="sandbox run --allow-g", COMP_CWORD="2")
    assert p.stdout.split() == ["--allow-git-write"]


# --- the status line ------------------------------------------------------------------------


def test_status_slow_block_prints_one_line():
    from cordon.sandbox.status import status

    out = io.StringIO()
    with status("probing this host", stream=out):
        time.sleep(1.3)
    assert out.getvalue() == "sandbox: probing this host...\n"


def test_status_fast_block_prints_nothing_and_leaves_no_thread():
    from cordon.sandbox.status import status

    before = threading.active_count()
    out = io.StringIO()
    with status("probing this host", stream=out):
        pass
    assert out.getvalue() == ""
    assert threading.active_count() == before


def test_status_survives_an_exception_and_a_closed_stream():
    from cordon.sandbox.status import status

    out = io.StringIO()
    out.close()
    with pytest.raises(KeyError), status("x", stream=out, delay=0.05):
        time.sleep(0.2)
        raise KeyError("the block's own error propagates")


def test_status_goes_to_stderr_by_default(capfd):
    from cordon.sandbox.status import status

    with status("starting the domain-filtering proxy", delay=0.1):
        time.sleep(0.4)
    out, err = capfd.readouterr()
    assert out == "" and err == "sandbox: starting the domain-filtering proxy...\n"


@pytest.fixture
def slow_bwrap(tmp_path):
    """A PATH whose bwrap answers the host probe (--version, --help) 1.5 s late, then is the real one."""
    real = shutil.which("bwrap")
    if real is None:
        pytest.skip("bubblewrap is not installed on this host")
    d = tmp_path / "slowbin"
    d.mkdir()
    (d / "bwrap").write_text(
        f'#!/bin/sh\ncase "$1" in --version|--help) sleep 1.5;; esac\nexec {real} "$@"\n'
    )
    (d / "bwrap").chmod(0o755)
    return f"{d}:/usr/bin:/bin"


@pytest.mark.sandbox
def test_slow_first_run_probe_shows_one_status_line(tmp_path, slow_bwrap):
    """A first run (empty cache) whose probe is slow says so once, on stderr; the output is intact."""
    ws = tmp_path / "ws"
    ws.mkdir()
    p = sandbox("run", "--", "echo", "hi", cwd=ws, PATH=slow_bwrap, XDG_CACHE_HOME=str(tmp_path / "c1"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hi\n"
    assert p.stderr.splitlines() == [
        "sandbox: setting up the sandbox (the first run probes this host for bubblewrap, "
        "user namespaces, Landlock)..."
    ]


@pytest.mark.sandbox
def test_slow_doctor_keeps_json_on_stdout(tmp_path, slow_bwrap):
    import json

    ws = tmp_path / "ws"  # not tmp_path: a bwrap inside the workspace is never used
    ws.mkdir()
    p = sandbox("doctor", "--json", cwd=ws, PATH=slow_bwrap, XDG_CACHE_HOME=str(tmp_path / "c2"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["bwrap"]["works"] is True
    assert p.stderr.splitlines() == [
        "sandbox: probing this host for bubblewrap, user namespaces, Landlock, seccomp..."
    ]


def test_proxy_start_is_wrapped():
    """`sandbox proxy` puts its start behind the status line (its start is fast here, so this is
    checked at the call site; the helper itself is tested above)."""
    src = (REPO / "sandbox" / "commands" / "proxy.py").read_text()
    assert 'with status("starting the domain-filtering proxy"):' in src


# --- errors that say what to do next --------------------------------------------------------


def test_bad_flags_point_at_help():
    p = sandbox("run", "--bogus", "--", "true")
    assert p.returncode == 2 and p.stderr.rstrip().endswith("(see `sandbox run --help`)")
    p = sandbox("run", "--mode", "sideways", "--", "true")
    assert p.returncode == 2 and "read-only" in p.stderr and "`sandbox run --help`" in p.stderr
    p = sandbox("run", "--mode")
    assert p.returncode == 2 and "--mode needs a value, e.g. --mode read-only" in p.stderr
    p = sandbox("run")
    assert p.returncode == 2 and "e.g. sandbox run -- make test" in p.stderr


@pytest.mark.sandbox
def test_unknown_rule_set_lists_the_shipped_ones(tmp_path):
    p = sandbox("run", "--rules", "defualt", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    (line,) = p.stderr.strip().splitlines()  # the error itself lists them: no second hint line
    assert line.startswith("sandbox: [rules]: no rules file 'defualt'") and "default" in line
    assert line.endswith("(see `execpolicy rules list`)")


@pytest.mark.sandbox
def test_domains_without_proxy_mode_say_which_flag(tmp_path):
    p = sandbox("run", "--network", "off", "--allow-domain", "pypi.org", "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert "--network proxy" in p.stderr.strip().splitlines()[-1]


@pytest.mark.sandbox
def test_bad_config_field_names_the_file_and_the_fix(tmp_path):
    cfg = tmp_path / "cordon.toml"
    cfg.write_text('mode = "sideways"\n')
    p = sandbox("run", "--config", str(cfg), "--", "true", cwd=tmp_path)
    assert p.returncode == 2
    assert f"{cfg} [mode]:" in p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        f"sandbox: hint: fix that entry in {cfg}; its keys are the `sandbox run` flags without the dashes"
    )


@pytest.mark.sandbox
def test_missing_bubblewrap_says_how_to_install_it(tmp_path):
    """No bwrap on PATH: refused (125, the command did not run) with the install command."""
    empty = tmp_path / "bin"
    empty.mkdir()
    marker = tmp_path / "ran"
    env = _env(PATH=str(empty))
    p = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/touch", str(marker)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 125
    assert not marker.exists()
    assert "apt-get install bubblewrap" in p.stderr.strip().splitlines()[-1]


@pytest.mark.sandbox
def test_no_user_namespaces_for_real_says_what_to_do(tmp_path):
    """Inside a bwrap with --disable-userns, bubblewrap cannot start: 125 with the reason and a fix."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed on this host")
    ws = str(tmp_path)
    outer = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", ws, ws]
    outer += ["--unshare-user", "--unshare-pid", "--disable-userns", "--die-with-parent", "--chdir", ws]
    argv = [*outer, "--", sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"]
    p = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 125, (p.stdout, p.stderr)
    assert "RAN" not in p.stdout
    last = p.stderr.strip().splitlines()[-1]
    assert "the command was not run" in last and "(ENOSPC)" in last
    assert "Next: this runs inside " in last and "run it outside" in last  # (this host may be a container)
    assert "Or: --fallback=landlock runs it with Landlock + seccomp only, which cannot enforce:" in last
    assert last.endswith("`sandbox doctor` shows what this host supports")


def test_doctor_without_bubblewrap_says_how_to_install_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    p = sandbox("doctor", cwd=tmp_path, PATH=str(empty))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[-2].startswith("sandbox run will use: refuse")
    assert lines[-1].startswith("next: install bubblewrap: apt-get install bubblewrap")
    # The JSON keeps its shape: no new key for the human hint.
    import json

    d = json.loads(sandbox("doctor", "--json", cwd=tmp_path, PATH=str(empty)).stdout)
    assert "next" not in d and d["run_engine"] == "refuse"


@pytest.mark.parametrize(
    "reason,fix",
    [
        ("user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0", "user.max_user_namespaces"),
        (
            "unprivileged user namespaces are disabled: /proc/sys/kernel/unprivileged_userns_clone is 0",
            "kernel.unprivileged_userns_clone=1",
        ),
        (
            "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)",
            "kernel.apparmor_restrict_unprivileged_userns=0",
        ),
        ("creating a user namespace is not permitted here (EPERM)", "--privileged"),
    ],
)
def test_no_user_namespaces_says_what_to_change(monkeypatch, reason, fix):
    """What `sandbox run` prints when bwrap could not set up (this host has user namespaces, so
    the probe's answer is replaced; the texts are what is under test)."""
    from cordon.sandbox.commands import run
    from cordon.sandbox.linux import diagnose, probe

    monkeypatch.setattr(probe, "userns_status", lambda: probe.UsernsStatus(False, reason))
    # A host outside any container (this test machine may itself be one).
    neutral = {
        "container": None,
        "user_namespace": False,
        "apparmor_restrict": None,
        "bwrap": "/usr/bin/bwrap",
    }
    monkeypatch.setattr(diagnose, "facts", lambda bwrap=None: dict(neutral))
    text = run._why_setup_failed()
    assert text.startswith(reason)
    assert fix in text
    assert "Or: --fallback=landlock runs it with Landlock + seccomp only, which cannot enforce:" in text
    assert text.endswith("`sandbox doctor` shows what this host supports")
