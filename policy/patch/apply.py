"""Applying a parsed patch: Codex's semantics and texts, but all-or-nothing.

Codex applies hunk after hunk and stops at the first failure, leaving earlier writes in place.
Cordon does it in two phases:

1. **Stage**: run every hunk against an in-memory overlay of the tree (reads see earlier hunks'
   writes and deletes), computing all new contents and predicting each filesystem failure Codex
   would hit. Nothing is written; a failure here is reported with Codex's text.
2. **Commit**: perform the staged operations in Codex's order, journalling how to undo each
   (original bytes, created files and directories, deleted files parked under a hidden name).
   If any operation fails (e.g. disk full, a race), the journal is replayed backwards so the tree
   is byte-identical to before, then the error is reported.

Writes go through the existing file (same inode, mode, owner; symlinks followed) exactly like
Codex's ``fs::write``; a deleted symlink is removed itself, not its target.
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cordon.policy.errors import PatchError
from cordon.policy.patch.model import AddFile, DeleteFile, Patch, UpdateFile
from cordon.policy.patch.parser import parse_patch
from cordon.policy.patch.paths import WritableRoots, absolute
from cordon.policy.patch.seek import compute_update

_MISSING = object()
_counter = itertools.count()


@dataclass
class ApplyResult:
    """What ``codex --codex-run-as-apply-patch`` would print, and its exit code."""

    stdout: str
    stderr: str
    exit_code: int
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rolled_back: bool = False  # the commit failed part-way and every change was undone


@dataclass(frozen=True)
class Change:
    """One file a patch touches, with absolute (lexically normalised) paths."""

    kind: str  # "add" | "delete" | "update"
    path: str
    move_path: str | None = None
    new_content: str | None = None  # for add/update: what will be written


@dataclass
class _Op:
    kind: str  # "mkdir" | "write" | "delete"
    path: str  # physical path acted on
    display: str  # the path Codex names in its error
    data: bytes = b""
    guarded: bool = False  # confinement on: re-check at commit time that no symlink appeared


def _io_message(e: OSError) -> str:
    # Rust formats io::Error as "<strerror> (os error N)".
    if e.errno is None:
        return str(e)
    return f"{os.strerror(e.errno)} (os error {e.errno})"


def _utf8_message(e: UnicodeDecodeError) -> str:
    # Rust's Utf8Error wording.
    if e.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {e.start}"
    return f"invalid utf-8 sequence of {e.end - e.start} bytes from index {e.start}"


class _Stage:
    """An overlay of the tree: physical path -> new text (str) or None (deleted)."""

    def __init__(self) -> None:
        self.files: dict[str, str | None] = {}
        self.dirs: set[str] = set()
        self.ops: list[_Op] = []
        self.guarded = False

    def _op(self, kind: str, path: str, display: str, data: bytes = b"") -> None:
        self.ops.append(_Op(kind, path, display, data, self.guarded))

    def follow(self, path: str) -> str:
        # A name this patch already deleted or wrote is no longer (or not yet) a symlink.
        direct = self.nofollow(path)
        return direct if direct in self.files else os.path.realpath(path)

    @staticmethod
    def nofollow(path: str) -> str:
        return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))

    def is_dir(self, phys: str) -> bool:
        if phys in self.dirs:
            return True
        return self.files.get(phys, _MISSING) is _MISSING and os.path.isdir(phys)

    def read(self, abs_path: str) -> str:
        prefix = f"Failed to read file to update {abs_path}: "
        phys = self.follow(abs_path)
        state = self.files.get(phys, _MISSING)
        if state is None:
            raise PatchError(prefix + _io_message(OSError(_errno.ENOENT, "")), kind="apply")
        if isinstance(state, str):
            return state
        try:
            st = os.stat(phys)
            if not stat.S_ISREG(st.st_mode):
                raise PatchError(f"{prefix}path `{abs_path}` is not a file", kind="apply")
            with open(phys, "rb") as f:
                data = f.read()
        except OSError as e:
            raise PatchError(prefix + _io_message(e), kind="apply") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PatchError(prefix + _utf8_message(e), kind="apply") from None

    def _lookup(self, path: str) -> str:
        """What ``stat(path)`` would say once the staged operations ran: exists, missing or error."""
        phys = self.follow(path)
        if phys in self.dirs or isinstance(self.files.get(phys), str):
            return "exists"
        if phys in self.files:
            return "missing"  # deleted earlier in this patch
        # An ancestor this patch created, deleted or wrote as a file decides before the disk does.
        ancestor = os.path.dirname(phys)
        while ancestor != os.path.dirname(ancestor):
            if ancestor in self.dirs:
                return "missing"
            state = self.files.get(ancestor, _MISSING)
            if isinstance(state, str):
                return "error"  # ENOTDIR
            if state is None:
                return "missing"
            ancestor = os.path.dirname(ancestor)
        try:
            os.stat(path)
        except FileNotFoundError:
            return "missing"
        except OSError:
            return "error"
        return "exists"

    def make_dirs(self, abs_dir: str, display: str) -> None:
        """Codex creates a file's parent only when looking it up says "not found"; if that fails the
        error is its own (an existing non-directory parent instead fails the write)."""
        if self._lookup(abs_dir) != "missing":
            return
        fail = PatchError(f"Failed to create parent directories for {display}", kind="apply")
        missing: list[str] = []
        d = abs_dir
        while self._lookup(d) == "missing":
            missing.append(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        if self._lookup(d) != "exists" or not self.is_dir(self.follow(d)):
            raise fail
        for m in reversed(missing):
            parent = self.follow(os.path.dirname(m))
            if self.files.get(self.nofollow(m), _MISSING) is not None and os.path.lexists(m):
                raise fail  # e.g. a dangling symlink sits there
            if parent not in self.dirs and not os.access(parent, os.W_OK):
                raise fail
            phys = self.follow(m)
            self.dirs.add(phys)
            self._op("mkdir", phys, display)

    def write(self, abs_path: str, text: str, display: str) -> None:
        phys = self.follow(abs_path)
        parent = os.path.dirname(phys)
        fail = PatchError(f"Failed to write file {display}", kind="apply")
        if self.is_dir(phys) or not self.is_dir(parent):
            raise fail
        state = self.files.get(phys, _MISSING)
        if state is _MISSING and os.path.exists(phys):
            if not os.access(phys, os.W_OK):
                raise fail
        elif parent not in self.dirs and not os.access(parent, os.W_OK):
            raise fail
        self.files[phys] = text
        self._op("write", phys, display, text.encode("utf-8"))

    def delete(self, abs_path: str, message: str) -> None:
        phys = self.nofollow(abs_path)
        state = self.files.get(phys, _MISSING)
        if state is None:
            raise PatchError(message, kind="apply")
        if state is _MISSING:
            # Codex removes only what resolves to a regular file (a symlink to one: the link itself).
            if not os.path.isfile(phys):
                raise PatchError(message, kind="apply")
            if not os.access(os.path.dirname(phys), os.W_OK):
                raise PatchError(message, kind="apply")
        self.files[phys] = None
        self._op("delete", phys, message)


def _nul_message(hunk: AddFile | DeleteFile | UpdateFile, path: str) -> str:
    reason = "file name contained an unexpected NUL byte"
    if isinstance(hunk, AddFile):
        return f"Failed to write file {path}"
    if isinstance(hunk, DeleteFile):
        return f"Failed to delete file {path}"
    return f"Failed to read file to update {path}: {reason}"


Guard = Callable[[str, bool], "str | None"]


def _check(guard: Guard | None, path: str, writes: bool) -> None:
    problem = guard(path, writes) if guard is not None else None
    if problem is not None:
        verb = "write" if writes else "delete"
        raise PatchError(f"Refused to {verb} {path}: {problem}", kind="refused")


def stage_patch(patch: Patch, cwd: str, guard: Guard | None = None) -> tuple[list[Change], list[_Op]]:
    """Phase 1: compute every change without touching the tree; raise PatchError as Codex would fail.

    ``guard(path, writes)`` (confinement, beyond Codex) returns why a path may not be touched, or None.
    """
    stage = _Stage()
    stage.guarded = guard is not None
    changes: list[Change] = []
    for hunk in patch.hunks:
        path = absolute(cwd, hunk.path)
        moved = absolute(cwd, hunk.move_path) if isinstance(hunk, UpdateFile) and hunk.move_path else None
        if "\0" in path or (moved and "\0" in moved):
            # Not reachable through Codex (argv cannot hold NUL); fail the way Rust's fs calls do.
            raise PatchError(_nul_message(hunk, path), kind="apply")
        _check(guard, path, not isinstance(hunk, DeleteFile) and moved is None)
        if moved is not None:
            _check(guard, moved, True)
        if isinstance(hunk, AddFile):
            stage.make_dirs(os.path.dirname(path), path)
            stage.write(path, hunk.contents, path)
            changes.append(Change("add", path, None, hunk.contents))
        elif isinstance(hunk, DeleteFile):
            stage.delete(path, f"Failed to delete file {path}")
            changes.append(Change("delete", path))
        elif isinstance(hunk, UpdateFile):
            new = compute_update(stage.read(path), hunk.chunks, path)
            if hunk.move_path is not None:
                dest = absolute(cwd, hunk.move_path)
                stage.make_dirs(os.path.dirname(dest), dest)
                stage.write(dest, new, dest)
                # Deliberate difference: Codex deletes a file "moved" onto itself; Cordon keeps it.
                if stage.follow(dest) != stage.follow(path):
                    stage.delete(path, f"Failed to remove original {path}")
                changes.append(Change("update", path, dest, new))
            else:
                stage.write(path, new, path)
                changes.append(Change("update", path, None, new))
    return changes, stage.ops


def _parking_name(path: str) -> str:
    """A free hidden name next to ``path`` where a deleted file waits until the commit succeeds."""
    while True:
        hidden = os.path.join(
            os.path.dirname(path), f".{os.path.basename(path)}.cordon-patch-{os.getpid()}-{next(_counter)}"
        )
        if not os.path.lexists(hidden):
            return hidden


def _commit(ops: list[_Op]) -> tuple[PatchError | None, list[str]]:
    """Phase 2: perform ``ops`` in order; on failure undo all of them. Returns (error, rollback problems)."""
    undo: list[tuple[str, str, object]] = []
    parked: list[str] = []
    failed: PatchError | None = None
    for op in ops:
        try:
            if op.guarded and os.path.realpath(os.path.dirname(op.path)) != os.path.dirname(op.path):
                raise OSError(_errno.ELOOP, "a symlink appeared in the path since staging")
            if op.kind == "mkdir":
                os.mkdir(op.path)
                undo.append(("rmdir", op.path, None))
            elif op.kind == "write":
                # Staging resolved every symlink, so the final component must not be one now.
                try:
                    with open(os.open(op.path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                        undo.append(("restore", op.path, f.read()))
                except FileNotFoundError:
                    undo.append(("unlink", op.path, None))
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                with open(os.open(op.path, flags, 0o666), "wb") as f:
                    f.write(op.data)
            else:
                hidden = _parking_name(op.path)
                os.rename(op.path, hidden)
                undo.append(("rename", hidden, op.path))
                parked.append(hidden)
        except OSError:
            message = {
                "mkdir": f"Failed to create parent directories for {op.display}",
                "write": f"Failed to write file {op.display}",
            }.get(op.kind, op.display)
            failed = PatchError(message, kind="apply")
            break
    if failed is None:
        for hidden in parked:
            try:
                os.unlink(hidden)
            except OSError:
                pass
        return None, []
    problems: list[str] = []
    for action, path, extra in reversed(undo):
        try:
            if action == "rmdir":
                os.rmdir(path)
            elif action == "restore":
                with open(path, "wb") as f:
                    f.write(extra)  # type: ignore[arg-type]
            elif action == "unlink":
                os.unlink(path)
            else:
                os.rename(path, extra)  # type: ignore[arg-type]
        except OSError as e:
            problems.append(f"{action} {path}: {e.strerror}")
    return failed, problems


def _summary(patch: Patch) -> tuple[list[str], list[str], list[str]]:
    added, modified, deleted = [], [], []
    for hunk in patch.hunks:
        if isinstance(hunk, AddFile):
            added.append(hunk.path)
        elif isinstance(hunk, DeleteFile):
            deleted.append(hunk.path)
        else:
            modified.append(hunk.move_path if hunk.move_path is not None else hunk.path)
    return added, modified, deleted


def _guard(base: str, roots: Iterable[str | os.PathLike[str]]) -> Guard:
    checker = WritableRoots([base, *(absolute(base, os.fspath(r)) for r in roots)])
    return lambda path, writes: checker.lexical_problem(path) or checker.resolved_problem(path, writes)


def error_text(e: PatchError) -> str:
    """The line Codex's applier prints on stderr for ``e``."""
    if e.kind == "invalid_patch":
        return f"Invalid patch: {e.message}"
    if e.kind == "invalid_hunk":
        return f"Invalid patch hunk on line {e.line}: {e.message}"
    return e.message


