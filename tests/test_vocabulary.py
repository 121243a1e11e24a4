"""The shared vocabulary: one definition of each word, and every entry point reads it the same way."""

from __future__ import annotations

import pytest
from cordon.policy import decide
from cordon.policy.patch import assess_patch

from cordon import vocabulary

PATCH = "*** Begin Patch\n*** Add File: new.txt\n+hi\n*** End Patch\n"


def test_strictest_follows_the_rank_order():
    assert vocabulary.strictest(["allow", "prompt"]) == "prompt"
    assert vocabulary.strictest(["forbidden", "allow", "prompt"]) == "forbidden"
    assert vocabulary.strictest(["allow"]) == "allow"
    with pytest.raises(ValueError):
        vocabulary.strictest([])


@pytest.mark.parametrize(
    "spelling", ["on-request", "onrequest", "unless-trusted", "never", "granular:sandbox_approval=false"]
)
def test_commands_and_patches_accept_the_same_approval_spellings(spelling, tmp_path):
    # decide() used to accept "onrequest" while the patch path raised ValueError for it.
    assert decide(["ls"], approval=spelling, sandbox="workspace-write").decision in vocabulary.DECISIONS
    assert assess_patch(PATCH, cwd=tmp_path, approval=spelling, sandbox="workspace-write").decision


@pytest.mark.parametrize("spelling", ["on_request", "sometimes", "never:rules=false", "granular:x=1"])
def test_commands_and_patches_refuse_the_same_approval_spellings(spelling, tmp_path):
    with pytest.raises(ValueError):
        decide(["ls"], approval=spelling, sandbox="workspace-write")
    with pytest.raises(ValueError):
        assess_patch(PATCH, cwd=tmp_path, approval=spelling, sandbox="workspace-write")


@pytest.mark.parametrize("mode", ["external-sandbox", *vocabulary.SANDBOX_MODES])
def test_commands_and_patches_accept_the_same_sandbox_modes(mode, tmp_path):
    # decide() used to refuse Codex's "external-sandbox" spelling, which the patch path took.
    assert decide(["ls"], approval="on-request", sandbox=mode).decision in vocabulary.DECISIONS
    assert assess_patch(PATCH, cwd=tmp_path, approval="on-request", sandbox=mode).decision
    with pytest.raises(ValueError):
        decide(["ls"], approval="on-request", sandbox=mode + "x")
    with pytest.raises(ValueError):
        assess_patch(PATCH, cwd=tmp_path, approval="on-request", sandbox=mode + "x")


def test_each_word_is_defined_once():
    """No module of the packages keeps its own copy of the vocabulary."""
    import pathlib
    import re

    root = pathlib.Path(vocabulary.__file__).resolve().parents[1]
    pattern = re.compile(r"^(PROTECTED_NAMES|SANDBOX_MODES|APPROVAL\w*|_RANK)\s*=", re.M)
    copies = [
        str(p.relative_to(root))
        for pkg in ("policy", "sandbox", "netproxy")
        for p in (root / pkg).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert copies == [], copies
    assert vocabulary.Approval.parse("onrequest") == vocabulary.Approval("on-request")
    with pytest.raises(AttributeError):
        vocabulary.Approval("never").kind = "untrusted"


PACKAGES = ("cordon", "policy", "sandbox", "netproxy", "integrations")


def _sources():
    import pathlib

    root = pathlib.Path(vocabulary.__file__).resolve().parents[1]
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            yield str(path.relative_to(root)), path.read_text()


def _definitions(tree, name: str) -> int:
    import ast

    n = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            n += 1
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            n += sum(isinstance(t, ast.Name) and t.id == name for t in targets)
    return n


def test_one_decision_type_and_one_rule_match_type():
    """``Decision`` is the command decision (policy.decision) and ``RuleMatch`` the matched rule
    as Codex prints it (policy.models); other verdicts have names of their own
    (``netproxy.Verdict``, ``vocabulary.DecisionKind`` / ``PatchDecisionKind``)."""
    import ast

    homes = {"Decision": "policy/decision.py", "RuleMatch": "policy/models.py"}
    found: dict[str, list[str]] = {name: [] for name in homes}
    for rel, text in _sources():
        tree = ast.parse(text)
        for name in homes:
            found[name] += [rel] * _definitions(tree, name)
    assert found == {name: [home] for name, home in homes.items()}


def test_decision_words_are_not_spelled_out_again():
    """No tuple, list or ``Literal[...]`` of the decision words outside the vocabulary."""
    import ast

    words = {vocabulary.DECISIONS, vocabulary.PATCH_DECISIONS}
    copies = []
    for rel, text in _sources():
        if rel == "cordon/vocabulary.py":
            continue
        for node in ast.walk(ast.parse(text)):
            elts = None
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                elts = node.elts
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
                elts = node.slice.elts
            constants = elts and all(isinstance(e, ast.Constant) for e in elts)
            if constants and tuple(e.value for e in elts) in words:
                copies.append(f"{rel}:{node.lineno}")
    assert copies == []


def test_the_literal_types_follow_the_tuples():
    import typing

    assert typing.get_args(vocabulary.DecisionKind) == vocabulary.DECISIONS
    assert typing.get_args(vocabulary.PatchDecisionKind) == vocabulary.PATCH_DECISIONS
    with pytest.raises(AttributeError):
        vocabulary.NoSuchWord  # noqa: B018
