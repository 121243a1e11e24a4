"""Cordon's exception tree: everything Cordon raises on purpose is a ``CordonError``.

    CordonError
    ├── ArgumentError      a value passed in is not one Cordon accepts     -- cordon.errors
    │                      (an approval policy, a sandbox mode, an empty command); a ValueError too
    ├── PolicyError        a .rules file or rule text is invalid (file, line, column) -- policy.errors
    │   └── RulesError     ... with the stage that failed (read, parse, evaluate)     -- policy.engine
    ├── PatchError         an apply_patch text is malformed or cannot apply (line)   -- policy.errors
    ├── SandboxError       confinement could not be set up: the command did NOT run  -- sandbox.errors
    │   ├── ConfigError    a config value is invalid (field): exit 2                 -- sandbox.errors
    │   └── HardeningError process hardening failed                             -- sandbox.hardening
    ├── SandboxTimeout     a confined command outlived its timeout (a TimeoutExpired) -- sandbox.api
    └── ProxyError         the network proxy refused or failed                       -- netproxy.errors
        ├── PatternError   a domain pattern is invalid (a ValueError too)           -- netproxy.patterns
        ├── HostError      a host name is invalid (a ValueError too)                -- netproxy.hosts
        └── HelloError     a TLS ClientHello is malformed (a ValueError too)        -- netproxy.clienthello

Errors are data: each carries where it happened, and ``str()`` gives the readable form.
Standard library only and imports nothing (``sandbox run`` loads it on every launch).
"""


class CordonError(Exception):
    """Base of every error Cordon raises on purpose."""


class ArgumentError(CordonError, ValueError):
    """A value passed to Cordon is not one it accepts: an unknown approval policy or sandbox
    mode, an empty command. Also a ``ValueError``, which is what callers caught before."""
