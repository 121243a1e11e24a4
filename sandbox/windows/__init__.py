"""Windows backend: a restricted token, a job object and ACLs for a capability SID.

Owns: the plan as data (``plan.py``: token, job, ACL entries, network method and the
list of what is not enforced) and the one module that calls Win32 (``win32.py``, ctypes,
function table injected, so it is import-safe and testable on any OS). Must not touch:
the policy model (``sandbox.model``) or other backends.
"""

from sandbox.windows.plan import WindowsPlan, build_plan

__all__ = ["WindowsPlan", "build_plan", "run"]


def run(policy, argv, env, *, api=None) -> int:
    """Run ``argv`` confined on Windows; returns the exit code (125: sandbox not set up).

    Proxy mode starts Cordon's proxy on a host loopback port for the run (advisory on
    Windows: the token does not stop direct connections; see the plan's ``not_enforced``).
    ``api``: the Win32 function table (tests pass a fake).
    """
    import sys

    from sandbox.errors import EXIT_SETUP_FAILED, SandboxError
    from sandbox.model import NetworkMode
    from sandbox.windows.win32 import launch, load_api

    proxy = None
    try:
        api = api if api is not None else load_api()
        proxy_url = None
        if policy.network.mode == NetworkMode.PROXY:
            from sandbox.macos.execute import start_proxy  # shared: host-loopback proxy for a run

            proxy = start_proxy(policy)
            proxy_url = proxy.url
        return launch(build_plan(policy, argv, env, proxy_url=proxy_url), api)
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    finally:
        if proxy is not None:
            proxy.stop()
