"""Windows backend: a restricted token, a job object and ACLs for a capability SID.

Owns: the plan as data (``plan.py``: identity, token, job, ACL entries, network method,
what must be provisioned and what is not enforced), the one module that calls Win32
(``win32.py``, ctypes, function table injected, so it is import-safe and testable on any
OS), and the runner started as the sandbox account (``inner.py``). Must not touch:
the policy model (``sandbox.model``) or other backends.
"""

from cordon.sandbox.windows.plan import WindowsPlan
from cordon.sandbox.windows.plan import build_plan as _build_plan


def build_plan(policy, argv, env, *, watch=None, preview=False, **kw) -> WindowsPlan:
    """The plan for ``argv`` under ``policy`` (a resolved policy); ``watch`` (denial observation)
    is Linux's only. See ``sandbox.windows.plan.build_plan`` for the other keywords."""
    return _build_plan(policy, list(argv), dict(env), **kw)


__all__ = ["WindowsPlan", "build_plan", "run", "run_cli", "spawn", "start"]


def run(policy, argv, env, *, api=None, warn=None) -> int:
    """Run ``argv`` confined on Windows; returns the exit code (125: refused or not set up).

    The plan's method is ``sandbox-user`` when the policy asks for network off/proxy or
    deny-read; its provisioning is probed first. If it is missing, the run falls back to
    the restricted-token method only when every guarantee that method cannot give is
    named in ``policy.allow_unenforced``; otherwise it refuses and says how to provision.
    ``api``: the Win32 function table (tests pass a fake); ``warn``: where gap notices go.
    """
    import sys

    from cordon.sandbox.errors import ConfigError, SandboxError
    from cordon.sandbox.windows.plan import GUARANTEES, METHOD_TOKEN, METHOD_USER, refusal
    from cordon.sandbox.windows.win32 import launch, load_api, probe

    if warn is None:

        def warn(line: str) -> None:
            print(f"sandbox: windows: {line}", file=sys.stderr)

    proxy = None
    try:
        allowed = list(policy.allow_unenforced)
        unknown = [g for g in allowed if g not in GUARANTEES]
        if unknown:
            raise ConfigError(
                f"unknown guarantee {unknown[0]!r} (known: {', '.join(GUARANTEES)})", field="allow_unenforced"
            )
        api = api if api is not None else load_api()
        plan = build_plan(policy, argv, env)
        if "limits" in plan.unenforced and "limits" not in allowed:  # no method gives these
            from cordon.sandbox.limits import refusal, show

            raise refusal(
                "on Windows",
                [(e.key, show(e.key, e.value), e.why) for e in plan.resource_limits if not e.enforced],
            )
        if plan.method == METHOD_USER:
            missing = probe(plan, api)
            if missing:
                fallback = build_plan(policy, argv, env, method=METHOD_TOKEN)
                lost = [g for g in fallback.unenforced if g not in allowed]
                if lost:
                    raise SandboxError(refusal(lost, missing, plan.identity.account))
                warn(
                    f"sandbox account not provisioned ({'; '.join(missing)}); running with a restricted "
                    f"token of your own user, as allowed by allow_unenforced={fallback.unenforced}"
                )
                plan = fallback
        lost = [g for g in plan.unenforced if g not in allowed]
        if lost:
            raise SandboxError(refusal(lost, ["method restricted-token"], plan.identity.account))
        if policy.network.mode == "proxy":
            proxy = _start_proxy(policy, plan.network.proxy_port if plan.method == METHOD_USER else 0)
            plan = build_plan(policy, argv, env, proxy_url=proxy.url, method=plan.method)
        return launch(plan, api, warn=warn)
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return e.exit_code  # 125; 2 for a ConfigError (the request itself is wrong)
    finally:
        if proxy is not None:
            proxy.stop()


def _start_proxy(policy, port: int):
    """Cordon's proxy on host loopback: the provisioned port (sandbox-user) or any free one."""
    from cordon.netproxy.api import start
    from cordon.sandbox.errors import SandboxError

    net = policy.network
    try:
        return start(
            net.allow_domains,
            net.deny_domains,
            resolve=net.resolve or None,
            listen=("127.0.0.1", port),
            net_log=net.net_log,
        )
    except (ValueError, OSError) as e:
        raise SandboxError(f"could not start the network proxy on 127.0.0.1:{port}: {e}") from e


def start(plan, *, api=None, warn=None) -> int:
    """Launch a ``WindowsPlan`` whose method and proxy are settled (``run`` settles both); the
    exit code."""
    from cordon.sandbox.windows.win32 import launch, load_api

    return launch(plan, api if api is not None else load_api(), warn=warn)


def run_cli(policy, argv, opts, **_linux_only) -> int:
    """``sandbox run`` on this platform: the backend's own launcher (``run``), in the foreground."""
    from cordon.sandbox import _platform

    return _platform.run_own_launcher("windows", run, policy, argv, opts)


def spawn(policy, argv, environ, fds, **_):
    from cordon.sandbox import _platform

    _platform.no_spawn("windows")
