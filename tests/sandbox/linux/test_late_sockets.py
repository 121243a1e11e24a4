"""Host unix sockets bound *after* a sandbox started (issue 17): the late-socket guard.

The launch masks every host socket it finds (sockets.py), but that is a snapshot. A host
service that binds later, in a folder the sandbox sees, must stay unreachable too: Landlock's
resolve_unix where the kernel has it (ABI 9), else the seccomp supervisor of
sandbox/linux/unixguard.py, which makes every connect() for the command. Each attack runs as
root and as the test account with a positive control (the same connect succeeds unconfined),
and in-sandbox IPC (pathname sockets, forkserver, Manager) keeps working alongside.

The sandboxed script waits until the host has bound its listeners (a "go" file), then tries:
the workspace, a home folder, the shared /tmp, a symlink to a host socket, a symlink swapped
between an inside socket and a host one while connecting, a thread rewriting the sockaddr in
place between the two while another connects with it, a thread swapping the fd between a
unix and an inet socket, and an addressed datagram (refused: only connect() is supervised).
Every host listener records what it accepted: only the control's connection, made after.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from tests.sandbox.linux.confine_support import sandbox_run
from tests.sandbox.linux.test_local_ipc import MODES, pytestmark  # noqa: F401  (Linux, bubblewrap)
from tests.support.identities import INSIDE_PYTHON

# In the attack scripts (here and test_late_datagrams.py): ``race(change, use)`` calls
# ``change(i)`` for i = 0, 1, ... on another thread while ``use()`` runs 300 times.
RACE = r"""
import threading
def race(change, use, n=300):
    stop = []
    def loop():
        i = 0
        while not stop:
            change(i); i += 1
    t = threading.Thread(target=loop); t.start()
    for _ in range(n):
        use()
    stop.append(True); t.join()
"""

# argv: go-file, then host socket paths (workspace, home, tmp), then a scratch dir inside.
ATTACK = (
    RACE
    + r"""
import ctypes, os, socket, sys, threading, time
go, ws, home, tmp, scratch = sys.argv[1:6]
print("ready", flush=True)  # the sandbox is up: its masks are taken
while not os.path.exists(go):
    time.sleep(0.01)
def res(fn):
    try:
        fn(); return "ok"
    except OSError as e:
        return str(e.errno)
def connect(path):
    c = socket.socket(socket.AF_UNIX); c.settimeout(5)
    try:
        c.connect(path)
    finally:
        c.close()
for name, path in (("workspace", ws), ("home", home), ("tmp", tmp)):
    print(name, res(lambda: connect(path)), flush=True)
# An inside listener (the control inside: must answer) next to the host's.
inside = os.path.join(scratch, "inside.sock")
srv = socket.socket(socket.AF_UNIX); srv.bind(inside); srv.listen(512)
def drain():
    while True:
        try:
            srv.accept()[0].close()
        except OSError:
            return
threading.Thread(target=drain, daemon=True).start()
print("inside", res(lambda: connect(inside)), flush=True)
link = os.path.join(scratch, "link")
os.symlink(ws, link)
print("symlink", res(lambda: connect(link)), flush=True)
# Symlink swapped between the inside socket and the host's while connecting.
stop = False
def swap():
    i = 0
    while not stop:
        tmpl = link + ".%d" % (i % 2)
        try:
            os.symlink(inside if i % 2 else ws, tmpl); os.replace(tmpl, link)
        except OSError:
            pass
        i += 1
t = threading.Thread(target=swap); t.start()
ok = sum(res(lambda: connect(link)) == "ok" for _ in range(300))
stop = True; t.join()
print("symlink_swap_inside_ok", "yes" if ok else "no", flush=True)
# The sockaddr rewritten in place by another thread while connect() reads it.
libc = ctypes.CDLL(None, use_errno=True)
def sun(path):
    b = path.encode(); return (1).to_bytes(2, "little") + b + b"\0" * (108 - len(b))
buf = ctypes.create_string_buffer(sun(inside), 110)
flips = (sun(ws), sun(inside))
def connect_buf():
    s = socket.socket(socket.AF_UNIX); libc.connect(s.fileno(), buf, 110); s.close()
race(lambda i: ctypes.memmove(buf, flips[i % 2], 110), connect_buf)
# The fd swapped between an inet and a unix socket while connect() runs on its number.
inet = socket.socket(); unix = socket.socket(socket.AF_UNIX)
target = os.dup(unix.fileno())
host = ctypes.create_string_buffer(sun(ws), 110)
def connect_target():
    libc.connect(target, host, 110)
    os.dup2(socket.socket(socket.AF_UNIX).detach(), target)
race(lambda i: os.dup2((inet if i % 2 else unix).fileno(), target), connect_target)
print("races", "done", flush=True)
def dgram():
    d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.sendto(b"x", ws)
