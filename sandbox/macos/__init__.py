"""macOS backend: Seatbelt via ``/usr/bin/sandbox-exec``.

Owns: turning a ``ResolvedPolicy`` into an SBPL profile (``base.sbpl`` + generated rules,
``profile.py``), the plan as data (``plan.py``) and the thin darwin-only launcher
(``execute.py``). Importable on every platform: nothing here calls macOS at import.
Must not touch: the policy model (``sandbox.model``) or other backends.
"""

from cordon.sandbox.macos.plan import MacosPlan
from cordon.sandbox.macos.plan import build_plan as _build_plan


def build_plan(policy, argv, env, *, watch=None, **kw) -> MacosPlan:
    """The plan for ``argv`` under ``policy`` (a resolved policy); ``watch`` (denial observation)
    is Linux's only. See ``sandbox.macos.plan.build_plan`` for the other keywords."""
    return _build_plan(policy, list(argv), dict(env), **kw)


__all__ = ["MacosPlan", "build_plan", "run", "run_cli", "spawn", "start"]


def run(policy, argv, env, *, proxy_port=None) -> int:
    """Run ``argv`` confined on macOS; returns the exit status (125: sandbox not set up)."""
    from cordon.sandbox.macos.execute import main

    return main(policy, argv, env, proxy_port=proxy_port)


def start(plan, *, platform=None) -> int:
    """Run a ``MacosPlan`` built with its real private folder and proxy port (``run`` makes
    both); the exit status."""
    from cordon.sandbox.macos.execute import run as run_plan

    return run_plan(plan, platform=platform)


def run_cli(policy, argv, opts, **_linux_only) -> int:
    """``sandbox run`` on this platform: the backend's own launcher (``run``), in the foreground."""
    from cordon.sandbox import _platform

    return _platform.run_own_launcher("macos", run, policy, argv, opts)


def spawn(policy, argv, environ, fds, **_):
    from cordon.sandbox import _platform

    _platform.no_spawn("macos")
