"""Cordon's exec-policy engine: a pure library (no OS calls, no subprocesses).

Owns: the `.rules` language (Codex-compatible Starlark), matching, command assessment,
apply_patch parsing/safety, and the environment policy. Must not touch: the sandbox,
the network, or any process state. The `execpolicy` CLI is a thin shell over it.

Importing ``policy`` is cheap: every public name below is resolved lazily on first use.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not `from typing import ...`: importing typing costs milliseconds here

_LAZY = {
    "load_policy": "policy.engine",
    "Policy": "policy.engine",
    "Evaluation": "policy.engine",
    "RulesError": "policy.engine",
    "load_rules_dirs": "policy.engine",
    "discover_rules": "policy.engine",
    "PolicyError": "policy.errors",
    "CordonError": "policy.errors",
    "PatchError": "policy.errors",
    "NetworkRule": "policy.models",
    "RuleMatch": "policy.models",
    "decide": "policy.decision",
    "Decision": "policy.decision",
    "assess_patch": "policy.patch",
    "apply_patch": "policy.patch",
    "apply_env_policy": "policy.envpolicy",
    "EnvironmentPolicy": "policy.envpolicy",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from policy.engine import Evaluation, Policy, RulesError, load_policy  # noqa: F401
    from policy.envpolicy import EnvironmentPolicy, apply_env_policy  # noqa: F401
    from policy.errors import CordonError, PatchError, PolicyError  # noqa: F401
    from policy.models import NetworkRule, RuleMatch  # noqa: F401


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
