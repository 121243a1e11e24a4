"""Finding an apply_patch invocation inside a command (Codex's accepted and rejected shapes)."""

from __future__ import annotations

import pytest
from cordon.policy.patch import detect_patch
from cordon.policy.patch.detect import IMPLICIT_MESSAGE

PATCH = "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch"


def heredoc(prefix: str = "", delim: str = "EOF", suffix: str = "") -> str:
    return f"{prefix}apply_patch <<{delim}\n{PATCH}\n{delim.strip(chr(39) + chr(34))}{suffix}"


@pytest.mark.parametrize("name", ["apply_patch", "applypatch"])
def test_direct_argv(name):
    found = detect_patch([name, PATCH])
    assert found.status == "patch" and found.workdir is None
    assert found.patch.hunks[0].path == "a"


@pytest.mark.parametrize(
    ("argv", "workdir"),
    [
        (["bash", "-lc", heredoc()], None),
        (["/bin/zsh", "-c", heredoc(delim="'PATCH'")], None),
        (["sh", "-c", heredoc(delim='"END"')], None),
        (["bash", "-lc", heredoc("cd src && ")], "src"),
        (["bash", "-lc", heredoc('cd "my dir" && ')], "my dir"),
        (["bash", "-lc", heredoc("cd '/abs/x' && ")], "/abs/x"),
        (["pwsh", "-Command", heredoc()], None),
        (["powershell.exe", "-NoProfile", "-Command", heredoc()], None),
        (["cmd", "/c", heredoc()], None),
    ],
)
def test_shell_heredoc_forms(argv, workdir):
    found = detect_patch(argv)
    assert found.status == "patch", found
    assert found.workdir == workdir
    assert found.patch.hunks[0].path == "a"


@pytest.mark.parametrize(
    "script",
    [
        heredoc("cd foo; "),
        heredoc("cd foo || "),
        heredoc("echo foo && "),
        heredoc(suffix=" && echo done"),
        heredoc(suffix="\necho done"),
        heredoc("cd a b && "),
        heredoc("cd a && cd b && "),
        heredoc('cd "$HOME" && '),
        "apply_patch foo <<EOF\n" + PATCH + "\nEOF",
        "echo hi",
    ],
)
def test_rejected_shapes_are_ordinary_commands(script):
    assert detect_patch(["bash", "-lc", script]).status == "not_patch"


def test_other_flags_and_shells_are_not_patches():
    assert detect_patch(["bash", "-x", heredoc()]).status == "not_patch"
    assert detect_patch(["python3", "-c", heredoc()]).status == "not_patch"
    assert detect_patch(["apply_patch"]).status == "not_patch"


def test_malformed_body_is_a_patch_parse_error_with_line():
    found = detect_patch(["apply_patch", "*** Begin Patch\nbogus\n*** End Patch"])
    assert found.status == "patch_parse_error"
    assert found.error.line == 2


def test_implicit_patches_are_refused():
    for argv in ([PATCH], ["bash", "-lc", PATCH]):
        found = detect_patch(argv)
        assert found.status == "implicit"
        assert found.error.message == IMPLICIT_MESSAGE


def test_effective_cwd_joins_relative_and_keeps_absolute():
    rel = detect_patch(["bash", "-lc", heredoc("cd sub && ")])
    assert rel.effective_cwd("/ws") == "/ws/sub"
    absolute = detect_patch(["bash", "-lc", heredoc("cd /other && ")])
    assert absolute.effective_cwd("/ws") == "/other"
