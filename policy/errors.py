"""The exec-policy engine's errors: rules (``PolicyError``) and patches (``PatchError``).

The whole tree, rooted at ``CordonError``, is drawn in ``cordon.errors``.
"""

from __future__ import annotations

from cordon.errors import CordonError


class PolicyError(CordonError):
    """A rules file (or rule text) could not be loaded; carries its location."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, column: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ":".join(str(x) for x in (self.file, self.line, self.column) if x is not None)
        return f"{where}: {self.message}" if where else self.message


class PatchError(CordonError):
    """An apply_patch text is malformed or cannot be applied; ``line`` is 1-based when known."""

    def __init__(self, message: str, kind: str = "invalid_patch", line: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.line = line
