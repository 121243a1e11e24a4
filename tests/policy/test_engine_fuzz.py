"""Property/fuzz tests: random and mutated rules files only ever load or raise PolicyError.

Never another exception (RecursionError, IndexError, a Lark exception...), never a hang; and a
policy that loads always checks any argv into valid JSON.
"""

from __future__ import annotations

import json

import pytest
from cordon.policy import PolicyError, load_policy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.policy.conformance.cases import CASES
from tests.policy.starlark.test_literal_calls import assert_same_as_plain

TOKENS = [
    "prefix_rule",
    "host_executable",
    "network_rule",
    "command_rule",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "pattern",
    "decision",
    "match",
    "not_match",
    "justification",
    "canonical_matching",
    "exact",
    "anywhere",
    "name",
    "paths",
    "host",
    "protocol",
    "=",
    "==",
    ",",
    ":",
    ";",
    ".",
    "\n",
    "\r\n",
    "    ",
    " ",
    "\t",
    "def",
    "if",
    "elif",
    "else",
    "for",
    "in",
    "not",
    "and",
    "or",
    "lambda",
    "return",
    "pass",
    "break",
    "continue",
    "while",
    "load",
    "class",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "+=",
    "<<",
    "|",
    "**",
    "1",
    "0",
    "10000000",
    "None",
    "True",
    "False",
    "#",
    "\\",
    '"git"',
    "'x'",
    '""',
    '"""a"""',
    'r"\\d"',
    'f"{x}"',
    '"allow"',
    '"prompt"',
    '"forbidden"',
    '"deny"',
    '"/usr/bin/git"',
    '"git status"',
    "x",
    "y",
    "range",
    "len",
    "fail",
    "print",
    '"\\x41"',
    '"\\u00e9"',
    "\ufeff",
    "é",
    '"',
    "'",
    "\\\n",
    "*args",
    "**kw",
]

# Literal calls and lists (the parser's shortcut, starlark.lark LIT_CALL) and their near misses.
TOKENS += [
    'f("a")',
    'f("a", b = ["c", ["d"]],)',
    '["a", "b"]',
    '[["a"], "b",]',
    '= ["x"]',
    "x[",
    '"a",',
    "[]",
]
TOKENS += ['f"{x + 1}"', 'f"{"', 'f"{{}}"', 'f"{f"{x}"}"', 'b"x"', '"\\d"', "range(10**6)", "* 1000000"]

SEEDS = [c["files"][k] for c in CASES for k in c["files"] if isinstance(c["files"][k], str)]


def _load(text: str):
    try:
        p = load_policy(text=text, name="fuzz.rules")
    except PolicyError as e:
        assert e.message
        assert e.file == "fuzz.rules"
        assert e.line is None or e.line >= 1
        return None
    return p


def _check_any(p, argv):
    for resolve in (False, True):
        ev = p.check(argv, resolve_host_executables=resolve)
        out = json.loads(ev.to_json())
        assert ev.decision == out.get("decision")
        json.loads(ev.to_json(pretty=True))


FUZZ = settings(
    max_examples=int(__import__("os").environ.get("CORDON_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

argvs = st.lists(
    st.sampled_from(["git", "/usr/bin/git", "status", "push", "x", "", "GIT", "./git", "~/git"]), max_size=4
)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40), argvs)
def test_token_soup(tokens, argv):
    assert_same_as_plain("".join(tokens))
    p = _load("".join(tokens))
    if p is not None:
        _check_any(p, argv)


@FUZZ
@given(st.text(max_size=200), argvs)
def test_arbitrary_text(text, argv):
    assert_same_as_plain(text)
    p = _load(text)
    if p is not None:
        _check_any(p, argv)


@st.composite
def mutated(draw):
    src = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        if not src:
            src = draw(st.sampled_from(TOKENS))
            continue
        i = draw(st.integers(0, len(src)))
        j = draw(st.integers(i, min(len(src), i + 12)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        if op == "delete":
            src = src[:i] + src[j:]
        elif op == "insert":
            src = src[:i] + draw(st.sampled_from(TOKENS)) + src[i:]
        elif op == "duplicate":
            src = src[:j] + src[i:j] + src[j:]
        else:
            src = src[:i] + draw(st.characters()) + src[i + 1 :]
    return src


@FUZZ
@given(mutated(), argvs)
def test_mutated_real_files(text, argv):
    assert_same_as_plain(text)
    p = _load(text)
    if p is not None:
        _check_any(p, argv)


@pytest.mark.parametrize("seed", range(0, len(SEEDS), 7))
def test_seed_prefixes(seed):
    """Every prefix of a real file (a file cut anywhere) loads or fails cleanly."""
    src = SEEDS[seed]
    for cut in range(0, len(src) + 1, max(1, len(src) // 25)):
        _load(src[:cut])
