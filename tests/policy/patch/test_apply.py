"""Applying patches: all-or-nothing under real failures, and Codex's write semantics."""

from __future__ import annotations

import os
import resource
import signal
import stat
import sys
from pathlib import Path

import pytest
from cordon.policy.patch import apply_patch

from tests.policy.patch.casefmt import snapshot

REPO = Path(__file__).resolve().parents[3]


def P(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


@pytest.fixture
def locked_dir(request):
    """A directory the unprivileged identity may enter but not write (mode 0555: that holds even for
    its owner when the suite itself runs unprivileged; root ignores it)."""

    def make(parent: Path, **files: str) -> Path:
        d = parent / "locked"
        d.mkdir()
        for name, text in files.items():
            (d / name).write_text(text)
        os.chmod(d, 0o555)
        request.addfinalizer(lambda: os.chmod(d, 0o755))  # so the scratch cleanup can remove it
        return d

    return make


def _limit_file_size() -> None:
    # Real kernel failure mid-commit: writes past 64 KiB fail with EFBIG (SIGXFSZ ignored).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_failure_during_commit_rolls_everything_back(identity):
    ws = identity.workspace
    (ws / "keep.txt").write_text("one\ntwo\n")
    (ws / "gone.txt").write_text("bye\n")
    for p in ws.iterdir():
        os.chown(p, identity.uid, identity.gid)
    before = snapshot(ws)
    big = "+" + "x" * 1000
    patch = P(
        "*** Update File: keep.txt",
        "@@",
        "-two",
        "+TWO",
        "*** Delete File: gone.txt",
        "*** Add File: newdir/sub/small.txt",
        "+hi",
        "*** Add File: big.txt",
        *([big] * 100),  # ~100 KB: passes staging, fails for real when written
    )
    proc = identity.run(
        [sys.executable, "-m", "cordon.policy", "patch", "apply", "--cwd", str(ws)],
        input=patch,
        cwd=REPO,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"Failed to write file {ws}/big.txt\n"
    assert snapshot(ws) == before  # the update, the delete and the new directories are all undone
    assert not any(name.startswith(".") for name in os.listdir(ws))  # no parked leftovers


def test_unwritable_directory_fails_before_anything_is_written(identity, scratch, locked_dir):
    ws = identity.workspace
    (ws / "a.txt").write_text("x\n")
    os.chown(ws / "a.txt", identity.uid, identity.gid)
    locked = locked_dir(scratch)
    patch = P("*** Update File: a.txt", "@@", "-x", "+y", f"*** Add File: {locked}/new.txt", "+z")
    proc = identity.run([sys.executable, "-m", "cordon.policy", "patch", "apply"], input=patch, cwd=ws)
    if identity.is_root:
        assert proc.returncode == 0, proc.stderr
        assert (ws / "a.txt").read_text() == "y\n"
        assert (locked / "new.txt").read_text() == "z\n"
    else:
        assert proc.returncode == 1
        assert proc.stderr == f"Failed to write file {locked}/new.txt\n"
        assert (ws / "a.txt").read_text() == "x\n"  # Codex would have left this updated
        assert not (locked / "new.txt").exists()


def test_write_keeps_inode_mode_and_links(tmp_path):
    f = tmp_path / "script.sh"
    f.write_text("echo a\n")
    os.chmod(f, 0o751)
    os.link(f, tmp_path / "other-name")
    os.symlink("script.sh", tmp_path / "alias")
    inode = f.stat().st_ino
    result = apply_patch(P("*** Update File: alias", "@@", "-echo a", "+echo b"), cwd=tmp_path)
    assert result.exit_code == 0
    assert (tmp_path / "alias").is_symlink()  # written through, like Codex's fs::write
    assert f.stat().st_ino == inode
    assert stat.S_IMODE(f.stat().st_mode) == 0o751
    assert (tmp_path / "other-name").read_text() == "echo b\n"


def test_result_lists_changes_and_default_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").write_text("x\n")
    (tmp_path / "d").write_text("x\n")
    result = apply_patch(
        P("*** Add File: a", "+1", "*** Update File: m", "@@", "-x", "+y", "*** Delete File: d")
    )
    assert (result.added, result.modified, result.deleted) == (["a"], ["m"], ["d"])
    assert result.stdout == "Success. Updated the following files:\nA a\nM m\nD d\n"


@pytest.mark.parametrize(
    ("content", "patch_lines", "expected"),
    [
        ("a\r\nb\r\n", ("@@", "-a", "+A", "+A2"), "A\r\nA2\r\nb\r\n"),
        ("a\nb", ("@@", "-b", "+B"), "a\nB\n"),
        ("", ("@@", "+first"), "first\n"),
        ("x\n", ("@@", "-x"), ""),
    ],
)
def test_line_endings(tmp_path, content, patch_lines, expected):
    (tmp_path / "f").write_bytes(content.encode())
    result = apply_patch(P("*** Update File: f", *patch_lines), cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "f").read_bytes() == expected.encode()


def test_move_out_of_unwritable_directory(identity, scratch, locked_dir):
    """Codex writes the destination, then fails to remove the source and leaves both; Cordon fails
    first. An in-place update of a writable file in that directory works, as in Codex."""
    ws = identity.workspace
    locked = locked_dir(scratch, a="x\n")
    os.chmod(locked / "a", 0o666)
    move = P(f"*** Update File: {locked}/a", "*** Move to: b", "@@", "-x", "+y")
    proc = identity.run([sys.executable, "-m", "cordon.policy", "patch", "apply"], input=move, cwd=ws)
    if identity.is_root:
        assert proc.returncode == 0, proc.stderr
        assert (ws / "b").read_text() == "y\n" and not (locked / "a").exists()
        return
    assert (proc.returncode, proc.stderr) == (1, f"Failed to remove original {locked}/a\n")
    assert not (ws / "b").exists()
    assert (locked / "a").read_text() == "x\n"
    edit = P(f"*** Update File: {locked}/a", "@@", "-x", "+z")
    proc = identity.run([sys.executable, "-m", "cordon.policy", "patch", "apply"], input=edit, cwd=ws)
    assert proc.returncode == 0, proc.stderr
    assert (locked / "a").read_text() == "z\n"


# --- confine: Cordon's path checks enforced by the applier itself (beyond Codex) ---------------------


def test_confined_apply_refuses_escapes_and_changes_nothing(identity, scratch):
    ws = identity.workspace
    outside = scratch / "outside"
    outside.mkdir()
    os.chmod(outside, 0o777)
    os.symlink(outside, ws / "esc")
    (ws / "a.txt").write_text("x\n")
    for p in ws.iterdir():
        os.lchown(p, identity.uid, identity.gid)
    before = snapshot(ws)
    cli = [sys.executable, "-m", "cordon.policy", "patch", "apply", "--cwd", str(ws), "--confine"]
    for patch, message in (
        (
            P("*** Update File: a.txt", "@@", "-x", "+y", "*** Add File: esc/x", "+x"),
            "outside the writable roots",
        ),
        (P("*** Add File: .git/hooks/pre-commit", "+x"), "protected .git"),
        (P("*** Add File: ../sibling.txt", "+x"), "outside the writable roots"),
    ):
        proc = identity.run(cli, input=patch, cwd=REPO)
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr.startswith("Refused to write ") and message in proc.stderr, proc.stderr
        assert snapshot(ws) == before
        assert list(outside.iterdir()) == []
    # the same patch without --confine behaves like Codex and writes through the link
    ok = identity.run(cli[:-1], input=P("*** Add File: esc/x", "+x"), cwd=REPO)
    assert ok.returncode == 0 and (outside / "x").read_text() == "x\n"
    # and an extra root makes it legitimate
    ok = identity.run([*cli, "--writable-root", str(outside)], input=P("*** Add File: esc/y", "+y"), cwd=REPO)
    assert ok.returncode == 0, ok.stderr


def test_confined_commit_catches_a_symlink_swapped_in_after_staging(tmp_path):
    """A race: the directory is replaced by a symlink out of the root between staging and commit."""
    from cordon.policy.patch.apply import _commit, _guard, stage_patch
    from cordon.policy.patch.parser import parse_patch

    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "sub").mkdir(parents=True)
    outside.mkdir()
    (ws / "a.txt").write_text("x\n")
    (ws / "sub" / "f").write_text("old\n")
    patch = parse_patch(
        P("*** Update File: a.txt", "@@", "-x", "+y", "*** Update File: sub/f", "@@", "-old", "+new")
    )
    _, ops = stage_patch(patch, str(ws), _guard(str(ws), []))
    os.rename(ws / "sub", tmp_path / "parked")
    os.symlink(outside, ws / "sub")
    (outside / "f").write_text("old\n")
    failed, problems = _commit(ops)
    assert failed is not None and problems == []
    assert failed.message == f"Failed to write file {ws}/sub/f"
    assert (ws / "a.txt").read_text() == "x\n"  # rolled back
    assert (outside / "f").read_text() == "old\n"  # never written through the swapped-in link


def test_policy_exports_the_patch_api():
    """``cordon.policy`` exports the patch API, loaded on first use."""
    import cordon.policy.patch

    from cordon import policy

    assert policy.apply_patch is cordon.policy.patch.apply_patch
    assert policy.assess_patch is cordon.policy.patch.assess_patch
