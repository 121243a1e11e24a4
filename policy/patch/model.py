"""The parsed form of an apply_patch text: plain frozen dataclasses (cheap to build, easy to compare)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AddFile:
    """``*** Add File: path`` with its ``+`` lines joined (each ends in ``\\n``)."""

    path: str
    contents: str
    line: int = field(default=0, compare=False)  # 1-based line of the header in the patch

    kind = "add"


@dataclass(frozen=True)
class DeleteFile:
    """``*** Delete File: path``."""

    path: str
    line: int = field(default=0, compare=False)

    kind = "delete"


@dataclass(frozen=True)
class Chunk:
    """One ``@@`` section of an Update: old lines (context + removed) become new lines (context + added)."""

    context: str | None
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    end_of_file: bool = False
    # For each new line: the index in ``old_lines`` of the context line it repeats, or None if added.
    # Codex (0.169) keeps context lines byte-for-byte from the file (text and line ending).
    origins: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class UpdateFile:
    """``*** Update File: path`` with an optional ``*** Move to:`` and one or more chunks."""

    path: str
    move_path: str | None
    chunks: tuple[Chunk, ...]
    line: int = field(default=0, compare=False)

    kind = "update"


Hunk = AddFile | DeleteFile | UpdateFile


@dataclass(frozen=True)
class Patch:
    """A parsed patch. ``text`` is the patch without a heredoc wrapper (what gets applied)."""

    hunks: tuple[Hunk, ...]
    text: str = field(default="", compare=False)
    environment_id: str | None = None
    notes: tuple[str, ...] = field(
        default=(), compare=False
    )  # leniencies used (e.g. "heredoc"), for explanations
