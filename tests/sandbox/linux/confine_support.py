"""Helpers for the inner-stage tests and the attack battery.

- ``build_probes``: probes.c compiled once per session into a world-readable folder, so the
  unprivileged test account and every sandbox can run it.
- ``run_inner(spec, argv, ...)``: the real in-sandbox program with ``spec`` on its spec fd,
  optionally as another identity: the walls applied in a child on this kernel, without
  bubblewrap, so each wall is tested on its own. ``executor`` picks the program: "python"
  (sandbox/linux/inner.py) or "native" (cordon-inner, built by the install); the default is
  ``EXECUTOR``, which the ``inner_executor`` fixture sets to each in turn.
- ``sandbox_run(identity, *flags, cmd=[...])``: the real ``sandbox run`` CLI.
"""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
INNER = REPO / "sandbox" / "linux" / "inner.py"
SPEC_FD = 200
NATIVE = REPO / "sandbox" / "linux" / "cordon-inner"
EXECUTOR = "python"


def native_inner() -> Path:
    """The installed native inner stage; its absence is a failure (the install builds it)."""
    if not NATIVE.is_file():
        pytest.fail(f"{NATIVE} is missing: run scripts/install.sh (it compiles cordon_inner.c)")
    source = NATIVE.with_name("cordon_inner.c")
    if source.stat().st_mtime_ns > NATIVE.stat().st_mtime_ns:  # a checkout updated since the install
        subprocess.run(
            [sys.executable, str(NATIVE.with_name("build_native.py")), str(NATIVE.parent)], check=True
        )
    return NATIVE


def have_landlock() -> int:
    from cordon.sandbox.linux import landlock

    return landlock.abi_version()


def compile_c(source: str | Path, out: Path, *extra: str) -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the syscall probes (it is installed on CI and here)")
    src = Path(source)
    r = subprocess.run(["gcc", "-O0", "-o", str(out), str(src), *extra], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot compile {src.name}: {r.stderr}")
    out.chmod(0o755)
    return out


def build_probes(scratch_session: Path) -> Path:
    """probes.c compiled once per session (test modules wrap this in a fixture)."""
    d = scratch_session / "probes"
    out = d / "probes"
    if not out.exists():
        d.mkdir(exist_ok=True)
        d.chmod(0o755)
        compile_c(HERE / "probes.c", out)
    return out


def parse_probes(stdout: str) -> dict[str, tuple]:
    """probe output -> {name: ("ok"|"errno", n) or ("signal", n)}."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        name, a, b = parts
        out[name] = ("signal", int(b)) if a == "signal" else (("ok", 0) if a == "0" else ("errno", int(b)))
    return out


def run_inner(
    spec: dict,
    argv: list[str],
    *,
    identity=None,
    cwd=None,
    env=None,
    extra_fds=(),
    timeout=60,
    python_args=(),
    executor=None,
    prefix=(),
    **kw,
):
    """Run the inner stage with ``spec`` (a dict, or the exact bytes for the spec fd) as
    ``identity`` (default: the current user); ``prefix`` is an argv that execs the rest."""
    native = (executor or EXECUTOR) == "native"
    if isinstance(spec, bytes):  # an already encoded plan, as is (malformed-input tests)
        r = spec_fd_source(spec)
    elif native:
        from cordon.sandbox.linux.inner import encode_native

        r = spec_fd_source(encode_native(spec))
    else:
        r = spec_fd_source(marshal.dumps(spec))
    saved = None
    try:
        try:
            saved = os.dup(SPEC_FD)
        except OSError:
            saved = None
        os.dup2(r, SPEC_FD, inheritable=True)
        os.close(r)
        program = (
            [str(native_inner())] if native else [sys.executable, *python_args, "-I", "-S", "-B", str(INNER)]
        )
        full = [*prefix, *program, "--spec-fd", str(SPEC_FD), "--", *argv]
        pass_fds = (SPEC_FD, *extra_fds)
        env = env if env is not None else (identity.env() if identity else dict(os.environ))
        if identity is not None:
            return identity.run(full, cwd=cwd, env=env, pass_fds=pass_fds, timeout=timeout, **kw)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(full, cwd=cwd, env=env, pass_fds=pass_fds, timeout=timeout, **kw)
    finally:
        os.close(SPEC_FD)
        if saved is not None:
            os.dup2(saved, SPEC_FD)
            os.close(saved)


def spec_fd_source(data: bytes) -> int:
    """An fd to read ``data`` from (a memfd, as the launcher does: specs exceed a pipe's 64 KiB)."""
    fd = os.memfd_create("cordon-test-spec", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def seccomp_spec(network: str = "off") -> dict:
    from cordon.sandbox.linux import seccomp

    return {"v": 1, "seccomp": seccomp.compile_bpf(network)}


def sandbox_run(identity, *flags: str, cmd: list[str], cwd: Path | None = None, env=None, timeout=120, **kw):
    """``sandbox run FLAGS -- CMD`` as ``identity`` in its workspace."""
    argv = identity.sandbox_argv("run", *flags, "--", *cmd)
    return identity.run(argv, cwd=cwd or identity.workspace, env=env, timeout=timeout, **kw)


OPS = HERE / "ops.py"


def ops_argv(*ops: str) -> list[str]:
    """argv that attempts ``ops`` (see ops.py) inside a sandbox: the real interpreter, no site
    imports, and the script's source passed inline (the checkout may be invisible inside)."""
    from tests.support.identities import INSIDE_PYTHON

    return [INSIDE_PYTHON, "-I", "-S", "-c", OPS.read_text(), *ops]


def parse_ops(stdout: str) -> dict[str, str]:
    """ops.py output -> {op: "ok" | errno name}."""
    import errno as _errno

    out = {}
    for line in stdout.splitlines():
        spec, _, res = line.rpartition(" ")
        if spec:
            out[spec] = res if res == "ok" else _errno.errorcode.get(int(res), res)
    return out
