"""``execpolicy patch apply|check``: the thin CLI over the library (JSON contract, exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PATCH = "*** Begin Patch\n*** Update File: a.txt\n@@\n-x\n+y\n*** Add File: sub/n.txt\n+n\n*** End Patch\n"


def run(*args: str, stdin: str = "", cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cordon.policy", "patch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_check_contract(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    proc = run(
        "check",
        "--cwd",
        str(tmp_path),
        "--sandbox",
        "workspace-write",
        "--approval",
        "on-request",
        stdin=PATCH,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"] == "auto-approve"
    assert out["sandboxed"] is True
    assert out["reason"] is None
    assert out["changes"] == [
        {"path": str(tmp_path / "a.txt"), "kind": "update", "movePath": None},
        {"path": str(tmp_path / "sub/n.txt"), "kind": "add", "movePath": None},
    ]
    assert (tmp_path / "a.txt").read_text() == "x\n"  # checking never applies


def test_check_flags(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    base = ["check", "--cwd", str(tmp_path), "--sandbox", "workspace-write"]
    out = json.loads(run(*base, "--approval", "never", "--no-platform-sandbox", stdin=PATCH).stdout)
    assert (out["decision"], out["reason"]) == (
        "reject",
        "writing outside of the project; rejected by user approval settings",
    )
    outside = tmp_path.parent / f"{tmp_path.name}-extra"
    outside.mkdir()
    patch = f"*** Begin Patch\n*** Add File: {outside}/f\n+x\n*** End Patch"
    assert json.loads(run(*base, "--approval", "never", stdin=patch).stdout)["decision"] == "reject"
    out = json.loads(run(*base, "--approval", "never", "--writable-root", str(outside), stdin=patch).stdout)
    assert out["decision"] == "auto-approve"


def test_check_finds_the_patch_in_a_command(tmp_path):
    (tmp_path / "sub").mkdir()
    script = "cd sub && apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: n\n+x\n*** End Patch\nEOF"
    proc = run(
        "check",
        "--cwd",
        str(tmp_path),
        "--sandbox",
        "workspace-write",
        "--approval",
        "never",
        "--",
        "bash",
        "-lc",
        script,
    )
    out = json.loads(proc.stdout)
    assert out["changes"][0]["path"] == str(tmp_path / "sub" / "n")
    proc = run(
        "check",
        "--cwd",
        str(tmp_path),
        "--sandbox",
        "workspace-write",
        "--approval",
        "never",
        "--",
        "ls",
        "-l",
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["kind"] == "not_patch"


def test_check_malformed_patch_is_a_located_error(tmp_path):
    bad = "*** Begin Patch\n*** Add File: a\n+x\nnot a header\n*** End Patch"
    proc = run(
        "check", "--cwd", str(tmp_path), "--sandbox", "workspace-write", "--approval", "never", stdin=bad
    )
    assert proc.returncode == 1
    err = json.loads(proc.stdout)["error"]
    assert err["kind"] == "invalid_hunk"
    assert err["line"] == 4
    assert err["message"].startswith("'not a header' is not a valid hunk header")
    # a patch that does not apply is refused before any safety verdict, as Codex does
    nope = "*** Begin Patch\n*** Update File: missing\n@@\n-a\n+b\n*** End Patch"
    proc = run(
        "check", "--cwd", str(tmp_path), "--sandbox", "workspace-write", "--approval", "never", stdin=nope
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["kind"] == "apply"


def test_check_rejects_unknown_policy_names(tmp_path):
    proc = run(
        "check", "--cwd", str(tmp_path), "--sandbox", "workspace-write", "--approval", "maybe", stdin=PATCH
    )
    assert proc.returncode == 2
    assert "unknown approval policy 'maybe'" in proc.stderr


def test_apply_from_file_and_bad_utf8(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    pf = tmp_path / "p.patch"
    pf.write_text(PATCH)
    proc = run("apply", "--cwd", str(tmp_path), "--file", str(pf))
    assert proc.returncode == 0
    assert proc.stdout == "Success. Updated the following files:\nA sub/n.txt\nM a.txt\n"
    assert (tmp_path / "a.txt").read_text() == "y\n"
    proc = subprocess.run(
        [sys.executable, "-m", "cordon.policy", "patch", "apply", "--cwd", str(tmp_path)],
        input=b"*** Begin Patch\n*** Add File: q\n+\xff\n*** End Patch",
        capture_output=True,
        cwd=REPO,
    )
    assert proc.returncode == 1
    assert b"not valid UTF-8" in proc.stderr
    assert not (tmp_path / "q").exists()


def test_fast_path_matches_the_typer_command(tmp_path):
    """The fast path (policy/fastpath.py, typer-free) behaves like the typer ``patch apply``."""
    code = "import sys; from cordon.policy.__main__ import main_fast; r = main_fast(['patch', 'apply', *sys.argv[1:]]); sys.exit(99 if r is None else r)"
    typer_code = "import sys; from cordon.policy.cli import app; app(args=['patch', 'apply', *sys.argv[1:]], prog_name='execpolicy')"
    cases = (
        ([], PATCH),
        (["--cwd", "."], "junk"),
        (["--file", "missing.patch"], ""),
        (["--confine"], PATCH),
        (["--confine", "--writable-root", "/nonexistent"], PATCH.replace("sub/n.txt", "../escape.txt")),
    )
    for args, stdin in cases:
        outs = []
        for argv in (
            [sys.executable, "-c", code, *args],
            [sys.executable, "-c", typer_code, *args],
        ):
            for name in ("a.txt", "sub/n.txt"):
                (tmp_path / name).unlink(missing_ok=True)
            (tmp_path / "a.txt").write_text("x\n")
            p = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            outs.append((p.returncode, p.stdout, p.stderr, (tmp_path / "a.txt").read_text()))
        assert outs[0] == outs[1], args
    p = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 99  # not handled: falls through to typer
