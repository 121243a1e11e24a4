"""The launcher: ``python -I -c BOOT [--ready-fd=N] [--cwd=DIR] POLICY_JSON -- CMD...``.

Frameworks that start a process themselves (LangChain's ``subprocess.Popen``, the Agents SDK's
``asyncio.create_subprocess_exec``) need one argv that *is* the confined command: this is it,
attached to the launcher's own stdio, so pipes and PTYs work unchanged. The policy comes as JSON
on the command line (no secrets in it); the command's environment is the launcher's own
(``/proc/PID/environ`` is readable only by its owner, unlike the command line), filtered by the
policy's env rules; the working directory is the launcher's own. ``-I`` keeps a caller's
``PYTHONPATH``/``PYTHONSTARTUP`` from running code in the launcher, which imports Cordon from
where the caller did (an installed copy or a checkout).

``--cwd=DIR``: the command's working directory inside the sandbox, when it is not the
launcher's own (the Agents SDK starts every shell command from ``/`` and ``cd``s into the
workspace first; the sandbox itself is better rooted in the workspace).

``--ready-fd=N``: once the sandbox is started, write ``ok`` to fd N, or ``error EXIT MESSAGE``
if it could not be, then close it; a caller that waits for this raises the error itself
(``spawn_confined``) instead of handing back a process that is already dead.

Exit status: the command's (128+N when it died of signal N); 125 when the sandbox could not
be set up, with the reason on stderr (the command did not run); 2 for a bad invocation or
policy. SIGINT/SIGTERM/SIGHUP/SIGQUIT are passed to the command; if the launcher is killed
outright the sandbox dies with it (bubblewrap's ``--die-with-parent``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
EXIT_USAGE = 2
EXIT_SETUP_FAILED = 125


def command(
    policy_json: str,
    argv: list[str],
    python: str | None = None,
    ready_fd: int | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The argv that runs ``argv`` confined by the policy given as JSON."""
    import cordon

    where = os.path.dirname(os.path.dirname(os.path.abspath(cordon.__file__)))
    boot = (
        f"import sys; sys.path.insert(0, {where!r}); "
        "from cordon.integrations._launch import main; sys.exit(main(sys.argv[1:]))"
    )
    options = [f"--ready-fd={ready_fd}"] if ready_fd is not None else []
    options += [f"--cwd={os.fspath(cwd)}"] if cwd is not None else []
    return [python or sys.executable, "-I", "-c", boot, *options, policy_json, "--", *argv]


def spawn_confined(
    policy_json: str, argv: list[str], *, python: str | None = None, **popen
) -> subprocess.Popen:
    """``subprocess.Popen`` of the launcher that returns once the sandbox runs, or raises.

    Raises ``ConfigError`` (a bad policy) or ``SandboxError`` (confinement could not be set up,
    e.g. a writable root that does not exist) with the launcher's reason; the command did not run.
    """
    from cordon.sandbox import ConfigError, SandboxError

    r, w = os.pipe()
    try:
        proc = subprocess.Popen(command(policy_json, argv, python, ready_fd=w), pass_fds=(w,), **popen)
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as status:
        report = status.read().decode("utf-8", "replace")
    if report == "ok":
        return proc
    proc.kill()
    proc.wait()
    detail = ""
    if not report and proc.stderr is not None:
        detail = proc.stderr.read()  # the launcher died before reporting (e.g. it could not import)
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            f.close()
    _, code, message = [*report.split(" ", 2), "", ""][:3]
    if not message:
        message = f"the sandbox launcher exited with status {proc.returncode} before starting the command"
        message += f": {detail.strip()}" if detail.strip() else ""
    raise (ConfigError if code == str(EXIT_USAGE) else SandboxError)(message)


def _report(fd: int | None, text: str) -> None:
    if fd is not None:
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def main(args: list[str]) -> int:
    ready, cwd = None, os.getcwd()
    while args and args[0].startswith(("--ready-fd=", "--cwd=")):
        name, _, value = args.pop(0).partition("=")
        if name == "--ready-fd":
            ready = int(value)
            os.set_inheritable(ready, False)  # the sandbox must not hold the caller's pipe open
        else:
            cwd = value
    if len(args) < 3 or args[1] != "--":
        print("usage: _launch [--ready-fd=N] [--cwd=DIR] POLICY_JSON -- CMD...", file=sys.stderr)
        _report(ready, f"error {EXIT_USAGE} bad launcher invocation")
        return EXIT_USAGE
    from cordon.sandbox import ConfigError, SandboxPolicy, spawn
    from pydantic import ValidationError

    from cordon.errors import CordonError

    try:
        policy = SandboxPolicy.model_validate_json(args[0])
    except ValidationError as e:
        print(f"cordon: invalid sandbox policy: {e}", file=sys.stderr)
        _report(ready, f"error {EXIT_USAGE} invalid sandbox policy: {e}")
        return EXIT_USAGE
    env = dict(os.environ)
    # bubblewrap is looked up on the command's PATH; frameworks may pass none at all (LangChain's
    # shell session without env= gets an empty environment), so fall back to the system default.
    env.setdefault("PATH", os.defpath)
    try:
        proc = spawn(args[2:], policy=policy, cwd=cwd, env=env, stdin=None, stdout=None, stderr=None)
    except CordonError as e:
        code = EXIT_USAGE if isinstance(e, ConfigError) else getattr(e, "exit_code", EXIT_SETUP_FAILED)
        print(f"cordon: {e}", file=sys.stderr)
        _report(ready, f"error {code} {e}")
        return code
    _report(ready, "ok")
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: proc.send_signal(s))
    rc = proc.wait()
    if proc.setup_failed:
        print("cordon: the sandbox could not be set up; the command was not run", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
