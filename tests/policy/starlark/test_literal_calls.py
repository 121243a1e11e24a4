"""The literal-call shortcut (policy/starlark/starlark.lark, LIT_CALL / LIT_LIST / LIT_STMT).

A call whose arguments are all string literals or lists of them is one token, decoded by the
Transformer. It may change the speed only: the nodes (positions included) must be those of the
ordinary grammar (``parse(text, shortcut=False)``), and every syntax error, its message and its
line:col, must be the ordinary grammar's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cordon.policy import PolicyError, load_policy
from cordon.policy.starlark import syntax
from cordon.policy.starlark.syntax import StarlarkSyntaxError, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.policy.conformance.cases import CASES

REPO = Path(__file__).resolve().parents[3]

# Places where a literal call or list is read as something else, and every literal form.
TRICKY = [
    'prefix_rule(pattern = ["git", ["status", "log"]], decision = "allow")\n',
    'prefix_rule(\n    pattern = ["git", "push"],  # why\n    # a whole-line comment\n    match = ["git push"],\n)\n',
    "prefix_rule(pattern=['a b', 'c'], decision='forbidden',)\n",
    'f()\nf("a")\nf("a",)\nf(a = "b", c = [], d = [[]], e = ["x", [],],)\n',
    'x = ["a", ["b", "c"]]\ny = []\nz = [ "a" ,\n  "b" ]\n',
    'x = {"a": ["b"]}\ny = x["a"]\nz = x ["a"]\nw = f("a")["b"]\nv = ["a"]["b"]\n',
    'def f(a = "x", b = ["y"]):\n    return a\nf("a")\n',
    'x = "a"\ny = x.upper()\nz = "a b".split(" ")\nw = ", ".join(["a", "b"])\n',
    'load("x.star", "y")\n',
    'x = "a" in ("a", "b")\ny = not("a")\nz = "a" if("a") else "b"\n',
    'f("a")("b")\nf("a").x\nf("a")[0]\nf("a") + f("b")\nx = f("a"); g("b")\n',
    'if True: f("a")\nif True:\n    f("a")\n    g(["b"])\nf("c")\n',
    'f(r"\\d", b"x", rb"y", "\\n", "\\x41", "\\u00e9", "é", "a\'b", \'a"b\')\n',
    'x = 1\nf(f"{x}", F"a{{b}}")\n',
    'f("""a""")\nf("a"\n)\nf(\n"a")\n',
    'f(\n\n    "a",\n\n)\n',
    'for x in ["a", "b"]:\n    f(x)\n',
    'f(x = ["a"], *["b"])\nf(**{"a": "b"})\n',
    'x = [["a"], "b"]\nx = [[["a"]]]\n',
    'x = lambda: f("a")\n',
    "f('a', \"b\", [\"c\", 'd'])\n",
    # runs of whole-statement calls in column 1 (LIT_RUN), and what ends or breaks one
    'f("a")\ng("b")\n\n# c\n  # indented comment\n   \nh("c")  # trailing\ni("d")\n',
    'def f():\n    g("x")\nh("y")\ni("z")\n',
    'if True:\n    pass\nf("a")\ng("b")\n',
    'f("a")\ng("b"); x = 1\nh("c")\n',
    'f("a")\ng("b").upper()\nh("c")\n',
    'f("a")\nload("x.star", "y")\n',
    'f("a").x\nf("a")[0]\nf("a") + f("b")\nf("a")\n',
    'x = [\nf("a"),\n]\n',
    'x = 1 + \\\nlen("a")\nlen("b")\n',
]

# Only the ordinary grammar's error may come out of these.
BROKEN = [
    'f("a")\ng("b")\n    h("c")\n',
    'x = [\nf("a")\ng("b")]\n',
    'f("a")\ng("b") h("c")\n',
    'f("a")\n\tg("b")\n',
    'f("a")\ng("b"\n',
    'if True:\n    f("a")\n  g("b")\n',
    'f("a")f("a")\n',
    'f("a")\ng("b")f("a")\n',
]

# Malformed literal lists and calls: message and line:col as `codex execpolicy check` 0.171.0
# reports them (checked by hand against it).
MALFORMED = [
    (
        'prefix_rule(\n    pattern = ["git", "push",, "x"],\n    decision = "allow",\n)\n',
        "unexpected symbol ','",
        2,
        30,
    ),
    (
        'prefix_rule(\n    pattern = ["git", "push",\n    decision = "allow",\n)\n',
        "unexpected symbol '='",
        3,
        14,
    ),
    (
        'prefix_rule(pattern = ["git" "push"], decision = "allow")\n',
        'unexpected string literal "push"',
        1,
        30,
    ),
    ('prefix_rule(pattern = ["git", "push], decision = "allow")\n', "unexpected identifier 'allow'", 1, 51),
    ('prefix_rule(pattern = ["git"], if = "allow")\n', "unexpected keyword 'if'", 1, 32),
    ('prefix_rule(pattern = ["git"]], decision = "allow")\n', "unexpected symbol ']'", 1, 30),
    ('prefix_rule(pattern = ["git"], pattern = ["x"])\n', "repeated named argument", 1, 32),
    ('f("a")\ng("b",, "c")\nh("d")\n', "unexpected symbol ','", 2, 7),
    (
        'x = 1\n\nprefix_rule(\n    pattern = ["a",\n               "b",]\n    decision = "allow")\n',
        "unexpected identifier 'decision'",
        6,
        5,
    ),
]


def _outcome(text: str, shortcut: bool):
    try:
        return ("ok", parse(text, shortcut=shortcut))
    except StarlarkSyntaxError as e:
        return ("error", e.message, e.line, e.column, e.end_line, e.end_column, e.outside)
    except RecursionError:
        return ("recursion",)


def assert_same_as_plain(text: str) -> None:
    assert _outcome(text, True) == _outcome(text, False), text


@pytest.mark.parametrize("text", TRICKY)
def test_the_shortcut_gives_the_ordinary_nodes(text):
    assert _outcome(text, True)[0] == "ok"
    assert_same_as_plain(text)


@pytest.mark.parametrize("text", BROKEN)
def test_a_broken_file_gets_the_ordinary_error(text):
    assert _outcome(text, True)[0] == "error"
    assert_same_as_plain(text)


@pytest.mark.parametrize("text", TRICKY + BROKEN)
def test_the_same_text_without_a_final_newline_or_with_crlf(text):
    assert_same_as_plain(text.rstrip("\n"))
    assert_same_as_plain(text.replace("\n", "\r\n"))


def test_every_conformance_file_and_shipped_set_parses_as_without_the_shortcut():
    files = [c for case in CASES for c in case["files"].values() if isinstance(c, str)]
    files += [p.read_text() for p in sorted((REPO / "rules").glob("*.rules"))]
    assert len(files) > 300
    for text in files:
        assert_same_as_plain(text)


def test_a_typical_rule_is_two_tokens():
    """The shortcut is in use (else the tests above compare the ordinary grammar with itself)."""
    text = 'prefix_rule(\n    pattern = ["git", ["push", "fetch"]],\n    decision = "prompt",\n)\n'
    assert [t.type for t in syntax.parser().lex(text)] == ["LIT_RUN", "_NEWLINE"]
    assert [t.type for t in syntax.parser().lex("x = 1\n" + text)][-2:] == ["LIT_RUN", "_NEWLINE"]
    assert [t.type for t in syntax.parser().lex("if x:\n    " + text)][-3:] == [
        "LIT_STMT",
        "_NEWLINE",
        "_DEDENT",
    ]
    text = 'f("a")\n\n# c\ng("b", c = ["d"])  # e\nh()\n'
    assert [t.type for t in syntax.parser().lex(text)] == ["LIT_RUN", "_NEWLINE"]
    text = 'x = f("a")\ny = ["a", ["b"]]\n'
    types = [t.type for t in syntax.parser().lex(text)]
    assert types.count("LIT_CALL") == 1 and types.count("LIT_LIST") == 1
    # where the grammar reads it otherwise, the ordinary tokens
    for text in ('x["a"]\n', 'x.f("a")\n', 'def f(a = "b"):\n    pass\n', 'load("a", "b")\n'):
        assert not {"LIT_CALL", "LIT_LIST", "LIT_STMT"} & {t.type for t in syntax.parser().lex(text)}


@pytest.mark.parametrize(("text", "message", "line", "column"), MALFORMED)
def test_a_malformed_literal_reports_the_ordinary_error_and_location(text, message, line, column):
    assert_same_as_plain(text)
    with pytest.raises(PolicyError) as ei:
        load_policy(text=text, name="my.rules")
    e = ei.value
    assert message in e.message
    assert (e.file, e.line, e.column) == ("my.rules", line, column)
    assert str(e).startswith(f"my.rules:{line}:{column}: ")


def test_positions_inside_a_multi_line_call():
    text = (
        'x = 1\nprefix_rule(\n    pattern = ["git",\n        ["a", "bc"]],  # c\n    decision = "allow",\n)\n'
    )
    (call,) = [s[2] for s in parse(text) if s[0] == "expr"]
    assert call[1] == (2, 1, 6, 2)
    (pattern, decision) = [a[2] for a in call[3]]
    assert pattern[1] == (3, 15, 4, 21)
    assert pattern[2][0] == ("const", (3, 16, 3, 21), "git")
    assert pattern[2][1] == (
        "list",
        (4, 9, 4, 20),
        [("const", (4, 10, 4, 13), "a"), ("const", (4, 15, 4, 19), "bc")],
    )
    assert decision == ("const", (5, 16, 5, 23), "allow")
    assert_same_as_plain(text)


# Files made of whole lines, the shape the shortcut cares about: calls in and out of blocks,
# blank and comment lines, and lines that break a run or a call.
LINES = [
    'prefix_rule(pattern = ["git", ["a", "b"]], decision = "allow")',
    'f("a")',
    'f("a", b = ["c"])  # note',
    "f(",
    '    "a",',
    ")",
    'g(["a"], [["b"]],)',
    "",
    "# comment",
    "    # indented comment",
    "   ",
    "\t",
    "if True:",
    "def h():",
    "    pass",
    '    f("a")',
    '  f("a")',
    "x = 1",
    'x = f("a")',
    'f("a").x',
    'f("a"); f("b")',
    'load("a", "b")',
    "x = [",
    "]",
    "f(if = 'a')",
    'f("a"',
    "\\",
]


BLOCK = ["if True:", "def h():", "for x in []:"]
CALLS = ['f("a")', '    f("a")', 'g(["a"], b = "c")']


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(LINES), st.sampled_from(BLOCK), st.sampled_from(CALLS)), max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_line_soup_parses_as_without_the_shortcut(lines, eol, final_eol):
    assert_same_as_plain(eol.join(lines) + (eol if final_eol else ""))
