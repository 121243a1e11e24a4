"""`execpolicy` for a first-time user: every --help ends with working examples, errors name a next
step, and shell completion is there. Real subprocesses through ``python -m policy`` (the console
script's entry point, hand-parsed hot paths included)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cordon.policy.cli import app as _app

from tests.support.cli import REPO, cli_env, command_paths, examples, run_module

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"


def _env(**extra: str) -> dict[str, str]:
    return cli_env(**extra)


def execpolicy(*args: str, cwd: Path | str = REPO, **env: str) -> subprocess.CompletedProcess:
    return run_module("cordon.policy", *args, cwd=cwd, timeout=60, **env)


PATHS = command_paths(_app)


def test_every_command_is_covered():
    names = {" ".join(p) for p in PATHS}
    assert {"", "check", "decide", "assess", "lint", "rules list", "rules show", "patch apply"} <= names
    assert {"patch check", "version"} <= names


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "execpolicy" for p in PATHS])
def test_help_ends_with_examples(path):
    p = execpolicy(*path, "--help")
    assert p.returncode == 0, p.stderr
    ex = examples(p.stdout)
    assert 2 <= len(ex) <= 4, (path, ex)
    # Real invocations of this tool (or of its sibling), not prose.
    # (and, as examples() takes every line after the last header, they end the help text)
    assert all(e.split()[0] in ("execpolicy", "sandbox") for e in ex), ex


def test_top_level_help_mentions_completion():
    out = execpolicy("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


def test_show_completion_prints_a_bash_script():
    p = execpolicy("--show-completion", "bash", SHELL="/bin/bash")
    assert p.returncode == 0, p.stderr
    assert "_execpolicy_completion()" in p.stdout and "complete " in p.stdout
    # And the completion protocol the script uses answers.
    p = execpolicy(_EXECPOLICY_COMPLETE="complete_bash", COMP_WORDS="execpolicy rules l", COMP_CWORD="2")
    assert p.stdout.split() == ["list"]


# Examples that need what this machine has not (the network) are not run; everything else is.
def _runnable(line: str) -> bool:
    return line.startswith("execpolicy ")


def _workdir(tmp_path: Path) -> Path:
    """A directory with the files the examples name (my.rules, base.rules, change.patch...)."""
    from cordon.policy.shipped import list_shipped

    shipped = list_shipped()
    d = tmp_path / "w"
    d.mkdir(parents=True)
    shutil.copy(shipped["default"], d / "my.rules")
    shutil.copy(shipped["default"], d / "base.rules")
    shutil.copy(shipped["python"], d / "extra.rules")
    (d / "change.patch").write_text(PATCH)
    return d


def test_examples_run(tmp_path):
    seen: set[str] = set()
    ran = 0
    for path in PATHS:
        for i, line in enumerate(examples(execpolicy(*path, "--help").stdout)):
            if line in seen or not _runnable(line):
                continue
            seen.add(line)
            cwd = _workdir(tmp_path / f"{'-'.join(path) or 'top'}-{i}")
            p = subprocess.run(
                ["bash", "-c", line],
                cwd=cwd,
                env=_env(XDG_CACHE_HOME=str(tmp_path / "cache")),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert p.returncode == 0, (line, p.stdout, p.stderr)
            ran += 1
    assert ran >= 15, ran
    for wanted in (
        "execpolicy check --rules default -- git push --force origin main",
        "execpolicy rules list",
        "execpolicy patch apply --cwd . --file change.patch",
    ):
        assert wanted in seen


def test_check_unknown_set_name_gets_a_hint():
    p = execpolicy("check", "--rules", "defualt", "--", "ls")
    assert p.returncode == 1
    assert p.stderr.startswith("Error: failed to read policy at defualt\n")
    assert "hint: no rules file 'defualt'" in p.stderr and "default" in p.stderr
    assert p.stderr.rstrip().endswith("(see `execpolicy rules list`)")


def test_check_missing_file_keeps_codex_bytes(tmp_path):
    """A missing ``x.rules`` prints exactly what Codex prints (the conformance suite's contract)."""
    p = execpolicy("check", "-r", "missing.rules", "git", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr == (
        "Error: failed to read policy at missing.rules\n\nCaused by:\n    No such file or directory (os error 2)\n"
    )


def test_decide_errors_name_the_next_step(tmp_path):
    p = execpolicy("decide", "--rules", "defualt", "--", "ls")
    assert p.returncode == 1
    assert p.stderr.rstrip().endswith("(see `execpolicy rules list`)")

    (tmp_path / "d").mkdir()
    p = execpolicy("decide", "--rules", str(tmp_path / "d"), "--", "ls")
    assert p.returncode == 1
    assert "hint: --rules takes a readable .rules file or a shipped set name" in p.stderr

    bad = tmp_path / "bad.rules"
    bad.write_text("prefix_rule(\n")
    p = execpolicy("decide", "--rules", str(bad), "--", "ls")
    assert p.returncode == 1
    assert f"{bad}:" in p.stderr
    assert p.stderr.rstrip().endswith(f"`execpolicy lint {bad}` lists every problem with file:line:col")


def test_usage_errors_say_what_to_type():
    p = execpolicy("assess")
    assert p.returncode == 2 and "For example: execpolicy assess -- git status" in p.stderr
    p = execpolicy("assess", "--bogus")
    assert p.returncode == 2 and "execpolicy assess -- CMD..." in p.stderr
    p = execpolicy("check", "ls")
    assert p.returncode == 2 and p.stderr.rstrip().endswith("For more information, try '--help'.")
    p = execpolicy("rules", "show", "nope")
    assert p.returncode == 2 and "execpolicy rules list" in p.stderr


def test_patch_apply_unreadable_file_says_what_to_pass(tmp_path):
    p = execpolicy("patch", "apply", "--cwd", str(tmp_path), "--file", str(tmp_path / "nope.patch"))
    assert p.returncode == 1
    assert p.stderr.rstrip().endswith("(pass a readable --file, or the patch on stdin)")
    assert list(tmp_path.iterdir()) == []
