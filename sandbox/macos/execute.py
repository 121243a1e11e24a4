"""Run a ``MacosPlan``: the thin layer that touches macOS. Only runs on darwin.

Behaviour matches the Linux launcher: exit status passed through, 128+N when the
command dies of signal N, 125 when the sandbox could not be set up (the command did
not run). SIGINT/SIGTERM/SIGHUP reach the command's process group. The command runs in
a new session, so it has no controlling terminal to push keystrokes into (TIOCSTI).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping

from cordon.sandbox import _platform
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.macos.plan import SANDBOX_EXEC, MacosPlan, build_plan, limit_reached, resource_limits
from cordon.sandbox.resolve import ResolvedPolicy

# This host, spelled as Python names it ("darwin" on macOS); tests pass another.
_HOST = "darwin" if _platform.NAME == "macos" else str(_platform.NAME or "another system")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_status(returncode: int) -> int:
    """subprocess's returncode (negative for a signal) as a shell-style exit status."""
    return 128 - returncode if returncode < 0 else returncode


def prepare(
    policy: ResolvedPolicy,
    argv: list[str],
    env: Mapping[str, str],
    *,
    proxy_port: int | None = None,
    proxy_url: str | None = None,
) -> MacosPlan:
    """Make the private temp folder and build the plan that uses it."""
    tmpdir = None if policy.share_tmp else tempfile.mkdtemp(prefix="cordon-sandbox.")
    return build_plan(policy, argv, env, proxy_port=proxy_port, proxy_url=proxy_url, tmpdir=tmpdir)


def start_proxy(policy: ResolvedPolicy):
    """The domain-filtering proxy on a fresh host loopback port, with a per-run credential.

    On macOS there is no network namespace: the proxy listens on the host's loopback and
    the profile lets the command reach only that port. The credential keeps other local
    processes from using it as an open relay.
    """
    from cordon.netproxy.api import start

    net = policy.network
    try:
        return start(
            net.allow_domains,
            net.deny_domains,
            resolve=net.resolve or None,
            listen=("127.0.0.1", 0),
            net_log=net.net_log,
        )
    except (ValueError, OSError) as e:
        raise SandboxError(f"could not start the network proxy: {e}") from e


def run(plan: MacosPlan, *, platform: str | None = None) -> int:
    """Launch ``plan`` and wait; return the exit status. Never runs the command unconfined.

    The plan's private temp folder is removed afterwards, also when the launch fails.
    """
    try:
        return _run(plan, platform or _HOST)
    finally:
        if plan.tmpdir and "XXXXXXXX" not in plan.tmpdir:
            shutil.rmtree(plan.tmpdir, ignore_errors=True)


def _run(plan: MacosPlan, platform: str) -> int:
    if platform != "darwin":
        raise SandboxError(f"the macOS backend runs only on macOS (this is {platform})")
    if plan.argv[0] != SANDBOX_EXEC or not os.access(SANDBOX_EXEC, os.X_OK):
        raise SandboxError(f"{SANDBOX_EXEC} is missing or not executable; refusing to run unconfined")
    if plan.tmpdir and "XXXXXXXX" in plan.tmpdir:
        raise SandboxError("plan has no private temp folder; build it with sandbox.macos.execute.prepare()")
    try:
        proc = subprocess.Popen(
            plan.argv,
            env=plan.env,
            cwd=plan.cwd,
            start_new_session=True,
            preexec_fn=_rlimit_setter(plan.rlimits) if plan.rlimits else None,
        )
    except OSError as e:
        raise SandboxError(f"could not start {SANDBOX_EXEC}: {e}") from e

    def forward(signum, _frame):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        returncode = _wait(proc, plan.wall)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the sandbox outlives it
        except (ProcessLookupError, PermissionError):
            pass
    status = exit_status(returncode)
    hit = limit_reached(plan, status)  # the wall timer said so itself as it fired
    if hit is not None:
        from cordon.sandbox.limits import reached

        print(f"sandbox: {reached(hit['key'], hit['value'], hit['detail'])}", file=sys.stderr)
    return status


def _rlimit_setter(rlimits: dict[str, list[int]]):
    """The child's last step before exec: the plan's rlimits (resource names as on macOS)."""
    import resource

    pairs = [(getattr(resource, name), tuple(v)) for name, v in rlimits.items()]

    def apply() -> None:
        for res, limit in pairs:
            resource.setrlimit(res, limit)

    return apply


def _wait(proc: subprocess.Popen, wall: float | None) -> int:
    """Wait; at the wall limit TERM the command's group, KILL it after the grace period."""
    if wall is None:
        return proc.wait()
    from cordon.sandbox.limits import WALL_GRACE, show

    try:
        return proc.wait(timeout=wall)
    except subprocess.TimeoutExpired:
        pass
    print(f"sandbox: wall limit {show('wall', wall)} reached; the sandbox was ended", file=sys.stderr)
    for sig, grace in ((signal.SIGTERM, WALL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def main(
    policy: ResolvedPolicy,
    argv: list[str],
    env: Mapping[str, str],
    *,
    proxy_port: int | None = None,
    platform: str | None = None,
) -> int:
    """Prepare and run; a setup failure becomes exit 125 with the reason on stderr.

    In proxy mode without a ``proxy_port``, starts Cordon's proxy for the run's duration.
    """
    proxy = None
    try:
        _, _, entries, lost = resource_limits(policy)
        if lost and "limits" not in policy.allow_unenforced:
            from cordon.sandbox.limits import refusal, show

            lost_why = [
                (e["key"], show(e["key"], e["value"]), e["why"]) for e in entries if not e["enforced"]
            ]
            raise refusal("on macOS", lost_why)
        proxy_url = None
        if policy.network.mode == "proxy" and proxy_port is None:
            if (platform or _HOST) != "darwin":
                raise SandboxError(f"the macOS backend runs only on macOS (this is {platform or _HOST})")
            proxy = start_proxy(policy)
            proxy_port, proxy_url = proxy.address[1], proxy.url
        plan = prepare(policy, argv, env, proxy_port=proxy_port, proxy_url=proxy_url)
        for note in plan.notes:
            print(f"sandbox: {note}", file=sys.stderr)
        return run(plan, platform=platform)
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return e.exit_code  # 125; 2 for a ConfigError (the request itself is wrong)
    finally:
        if proxy is not None:
            proxy.stop()
