"""Sandbox errors; ``cordon.errors`` draws the whole tree."""

from __future__ import annotations

from cordon.errors import CordonError

# Exit statuses of the `sandbox` command (docs/sandbox.md, "Exit status"): otherwise the
# command's own status, 128+N when it died of signal N.
EXIT_USAGE = 2  # a usage or configuration error: a bad flag value, config file, pattern, platform
EXIT_SETUP_FAILED = 125  # a valid request that could not be confined: the command was NOT run


class SandboxError(CordonError):
    """Confinement could not be set up as asked; the command was NOT run."""

    exit_code = EXIT_SETUP_FAILED


class ConfigError(SandboxError):
    """A configuration value is invalid; ``field`` names it (dotted path), ``source`` the file.

    A SandboxError too (nothing was run), but the request itself is wrong: exit 2, not 125.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, field: str | None = None, source: str | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.source = source
        # The next step, when the raiser knows it better than a generic rule would ("" = none:
        # the message already says what to do).
        self.hint = hint

    def __str__(self) -> str:
        where = " ".join(x for x in (self.source, self.field and f"[{self.field}]") if x)
        return f"{where}: {self.message}" if where else self.message
