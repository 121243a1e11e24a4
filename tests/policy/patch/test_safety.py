"""Patch safety: Codex's decision table, protected metadata, and Cordon's link checks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from cordon.policy.errors import PatchError
from cordon.policy.patch import assess_patch, detect_patch
from cordon.policy.patch.safety import REASON_EMPTY, REASON_OUTSIDE, REASON_READ_ONLY

REPO = Path(__file__).resolve().parents[3]


def P(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


ADD = P("*** Add File: new.txt", "+x")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    (d / "a.txt").write_text("x\n")
    return d


def verdict(patch: str, ws: Path, **kw) -> tuple[str, bool, str | None]:
    kw.setdefault("sandbox", "workspace-write")
    kw.setdefault("approval", "on-request")
    a = assess_patch(patch, cwd=ws, **kw)
    return a.decision, a.sandboxed, a.reason


# --- Codex's decision table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approval", "inside", "outside"),
    [
        ("untrusted", "ask", "ask"),
        ("on-request", "auto-approve", "ask"),
        ("granular", "auto-approve", "ask"),
        ("granular:sandbox_approval=false", "auto-approve", "reject"),
        ("never", "auto-approve", "reject"),
        ("on-failure", "auto-approve", "auto-approve"),  # legacy: on-failure skipped the path check
    ],
)
def test_decision_table_with_platform_sandbox(ws, approval, inside, outside):
    assert verdict(ADD, ws, approval=approval)[0] == inside
    assert verdict(P("*** Add File: ../escape.txt", "+x"), ws, approval=approval)[0] == outside


@pytest.mark.parametrize(
    ("approval", "expected"), [("on-request", "ask"), ("never", "reject"), ("untrusted", "ask")]
)
def test_no_platform_sandbox_means_no_auto_approval(ws, approval, expected):
    decision, sandboxed, reason = verdict(ADD, ws, approval=approval, platform_sandbox=False)
    assert (decision, sandboxed) == (expected, False)
    if expected == "reject":
        assert reason == REASON_OUTSIDE


def test_auto_approval_is_sandboxed_unless_full_access(ws):
    assert verdict(ADD, ws)[:2] == ("auto-approve", True)
    assert verdict(ADD, ws, sandbox="danger-full-access")[:2] == ("auto-approve", False)
    assert (
        verdict(P("*** Add File: /etc/cordon-x", "+x"), ws, sandbox="danger-full-access", verify=False)[0]
        == "auto-approve"
    )


def test_reject_reasons(ws):
    assert verdict(ADD, ws, approval="never", sandbox="read-only") == ("reject", False, REASON_READ_ONLY)
    assert verdict(P("*** Add File: /etc/x", "+x"), ws, approval="never", verify=False) == (
        "reject",
        False,
        REASON_OUTSIDE,
    )
    assert verdict(P(), ws) == ("reject", False, REASON_EMPTY)


def test_every_path_is_checked(ws, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x\n")
    # the move destination, the move source (it gets deleted), a delete
    for patch in (
        P("*** Update File: a.txt", f"*** Move to: {tmp_path}/moved.txt", "@@", "-x", "+y"),
        P(f"*** Update File: {outside}", "*** Move to: inside.txt", "@@", "-x", "+y"),
        P(f"*** Delete File: {outside}"),
        P("*** Add File: sub/../../escape", "+x"),
    ):
        assert verdict(patch, ws, approval="never")[0] == "reject", patch


def test_writable_roots_extend_the_cwd(ws, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    patch = P(f"*** Add File: {extra}/f", "+x")
    assert verdict(patch, ws, approval="never")[0] == "reject"
    assert verdict(patch, ws, approval="never", writable_roots=[str(extra)])[0] == "auto-approve"


@pytest.mark.parametrize("name", [".git", ".codex", ".agents"])
@pytest.mark.parametrize("exists", [True, False])
def test_protected_metadata_even_when_absent(ws, name, exists):
    if exists:
        (ws / name).mkdir()
    patch = P(f"*** Add File: {name}/config", "+x")
    decision, _, reason = verdict(patch, ws)
    assert decision == "ask"
    assert name in reason
    assert verdict(patch, ws, approval="never")[0] == "reject"
    # a move into it is caught too; a same-named directory deeper down is fine
    assert verdict(P("*** Update File: a.txt", f"*** Move to: {name}/x", "@@", "-x", "+y"), ws)[0] == "ask"
    assert verdict(P(f"*** Add File: sub/{name}/x", "+x"), ws)[0] == "auto-approve"


def test_gitdir_pointer_target_is_protected(ws, tmp_path):
    real_git = tmp_path / "main-repo" / ".git" / "worktrees" / "ws"
    real_git.mkdir(parents=True)
    (ws / ".git").write_text(f"gitdir: {real_git}\n")
    patch = P(f"*** Add File: {real_git}/HEAD", "+x")
    assert verdict(patch, ws, writable_roots=[str(tmp_path)])[0] == "ask"


def test_patch_must_apply_before_it_is_assessed(ws):
    with pytest.raises(PatchError) as info:
        assess_patch(
            P("*** Update File: a.txt", "@@", "-nope", "+y"),
            cwd=ws,
            sandbox="workspace-write",
            approval="never",
        )
    assert info.value.kind == "apply"
    assert verdict(P("*** Update File: a.txt", "@@", "-nope", "+y"), ws, verify=False)[0] == "auto-approve"
    with pytest.raises(PatchError) as info:
        assess_patch("junk", cwd=ws, sandbox="workspace-write", approval="never")
    assert info.value.kind == "invalid_patch"


def test_cd_prefix_moves_the_effective_cwd(ws):
    (ws / "sub").mkdir()
    found = detect_patch(["bash", "-lc", "cd sub && apply_patch <<'EOF'\n" + ADD + "\nEOF"])
    assessment = assess_patch(
        found.patch, cwd=found.effective_cwd(ws), sandbox="workspace-write", approval="never"
    )
    assert assessment.changes[0].path == str(ws / "sub" / "new.txt")
    assert assessment.decision == "auto-approve"


def test_bad_policy_names_are_value_errors(ws):
    with pytest.raises(ValueError, match="unknown approval"):
        assess_patch(ADD, cwd=ws, sandbox="workspace-write", approval="sometimes")
    with pytest.raises(ValueError, match="unknown sandbox"):
        assess_patch(ADD, cwd=ws, sandbox="open", approval="never")


# --- Beyond Codex: links, attacked as root and as the unprivileged user -------------------------------


def check_as(identity, patch: str, cwd: Path, *extra: str):
    proc = identity.run(
        [
            sys.executable,
            "-m",
            "cordon.policy",
            "patch",
            "check",
            "--cwd",
            str(cwd),
            "--sandbox",
            "workspace-write",
            "--approval",
            "never",
            *extra,
        ],
        input=patch,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def link_fixture(identity, scratch: Path) -> tuple[Path, Path]:
    ws = identity.workspace
    outside = scratch / "outside"
    outside.mkdir()
    os.chmod(outside, 0o777)
    (outside / "secret.txt").write_text("x\n")
    os.chmod(outside / "secret.txt", 0o666)
    os.symlink(outside, ws / "linkdir")
    os.symlink(outside / "secret.txt", ws / "linkfile")
    (ws / ".git").mkdir()
    os.symlink(ws / ".git", ws / "gitlink")
    (ws / "plain.txt").write_text("x\n")
    os.link(outside / "secret.txt", ws / "hard.txt")
    for p in ws.iterdir():
        os.lchown(p, identity.uid, identity.gid)
    return ws, outside


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        (P("*** Add File: linkdir/new.txt", "+x"), "outside the writable roots"),
        (P("*** Add File: linkdir/deeper/new.txt", "+x"), "outside the writable roots"),
        (P("*** Update File: linkfile", "@@", "-x", "+y"), "outside the writable roots"),
        (P("*** Add File: gitlink/hooks/pre-commit", "+x"), "protected .git"),
        (P("*** Update File: hard.txt", "@@", "-x", "+y"), "hard links"),
        (P("*** Update File: plain.txt", "*** Move to: linkdir/moved.txt", "@@", "-x", "+y"), "outside"),
    ],
)
def test_link_escapes_are_not_auto_approved(identity, scratch, patch, problem):
    ws, outside = link_fixture(identity, scratch)
    # Codex's lexical check alone would approve all of these: every path is spelled inside ws.
    assert assess_patch(
        patch, cwd=ws, sandbox="workspace-write", approval="never", link_checks=False
    ).decision == ("auto-approve")
    result = check_as(identity, patch, ws)
    assert result["decision"] == "reject"
    assert result["reason"] == REASON_OUTSIDE
    assert any(problem in p["problem"] for p in result["problems"]), result
    assert (outside / "secret.txt").read_text() == "x\n"  # assessment never writes


def test_harmless_links_still_auto_approve(identity, scratch):
    ws, _ = link_fixture(identity, scratch)
    inner = ws / "inner"
    inner.mkdir()
    os.lchown(inner, identity.uid, identity.gid)
    os.symlink(inner, ws / "innerlink")
    # deleting a hard-linked file or a symlink writes through nothing; a symlink inside the root is fine
    for patch in (
        P("*** Delete File: hard.txt"),
        P("*** Delete File: linkfile"),
        P("*** Add File: innerlink/x", "+x"),
    ):
        assert check_as(identity, patch, ws)["decision"] == "auto-approve", patch
    # a symlinked cwd is resolved consistently
    os.symlink(ws, scratch / "ws-alias")
    assert check_as(identity, ADD, scratch / "ws-alias")["decision"] == "auto-approve"
