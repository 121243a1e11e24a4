"""Strict validation against the published apply_patch grammar (``apply_patch.lark``).

Use this to check that a model produced the documented shape; use ``parser.parse_patch`` to accept
what Codex really applies. A Transformer turns the strict parse into the same ``Patch`` model, so the
two can be compared (every strictly valid patch must parse leniently to the same hunks).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cordon.policy.errors import PatchError
from cordon.policy.patch.model import AddFile, Chunk, DeleteFile, Patch, UpdateFile
from lark import Lark, Token, Transformer, UnexpectedInput

GRAMMAR = Path(__file__).with_name("apply_patch.lark")


@cache
def _lark() -> Lark:
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"), parser="earley", lexer="dynamic", propagate_positions=True
    )


class _ToPatch(Transformer):
    """Build the ``Patch`` model from the strict parse tree."""

    def filename(self, items):
        return str(items[0])

    def line(self, items):
        texts = [str(t) for t in items if isinstance(t, Token) and t.type == "TEXT"]
        return texts[0] if texts else ""

    def environment_id(self, items):
        return ("env", items[0])

    def begin_patch(self, _):
        return None

    def end_patch(self, _):
        return None

    def add_hunk(self, items):
        path, *lines = [i for i in items if not (isinstance(i, Token) and i.type == "LF")]
        return AddFile(path=path, contents="".join(line + "\n" for line in lines))

    def delete_hunk(self, items):
        return DeleteFile(path=items[0])

    def change_move(self, items):
        return ("move", items[0])

    def change_context(self, items):
        texts = [str(t) for t in items if isinstance(t, Token) and t.type != "LF"]
        return ("ctx", texts[0] if texts else None)

    def change_line(self, items):
        tag = str(items[0])
        texts = [str(t) for t in items[1:] if isinstance(t, Token) and t.type == "TEXT"]
        return ("line", tag, texts[0] if texts else "")

    def eof_line(self, _):
        return ("eof",)

    def change(self, items):
        chunks: list[Chunk] = []
        ctx: str | None = None
        old: list[str] = []
        new: list[str] = []
        origins: list[int | None] = []
        started = False

        def flush(eof: bool = False) -> None:
            if started:
                chunks.append(Chunk(ctx, tuple(old), tuple(new), eof, tuple(origins)))

        for item in items:
            if item[0] == "ctx":
                flush()
                ctx, old, new, origins, started = item[1], [], [], [], True
            elif item[0] == "line":
                started = True
                _, tag, text = item
                if tag == " ":
                    origins.append(len(old))
                    old.append(text)
                    new.append(text)
                elif tag == "+":
                    origins.append(None)
                    new.append(text)
                else:
                    old.append(text)
            elif item[0] == "eof":
                flush(eof=True)
                started = False
        flush()
        return ("chunks", chunks)

    def update_hunk(self, items):
        path = items[0]
        move = next((i[1] for i in items[1:] if isinstance(i, tuple) and i[0] == "move"), None)
        chunks = next((i[1] for i in items[1:] if isinstance(i, tuple) and i[0] == "chunks"), [])
        return UpdateFile(path=path, move_path=move, chunks=tuple(chunks))

    def start(self, items):
        env = next((i[1] for i in items if isinstance(i, tuple) and i[0] == "env"), None)
        hunks = tuple(i for i in items if isinstance(i, AddFile | DeleteFile | UpdateFile))
        return Patch(hunks=hunks, environment_id=env)


def validate_patch(text: str) -> Patch:
    """Parse ``text`` strictly; raise PatchError(kind="grammar", line=...) where it leaves the shape."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        line = getattr(e, "line", None)
        column = getattr(e, "column", None)
        where = f" (column {column})" if column and column > 0 else ""
        raise PatchError(
            f"patch does not follow the apply_patch grammar at line {line}{where}", kind="grammar", line=line
        ) from None
    return _ToPatch().transform(tree)