def apply_patch(
    patch: str | Patch,
    *,
    cwd: str | os.PathLike[str] | None = None,
    confine: Iterable[str | os.PathLike[str]] | None = None,
) -> ApplyResult:
    """Apply ``patch`` under ``cwd`` (default: the current directory) all-or-nothing.

    Output and exit code match ``codex --codex-run-as-apply-patch``; on failure the tree is unchanged.
    Like Codex's applier it enforces no path policy, unless ``confine`` is given (beyond Codex): then
    every path must pass the same checks as ``assess_patch`` with writable roots ``cwd`` + ``confine``
    (protected metadata, symlink escapes, hard links), re-checked when each write happens.
    """
    base = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    guard = _guard(base, confine) if confine is not None else None
    try:
        parsed = patch if isinstance(patch, Patch) else parse_patch(patch)
    except PatchError as e:
        return ApplyResult("", error_text(e) + "\n", 1)
    if not parsed.hunks:
        return ApplyResult("", "No files were modified.\n", 1)
    try:
        _, ops = stage_patch(parsed, base, guard)
    except PatchError as e:
        return ApplyResult("", error_text(e) + "\n", 1)
    failed, problems = _commit(ops)
    if failed is not None:
        text = error_text(failed) + "\n"
        for problem in problems:
            text += f"cordon: rollback incomplete: {problem}\n"
        return ApplyResult("", text, 1, rolled_back=not problems)
    added, modified, deleted = _summary(parsed)
    out = ["Success. Updated the following files:"]
    out += [f"A {p}" for p in added] + [f"M {p}" for p in modified] + [f"D {p}" for p in deleted]
    return ApplyResult("\n".join(out) + "\n", "", 0, added, modified, deleted)