print("dgram", res(dgram), flush=True)
"""
)


class HostListener:
    """A host unix listener that records what each connection it accepts sent first (b"" for
    one that sent nothing). Accepts are in arrival order, so once the control's token is seen,
    every connection made before it has been recorded too."""

    def __init__(self, path, identity):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        os.chown(self.path, identity.uid, identity.gid)
        self.sock.listen(512)
        self.seen: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(10)
            try:
                self.seen.append(c.recv(16))
            except OSError:
                self.seen.append(b"")
            c.close()

    def wait_for(self, token: bytes) -> list[bytes]:
        for _ in range(3000):  # bounded: the control's connection is already queued
            if token in self.seen:
                break
            time.sleep(0.01)
        return list(self.seen)

    def close(self):
        self.sock.close()


def _connects(path) -> bool:
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(path)
        return True
    except OSError:
        return False
    finally:
        c.close()


def _start(identity, *flags, argv):
    return subprocess.Popen(
        identity.sandbox_argv("run", *flags, "--", *argv),
        cwd=identity.workspace,
        env=identity.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_host_socket_bound_after_start_is_unreachable(identity, mode):
    tag = uuid.uuid4().hex[:8]
    home = identity.home / f".cordon-late-{tag}"
    home.mkdir()
    os.chown(home, identity.uid, identity.gid)
    scratch = identity.workspace / f"inside-{tag}"
    scratch.mkdir()
    os.chown(scratch, identity.uid, identity.gid)
    tmpdir = f"/tmp/cordon-late-{tag}"
    os.mkdir(tmpdir)
    os.chown(tmpdir, identity.uid, identity.gid)
    go = identity.workspace / f"go-{tag}"
    paths = [identity.workspace / f"late-{tag}.sock", home / "late.sock", f"{tmpdir}/late.sock"]
    argv = [INSIDE_PYTHON, "-I", "-S", "-c", ATTACK, str(go), *map(str, paths), str(scratch)]
    p = _start(identity, *MODES[mode], "--share-tmp", argv=argv)
    listeners = []
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        listeners = [HostListener(path, identity) for path in paths]
        go.write_text("")
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        got = dict(line.split(" ", 1) for line in out.splitlines())
        import errno as e

        refused = str(e.EACCES)
        assert got == {
            "workspace": refused,
            "home": refused,
            "tmp": refused,
            "inside": "ok",
            "symlink": refused,
            "symlink_swap_inside_ok": "yes",
            "races": "done",
            "dgram": refused,  # a stream listener: not a datagram socket of the sandbox
        }, (got, err)
        # Positive control: the same sockets answer unconfined, as the same user; and each
        # listener got that one connection only (none from the sandbox before it).
        for path in paths:
            r = identity.run([INSIDE_PYTHON, "-I", "-S", "-c", _CONNECT, str(path)])
            assert r.stdout.strip() == "ok", (path, r.stderr)
        assert [lst.wait_for(b"control") for lst in listeners] == [[b"control"]] * 3, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for lst in listeners:
            lst.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmpdir, ignore_errors=True)


_CONNECT = (
    "import socket,sys; c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); "
    "c.sendall(b'control'); print('ok')"
)


def test_warm_pool_sandbox_cannot_reach_a_socket_bound_while_it_waited(tmp_path):
    """The warm pool builds its sandboxes before the command is known: a host socket bound
    while one waits is the widest window. Root only: the Pool runs in this process."""
    from cordon.sandbox import Pool, SandboxPolicy

    ws = tmp_path / "ws"
    ws.mkdir()
    sock_path = ws / "late.sock"
    with Pool(SandboxPolicy(), cwd=ws, size=1) as pool:
        time.sleep(0.3)  # the warm sandbox is up and waiting
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock_path))
        s.listen(8)
        try:
            r = pool.run([INSIDE_PYTHON, "-I", "-S", "-c", _CONNECT_RESULT, str(sock_path)])
            assert r.stdout.decode().strip() == "13", r.stderr
            assert _connects(str(sock_path))  # positive control: it answers unconfined
        finally:
            s.close()


_CONNECT_RESULT = (
    "import socket,sys\nc=socket.socket(socket.AF_UNIX)\n"
    "try:\n c.connect(sys.argv[1]); print('ok')\nexcept OSError as e:\n print(e.errno)"
)


def test_inside_ipc_still_works_with_the_guard(identity):
    """forkserver and Manager (unix sockets between the sandbox's own processes), relative
    socket paths, and a blocking connect to a full backlog, all through the supervisor."""
    script = identity.workspace / "ipc.py"
    script.write_text(_IPC)
    os.chown(script, identity.uid, identity.gid)
    r = sandbox_run(identity, cmd=[INSIDE_PYTHON, "-I", str(script)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["forkserver", "manager", "relative", "backlog"], r.stderr


_IPC = r"""
import multiprocessing as mp, os, socket, tempfile, threading, time
if __name__ == "__main__":
    with mp.get_context("forkserver").Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
    print("forkserver", flush=True)
    with mp.Manager() as m:
        d = m.dict(); d["k"] = 1; assert dict(d) == {"k": 1}
    print("manager", flush=True)
    d = tempfile.mkdtemp(); os.chdir(d)
    s = socket.socket(socket.AF_UNIX); s.bind("rel.sock"); s.listen(0)
    c = socket.socket(socket.AF_UNIX); c.connect("rel.sock"); s.accept()
    print("relative", flush=True)
    # Fill the backlog, then connect blocking: it waits until the server accepts.
    fill = []
    for _ in range(4):
        f = socket.socket(socket.AF_UNIX); f.setblocking(False)
        try:
            f.connect("rel.sock"); fill.append(f)
        except BlockingIOError:
            break
    def later():
        time.sleep(0.5)
        for _ in range(len(fill) + 1):
            s.accept()
    threading.Thread(target=later).start()
    b = socket.socket(socket.AF_UNIX); b.connect("rel.sock")
    print("backlog", flush=True)
"""


# --- the plan, per kernel ---------------------------------------------------------------------
def _stage(ws, monkeypatch, abi=None, **policy):
    from cordon.sandbox import SandboxPolicy
    from cordon.sandbox.linux import inner, landlock

    if abi is not None:
        monkeypatch.setattr(landlock, "abi_version", lambda: abi)
    return inner.build_inner(SandboxPolicy(**policy).resolve(cwd=ws), ["true"])


def test_guard_per_kernel_and_mode(tmp_path, monkeypatch):
    """ABI 9 (Linux 7.1): Landlock's resolve_unix, no supervisor, AF_UNIX datagrams allowed.
    Below: the supervisor (connect notified, a sock_diag socket handed over, datagrams
    refused). ``--network on`` and --fallback=landlock: neither (host sockets on purpose; no
    AF_UNIX of the command's own)."""
    from cordon.sandbox.linux import landlock, seccomp, sockets
    from cordon.sandbox.linux.inner import encode_native
    from cordon.sandbox.model import NetworkPolicy

    assert sockets.late_socket_guard("off", True, 9) == "landlock"
    assert sockets.late_socket_guard("proxy", True, 7) == "supervisor"
    assert sockets.late_socket_guard("on", True, 7) is None
    assert sockets.late_socket_guard("off", False, 9) is None
    assert landlock.FS["resolve_unix"] == 1 << 16 and not landlock.ALL_FS & landlock.FS["resolve_unix"]

    new = _stage(tmp_path, monkeypatch, abi=9)
    assert new.guard == "landlock" and new.spec["landlock"]["resolve_unix"]
    assert "seccomp_watch" not in new.spec and not new.spec.get("diag")
    flags = encode_native(new.spec).split(b"L\x04\x00\x00\x00", 1)[1][:4]
    assert int.from_bytes(flags, "little") & 16  # cordon-inner handles resolve_unix
    assert not any(r["syscall"] == "connect" for r in new.describe()["seccomp"]["rules"])

    old = _stage(tmp_path, monkeypatch, abi=7)
    assert old.guard == "supervisor" and not old.spec["landlock"]["resolve_unix"]
    assert old.spec["seccomp_watch"] == old.spec["seccomp"] and old.spec["diag"]
    assert b"D\x01\x00\x00\x001" in encode_native(old.spec)
    rules = old.describe()["seccomp"]["rules"]
    assert {"syscall": "connect", "action": "USER_NOTIF"}.items() <= next(
        r for r in rules if r["syscall"] == "connect"
    ).items()
    assert (
        old.spec["seccomp"]
        == seccomp.compile_bpf("off", True, guard=True)
        != seccomp.compile_bpf("off", True)
    )

    on = _stage(tmp_path, monkeypatch, abi=7, network=NetworkPolicy(mode="on"))
    assert on.guard is None and "seccomp_watch" not in on.spec


def test_without_a_supervisor_connect_is_refused(identity, monkeypatch):
    """The stage run with no supervisor to hand its listener to (as when one exists up the
    process tree): the plain filter, whose connect() fails with ENOSYS. Refused, never open;
    socketpair (no connect) still works (control)."""
    from tests.sandbox.linux.test_inner import run_stage

    code = (
        "import socket\n"
        "a, b = socket.socketpair(); a.sendall(b'x'); print('pair', b.recv(1).decode())\n"
        "try:\n socket.socket(socket.AF_UNIX).connect('/nonexistent'); print('connect ok')\n"
        "except OSError as e:\n print('connect', e.errno)\n"
    )
    from cordon.sandbox import SandboxPolicy
    from cordon.sandbox.linux import inner

    stage = inner.build_inner(
        SandboxPolicy().resolve(cwd=identity.workspace), [INSIDE_PYTHON, "-I", "-S", "-c", code]
    )
    assert stage.guard == "supervisor"
    r = run_stage(stage, identity=identity, cwd=identity.workspace)
    import errno as e

    assert r.stdout.split("\n")[:2] == ["pair x", f"connect {e.ENOSYS}"], (r.stdout, r.stderr)
