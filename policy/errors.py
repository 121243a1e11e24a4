"""Cordon's exception hierarchy (shared by policy, sandbox and netproxy).

    CordonError
    ├── PolicyError        a .rules file or rule text is invalid (file, line, column)
    ├── PatchError         an apply_patch text is malformed or cannot apply (line)
    ├── ConfigError        a config value is invalid (field): exit 2 -- sandbox.errors
    ├── SandboxError       confinement could not be set up         -- sandbox.errors
    └── ProxyError         the network proxy failed                 -- netproxy

Errors are data: every one carries where it happened, and ``str()`` gives the
human-readable form.
"""

from __future__ import annotations


class CordonError(Exception):
    """Base of every error Cordon raises on purpose."""


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
