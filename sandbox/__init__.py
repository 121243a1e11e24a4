"""Cordon's sandbox: one ``SandboxPolicy``, one ``run``/``spawn``/``arun``, per-platform backends.

    from cordon.sandbox import SandboxPolicy, run
    result = run(["make", "test"], policy=SandboxPolicy(), cwd="/src/project", timeout=600)

Owns: the policy model, config loading, and launching confined processes (linux/,
macos/, windows/ implement the same backend interface; README.md in this folder has the
list). Must not touch: rule evaluation (that is ``policy``) or proxy internals (that is
``netproxy``, which this package starts and bridges into a sandbox, never the reverse).
Attributes are imported lazily: ``import cordon.sandbox`` costs nothing (the CLI hot path).
"""

from __future__ import annotations

_LAZY = {
    "SandboxPolicy": "cordon.sandbox.model",
    "ResolvedPolicy": "cordon.sandbox.resolve",
    "SandboxMode": "cordon.sandbox.model",
    "NetworkMode": "cordon.sandbox.model",
    "NetworkPolicy": "cordon.sandbox.model",
    "run": "cordon.sandbox.api",
    "spawn": "cordon.sandbox.api",
    "arun": "cordon.sandbox.api",
    "SandboxResult": "cordon.sandbox.api",
    "SandboxedProcess": "cordon.sandbox.api",
    "SandboxTimeout": "cordon.sandbox.api",
    "SandboxError": "cordon.sandbox.errors",
    "ConfigError": "cordon.sandbox.errors",
    "load_config": "cordon.sandbox.api",
    "Pool": "cordon.sandbox.pool",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'cordon.sandbox' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
