"""Property tests: the parser only ever fails cleanly, a failed apply changes nothing, and the strict
grammar agrees with the lenient parser on every patch of the published shape."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import pytest
from cordon.policy.errors import PatchError
from cordon.policy.patch import apply_patch, parse_patch, validate_patch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark, UnexpectedInput

from tests.policy.patch.casefmt import build_tree, snapshot

# Lines that exercise every branch of the parser, plus arbitrary text.
VOCAB = [
    "*** Begin Patch",
    "*** End Patch",
    "  *** End Patch ",
    "*** Add File: a",
    "*** Add File: d/n",
    "*** Delete File: a",
    "*** Delete File: b",
    "*** Update File: a",
    "*** Update File: b",
    "*** Update File: dir",
    "*** Move to: c",
    "*** Move to: dir",
    "*** Environment ID: e",
    "*** End of File",
    "@@",
    "@@ x",
    "@@ ",
    " x",
    "-x",
    "+X",
    "-y",
    " y",
    "+",
    "-",
    "",
    "  ",
    "<<EOF",
    "EOF",
    "-\u201cq\u201d",
    "+\r",
]
# Headers with odd names (NUL, unicode, spaces); no "/" or "." so nothing can leave the temp root.
odd_header = st.builds(
    lambda head, name: head + name,
    st.sampled_from(["*** Add File: ", "*** Delete File: ", "*** Update File: ", "*** Move to: "]),
    st.text(alphabet=st.characters(blacklist_characters="/.\n\r"), max_size=6),
)
line = st.one_of(st.sampled_from(VOCAB), st.text(max_size=12), odd_header)
soup = st.builds(
    lambda lines, sep, wrap: (
        "\n".join((["*** Begin Patch"] if wrap[0] else []) + lines + (["*** End Patch"] if wrap[1] else []))
    ).replace("\n", sep),
    st.lists(line, max_size=14),
    st.sampled_from(["\n", "\r\n"]),
    st.tuples(st.booleans(), st.booleans()),
)

TREE = {
    "files": {"a": "x\ny\nq\n", "b": "q\r\ny\r\nx", "bin": {"b64": "//4K"}, "d/n": "\u201cq\u201d\n"},
    "symlinks": {"link": "a"},
    "dirs": ["dir"],
}


@settings(max_examples=400, deadline=None)
@given(st.one_of(soup, st.text(max_size=200)))
def test_parser_never_crashes(text):
    try:
        patch = parse_patch(text)
    except PatchError as e:
        assert e.kind in ("invalid_patch", "invalid_hunk")
        assert e.message
        assert e.line is None or e.line >= 1
    else:
        assert isinstance(patch.hunks, tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(soup)
def test_failed_apply_leaves_tree_byte_identical(text):
    root = Path(tempfile.mkdtemp(prefix="cordon-prop-")).resolve()
    try:
        build_tree(root, TREE)
        before = snapshot(root)
        result = apply_patch(text, cwd=root)
        assert result.exit_code in (0, 1)
        if result.exit_code != 0:
            assert result.stdout == ""
            assert result.stderr.endswith("\n")
            assert snapshot(root) == before
        else:
            assert result.stdout.startswith("Success. Updated the following files:\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- strictly shaped patches -----------------------------------------------------------------------

path = st.text(alphabet="abcxyz/._-", min_size=1, max_size=8).filter(lambda p: p.strip() == p and p[0] != " ")
body = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=10)
add = st.builds(
    lambda p, ls: [f"*** Add File: {p}", *("+" + s for s in ls)], path, st.lists(body, min_size=1, max_size=4)
)
delete = st.builds(lambda p: [f"*** Delete File: {p}"], path)
change_line = st.builds(lambda tag, s: tag + s, st.sampled_from(["+", "-", " "]), body)
chunk = st.builds(
    lambda ctx, ls: [ctx, *ls],
    st.one_of(st.just("@@"), body.filter(lambda s: s.strip() == s and s).map(lambda s: "@@ " + s)),
    st.lists(change_line, min_size=1, max_size=4),
)
update = st.builds(
    lambda p, mv, chunks, eof: [
        f"*** Update File: {p}",
        *([f"*** Move to: {mv}"] if mv else []),
        *[line for c in chunks for line in c],
        *(["*** End of File"] if eof else []),
    ],
    path,
    st.one_of(st.none(), path),
    st.lists(chunk, min_size=1, max_size=3),
    st.booleans(),
)
strict = st.builds(
    lambda hunks: (
        "\n".join(["*** Begin Patch", *[line for h in hunks for line in h], "*** End Patch"]) + "\n"
    ),
    st.lists(st.one_of(add, delete, update), min_size=1, max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(strict)
def test_grammar_and_lenient_parser_agree_on_the_published_shape(text):
    assert validate_patch(text) == parse_patch(text)


# --- the grammar against the one inside the Codex binary (only when the peer is installed) ---------


def _published_grammar() -> str | None:
    """Codex 0.169 ships its tool grammar as text in the binary: read it from there, never store it."""
    from bench import peers

    codex = peers.codex()
    if codex is None:
        return None
    blob = codex.read_bytes()
    start = blob.find(b"begin_patch: ")
    end = blob.find(b"%import common.LF", start)
    env = blob.find(b"environment_id: ", end)
    if min(start, end, env) < 0:
        return None
    rules = blob[start:end].decode()
    env_rule = blob[env : blob.index(b"LF", env) + 2].decode()
    head = "start: begin_patch environment_id? hunk+ end_patch\n"
    return head + rules + env_rule + "\n%import common.LF\n"


@pytest.mark.peer
@settings(max_examples=100, deadline=None)
@given(st.one_of(strict, soup.map(lambda t: t + "\n")))
def test_grammar_accepts_what_the_published_grammar_accepts(text):
    published = _published_lark()
    if published is None:
        pytest.skip("the Codex peer is not installed (bench/peers.py): nothing to compare with")
    try:
        published.parse(text)
        theirs = True
    except UnexpectedInput:
        theirs = False
    try:
        validate_patch(text)
        ours = True
    except PatchError:
        ours = False
    assert ours == theirs


@functools.cache
def _published_lark():
    text = _published_grammar()
    if not text:
        return None
    # Lark's dynamic Earley lexer refuses zero-width terminals: say "/(.+)/?" for "/(.*)/" (same language).
    return Lark(text.replace("/(.*)/", "/(.+)/?"), parser="earley", lexer="dynamic")
