"""Ray: run many confined commands across a cluster, results in order.

    from cordon.integrations.ray import run_many
    from cordon.sandbox import SandboxPolicy

    for result in run_many([["pytest", "-q", t] for t in tests],
                           policy=SandboxPolicy(workspace="/shared/proj"), cwd="/shared/proj",
                           timeout=600, num_cpus=1):
        print(result.returncode, result.stdout)

Each command is one Ray task that calls ``cordon.sandbox.run`` on whichever node Ray picks, so
every node confines with its own kernel (bubblewrap, Landlock, seccomp there) and Cordon must be
installed on every node. Results are ``cordon.sandbox.SandboxResult`` objects, yielded in the
order of ``commands`` as soon as each is ready, each with ``node_id`` (the Ray node it ran on); an error raised on a node (``SandboxError``,
``ConfigError``, ``SandboxTimeout``, ``CalledProcessError`` with ``check=True``...) is raised
here as the same exception type when its position is reached (or yielded, with
``return_exceptions=True``). ``arun_many`` is the same for asyncio.

Workspaces: paths in the policy and ``cwd`` are paths *on the node*. Either they are on a
filesystem every node shares (NFS, a cluster volume), or pass ``files={"rel/path": bytes}``:
each task then gets a fresh private workspace on its node holding those files, runs there, and
``collect=["out.txt"]`` brings named files back in ``result.files`` before the workspace is
deleted. ``**ray_options`` go to ``.options()`` of each task (``num_cpus``, ``resources``,
``scheduling_strategy``, ``runtime_env``...).

Needs the ``ray`` extra: ``pip install 'cordon-sandbox[ray]'``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import ray
    from ray.exceptions import RayTaskError
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("cordon.integrations.ray needs Ray: pip install 'cordon-sandbox[ray]'") from e

from cordon.sandbox import ConfigError, SandboxPolicy, SandboxResult

Files = Mapping[str, bytes | str]


def _safe_relative(name: str, what: str) -> str:
    """A path inside the task's workspace: relative, no '..', no NUL."""
    p = Path(name)
    if not name or "\0" in name or p.is_absolute() or ".." in p.parts:
        raise ConfigError(f"{name!r} must be a relative path inside the workspace", field=what)
    return os.path.normpath(name)


def _run_on_node(argv, policy, cwd, env, timeout, stdin, text, check, files, collect) -> SandboxResult:
    """The task body: runs on the node Ray picked."""
    from cordon.sandbox import run

    node = ray.get_runtime_context().get_node_id()
    if files is None:
        result = run(
            argv, policy=policy, cwd=cwd, env=env, timeout=timeout, stdin=stdin, text=text, check=check
        )
        result.node_id = node
        return result
    import shutil
    import tempfile

    workspace = Path(tempfile.mkdtemp(prefix="cordon-ray-"))
    try:
        for name, data in files.items():
            target = workspace / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
        policy = (policy or SandboxPolicy()).model_copy(update={"workspace": workspace})
        where = workspace / cwd if cwd is not None else workspace
        result = run(
            argv, policy=policy, cwd=where, env=env, timeout=timeout, stdin=stdin, text=text, check=check
        )
        result.node_id = node
        result.files = {}
        for name in collect:
            path = workspace / name
            # Only regular files the command left inside the workspace (a symlink could point
            # anywhere on the node).
            if (
                path.is_file()
                and not path.is_symlink()
                and path.resolve().is_relative_to(workspace.resolve())
            ):
                result.files[name] = path.read_bytes()
        return result
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


_remote = ray.remote(_run_on_node)


def _submit(
    commands: Iterable[Sequence[str | os.PathLike[str]]],
    policy: SandboxPolicy | None,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
    stdin: bytes | str | None,
    text: bool,
    check: bool,
    files: Files | None,
    collect: Sequence[str],
    ray_options: dict[str, Any],
) -> list[ray.ObjectRef]:
    if files is not None:
        files = {_safe_relative(k, "files"): v for k, v in files.items()}
        if cwd is not None:
            cwd = _safe_relative(os.fspath(cwd), "cwd")
    elif collect:
        raise ConfigError("collect needs files= (a per-task workspace to collect from)", field="collect")
    collect = [_safe_relative(c, "collect") for c in collect]
    task = _remote.options(**ray_options) if ray_options else _remote
    env = dict(env) if env is not None else None
    cwd = os.fspath(cwd) if cwd is not None else None
    return [
        task.remote(
            [os.fspath(a) for a in argv], policy, cwd, env, timeout, stdin, text, check, files, collect
        )
        for argv in commands
    ]


def _unwrap(error: RayTaskError) -> BaseException:
    """The exception the task raised, as its own type (Ray wraps it for transport)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def _cancel(refs: list[ray.ObjectRef]) -> None:
    """Cancel tasks whose results are no longer wanted (an error was raised, or the caller
    stopped iterating). Only unfinished ones: cancelling a finished task trips a Ray check."""
    if not refs:
        return
    _, pending = ray.wait(refs, num_returns=len(refs), timeout=0)
    for ref in pending:
        ray.cancel(ref, force=True)


def run_many(
    commands: Iterable[Sequence[str | os.PathLike[str]]],
    *,
    policy: SandboxPolicy | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: bytes | str | None = None,
    text: bool = False,
    check: bool = False,
    files: Files | None = None,
    collect: Sequence[str] = (),
    return_exceptions: bool = False,
    **ray_options: Any,
) -> Iterator[SandboxResult]:
    """Run every argv confined as a Ray task; yield their ``SandboxResult`` in order.

    Every task is submitted before this returns; iterating waits for each in turn. The keyword
    arguments are ``cordon.sandbox.run``'s, applied to every command on its node (``env=None``
    means the Ray worker's environment there). With ``return_exceptions`` an error is yielded
    in its place instead of raised.
    """
    refs = _submit(commands, policy, cwd, env, timeout, stdin, text, check, files, collect, ray_options)
    return _results(refs, return_exceptions)


def _results(refs: list[ray.ObjectRef], return_exceptions: bool) -> Iterator[SandboxResult]:
    done = 0  # refs[:done] have finished (with a result or an error)
    try:
        for ref in refs:
            try:
                result = ray.get(ref)
            except RayTaskError as e:
                result = _unwrap(e)
                if not return_exceptions:
                    done += 1
                    raise result from None
            done += 1
            yield result
    finally:
        _cancel(refs[done:])


async def arun_many(
    commands: Iterable[Sequence[str | os.PathLike[str]]],
    *,
    policy: SandboxPolicy | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: bytes | str | None = None,
    text: bool = False,
    check: bool = False,
    files: Files | None = None,
    collect: Sequence[str] = (),
    return_exceptions: bool = False,
    **ray_options: Any,
) -> AsyncIterator[SandboxResult]:
    """``run_many`` for asyncio: ``async for result in arun_many(...)``, in order.

    Leaving the loop early (or cancelling the task) cancels the commands not yet finished.
    """
    refs = _submit(commands, policy, cwd, env, timeout, stdin, text, check, files, collect, ray_options)
    done = 0
    try:
        for ref in refs:
            try:
                result = await ref
            except RayTaskError as e:
                result = _unwrap(e)
                if not return_exceptions:
                    done += 1
                    raise result from None
            done += 1
            yield result
    finally:
        _cancel(refs[done:])


__all__ = ["arun_many", "run_many"]
