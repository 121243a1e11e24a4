"""Cordon's exec-policy engine: rules, the command decision, apply_patch, the environment policy.

Owns what README.md in this folder lists. It starts no process; it writes only where asked
or where its caches live (``apply_patch``, ``amend``, the parsed-policy cache, the launch
journal). Must not touch: confinement, processes or the network (it imports nothing of
``cordon.sandbox`` or ``cordon.netproxy``). The `execpolicy` CLI is a thin shell over it.

Importing ``policy`` is cheap: every public name below is resolved lazily on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing import ...`: importing typing costs milliseconds here

_LAZY = {
    "load_policy": "cordon.policy.engine",
    "Policy": "cordon.policy.engine",
    "Evaluation": "cordon.policy.engine",
    "RulesError": "cordon.policy.engine",
    "load_rules_dirs": "cordon.policy.engine",
    "discover_rules": "cordon.policy.engine",
    "PolicyError": "cordon.policy.errors",
    "CordonError": "cordon.errors",
    "PatchError": "cordon.policy.errors",
    "NetworkRule": "cordon.policy.models",
    "RuleMatch": "cordon.policy.models",
    "decide": "cordon.policy.decision",
    "Decision": "cordon.policy.decision",
    "assess_patch": "cordon.policy.patch",
    "apply_patch": "cordon.policy.patch",
    "apply_env_policy": "cordon.policy.envpolicy",
    "EnvironmentPolicy": "cordon.policy.envpolicy",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from cordon.policy.engine import Evaluation, Policy, RulesError, load_policy  # noqa: F401
    from cordon.policy.envpolicy import EnvironmentPolicy, apply_env_policy  # noqa: F401
    from cordon.policy.errors import PatchError, PolicyError  # noqa: F401
    from cordon.policy.models import NetworkRule, RuleMatch  # noqa: F401

    from cordon.errors import CordonError  # noqa: F401


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'cordon.policy' has no attribute {name!r}")
    import importlib  # here, not at the top: `execpolicy check` imports this package, never this

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
