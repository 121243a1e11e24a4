"""macOS backend: Seatbelt via ``/usr/bin/sandbox-exec``.

Owns: turning a ``ResolvedPolicy`` into an SBPL profile (``base.sbpl`` + generated rules,
``profile.py``), the plan as data (``plan.py``) and the thin darwin-only launcher
(``execute.py``). Importable on every platform: nothing here calls macOS at import.
Must not touch: the policy model (``sandbox.model``) or other backends.
"""

from cordon.sandbox.macos.plan import MacosPlan, build_plan

__all__ = ["MacosPlan", "build_plan", "run"]


def run(policy, argv, env, *, proxy_port=None) -> int:
    """Run ``argv`` confined on macOS; returns the exit status (125: sandbox not set up)."""
    from cordon.sandbox.macos.execute import main

    return main(policy, argv, env, proxy_port=proxy_port)
