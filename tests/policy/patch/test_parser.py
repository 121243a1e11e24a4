"""The lenient parser (Codex's acceptance) and the strict Lark grammar (the published shape)."""

from __future__ import annotations

import pytest
from cordon.policy.errors import PatchError
from cordon.policy.patch import AddFile, Chunk, DeleteFile, UpdateFile, parse_patch, validate_patch
from cordon.policy.patch.parser import split_lines, trim


def P(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


def test_parses_every_hunk_kind_with_lines():
    patch = parse_patch(
        P(
            "*** Add File: a",
            "+x",
            "*** Delete File: b",
            "*** Update File: c",
            "*** Move to: d",
            "@@ ctx",
            " k",
            "-o",
            "+n",
        )
    )
    add, delete, update = patch.hunks
    assert add == AddFile("a", "x\n") and add.line == 2
    assert delete == DeleteFile("b") and delete.line == 4
    assert isinstance(update, UpdateFile) and update.line == 5
    assert update.move_path == "d"
    assert update.chunks == (Chunk("ctx", ("k", "o"), ("k", "n"), False, (0, None)),)


def test_heredoc_wrapper_is_dropped_and_noted():
    patch = parse_patch("<<'EOF'\n" + P("*** Add File: a", "+x") + "\nEOF\n")
    assert patch.notes == ("heredoc",)
    assert patch.text.startswith("*** Begin Patch") and patch.text.endswith("*** End Patch")


@pytest.mark.parametrize(
    ("text", "kind", "line", "message"),
    [
        ("nope", "invalid_patch", None, "The first line of the patch must be '*** Begin Patch'"),
        ("*** Begin Patch\n+x", "invalid_patch", None, "The last line of the patch must be '*** End Patch'"),
        (
            P("*** Add File: a", "+x", "*** Nope: b"),
            "invalid_hunk",
            4,
            "'*** Nope: b' is not a valid hunk header",
        ),
        (P("*** Update File: a", "@@", "-x", "+y", "@@", "junk"), "invalid_hunk", 7, "Unexpected line found"),
        (
            P("*** Update File: a", "@@", "-x", "junk"),
            "invalid_hunk",
            5,
            "Expected update hunk to start with a @@",
        ),
        (P("*** Update File: a"), "invalid_hunk", 2, "Update file hunk for path 'a' is empty"),
        (P("*** Update File: a", "@@"), "invalid_hunk", 4, "Update hunk does not contain any lines"),
    ],
)
def test_errors_carry_codex_text_and_line(text, kind, line, message):
    with pytest.raises(PatchError) as info:
        parse_patch(text)
    assert info.value.kind == kind
    assert info.value.line == line
    assert message in info.value.message


def test_rust_trim_and_lines_semantics():
    # U+001C is whitespace to Python but not to Rust: a marker followed by it is not the marker.
    assert trim("\x1c*** Begin Patch") == "\x1c*** Begin Patch"
    assert trim("\u3000x\u00a0") == "x"
    assert split_lines("a\r\nb\rc\n") == ["a", "b\rc"]
    with pytest.raises(PatchError):
        parse_patch("\x1c" + P("*** Add File: a", "+x"))


def test_strict_grammar_accepts_published_shape_and_agrees_with_lenient_parser():
    text = P(
        "*** Environment ID: e1",
        "*** Add File: a",
        "+x",
        "+",
        "*** Update File: b",
        "*** Move to: c",
        "@@ ctx",
        " a",
        "-b",
        "+c",
        "@@",
        "+z",
        "*** End of File",
        "*** Delete File: q",
    )
    assert validate_patch(text) == parse_patch(text)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (P("*** Add File: a"), 3),  # empty Add: lenient accepts, the grammar needs add_line+
        ("  " + P("*** Add File: a", "+x"), 1),  # untrimmed marker
        (P("*** Update File: a", "-x", "+y", "", " z"), 5),  # a bare empty line is not a change_line
    ],
)
def test_strict_grammar_rejects_what_only_the_lenient_parser_allows(text, line):
    parse_patch(text)  # Codex would apply it...
    with pytest.raises(PatchError) as info:
        validate_patch(text)  # ...but it is not the published shape
    assert info.value.kind == "grammar"
    assert info.value.line == line
