"""``execpolicy lint``: every error with file:line:col, and the warnings Codex never gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cordon.policy.lint import lint_files

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _codes(diags):
    return [(d.line, d.severity, d.code) for d in diags]


def test_reports_every_error_not_only_the_first(tmp_path):
    f = _write(
        tmp_path,
        "bad.rules",
        'prefix_rule(pattern=["x"], decision="deny")\n'
        'prefix_rule(pattern=["ok"])\n'
        "prefix_rule(pattern=[1])\n"
        'host_executable(name="a/b", paths=[])\n'
        'prefix_rule(pattern=["y"], match=["z"])\n'
        'prefix_rule(pattern=["g"], not_match=["g x"])\n',
    )
    diags = lint_files([f])
    assert _codes(diags) == [
        (1, "error", "rule"),
        (3, "error", "rule"),
        (4, "error", "rule"),
        (5, "error", "example"),
        (6, "error", "example"),
    ]
    assert diags[0].message == "invalid decision: deny"
    assert str(diags[0]) == f"{f}:1:1: error[rule]: invalid decision: deny"


def test_all_unknown_names_and_syntax_errors(tmp_path):
    a = _write(tmp_path, "a.rules", "prefix_rule(pattern=UNKNOWN)\nx = OTHER\n")
    b = _write(tmp_path, "b.rules", 'prefix_rule(pattern=["a"]\nx = 1\n')
    diags = lint_files([a, b, str(tmp_path / "missing.rules")])
    assert [(Path(d.file).name, d.line, d.column, d.code) for d in diags] == [
        ("a.rules", 1, 21, "name"),
        ("a.rules", 2, 5, "name"),
        ("b.rules", 2, 1, "syntax"),
        ("missing.rules", None, None, "read"),
    ]


def test_warnings(tmp_path):
    f = _write(
        tmp_path,
        "w.rules",
        'prefix_rule(pattern=["git"], decision="prompt")\n'  # 1
        'prefix_rule(pattern=["git", "status"], decision="allow")\n'  # 2 shadowed by 1
        'prefix_rule(pattern=["git", ["push", "pull"]], decision="forbidden")\n'  # 3 stricter: fine
        'prefix_rule(pattern=["rm", "-rf", "build"], decision="allow")\n'  # 4 overridden by 5
        'prefix_rule(pattern=["rm", ["-rf", "-fr"]], decision="forbidden")\n'  # 5
        'prefix_rule(pattern=["ls"])\n'  # 6
        'prefix_rule(pattern=["ls"])\n'  # 7 duplicate of 6
        'prefix_rule(pattern=["cat"], not_match=["hg status"])\n'  # 8 vacuous example
        'prefix_rule(pattern=[["a", "a"]])\n',  # 9 Codex's own duplicate alternatives: no warning
    )
    diags = lint_files([f])
    assert _codes(diags) == [
        (2, "warning", "shadowed"),
        (4, "warning", "overridden"),
        (7, "warning", "duplicate"),
        (8, "warning", "vacuous-example"),
    ]
    assert "rule at" in diags[0].message and f"{f}:1" in diags[0].message


def test_canonical_and_alternatives_coverage(tmp_path):
    f = _write(
        tmp_path,
        "c.rules",
        'prefix_rule(pattern=["git", ["push", "fetch"]], decision="forbidden", canonical_matching=True)\n'
        'prefix_rule(pattern=["git", "PUSH", "--force"], decision="allow")\n'  # covered (canonical)
        'prefix_rule(pattern=["git", ["push", "pull"]], decision="allow")\n',  # not covered: pull
    )
    assert _codes(lint_files([f])) == [(2, "warning", "overridden")]


def test_clean_file_and_cli(tmp_path):
    good = _write(tmp_path, "good.rules", 'prefix_rule(pattern=["ls"])\n')
    assert lint_files([good]) == []
    env_cmd = [sys.executable, "-m", "cordon.policy", "lint"]
    ok = subprocess.run([*env_cmd, good], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == ""
    bad = _write(
        tmp_path, "bad.rules", 'prefix_rule(pattern=["ls"], decision="x")\nprefix_rule(pattern=["ls"])\n'
    )
    p = subprocess.run([*env_cmd, bad], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stdout.splitlines() == [f"{bad}:1:1: error[rule]: invalid decision: x"]
    j = subprocess.run([*env_cmd, "--json", bad], cwd=REPO, capture_output=True, text=True)
    assert json.loads(j.stdout)[0]["code"] == "rule"
    warn = _write(tmp_path, "warn.rules", 'prefix_rule(pattern=["ls"])\nprefix_rule(pattern=["ls"])\n')
    assert subprocess.run([*env_cmd, warn], cwd=REPO, capture_output=True).returncode == 0
    assert subprocess.run([*env_cmd, "--strict", warn], cwd=REPO, capture_output=True).returncode == 1


def _brute_force(rules):
    """The warning rules applied to every pair (what the indexed rule_warnings must equal)."""
    from cordon.policy.lint import _same, covers

    out = []
    for j, b in enumerate(rules):
        earlier = [
            a for a in rules[:j] if a.first == b.first and not (a.call == b.call and a.source == b.source)
        ]
        group = [a for a in rules if a.first == b.first]
        if any(_same(a, b) for a in earlier):
            out.append((b.source, "duplicate"))
        elif any(
            a is not b
            and a.call != b.call
            and b.decision == "allow"
            and a.decision == "forbidden"
            and covers(a, b)
            for a in group
        ):
            out.append((b.source, "overridden"))
        elif any(
            a is not b
            and a.call != b.call
            and covers(a, b)
            and a.severity >= b.severity
            and not _same(a, b)
            # a later rule shadows within its file, unless it is merely equivalent (then the later
            # one is reported); across files only earlier files count
            and (i < j or (a.source[0] == b.source[0] and not (a.severity == b.severity and covers(b, a))))
            for i, a in enumerate(rules)
            if a.first == b.first
        ):
            out.append((b.source, "shadowed"))
    return sorted(out)


def test_indexed_warnings_equal_brute_force():
    from cordon.policy import load_policy
    from cordon.policy.lint import rule_warnings
    from hypothesis import given, settings
    from hypothesis import strategies as st

    tok = st.sampled_from(["a", "b", "A"])
    elem = st.one_of(tok, st.lists(tok, min_size=1, max_size=2))
    rule = st.tuples(
        st.lists(elem, min_size=1, max_size=3),
        st.sampled_from(["allow", "prompt", "forbidden"]),
        st.booleans(),
    )

    @settings(max_examples=200, deadline=None)
    @given(st.lists(rule, max_size=8))
    def check(specs):
        lines = []
        for pattern, decision, canonical in specs:
            pat = ", ".join(
                f'"{t}"' if isinstance(t, str) else "[" + ", ".join(f'"{x}"' for x in t) + "]"
                for t in pattern
            )
            lines.append(
                f'prefix_rule(pattern=[{pat}], decision="{decision}", canonical_matching={canonical})'
            )
        rules = load_policy(text="\n".join(lines), name="h.rules").rules
        got = sorted(((d.file, d.line, d.column), d.code) for d in rule_warnings(rules))
        assert got == _brute_force(rules)

    check()


def _lint_warnings(tmp_path, *texts):
    from cordon.policy.lint import lint_files

    paths = []
    for n, text in enumerate(texts):
        p = tmp_path / f"f{n}.rules"
        p.write_text(text)
        paths.append(str(p))
    return [(d.file.rsplit("/", 1)[-1], d.line, d.code) for d in lint_files(paths) if d.severity == "warning"]


NARROW_ALLOW = 'prefix_rule(pattern=["npx", "--version"], decision="allow")\n'
BROAD_PROMPT = 'prefix_rule(pattern=["npx"], decision="prompt", justification="x")\n'


def test_shadowing_in_one_file_does_not_depend_on_order(tmp_path):
    """The strictest match wins whatever the order, so a later broader rule shadows too."""
    assert _lint_warnings(tmp_path, NARROW_ALLOW + BROAD_PROMPT) == [("f0.rules", 1, "shadowed")]
    assert _lint_warnings(tmp_path, BROAD_PROMPT + NARROW_ALLOW) == [("f0.rules", 2, "shadowed")]


def test_a_later_file_broadening_a_base_rule_is_not_the_base_files_defect(tmp_path):
    assert _lint_warnings(tmp_path, NARROW_ALLOW, BROAD_PROMPT) == []
    assert _lint_warnings(tmp_path, BROAD_PROMPT, NARROW_ALLOW) == [("f1.rules", 1, "shadowed")]
