"""Every denial explained (issue 19): the real ``sandbox run`` as root and as the test user.

Each wall is attacked once in one command (a write outside the workspace, a read of a hidden
secret, a refused syscall, a refused host in proxy mode); each must appear exactly once in the
``--denials`` JSON Lines file with its layer, rule and ``allow_with``, and in the stderr
summary. Positive controls: the same operations succeed unconfined, an allowed host passes, and
ordinary work (including failures that are not the sandbox's doing) reports no denial.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.sandbox.linux.confine_support import sandbox_run
from tests.support.identities import INSIDE_PYTHON


@pytest.fixture
def place(identity):
    """A fake home (with a secret where ~/.ssh lives) and a directory outside the workspace,
    both owned by ``identity`` under its real home (the sandbox's /tmp is private)."""
    base = identity.home / f".cordon-denials-{uuid.uuid4().hex[:8]}"
    out = base / "out"
    ssh = base / ".ssh"
    for d in (base, out, ssh):
        d.mkdir()
    (ssh / "id_test").write_text("SECRET-KEY\n")
    for p in (base, out, ssh, ssh / "id_test"):
        os.chown(p, identity.uid, identity.gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _script(place: Path) -> str:
    return (
        f"echo data > {place}/out/result.txt; "
        f"cat {place}/.ssh/id_test; "
        "unshare -U true; "
        "curl -s -o /dev/null -m 20 -w 'http=%{http_code}\\n' http://denied.test/; "
        "true"
    )


@pytest.mark.network
def test_each_wall_reports_once_with_its_grant(identity, place, inner_executor, http_server) -> None:
    jsonl = identity.workspace / "denials.jsonl"
    env = identity.env(HOME=str(place))
    r = sandbox_run(
        identity,
        "--denials",
        str(jsonl),
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        cmd=[
            "sh",
            "-c",
            _script(place)
            + f"; curl -s -o /dev/null -w 'ok=%{{http_code}}\\n' http://127.0.0.1:{http_server.port}/",
        ],
        env=env,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    # the walls held
    assert not (place / "out" / "result.txt").exists()
    assert "SECRET-KEY" not in r.stdout
    assert "http=403" in r.stdout
    assert "ok=200" in r.stdout, r.stdout  # positive control: the allowed host passes
    all_events = _events(jsonl)
    # curl's C library probes for nscd with socket(AF_UNIX): refused and reported, but a probe.
    probes = [e for e in all_events if e["layer"] == "seccomp" and e["operation"] == "socket"]
    assert all(e["target"] == "socket(AF_UNIX)" and e["allow_with"] == "--network on" for e in probes)
    events = [e for e in all_events if e not in probes]
    by_layer: dict[str, list[dict]] = {}
    for e in events:
        by_layer.setdefault(e["layer"], []).append(e)
    writes = [e for e in by_layer.get("mount", []) if e["operation"] == "write"]
    reads = [e for e in by_layer.get("mount", []) if e["operation"] == "read"]
    assert writes == [
        {
            "layer": "mount",
            "operation": "write",
            "target": f"{place}/out/result.txt",
            "rule": writes[0]["rule"],
            "allow_with": f"--writable-root {place}/out",
            "errno": "EROFS",
            "pid": writes[0]["pid"],
            "process": "sh",
        }
    ], events
    assert "outside the writable roots" in writes[0]["rule"]
    assert len(reads) == 1, events
    assert reads[0]["target"] == f"{place}/.ssh/id_test"
    assert reads[0]["rule"] == "default deny-read ~/.ssh"
    assert reads[0]["allow_with"] == "--no-default-deny-read"
    assert reads[0]["process"] == "cat"
    sc = by_layer.get("seccomp", [])
    assert [(e["operation"], e["target"], e["allow_with"], e["errno"]) for e in sc] == [
        ("unshare", "unshare(CLONE_NEWUSER)", None, "EPERM")
    ], events
    proxy = by_layer.get("proxy", [])
    assert [(e["operation"], e["target"], e["allow_with"]) for e in proxy] == [
        ("http", "denied.test:80", "--allow-domain denied.test")
    ], events
    # nothing else: the allowed host, the shell's own reads, the exec of each tool are not denials
    assert len(events) == 4, events
    # the stderr summary names each of them
    summary = r.stderr[r.stderr.index("denied by the sandbox") :]
    for needle in (
        f"write {place}/out/result.txt",
        f"--writable-root {place}/out",
        f"read {place}/.ssh/id_test",
        "unshare(CLONE_NEWUSER)",
        "http denied.test:80",
        "--allow-domain denied.test",
    ):
        assert needle in summary, summary


def test_the_same_operations_succeed_unconfined(identity, place) -> None:
    """Positive control for the test above: nothing but the sandbox stands in the way."""
    script = (
        f"echo data > {place}/out/result.txt && cat {place}/.ssh/id_test && unshare -U true && echo all-ok"
    )
    r = identity.run(["sh", "-c", script], env=identity.env(HOME=str(place)))
    assert r.returncode == 0, r.stderr
    assert "SECRET-KEY" in r.stdout and "all-ok" in r.stdout
    assert (place / "out" / "result.txt").read_text() == "data\n"


def test_ordinary_work_and_its_own_failures_are_not_denials(identity, place, inner_executor) -> None:
    """No false denials: writes in the workspace and /tmp, reads, a missing file, a directory
    outside that does not exist, O_PATH on a mask, a stat of a secret, a permitted socket."""
    jsonl = identity.workspace / "d.jsonl"
    script = (
        "mkdir -p sub && echo x > sub/f && mv sub/f sub/g && rm sub/g && rmdir sub; "
        "echo t > /tmp/t && cat /tmp/t >/dev/null; cat /etc/hostname >/dev/null; "
        "cat /no/such/file 2>/dev/null; echo y > /no/such/dir/file 2>/dev/null; "
        f"ls -ld {place}/.ssh >/dev/null; test -e {place}/.ssh; "
        "python3 -c 'import socket; socket.socketpair()' 2>/dev/null; "
        "echo z > /dev/null; true"
    )
    r = sandbox_run(
        identity, "--denials", str(jsonl), cmd=["sh", "-c", script], env=identity.env(HOME=str(place))
    )
    assert r.returncode == 0, r.stderr
    assert [e for e in _events(jsonl) if e["operation"] != "socket"] == []
    assert "denied by the sandbox" not in r.stderr  # a successful run: library socket probes stay quiet


def test_protected_name_and_carve_out_name_their_rule(identity) -> None:
    ws = identity.workspace
    (ws / ".git").mkdir()
    (ws / "ro").mkdir()
    for p in (ws / ".git", ws / "ro"):
        os.chown(p, identity.uid, identity.gid)
    jsonl = ws / "d.jsonl"
    r = sandbox_run(
        identity,
        "--read-only",
        "ro",
        "--denials",
        str(jsonl),
        cmd=["sh", "-c", "echo x > .git/config; echo y > ro/f; true"],
    )
    assert r.returncode == 0, r.stderr
    got = {e["target"]: (e["rule"], e["allow_with"]) for e in _events(jsonl)}
    assert got == {
        f"{ws}/.git/config": ("protected name .git (read-only in every writable root)", "--allow-git-write"),
        f"{ws}/ro/f": (f"--read-only {ws}/ro", f"remove --read-only {ws}/ro"),
    }


def test_network_off_socket_names_the_family(identity) -> None:
    """Unix and inet sockets of its own work under bubblewrap with the network off (issue 17:
    no event); a family denied in every mode is reported with nothing that would allow it."""
    jsonl = identity.workspace / "d.jsonl"
    py = (
        "import socket\nsocket.socket(socket.AF_UNIX); socket.socket(socket.AF_INET)\n"
        "try:\n    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\nexcept OSError as e:\n    print(e.errno)"
    )
    r = sandbox_run(identity, "--denials", str(jsonl), cmd=[INSIDE_PYTHON, "-I", "-S", "-c", py])
    assert r.stdout.strip() == "1", r.stderr  # EPERM, exactly what the plain filter returns
    (e,) = _events(jsonl)
    assert (e["layer"], e["target"], e["allow_with"]) == ("seccomp", "socket(AF_VSOCK)", None)


def test_library_result_carries_denials_and_spawn_streams_them(identity, place) -> None:
    if not identity.is_root:
        pytest.skip("the library runs in this test process (root); the CLI tests cover the test user")
    from cordon.sandbox import SandboxPolicy, run, spawn

    policy = SandboxPolicy(workspace=identity.workspace)
    res = run(
        ["sh", "-c", f"echo x > {place}/out/f; unshare -n true; true"], policy=policy, cwd=identity.workspace
    )
    assert res.returncode == 0
    assert [(d.layer, d.operation) for d in res.denials] == [("mount", "write"), ("seccomp", "unshare")]
    assert res.denials[0].allow_with == f"--writable-root {place}/out"
    seen = []
    with spawn(
        ["sh", "-c", "unshare -m true; true"], policy=policy, cwd=identity.workspace, on_denial=seen.append
    ) as p:
        p.communicate()
    assert [d.target for d in seen] == ["unshare(CLONE_NEWNS)"]
    assert [d.target for d in p.denials] == ["unshare(CLONE_NEWNS)"]
    quiet = run(["sh", "-c", "unshare -n true; true"], policy=policy, cwd=identity.workspace, denials=False)
    assert quiet.denials == []


def test_the_limit_that_fired_is_a_limit_event(identity) -> None:
    jsonl = identity.workspace / "d.jsonl"
    r = sandbox_run(identity, "--denials", str(jsonl), "--limit", "wall=1", cmd=["sleep", "30"])
    assert r.returncode != 0
    (e,) = _events(jsonl)
    assert (e["layer"], e["operation"], e["target"]) == ("limit", "wall", "wall 1s")
    assert e["allow_with"] == "--limit wall=VALUE (above 1s)"
    quick = sandbox_run(identity, "--denials", str(jsonl), "--limit", "wall=30", cmd=["true"])
    assert quick.returncode == 0 and len(_events(jsonl)) == 1  # positive control: no limit fired


def test_landlock_fallback_reports_landlock_denials_and_no_missing_file(identity, place, monkeypatch) -> None:
    """--fallback=landlock (no namespaces): Landlock is the filesystem wall; a secret that
    exists is reported, a missing one is not (ENOENT comes before Landlock)."""
    if not identity.is_root:
        pytest.skip("the library runs in this test process (root); the fallback is forced in-process")
    from cordon.sandbox import SandboxPolicy, run
    from cordon.sandbox.frozen import Record
    from cordon.sandbox.linux import probe

    monkeypatch.setattr(probe, "userns_status", lambda: Record(available=False, reason="forced by the test"))
    monkeypatch.setenv("HOME", str(place))  # the default ~/.ssh entry resolves here (in this process)
    policy = SandboxPolicy(workspace=identity.workspace, fallback="landlock")
    script = f"echo x > {place}/out/f; cat {place}/.ssh/id_test; cat {place}/.ssh/missing; true"
    res = run(
        ["sh", "-c", script],
        policy=policy,
        cwd=identity.workspace,
        env=identity.env(HOME=str(place)),
        denials="all",
    )
    assert res.engine == "landlock" and res.returncode == 0
    got = [(d.layer, d.operation, d.target, d.errno) for d in res.denials if d.layer != "seccomp"]
    assert got == [
        ("landlock", "write", f"{place}/out/f", "EACCES"),
        ("landlock", "read", f"{place}/.ssh/id_test", "EACCES"),
    ], res.denials
    assert not (place / "out" / "f").exists()


@pytest.fixture
def hidden_bins(identity, place):
    """Two folders of executables that the sandbox hides: one under the host's /tmp (the
    sandbox's /tmp is private) and one under a ``--deny-read`` folder. Each holds ``ls`` (also
    found later on PATH) and ``only-hidden`` (found nowhere else)."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="cordon-path-"))
    masked = place / "masked"
    for d in (tmp / "bin", masked / "bin"):
        d.mkdir(parents=True)
        for name in ("ls", "only-hidden"):
            shutil.copy("/bin/true", d / name)
    for p in (
        tmp,
        tmp / "bin",
        masked,
        masked / "bin",
        *(tmp / "bin").iterdir(),
        *(masked / "bin").iterdir(),
    ):
        os.chown(p, identity.uid, identity.gid)
    yield tmp / "bin", masked / "bin"
    shutil.rmtree(tmp, ignore_errors=True)


LOOKUPS = (
    "import os, subprocess\n"
    "subprocess.run(['ls', '/'], stdout=subprocess.DEVNULL, check=True)\n"  # execvp along PATH
    "subprocess.run(['env', 'ls', '/'], stdout=subprocess.DEVNULL, check=True)\n"  # env's own execvp
    "print('lookups-ok')\n"
)


def test_path_lookup_probes_into_hidden_folders_are_not_denials(
    identity, hidden_bins, inner_executor
) -> None:
    """PATH starts with a folder the private /tmp hides and one under --deny-read: execvp (the
    inner stage starting the command, Python's subprocess, env) tries them first, fails with
    ENOENT/EACCES as for a missing file, and finds ``ls`` later on PATH: not a denial."""
    tmp_bin, masked_bin = hidden_bins
    jsonl = identity.workspace / "d.jsonl"
    env = identity.env(CORDON_INNER=inner_executor)  # the inner stage's own lookup too
    env["PATH"] = f"{tmp_bin}:{masked_bin}:{env['PATH']}"
    r = sandbox_run(
        identity, "--deny-read", str(masked_bin.parent), "--denials", str(jsonl), cmd=["ls", "/"], env=env
    )
    assert r.returncode == 0 and "etc" in r.stdout, r.stderr  # the real ls ran (the copies print nothing)
    r = sandbox_run(
        identity,
        "--deny-read",
        str(masked_bin.parent),
        "--denials",
        str(jsonl),
        cmd=[INSIDE_PYTHON, "-I", "-S", "-c", LOOKUPS],
        env=env,
    )
    assert "lookups-ok" in r.stdout, r.stderr
    # the dynamic loader's search: a libc copy in a hidden folder first on LD_LIBRARY_PATH
    import glob

    libc = sorted(glob.glob("/lib/*/libc.so.6") + glob.glob("/usr/lib/*/libc.so.6"))[0]
    lib = tmp_bin.parent / "lib"
    lib.mkdir()
    shutil.copy(libc, lib / "libc.so.6")
    # (a copy of true, visible in this run: it needs only libc, so the loader opens its cache
    # between the hidden candidate and the real one)
    cmd = ["env", f"LD_LIBRARY_PATH={lib}", f"{masked_bin}/ls"]
    r = sandbox_run(identity, "--denials", str(jsonl), cmd=cmd, env=env)
    assert r.returncode == 0, r.stderr
    assert [e for e in _events(jsonl) if e["layer"] != "seccomp"] == []
    assert "denied by the sandbox" not in r.stderr


def test_exec_of_a_hidden_binary_is_still_a_denial(identity, hidden_bins, inner_executor) -> None:
    """Positive side of the lookup rule: an exec that nothing later satisfies is reported, by
    explicit path and by a PATH lookup that finds the name nowhere else, named after the
    command (not the inner stage that was starting it); unconfined the same calls succeed."""
    tmp_bin, masked_bin = hidden_bins
    jsonl = identity.workspace / "d.jsonl"
    env = identity.env(CORDON_INNER=inner_executor)  # the inner stage's own lookup too
    env["PATH"] = f"{tmp_bin}:{masked_bin}:{env['PATH']}"
    script = f"{tmp_bin}/ls; {masked_bin}/ls; env only-hidden; echo done"
    control = identity.run(["sh", "-c", script.replace("; ", " && ")], env=env)
    assert control.returncode == 0 and "done" in control.stdout, control.stderr  # positive control
    flags = ("--deny-read", str(masked_bin.parent), "--denials", str(jsonl))
    r = sandbox_run(identity, *flags, cmd=["sh", "-c", script], env=env)
    assert "done" in r.stdout, r.stderr
    # (each is settled when its process ends: the order between processes is not fixed)
    got = sorted(
        (e["layer"], e["operation"], e["target"], e["errno"], e["allow_with"]) for e in _events(jsonl)
    )
    assert got == sorted(
        [
            ("mount", "exec", f"{tmp_bin}/ls", "ENOENT", "--share-tmp"),
            ("mount", "exec", f"{masked_bin}/ls", "EACCES", f"remove --deny-read {masked_bin.parent}"),
            ("mount", "exec", f"{tmp_bin}/only-hidden", "ENOENT", "--share-tmp"),
            (
                "mount",
                "exec",
                f"{masked_bin}/only-hidden",
                "EACCES",
                f"remove --deny-read {masked_bin.parent}",
            ),
        ]
    ), got
    jsonl.unlink()
    r = sandbox_run(identity, *flags, cmd=["only-hidden"], env=env)
    assert r.returncode == 126, r.stderr  # EACCES (the mask) is what execvp reports last
    events = _events(jsonl)
    assert [(e["target"], e["process"]) for e in events] == [
        (f"{tmp_bin}/only-hidden", "only-hidden"),
        (f"{masked_bin}/only-hidden", "only-hidden"),
    ], events
    assert f"blocked exec {tmp_bin}/only-hidden" in r.stderr


@pytest.mark.network
def test_a_rules_network_rule_is_named_by_file_line_col(identity, http_server) -> None:
    """A host denied by a ``.rules`` network_rule: the denial (and the proxy's decision log)
    names the declaration as FILE:LINE:COL; the allowed host passes (positive control)."""
    rules = identity.workspace / "net.rules"
    rules.write_text(
        '# hosts this project must never reach\n\nnetwork_rule(host="denied.test", protocol="http", decision="deny")\n'
    )
    jsonl, netlog = identity.workspace / "d.jsonl", identity.workspace / "net.jsonl"
    for p in (rules,):
        os.chown(p, identity.uid, identity.gid)
    script = (
        "curl -s -o /dev/null -m 20 -w 'denied=%{http_code}\\n' http://denied.test/; "
        f"curl -s -o /dev/null -m 20 -w 'ok=%{{http_code}}\\n' http://127.0.0.1:{http_server.port}/"
    )
    r = sandbox_run(
        identity,
        "--rules",
        str(rules),
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--net-log",
        str(netlog),
        "--denials",
        str(jsonl),
        cmd=["sh", "-c", script],
        timeout=180,
    )
    assert "denied=403" in r.stdout and "ok=200" in r.stdout, (r.stdout, r.stderr)
    where = f"{rules}:3:1"
    proxy = [e for e in _events(jsonl) if e["layer"] == "proxy"]
    assert [(e["operation"], e["target"], e["rule"], e["allow_with"]) for e in proxy] == [
        (
            "http",
            "denied.test:80",
            f"network_rule denied.test at {where}",
            f"remove the network_rule at {where}",
        )
    ], proxy
    (logged,) = [e for e in _events(netlog) if e["host"] == "denied.test"]
    assert (logged["verdict"], logged["origin"]) == ("deny", where) and where in logged["rule"]
    assert f"network_rule denied.test at {where}" in r.stderr  # the stderr summary names it too


def test_default_summary_says_how_to_see_reads_of_hidden_files(identity, place) -> None:
    """Without --denials reads are not watched (the measured cost, docs/denials.md): the
    summary names the write and says how to see the read; with --denials the read is there."""
    script = f"echo x > {place}/out/f; cat {place}/.ssh/id_test; true"
    env = identity.env(HOME=str(place))
    r = sandbox_run(identity, cmd=["sh", "-c", script], env=env)
    assert r.returncode == 0 and "SECRET-KEY" not in r.stdout, r.stderr
    assert f"blocked write {place}/out/f" in r.stderr
    assert f"blocked read {place}/.ssh/id_test" not in r.stderr
    assert "reads of files the sandbox hides are not watched by default; --denials FILE" in r.stderr
    jsonl = identity.workspace / "d.jsonl"
    r = sandbox_run(identity, "--denials", str(jsonl), cmd=["sh", "-c", script], env=env)
    assert f"blocked read {place}/.ssh/id_test" in r.stderr and "not watched" not in r.stderr
