"""Windows backend: a restricted token, a job object and ACLs for a capability SID.

Owns: the plan as data (``plan.py``: token, job, ACL entries, network method and the
list of what is not enforced) and the one module that calls Win32 (``win32.py``, ctypes,
function table injected, so it is import-safe and testable on any OS). Must not touch:
the policy model (``sandbox.model``) or other backends.
"""

from sandbox.windows.plan import WindowsPlan, build_plan

__all__ = ["WindowsPlan", "build_plan", "run"]


def run(policy, argv, env) -> int:
    """Run ``argv`` confined on Windows; returns the exit code (125: sandbox not set up)."""
    import sys

    from sandbox.errors import EXIT_SETUP_FAILED, SandboxError
    from sandbox.windows.win32 import launch

    try:
        return launch(build_plan(policy, argv, env))
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return EXIT_SETUP_FAILED
