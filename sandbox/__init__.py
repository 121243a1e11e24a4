"""Cordon's sandbox: one ``SandboxPolicy``, one ``run``/``spawn``/``arun``, per-platform backends.

    from sandbox import SandboxPolicy, run
    result = run(["make", "test"], policy=SandboxPolicy(), cwd="/src/project", timeout=600)

Owns: the policy model, config loading, and launching confined processes (linux/,
macos/, windows/ implement the same backend interface). Must not touch: rule
evaluation (that is ``policy``) or proxy internals (that is ``netproxy``).
Attributes are imported lazily: ``import sandbox`` costs nothing (the CLI hot path).
"""

from __future__ import annotations

_LAZY = {
    "SandboxPolicy": "sandbox.model",
    "ResolvedPolicy": "sandbox.model",
    "SandboxMode": "sandbox.model",
    "NetworkMode": "sandbox.model",
    "NetworkPolicy": "sandbox.model",
    "run": "sandbox.api",
    "spawn": "sandbox.api",
    "arun": "sandbox.api",
    "SandboxResult": "sandbox.api",
    "SandboxedProcess": "sandbox.api",
    "SandboxTimeout": "sandbox.api",
    "SandboxError": "sandbox.errors",
    "ConfigError": "sandbox.errors",
    "load_config": "sandbox.api",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
