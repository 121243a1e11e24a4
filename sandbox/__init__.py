"""Cordon's sandbox: one ``SandboxPolicy``, one ``run``/``spawn``, per-platform backends.

Owns: the policy model, config loading, and launching confined processes (linux/,
macos/, windows/ implement the same backend interface). Must not touch: rule
evaluation (that is ``policy``) or proxy internals (that is ``netproxy``).
"""

from sandbox.model import NetworkMode, NetworkPolicy, ResolvedPolicy, SandboxMode, SandboxPolicy

__all__ = ["NetworkMode", "NetworkPolicy", "ResolvedPolicy", "SandboxMode", "SandboxPolicy"]
