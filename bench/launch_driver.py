"""Launch `true` in a sandbox from a running Python process, many times; print timings as JSON.

Runs under whichever interpreter has the tool installed (Cordon's bench venv, or the
sandlock venv in .cache/peers), so each tool is measured in-process the way an embedder
uses it:

    python launch_driver.py TOOL serial N WORKSPACE        -> {"ms": [per-launch ms, ...]}
    python launch_driver.py TOOL parallel N WORKSPACE K    -> {"per_s": launches/s with K threads}

TOOL: cordon (``cordon.sandbox.run``), cordon-pool (``cordon.sandbox.Pool.run``, warm), sandlock (``sandlock.Sandbox.run``) or bwrap (bare
``bwrap --unshare-all``, started with subprocess: the floor for a namespace sandbox), or
cordon-mounts: bubblewrap alone with the very argv Cordon's plan gives it for this workspace
(its namespaces, tmpfs, masks and placeholders), running ``true`` instead of the inner stage:
no launcher, no Landlock, no seccomp. What the mounts alone cost, the ceiling for ``cordon``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time


def launcher(tool: str, ws: str):
    if tool == "cordon":
        from cordon.sandbox import run

        def go() -> None:
            r = run(["true"], cwd=ws)
            assert r.returncode == 0, r.stderr

    elif tool == "cordon-pool":
        from cordon.sandbox import Pool

        pool = Pool(cwd=ws, size=2)

        def go() -> None:
            # A warm pool's latency: the next sandbox is ready (as it is between an agent's
            # commands); its start-up happens off the command's path. Waiting is not timed.
            go.wait()
            r = pool.run(["true"])
            assert r.returncode == 0, r.stderr

        go.pool = pool

    elif tool == "sandlock":
        import sandlock

        def go() -> None:
            # Read-only system, writable workspace: the same work as Cordon's default policy.
            sb = sandlock.Sandbox(fs_readable=["/usr", "/lib", "/lib64", "/bin", "/etc"], fs_writable=[ws])
            r = sb.run(["true"])
            assert getattr(r, "exit_code", 0) in (0, None) and getattr(r, "success", True), r

    elif tool == "bwrap":
        argv = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"]

        def go() -> None:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)

    elif tool == "cordon-mounts":
        argv, bwrap_fds, placeholders = cordon_bwrap_argv(ws)

        def go() -> None:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, pass_fds=bwrap_fds, cwd=ws)

        def cleanup() -> None:
            # The mount points bubblewrap made in the workspace (the launcher removes its own; here
            # at the end, as other threads' sandboxes may still use them). Left behind, they would
            # change the plan of every later launch in this workspace.
            for p in placeholders:
                try:
                    os.rmdir(p)
                except OSError:
                    pass

        go.cleanup = cleanup

    else:
        raise SystemExit(f"unknown tool {tool}")
    return go


def cordon_bwrap_argv(ws: str) -> tuple[list[str], tuple[int, ...], list[str]]:
    """bubblewrap's argv from Cordon's plan for ``true`` in ``ws`` (default policy), up to the
    inner stage, with ``true`` in its place; the descriptors bubblewrap itself reads (the masks':
    held open here as the launcher hands them over); the placeholders it makes."""
    from cordon.sandbox import SandboxPolicy
    from cordon.sandbox.linux import assemble, inner
    from cordon.sandbox.linux.launch import fd_source

    plan = assemble.build_plan(SandboxPolicy().resolve(cwd=ws), ["true"])
    assemble.make_own_folders(plan)  # what start makes first: the folders the plan's binds name
    if plan.empty_dirs:
        assemble.make_empty_dirs(plan.empty_dirs)  # start's too: the mask file the plan binds
    argv = list(plan.argv)
    argv = [plan.program, *argv[1 : argv.index("--json-status-fd")], "true"]
    ours = []
    for target, data in plan.fds.items():
        if inner.SPEC_FD <= target < inner.SPEC_FD + 100:
            continue  # the inner stage's, not run here
        src = fd_source(data)
        if src != target:
            os.dup2(src, target, inheritable=False)
            os.close(src)
        ours.append(target)
    return argv, tuple(ours), list(plan.placeholders)


def _pool_rss_kb(pool) -> int:
    """Resident memory of the pool's waiting sandboxes: every process of each (bwrap, its
    PID 1, the inner stage waiting for a command)."""
    total = 0
    todo = [w.proc.pid for w in pool._ready]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total


def _peak_rss_kb() -> int:
    """This launcher process's peak resident memory (the sandboxes it started are not in it)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    tool, mode, n, ws = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    go = launcher(tool, ws)
    try:
        return measure(go, mode, n)
    finally:
        getattr(go, "cleanup", lambda: None)()


def measure(go, mode: str, n: int) -> int:
    pool = getattr(go, "pool", None)
    if pool is not None:
        t0 = time.perf_counter()
        pool.wait_ready()
        start_ms = (time.perf_counter() - t0) * 1000
        go.wait = lambda: None
    for _ in range(3):  # warm-up: imports, probe caches
        go()
    if mode == "serial":
        ms = []
        for _ in range(n):
            if pool is not None:
                pool.wait_ready()
            t0 = time.perf_counter()
            go()
            ms.append((time.perf_counter() - t0) * 1000)
        out = {"ms": ms, "peak_rss_kb": _peak_rss_kb()}
        if pool is not None:
            pool.wait_ready()
            out["pool_start_ms"] = start_ms
            out["pool_rss_kb"] = _pool_rss_kb(pool)
            pool.close()
        print(json.dumps(out))
        return 0
    threads = int(sys.argv[5])
    per_thread = max(1, n // threads)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(per_thread):
                go()
        except BaseException as e:  # reported, not swallowed
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.perf_counter() - t0
    if errors:
        raise errors[0]
    print(json.dumps({"per_s": per_thread * threads / el, "peak_rss_kb": _peak_rss_kb()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
