"""The shipped rule sets are clean under Cordon's own linter, ``execpolicy lint --strict``.

A team adopting them runs the linter first: a shadowed rule (it can never change a
decision) or a ``not_match`` example for an unrelated program (it tests nothing) would be
the first thing it sees. Whole-set expectations that used to sit in such examples are
checked here instead, against the decision of the whole file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.lint import lint_files

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
FILES = sorted(str(p) for p in RULES.glob("*.rules"))
OPT_IN = ["python", "node", "rust", "go", "git-readonly"]


def _shown(diags) -> str:
    return "\n".join(str(d) for d in diags)


def test_all_shipped_files_together_are_lint_clean():
    diags = lint_files(FILES)
    assert diags == [], _shown(diags)


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_each_shipped_file_alone_is_lint_clean(path):
    diags = lint_files([path])
    assert diags == [], _shown(diags)


@pytest.mark.parametrize("name", OPT_IN)
def test_each_opt_in_set_stacked_on_default_is_lint_clean(name):
    diags = lint_files([str(RULES / "default.rules"), str(RULES / f"{name}.rules")])
    assert diags == [], _shown(diags)


def test_cli_strict_exits_zero_on_the_shipped_files():
    r = subprocess.run(
        [sys.executable, "-m", "cordon.policy", "lint", "--strict", *FILES],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert f"{len(FILES)} file(s): 0 error(s), 0 warning(s)" in r.stderr


def test_strict_lint_does_fail_on_a_shadowed_rule(tmp_path):
    # The clean result above means something only if the linter flags what it claims to.
    bad = tmp_path / "bad.rules"
    bad.write_text(
        'prefix_rule(pattern = ["npx"], decision = "prompt", justification = "x")\n'
        'prefix_rule(pattern = ["npx", "cowsay"], decision = "prompt", justification = "y")\n'
    )
    assert [d.code for d in lint_files([str(bad)])] == ["shadowed"]


# Whole-set decisions that were once `not_match` examples of rules for other programs.
WHOLE_SET = [
    (["default"], ["sort", "-o", "out", "in"], None),  # sort -o writes a file: never allowed
    (["default"], ["tee", "out"], None),
    (["default"], ["rg", "TODO"], None),  # rg --pre runs programs: left to policy.decide
    (["default"], ["zgrep", "x", "f.gz"], None),
    (["default"], ["npm", "exec-x"], None),
    (["default"], ["git", "clone"], "prompt"),
    (["default"], ["mkdir", "x"], None),
    (["default", "node"], ["npm", "ls"], "allow"),
    (["default", "node"], ["npm", "install", "-g", "typescript"], "prompt"),
    # The opt-in sets are add-ons: what they leave to default still gets default's decision.
    (["default", "node"], ["npx", "--version"], "prompt"),
    (["default", "node"], ["npx", "prettier", "--check", "."], "prompt"),
    (["default", "go"], ["go", "get", "golang.org/x/text@latest"], "prompt"),
    (["default", "go"], ["go", "install", "golang.org/x/tools/gopls@latest"], "prompt"),
    (["default", "rust"], ["cargo", "publish", "--dry-run"], "prompt"),
    (["default", "python"], ["pip", "uninstall", "-y", "six"], "prompt"),
    (["default", "python"], ["python3", "-m", "pip", "install", "-e", "."], "prompt"),
    (["default", "git-readonly"], ["git", "stash", "pop"], "prompt"),
    (["git-readonly"], ["git", "stash", "list"], "allow"),
]


@pytest.mark.parametrize(("sets", "argv", "want"), WHOLE_SET, ids=lambda v: " ".join(v) if v else str(v))
def test_whole_set_decisions(sets, argv, want):
    from cordon.policy import load_policy

    pol = load_policy(*[RULES / f"{s}.rules" for s in sets])
    assert pol.check(argv).decision == want
