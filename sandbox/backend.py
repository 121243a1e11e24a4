"""Which backend confines commands on this host, and the cross-platform ``plan``.

``current()`` names the platform backend (linux, macos, windows). ``build_plan(platform,
...)`` calls ``sandbox.<platform>.build_plan`` (contract D) so any host can show the plan
for any platform. ``run_cli_other`` / ``spawn_other`` hand non-Linux hosts to their
backends. Nothing here touches the OS at import.
"""

from __future__ import annotations

import importlib
import sys

from cordon.sandbox.errors import ConfigError, SandboxError

PLATFORMS = ("linux", "macos", "windows")


def current() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    raise SandboxError(f"no sandbox backend for platform {sys.platform!r}")


def backend_module(platform: str):
    if platform not in PLATFORMS:
        raise ConfigError(
            f"unknown platform {platform!r} (expected one of {', '.join(PLATFORMS)})", field="platform"
        )
    name = "cordon.sandbox.linux.plan" if platform == "linux" else f"cordon.sandbox.{platform}"
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        raise SandboxError(f"the {platform} backend is not available in this build: {e}") from None
    if not hasattr(mod, "build_plan"):
        raise SandboxError(f"the {platform} backend ({name}) has no build_plan yet")
    return mod


def build_plan(platform: str, policy, argv: list[str], env, *, preview: bool = False):
    """The plan (a pydantic model) ``platform`` would use; nothing is run.

    ``preview``: for display (``sandbox plan``); values only known at launch (macOS: the proxy's
    port) are shown as placeholders instead of being left out.
    """
    mod = backend_module(platform)
    if preview and platform == "macos":
        return mod.build_plan(policy, list(argv), dict(env), preview=True)
    return mod.build_plan(policy, list(argv), dict(env))


def _full_policy(policy):
    """The pydantic ResolvedPolicy for backends that want it (the CLI hot path has a plain one)."""
    if hasattr(policy, "model_dump"):
        return policy
    from cordon.policy.envpolicy import EnvironmentPolicy
    from cordon.sandbox.model import NetworkPolicy, ResolvedPolicy

    data = dict(vars(policy))
    data["network"] = NetworkPolicy(**{k: v for k, v in vars(policy.network).items() if v is not None})
    data["env"] = EnvironmentPolicy(**vars(policy.env))
    return ResolvedPolicy(**data)


def run_cli_other(policy, argv: list[str], opts: dict) -> int:
    """``sandbox run`` on macOS / Windows: the platform backend's own launcher."""
    import os

    platform = current()
    backend_module(platform)
    full = _full_policy(policy)
    if opts.get("explain"):
        print(
            f"sandbox: engine {platform}; writable: {', '.join(map(str, full.writable_roots)) or 'nothing'}",
            file=sys.stderr,
        )
    pkg = importlib.import_module(f"cordon.sandbox.{platform}")
    return pkg.run(full, argv, dict(os.environ))


def spawn_other(policy, argv, environ, **kw):
    raise SandboxError(
        f"sandbox.spawn is implemented for Linux only; on {current()} use the CLI "
        f"(sandbox run) or sandbox.{current()}.run"
    )
