"""Cordon's applier against outputs recorded from the real Codex applier (cases/*.json, gen_cases.py).

Every case must give Codex's stdout, stderr and exit code, through the library and through
``execpolicy patch apply``. The resulting tree must be Codex's, except for the documented
deliberate differences: on failure Cordon leaves the tree unchanged (``rollback``), and a move onto
itself keeps the file (``move_to_self``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.patch import apply_patch

from tests.policy.patch.casefmt import build_tree, from_token, hand_over, load_cases, snapshot
from tests.support import identities

REPO = Path(__file__).resolve().parents[3]
ALL_CASES = load_cases()
CASES = [c for c in ALL_CASES if c.get("as") != "user"]
USER_CASES = [c for c in ALL_CASES if c.get("as") == "user"]


def test_enough_cases_recorded():
    assert len(CASES) >= 40
    assert len(USER_CASES) >= 5
    assert {c["difference"] for c in CASES} >= {None, "rollback", "move_to_self"}


def expected_tree(case: dict) -> dict:
    if case["difference"] == "rollback":
        return case["tree"]  # Codex left a half-applied tree; Cordon must leave it untouched
    if case["difference"] == "move_to_self":
        return case["cordon_tree"]
    return case["expected"]["tree"]


def files_only(tree: dict) -> dict:
    return {k: tree.get(k, v) for k, v in (("files", {}), ("symlinks", {}), ("dirs", []))}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = (tmp_path / "ws").resolve()
    r.mkdir()
    return r


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_library_matches_codex(case: dict, root: Path):
    build_tree(root, case["tree"])
    assert snapshot(root) == case["tree"]
    result = apply_patch(case["patch"], cwd=root)
    exp = case["expected"]
    assert result.stdout == exp["stdout"]
    assert result.stderr == from_token(exp["stderr"], root)
    assert result.exit_code == exp["exit_code"]
    assert snapshot(root) == expected_tree(case)
    if case["difference"] == "rollback":
        assert result.rolled_back is False  # failed while staging: nothing was ever written
        assert exp["tree"] != case["tree"]  # ...whereas Codex did write


# Each CLI run pays the interpreter and typer start-up (~0.3-0.6 s), so the CLI replays every third
# case plus every deliberate difference; the library replays them all.
CLI_CASES = [c for i, c in enumerate(CASES) if i % 3 == 0 or c["difference"]]


@pytest.mark.slow
@pytest.mark.parametrize("case", CLI_CASES, ids=[c["name"] for c in CLI_CASES])
def test_cli_matches_codex(case: dict, root: Path):
    build_tree(root, case["tree"])
    proc = subprocess.run(
        [sys.executable, "-m", "cordon.policy", "patch", "apply", "--cwd", str(root)],
        input=case["patch"].encode(),
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    exp = case["expected"]
    assert proc.stdout.decode() == exp["stdout"]
    assert proc.stderr.decode() == from_token(exp["stderr"], root)
    assert proc.returncode == exp["exit_code"]
    assert snapshot(root) == expected_tree(case)


@pytest.fixture
def user(scratch_session: Path) -> identities.Identity:
    if os.geteuid() != 0:
        pytest.skip("these cases need root to give directories to root and the rest to the test account")
    return identities.identity_for("user", scratch_session)


@pytest.mark.parametrize("case", USER_CASES, ids=[c["name"] for c in USER_CASES])
def test_permission_cases_match_codex_as_the_user(case: dict, user: identities.Identity, scratch: Path):
    """Recorded with Codex running as the unprivileged account: permission failures, predicted by
    staging (nothing written) where Codex fails part-way."""
    root = scratch / "ws"
    root.mkdir()
    build_tree(root, case["tree"])
    hand_over(root, case["tree"], user.uid, user.gid)
    proc = user.run(
        [sys.executable, "-m", "cordon.policy", "patch", "apply", "--cwd", str(root)],
        input=case["patch"],
        cwd=REPO,
    )
    exp = case["expected"]
    assert proc.stdout == exp["stdout"]
    assert proc.stderr == from_token(exp["stderr"], root)
    assert proc.returncode == exp["exit_code"]
    assert snapshot(root) == files_only(expected_tree(case))
