"""Linux backend: bubblewrap outside, Landlock + seccomp inside.

The backend interface (sandbox/_platform.py): ``build_plan`` (a ``LinuxPlan``: the launch as
data; nothing run, written or locked), ``start`` (carry a plan out up to a ready ``Launch``:
Cordon's folders, the writable roots' locks, the cache writes, the proxy), ``run_cli``
(``sandbox run`` in the foreground) and ``spawn`` (the library's). Modules: ``probe`` (what
the host supports, found by probing), ``bwrap`` (the bubblewrap argv), ``assemble``
(``build_plan``/``start``: picks bwrap / landlock fallback / danger), ``plan`` (``LinuxPlan``),
``launch`` (runs it: signals, exit status, cleanup), the inner stage (``inner``,
``landlock``, ``seccomp``) and the network bridge for proxy mode (``proxy_bridge`` starts
``proxy_daemon``, Cordon's proxy for one sandbox, and puts ``proxy_forwarder`` inside the
namespace). Importable on any platform: nothing here touches the OS at
import, and this file imports nothing (the ``sandbox run`` hot path). Must not touch: the
policy model (sandbox.model) or other backends.
"""

from __future__ import annotations


def build_plan(policy, argv, environ=None, *, preview: bool = False, **kw):
    """The ``LinuxPlan`` for ``argv`` under ``policy`` (see ``assemble.build_plan``); ``preview``
    changes nothing here (every value of a Linux plan is known before the start)."""
    from cordon.sandbox import _platform

    if _platform.NAME != "linux":
        from cordon.sandbox.errors import SandboxError

        raise SandboxError(
            "the Linux plan is the launch itself, made from this host's facts (bubblewrap, Landlock, "
            "the mounts); run `sandbox plan` on the Linux host"
        )
    from cordon.sandbox.linux import assemble

    return assemble.build_plan(policy, argv, environ, **kw)


def start(plan, **kw):
    """Carry ``plan`` out up to a ready ``Launch`` (see ``assemble.start``)."""
    from cordon.sandbox.linux import assemble

    return assemble.start(plan, **kw)


def setup_message(policy) -> str:
    """What the status line says while a slow setup runs (``sandbox run``)."""
    what = (
        "starting the network proxy and setting up the sandbox"
        if policy.network.mode == "proxy"
        else "setting up the sandbox"
    )
    return f"{what} (the first run probes this host for bubblewrap, user namespaces, Landlock)"


def run_cli(policy, argv, opts, *, recorder=None, watch=None, explain_failure=None, after_start=None) -> int:
    """``sandbox run`` in the foreground: plan, start, wait; the exit status. A plan is made
    again (at most twice) only when a host path it masked (a socket, a hidden secret) vanished before bubblewrap ran."""
    import os
    import sys

    from cordon.sandbox.linux.assemble import explain
    from cordon.sandbox.linux.launch import RETRY, run_foreground
    from cordon.sandbox.status import status

    if policy.default_deny_read and policy.mode != "danger-full-access" and os.geteuid() == 0:
        from cordon.sandbox.linux import fswatch

        fswatch.start_root_only_scan()  # natively, while this process plans (named_secrets)
    for attempt in range(3):
        # Silent unless slow: the first run probes the host, proxy mode starts the proxy.
        with status(setup_message(policy)):
            plan = build_plan(policy, argv, watch=watch if recorder is not None else None)
            asm = start(plan, warn=None if attempt == 0 else (lambda _m: None), denials=recorder)
        if opts.get("explain") and attempt == 0:
            print(explain(policy, asm), file=sys.stderr)
        if asm.mode == "none":
            os.execve(asm.launch.path, asm.launch.argv, asm.launch.env)
        rc = run_foreground(
            asm.launch, explain_failure=explain_failure, after_start=after_start, retry=attempt < 2
        )
        if rc != RETRY:
            return rc
    return 125  # pragma: no cover - the last attempt never answers RETRY


def spawn(policy, argv, environ, fds, *, denials=None, watch="writes", warn=None):
    """Start ``argv`` confined with stdio ``fds`` (three child-side fds or None); returns
    (process handle, engine)."""
    import subprocess

    plan = build_plan(policy, argv, environ, watch=watch if denials is not None else None)
    asm = start(plan, warn=warn, denials=denials)
    try:
        if asm.mode == "none":
            proc = subprocess.Popen(
                asm.launch.argv,
                executable=asm.launch.path,
                env=asm.launch.env,
                cwd=policy.cwd,
                stdin=fds[0],
                stdout=fds[1],
                stderr=fds[2],
                start_new_session=True,
            )
        else:
            from cordon.sandbox.linux.launch import SandboxProcess

            proc = SandboxProcess(asm.launch, *fds)
    except BaseException:
        if asm.launch.bridge is not None:
            asm.launch.bridge.close()
        raise
    return proc, asm.mode
