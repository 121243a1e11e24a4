"""Sandbox errors; see policy.errors for the whole hierarchy."""

from __future__ import annotations

from cordon.policy.errors import CordonError

# Exit status of `sandbox run` when the sandbox itself could not be set up.
EXIT_SETUP_FAILED = 125


class SandboxError(CordonError):
    """Confinement could not be set up as asked; the command was NOT run."""

    exit_code = EXIT_SETUP_FAILED


class ConfigError(SandboxError):
    """A configuration value is invalid; ``field`` names it (dotted path), ``source`` the file."""

    def __init__(self, message: str, field: str | None = None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.source = source

    def __str__(self) -> str:
        where = " ".join(x for x in (self.source, self.field and f"[{self.field}]") if x)
        return f"{where}: {self.message}" if where else self.message
