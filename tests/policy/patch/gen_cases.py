"""Record the apply_patch conformance cases from the real Codex applier.

    .venv/bin/python -m tests.policy.patch.gen_cases          # re-record every case (needs the peer)

Each case below is a starting tree and a patch. The recorder builds the tree in a fresh temporary
directory, runs ``codex --codex-run-as-apply-patch PATCH`` there (Codex takes the patch as its one
argument, not on stdin) and stores stdout, stderr, exit code and the resulting tree as
``cases/<name>.json``. The tests replay these files without the peer.

Deliberate differences (see docs/patches.md) are marked per case:

* ``rollback``: Codex fails part-way and leaves earlier hunks applied; Cordon prints the same text
  but the tree must be unchanged. Detected automatically (a failure that changed Codex's tree).
* ``move_to_self``: ``Move to:`` the same path makes Codex delete the file; Cordon keeps it, updated
  (``cordon_tree`` holds Cordon's expected tree).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.policy.patch.casefmt import CASES, build_tree, hand_over, snapshot, to_token
from tests.support.identities import ensure_test_user

BP, EP = "*** Begin Patch", "*** End Patch"


def P(*lines: str, end: str = "") -> str:
    """A patch from its body lines, wrapped in the markers."""
    return "\n".join([BP, *lines, EP]) + end


def F(**files: str) -> dict:
    return {"files": {k.replace("__", "/").replace("_DOT_", "."): v for k, v in files.items()}}


CASE_DEFS: list[dict] = [
    # --- Add / Delete -------------------------------------------------------------------------
    dict(name="add_simple", tree=F(), patch=P("*** Add File: hello.txt", "+hello", "+world")),
    dict(name="add_empty_file", tree=F(), patch=P("*** Add File: empty.txt")),
    dict(name="add_creates_parents", tree=F(), patch=P("*** Add File: a/b/c/deep.txt", "+x")),
    dict(name="add_overwrites_existing", tree=F(a="old\n"), patch=P("*** Add File: a", "+new")),
    dict(name="add_empty_plus_line", tree=F(), patch=P("*** Add File: a", "+", "+x", "+")),
    dict(name="add_unicode_name", tree=F(), patch=P("*** Add File: dé jà/ü.txt", "+ünï")),
    dict(name="add_parent_is_file", tree=F(f="x\n"), patch=P("*** Add File: f/x", "+q")),
    dict(name="add_onto_directory", tree={"dirs": ["d"]}, patch=P("*** Add File: d", "+q")),
    dict(
        name="add_parent_dangling_symlink",
        tree={"symlinks": {"d": "nowhere"}},
        patch=P("*** Add File: d/x", "+q"),
    ),
    dict(
        name="add_under_deleted_file",
        tree=F(f="x\n"),
        patch=P("*** Delete File: f", "*** Add File: f/sub/x", "+q"),
    ),
    dict(
        name="add_under_file_added_earlier",
        tree=F(),
        patch=P("*** Add File: n/m", "+q", "*** Add File: n/m/y/x", "+q"),
    ),
    dict(name="delete_file", tree=F(a="x\n", b="y\n"), patch=P("*** Delete File: a")),
    dict(name="delete_missing", tree=F(), patch=P("*** Delete File: nope.txt")),
    dict(name="delete_directory", tree={"dirs": ["d"]}, patch=P("*** Delete File: d")),
    dict(
        name="delete_then_add_same", tree=F(a="x\n"), patch=P("*** Delete File: a", "*** Add File: a", "+n")
    ),
    dict(
        name="add_then_delete_same", tree=F(a="x\n"), patch=P("*** Add File: a", "+n", "*** Delete File: a")
    ),
    # --- Update: locating chunks ----------------------------------------------------------------
    dict(
        name="update_simple",
        tree=F(a="one\ntwo\nthree\n"),
        patch=P("*** Update File: a", "@@", " one", "-two", "+TWO", " three"),
    ),
    dict(
        name="update_first_chunk_without_marker", tree=F(a="x\n"), patch=P("*** Update File: a", "-x", "+y")
    ),
    dict(
        name="update_two_chunks_in_order",
        tree=F(a="a\nb\nc\nd\ne\n"),
        patch=P("*** Update File: a", "@@", "-b", "+B", "@@", "-d", "+D"),
    ),
    dict(
        name="update_context_header",
        tree=F(a="def g():\n    return 1\ndef f():\n    return 1\n"),
        patch=P("*** Update File: a", "@@ def f():", "-    return 1", "+    return 2"),
    ),
    dict(
        name="update_context_missing", tree=F(a="x\n"), patch=P("*** Update File: a", "@@ nope", "-x", "+y")
    ),
    dict(
        name="update_lines_missing",
        tree=F(a="one\ntwo\n"),
        patch=P("*** Update File: a", "@@", "-three", "+3"),
    ),
    dict(name="update_pure_addition_appends", tree=F(a="x\ny\n"), patch=P("*** Update File: a", "@@", "+z")),
    dict(
        name="update_pure_addition_ignores_context",
        tree=F(a="a\nb\nc\n"),
        patch=P("*** Update File: a", "@@ a", "+after-a?"),
    ),
    dict(
        name="update_eof_anchor",
        tree=F(a="x\ny\nx\n"),
        patch=P("*** Update File: a", "@@", "-x", "+X", "*** End of File"),
    ),
    dict(
        name="update_eof_no_fallback",
        tree=F(a="x\ny\nx\n"),
        patch=P("*** Update File: a", "@@", "-y", "+Y", "*** End of File"),
    ),
    dict(
        name="update_trailing_empty_context_retry",
        tree=F(a="x\ny\n"),
        patch=P("*** Update File: a", "@@", " x", "+z", ""),
    ),
    dict(
        name="update_empty_line_is_context",
        tree=F(a="a\n\nb\n"),
        patch=P("*** Update File: a", "@@", " a", "", "-b", "+B"),
    ),
    dict(
        name="update_same_file_twice",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "@@", "-x", "+y", "*** Update File: a", "@@", "-y", "+z"),
    ),
    dict(
        name="update_trailing_space_marker_is_bare",
        tree=F(a="q\nx\n"),
        patch=P("*** Update File: a", "@@ ", "-x", "+y"),
    ),
    dict(
        name="update_blank_lines_between_chunks",
        tree=F(a="q\nx\n"),
        patch=P("*** Update File: a", "@@", "-x", "+y", "*** End of File", "", "  ", "@@", "+z"),
    ),
    dict(
        name="update_edits_between_context_keep_order",
        tree=F(a="q\nr\ns\n"),
        patch=P("*** Update File: a", "@@", "+x", "@@", "-r", " s", "+c", "-", "+b"),
    ),
    dict(
        name="update_eof_search_respects_cursor",
        tree=F(a="x\ny\n"),
        patch=P("*** Update File: a", "@@", "-y", "+Y", "@@", "-y", "+Z", "*** End of File"),
    ),
    dict(
        name="update_stray_eof_before_first_chunk",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "*** End of File", "-x", "+z"),
    ),
    dict(
        name="update_move_after_stray_eof",
        tree=F(a="x\n"),
        patch=P(
            "*** Update File: a", "*** End of File", "*** Move to: c", "*** End of File", "@@", "-x", "+y"
        ),
    ),
    dict(name="update_missing_file", tree=F(), patch=P("*** Update File: nope", "@@", "-a", "+b")),
    dict(name="update_directory", tree={"dirs": ["d"]}, patch=P("*** Update File: d", "@@", "+x")),
    dict(
        name="update_invalid_utf8",
        tree={"files": {"a": {"b64": "//4geAo="}}},
        patch=P("*** Update File: a", "@@", "-x", "+y"),
    ),
    # --- Fuzzy matching ----------------------------------------------------------------------------
    dict(
        name="fuzzy_trailing_whitespace",
        tree=F(a="value = 1   \n"),
        patch=P("*** Update File: a", "@@", "-value = 1", "+value = 2"),
    ),
    dict(
        name="fuzzy_surrounding_whitespace",
        tree=F(a="    indented\n"),
        patch=P("*** Update File: a", "@@", "-indented", "+dedented"),
    ),
    dict(
        name="fuzzy_unicode_punctuation",
        tree=F(a="say \u201chi\u201d \u2014 it\u2019s\u00a0fine\n"),
        patch=P("*** Update File: a", "@@", '-say "hi" - it\'s fine', "+say hello"),
    ),
    dict(
        name="fuzzy_context_keeps_file_text",
        tree=F(a="  b  \nc\n"),
        patch=P("*** Update File: a", "@@", " b", "-c", "+C"),
    ),
    dict(
        name="fuzzy_exact_wins_over_later",
        tree=F(a="x \nx\n"),
        patch=P("*** Update File: a", "@@", "-x", "+X"),
    ),
    # --- Line endings ---------------------------------------------------------------------------------
    dict(
        name="crlf_preserved",
        tree=F(a="one\r\ntwo\r\n"),
        patch=P("*** Update File: a", "@@", "-one", "+ONE", "+ONE2"),
    ),
    dict(
        name="crlf_no_final_newline",
        tree=F(a="one\r\ntwo"),
        patch=P("*** Update File: a", "@@", "-one", "+ONE"),
    ),
    dict(
        name="mixed_endings_first_line_style",
        tree=F(a="a\r\nb\nc\nd\n"),
        patch=P("*** Update File: a", "@@", "-b", "+B"),
    ),
    dict(
        name="mixed_endings_context_kept",
        tree=F(a="a\nb\r\nc\r\nd\r\n"),
        patch=P("*** Update File: a", "@@", " b", "-c", "+C", " d"),
    ),
    dict(name="lf_no_final_newline", tree=F(a="x\nq"), patch=P("*** Update File: a", "@@", "+new")),
    dict(name="cr_only_file", tree=F(a="a\rb\rc\n"), patch=P("*** Update File: a", "@@", "-b", "+B")),
    dict(
        name="crlf_patch_on_lf_file",
        tree=F(a="x\ny\n"),
        patch=P("*** Update File: a", "@@", "-x", "+X").replace("\n", "\r\n"),
    ),
    dict(name="crlf_add_file_text", tree=F(), patch=P("*** Add File: n", "+a", "+b").replace("\n", "\r\n")),
    # --- Move ---------------------------------------------------------------------------------------------
    dict(
        name="move_file", tree=F(a="x\n"), patch=P("*** Update File: a", "*** Move to: b", "@@", "-x", "+y")
    ),
    dict(
        name="move_into_new_dir",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "*** Move to: sub/dir/b", "@@", "-x", "+y"),
    ),
    dict(
        name="move_overwrites_dest",
        tree=F(a="x\n", b="old\n"),
        patch=P("*** Update File: a", "*** Move to: b", "@@", "-x", "+y"),
    ),
    dict(name="move_without_chunks", tree=F(a="x\n"), patch=P("*** Update File: a", "*** Move to: b")),
    dict(
        name="move_indented_is_context",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", " *** Move to: b", "@@", "-x", "+y"),
    ),
    dict(
        name="move_trailing_spaces_trimmed",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "*** Move to: b   ", "@@", "-x", "+y"),
    ),
    dict(
        name="move_to_self",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "*** Move to: a", "@@", "-x", "+y"),
        difference="move_to_self",
        cordon_tree=F(a="y\n"),
    ),
    # --- Envelope leniency ----------------------------------------------------------------------
    dict(name="heredoc_wrapper", tree=F(), patch="<<EOF\n" + P("*** Add File: n", "+a") + "\nEOF\n"),
    dict(name="heredoc_wrapper_quoted", tree=F(), patch="<<'EOF'\n" + P("*** Add File: n", "+a") + "\nEOF"),
    dict(
        name="heredoc_other_delimiter_rejected",
        tree=F(),
        patch="<<'PATCH'\n" + P("*** Add File: n", "+a") + "\nPATCH",
    ),
    dict(name="heredoc_inner_error_line", tree=F(), patch="<<EOF\n" + P("bad") + "\nEOF"),
    dict(
        name="trimmed_markers",
        tree=F(),
        patch="  " + P("   *** Add File: n   ", "+a").replace(EP, "  " + EP + "  ") + "\n\n",
    ),
    dict(name="environment_id", tree=F(), patch=P("*** Environment ID: env-1", "*** Add File: n", "+a")),
    dict(name="environment_id_empty", tree=F(), patch=P("*** Environment ID:   ", "*** Add File: n", "+a")),
    dict(
        name="environment_id_twice",
        tree=F(),
        patch=P("*** Environment ID: a", "*** Environment ID: b", "*** Add File: n", "+a"),
    ),
    dict(name="end_patch_twice", tree=F(a="x\n"), patch=P("*** Update File: a", "@@", "-x", "+y", EP)),
    dict(name="early_end_patch_then_text", tree=F(), patch=P("*** Add File: n", "+a", EP, "garbage")),
    # --- Errors ----------------------------------------------------------------------------------------
    dict(name="empty_envelope", tree=F(), patch=P()),
    dict(name="first_line_error", tree=F(), patch="garbage\n"),
    dict(name="last_line_error", tree=F(), patch=BP + "\n*** Add File: n\n+a\n"),
    dict(name="empty_text", tree=F(), patch="   \n"),
    dict(name="invalid_hunk_header", tree=F(), patch=P("*** Frob File: x")),
    dict(name="add_line_without_plus", tree=F(), patch=P("*** Add File: n", "+a", "two")),
    dict(name="add_header_without_path", tree=F(), patch=P("*** Add File: ", "+a")),
    dict(name="update_empty", tree=F(a="x\n"), patch=P("*** Update File: a")),
    dict(name="update_marker_without_lines", tree=F(a="x\n"), patch=P("*** Update File: a", "@@")),
    dict(
        name="update_eof_without_lines",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "@@ x", "*** End of File"),
    ),
    dict(
        name="stacked_markers_rejected",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "@@", "@@ x", "-x", "+y"),
    ),
    dict(name="unexpected_line", tree=F(a="x\n"), patch=P("*** Update File: a", "@@", "bad")),
    dict(
        name="second_chunk_needs_marker",
        tree=F(a="x\n"),
        patch=P("*** Update File: a", "@@", "-x", "+y", " zz", "bad"),
    ),
    # --- Multi-file results and partial failures -----------------------------------------------------
    dict(
        name="summary_order_add_modify_delete",
        tree=F(a="x\n", d="d\n"),
        patch=P("*** Delete File: d", "*** Update File: a", "@@", "-x", "+y", "*** Add File: n", "+a"),
    ),
    dict(
        name="rollback_delete_then_failed_update",
        tree=F(a="x\n", d="d\n"),
        patch=P("*** Delete File: d", "*** Update File: a", "@@", "-nope", "+y"),
    ),
    dict(
        name="rollback_add_update_then_missing_delete",
        tree=F(a="x\n"),
        patch=P(
            "*** Add File: new/dir/n", "+a", "*** Update File: a", "@@", "-x", "+y", "*** Delete File: gone"
        ),
    ),
    dict(
        name="rollback_move_then_bad_add",
        tree=F(a="x\n", f="file\n"),
        patch=P("*** Update File: a", "*** Move to: m/b", "@@", "-x", "+y", "*** Add File: f/child", "+q"),
    ),
    dict(
        name="paths_normalised",
        tree=F(a="x\n", sub__gone="g\n"),
        patch=P("*** Update File: sub/../a", "@@", "-x", "+y", "*** Delete File: ./sub//gone"),
    ),
    # --- Symlinks ----------------------------------------------------------------------------------------
    dict(
        name="symlink_update_writes_target",
        tree={"files": {"t": "x\n"}, "symlinks": {"a": "t"}},
        patch=P("*** Update File: a", "@@", "-x", "+y"),
    ),
    dict(
        name="symlink_delete_removes_link",
        tree={"files": {"t": "x\n"}, "symlinks": {"a": "t"}},
        patch=P("*** Delete File: a"),
    ),
    dict(name="symlink_dangling_delete", tree={"symlinks": {"a": "missing"}}, patch=P("*** Delete File: a")),
    dict(
        name="symlink_dangling_update",
        tree={"symlinks": {"a": "missing"}},
        patch=P("*** Update File: a", "@@", "-x", "+y"),
    ),
]


# Recorded as the unprivileged account (permission failures cannot happen as root). ``locked`` is a
# root-owned directory the user may read but not write.
LOCKED = {"root_owned": ["locked"], "modes": {}}
USER_CASE_DEFS: list[dict] = [
    dict(
        name="user_add_in_locked_dir",
        tree={"files": {"a": "x\n", "locked/keep": "k\n"}, **LOCKED},
        patch=P("*** Update File: a", "@@", "-x", "+y", "*** Add File: locked/new", "+n"),
    ),
    dict(
        name="user_update_readonly_file",
        tree={"files": {"a": "x\n"}, "root_owned": ["a"], "modes": {"a": "644"}},
        patch=P("*** Update File: a", "@@", "-x", "+y"),
    ),
    dict(
        name="user_update_unreadable_file",
        tree={"files": {"a": "x\n"}, "modes": {"a": "000"}},
        patch=P("*** Update File: a", "@@", "-x", "+y"),
    ),
    dict(
        name="user_update_writable_file_in_locked_dir",
        tree={"files": {"locked/a": "x\n"}, "root_owned": ["locked"], "modes": {"locked/a": "666"}},
        patch=P("*** Update File: locked/a", "@@", "-x", "+y"),
    ),
    dict(
        name="user_delete_in_locked_dir",
        tree={"files": {"b": "b\n", "locked/a": "x\n"}, **LOCKED},
        patch=P("*** Delete File: b", "*** Delete File: locked/a"),
    ),
    dict(
        name="user_move_out_of_locked_dir",
        tree={"files": {"locked/a": "x\n"}, "root_owned": ["locked"], "modes": {"locked/a": "666"}},
        patch=P("*** Update File: locked/a", "*** Move to: b", "@@", "-x", "+y"),
    ),
    dict(
        name="user_mkdir_in_locked_dir",
        tree={"files": {"a": "x\n"}, "dirs": ["locked"], **LOCKED},
        patch=P("*** Add File: n", "+1", "*** Add File: locked/sub/deep", "+2"),
    ),
]


def codex_binary() -> Path | None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from bench import peers

    return peers.codex()


def record(case: dict, codex: Path, user: tuple[int, int] | None = None) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cordon-patch-")).resolve()
    as_user = {}
    try:
        build_tree(root, case["tree"])
        before = snapshot(root)
        if user is not None:
            hand_over(root, case["tree"], *user)
            as_user = {"user": user[0], "group": user[1], "extra_groups": []}
        proc = subprocess.run(
            [str(codex), "--codex-run-as-apply-patch", case["patch"]],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            **as_user,
        )
        after = snapshot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    difference = case.get("difference")
    if difference is None and proc.returncode != 0 and after != before:
        difference = "rollback"
    tree = (
        before
        if user is None
        else {
            **before,
            **{"root_owned": case["tree"].get("root_owned", []), "modes": case["tree"].get("modes", {})},
        }
    )
    return {
        "name": case["name"],
        **({"as": "user"} if user is not None else {}),
        "tree": tree,
        "patch": case["patch"],
        "expected": {
            "stdout": to_token(proc.stdout, root),
            "stderr": to_token(proc.stderr, root),
            "exit_code": proc.returncode,
            "tree": after,
        },
        "difference": difference,
        "cordon_tree": snapshot_like(case["cordon_tree"]) if "cordon_tree" in case else None,
        "recorded_with": "codex 0.169.0 --codex-run-as-apply-patch",
    }


def snapshot_like(tree: dict) -> dict:
    return {
        "files": tree.get("files", {}),
        "symlinks": tree.get("symlinks", {}),
        "dirs": tree.get("dirs", []),
    }


def main() -> int:
    codex = codex_binary()
    if codex is None:
        print("gen_cases: the Codex peer is not installed (python -m bench.peers / npm); nothing recorded")
        return 1
    names = [c["name"] for c in CASE_DEFS + USER_CASE_DEFS]
    assert len(names) == len(set(names)), "duplicate case names"
    CASES.mkdir(exist_ok=True)
    for old in CASES.glob("*.json"):
        if old.stem not in names:
            old.unlink()
    for case in CASE_DEFS:
        data = record(case, codex)
        (CASES / f"{case['name']}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    recorded = len(CASE_DEFS)
    if os.geteuid() == 0:
        pw = ensure_test_user()
        for case in USER_CASE_DEFS:
            data = record(case, codex, (pw.pw_uid, pw.pw_gid))
            (CASES / f"{case['name']}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        recorded += len(USER_CASE_DEFS)
    else:
        print("gen_cases: not root, so the cases recorded as the unprivileged user were left as they are")
    print(f"gen_cases: recorded {recorded} cases into {CASES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
