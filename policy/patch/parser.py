"""The lenient apply_patch parser: accepts exactly what Codex's parser accepts, with its error texts.

Codex validates model output against a Lark grammar (see ``grammar.py``) but *applies* whatever its
hand-written, line-oriented parser accepts, which is looser: markers and headers are trimmed, a
heredoc wrapper is dropped, an Add File may be empty, the first chunk may omit ``@@``. Compatibility
is defined by that parser, so this module follows it line by line; its errors carry the 1-based line
number Codex reports (``*** Begin Patch`` is line 1).
"""

from __future__ import annotations

from cordon.policy.errors import PatchError
from cordon.policy.patch.model import AddFile, Chunk, DeleteFile, Patch, UpdateFile

BEGIN = "*** Begin Patch"
END = "*** End Patch"
END_OF_FILE = "*** End of File"
ADD = "*** Add File: "
DELETE = "*** Delete File: "
UPDATE = "*** Update File: "
MOVE = "*** Move to: "
ENV_ID = "*** Environment ID:"
HEREDOC_OPENERS = ("<<EOF", "<<'EOF'", '<<"EOF"')

# Rust's char::is_whitespace (Unicode White_Space). Python's str.strip() also strips U+001C..U+001F,
# which Rust keeps, so trimming uses this set to agree with Codex byte for byte.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

FIRST_LINE_ERROR = "The first line of the patch must be '*** Begin Patch'"
LAST_LINE_ERROR = "The last line of the patch must be '*** End Patch'"


def trim(s: str) -> str:
    """Trim like Rust's ``str::trim``."""
    return s.strip(WHITESPACE)


def split_lines(text: str) -> list[str]:
    """Split like Rust's ``str::lines``: on ``\\n``, dropping one ``\\r`` before it; no final empty line."""
    if not text:
        return []
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def _invalid(message: str) -> PatchError:
    return PatchError(message, kind="invalid_patch")


def _invalid_hunk(message: str, line: int) -> PatchError:
    return PatchError(message, kind="invalid_hunk", line=line)


def _check_envelope(lines: list[str]) -> PatchError | None:
    first = trim(lines[0]) if lines else None
    last = trim(lines[-1]) if lines else None
    if first is not None and first != BEGIN:
        return _invalid(FIRST_LINE_ERROR)
    if first is None or last != END:
        return _invalid(LAST_LINE_ERROR)
    return None


def parse_patch(text: str) -> Patch:
    """Parse ``text`` leniently, as Codex does; raise :class:`PatchError` (with ``line``) if malformed."""
    lines = split_lines(trim(text))
    notes: list[str] = []
    error = _check_envelope(lines)
    if error is not None:
        # The gpt-4.1 heredoc form: ``<<EOF`` ... ``EOF`` around the patch (only the EOF delimiter).
        if len(lines) >= 4 and lines[0] in HEREDOC_OPENERS and lines[-1].endswith("EOF"):
            lines = lines[1:-1]
            error = _check_envelope(lines)
            notes.append("heredoc")
        if error is not None:
            raise error
    body_text = "\n".join(lines)
    index = 1
    last = len(lines) - 1
    environment_id = None
    # An optional Environment ID right after the Begin marker (newer Codex versions).
    while index < last and trim(lines[index]).startswith(ENV_ID):
        if environment_id is not None:
            raise _invalid("apply_patch environment_id cannot be specified more than once")
        value = trim(trim(lines[index])[len(ENV_ID) :])
        if not value:
            raise _invalid("apply_patch environment_id cannot be empty")
        environment_id = value
        index += 1
    hunks: list[AddFile | DeleteFile | UpdateFile] = []
    while index < last:
        header = trim(lines[index])
        if header == END:
            # An early End marker: only blank lines may follow it before the final one.
            if any(trim(rest) for rest in lines[index + 1 : last]):
                raise _invalid(LAST_LINE_ERROR)
            break
        hunk, consumed = _parse_hunk(lines, index, last)
        hunks.append(hunk)
        index += consumed
    return Patch(hunks=tuple(hunks), text=body_text, environment_id=environment_id, notes=tuple(notes))


def _parse_hunk(lines: list[str], index: int, end: int) -> tuple[AddFile | DeleteFile | UpdateFile, int]:
    header = trim(lines[index])
    number = index + 1
    if header.startswith(ADD):
        path = header[len(ADD) :]
        contents: list[str] = []
        i = index + 1
        while i < end and lines[i].startswith("+"):
            contents.append(lines[i][1:] + "\n")
            i += 1
        return AddFile(path=path, contents="".join(contents), line=number), i - index
    if header.startswith(DELETE):
        return DeleteFile(path=header[len(DELETE) :], line=number), 1
    if header.startswith(UPDATE):
        path = header[len(UPDATE) :]
        i = index + 1
        move_path = None
        # Before the first chunk Codex skips stray End-of-File markers and takes one Move-to, which
        # it recognises on the raw (untrimmed) line only.
        while i < end:
            if lines[i] == END_OF_FILE:
                i += 1
            elif move_path is None and lines[i].startswith(MOVE):
                move_path = trim(lines[i][len(MOVE) :])
                i += 1
            else:
                break
        chunks: list[Chunk] = []
        while i < end:
            line = lines[i]
            if line == END or line.startswith((ADD, DELETE, UPDATE)):
                break  # the next hunk (headers count only unindented here)
            if chunks and not trim(line):
                i += 1  # blank lines between chunks
                continue
            chunk, used = _parse_chunk(lines, i, end, allow_missing_context=not chunks)
            chunks.append(chunk)
            i += used
        if not chunks:
            raise _invalid_hunk(f"Update file hunk for path '{path}' is empty", number)
        return UpdateFile(path=path, move_path=move_path, chunks=tuple(chunks), line=number), i - index
    raise _invalid_hunk(
        f"'{header}' is not a valid hunk header. Valid hunk headers: "
        "'*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
        number,
    )


def _parse_chunk(lines: list[str], index: int, end: int, *, allow_missing_context: bool) -> tuple[Chunk, int]:
    number = index + 1
    first = lines[index]
    head = first.rstrip(WHITESPACE)  # a chunk header is right-trimmed: "@@ " is a bare "@@"
    if head == "@@":
        context, start = None, 1
    elif head.startswith("@@ "):
        context, start = head[3:], 1
    elif allow_missing_context:
        context, start = None, 0
    else:
        raise _invalid_hunk(f"Expected update hunk to start with a @@ context marker, got: '{first}'", number)
    if index + start >= end:
        raise _invalid_hunk("Update hunk does not contain any lines", number + 1)
    old: list[str] = []
    new: list[str] = []
    origins: list[int | None] = []
    eof = False
    parsed = 0
    for line in lines[index + start : end]:
        if line == END:
            break
        if line == END_OF_FILE:
            if parsed == 0:
                raise _invalid_hunk("Update hunk does not contain any lines", number + 1)
            eof = True
            parsed += 1
            break
        tag = line[:1]
        if tag in ("", " "):
            origins.append(len(old))
            old.append(line[1:])
            new.append(line[1:])
        elif tag == "+":
            origins.append(None)
            new.append(line[1:])
        elif tag == "-":
            old.append(line[1:])
        elif parsed == 0:
            raise _invalid_hunk(
                f"Unexpected line found in update hunk: '{line}'. Every line should start with "
                "' ' (context line), '+' (added line), or '-' (removed line)",
                number + start,
            )
        else:
            break
        parsed += 1
    if parsed == 0:
        raise _invalid_hunk("Update hunk does not contain any lines", number + 1)
    return Chunk(context, tuple(old), tuple(new), eof, tuple(origins)), start + parsed
