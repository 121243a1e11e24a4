"""Unix *datagram* sockets under the late-socket guard (issue 17; sandbox/linux/unixguard.py).

Seccomp cannot read the address of ``sendmsg``/``sendmmsg`` (it lies in memory) nor tell a
unix datagram socket from any other by its descriptor, so the guard's filter sends every
addressed send to the launcher's supervisor, which makes it for the command after checking a
pathname destination the way it checks connect(). These tests attack that, as root and as the
test account, with the network off and in proxy mode:

- in the sandbox, datagrams between its own processes work: a pathname socket (sendto, sendmsg,
  sendmmsg, connect()+send), autobind and abstract names, SCM_RIGHTS, socketpairs;
- host datagram sockets bound *after* the launch (the workspace, a home folder, a shared /tmp)
  and a host abstract one stay unreachable through sendto, sendmsg, sendmmsg, connect(), a
  symlink, a thread rewriting the sockaddr, a thread swapping the descriptor between a unix
  and an inet socket;
- every refusal is a denial with its layer, operation, target and ``allow_with``;
- positive control: each host socket received nothing from the sandbox, then exactly the
  control's datagram, sent unconfined by the same user.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import threading
import uuid

import pytest

from tests.sandbox.linux.test_late_sockets import RACE, HostListener
from tests.sandbox.linux.test_local_ipc import MODES, pytestmark  # noqa: F401  (Linux, bubblewrap)
from tests.support.identities import INSIDE_PYTHON

# argv: go-file, then host socket paths (workspace, home, tmp), the host abstract name, then a
# scratch dir inside. One line per step: "name result".
ATTACK = (
    RACE
    + r"""
import array, ctypes, os, socket, sys, threading, time
go, ws, home, tmp, abstract, scratch = sys.argv[1:7]
print("ready", flush=True)  # the sandbox is up: its masks are taken
while not os.path.exists(go):
    time.sleep(0.01)
def res(fn):
    try:
        got = fn()
        return "ok" if got is None or isinstance(got, int) else got
    except OSError as e:
        return str(e.errno)
def dgram():
    return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint32)]
def sun(path):
    b = path.encode() if isinstance(path, str) else path
    return (1).to_bytes(2, "little") + b + b"\0" * (108 - len(b))
def sendmmsg(sock, addrs, payloads):
    # Keep every buffer alive in one list while the call runs.
    keep, vec = [], (mmsghdr * len(payloads))()
    for i, (addr, data) in enumerate(zip(addrs, payloads)):
        a = ctypes.create_string_buffer(sun(addr), 110); d = ctypes.create_string_buffer(data, len(data))
        io = iovec(ctypes.cast(d, ctypes.c_void_p), len(data)); keep += [a, d, io]
        vec[i].hdr = msghdr(ctypes.cast(a, ctypes.c_void_p), 110, ctypes.pointer(io), 1, None, 0, 0)
    n = libc.sendmmsg(sock.fileno(), vec, len(payloads), 0)
    if n < 0:
        raise OSError(ctypes.get_errno(), "sendmmsg")
    return "sent %d lens %s" % (n, ",".join(str(vec[i].len) for i in range(n)))
# --- the sandbox's own datagrams (the control inside) ---
inside = os.path.join(scratch, "inside.sock")
srv = dgram(); srv.bind(inside); srv.settimeout(10)
def recv():
    return srv.recv(64).decode()
print("inside_sendto", res(lambda: dgram().sendto(b"a", inside)), recv(), flush=True)
print("inside_sendmsg", res(lambda: dgram().sendmsg([b"b", b"c"], [], 0, inside)), recv(), flush=True)
c = dgram(); c.connect(inside); c.send(b"d")
print("inside_connect_send", recv(), flush=True)
os.chdir(scratch)
print("inside_relative", res(lambda: dgram().sendto(b"e", "inside.sock")), recv(), flush=True)
print("inside_sendmmsg", sendmmsg(dgram(), [inside, inside], [b"f", b"gh"]), recv(), recv(), flush=True)
r, w = os.pipe()
s = dgram()
s.sendmsg([b"fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))], 0, inside)
msg, anc, _, _ = srv.recvmsg(16, socket.CMSG_SPACE(4))
os.write(array.array("i", anc[0][2])[0], b"passed")
print("inside_rights", msg.decode(), os.read(r, 6).decode(), flush=True)
a = dgram(); a.bind("")  # autobind: an abstract name of the sandbox's own
srv.sendto(b"i", a.getsockname()); print("inside_autobind", a.recv(4).decode(), flush=True)
name = "\0cordon-inside-%d" % os.getpid()
b = dgram(); b.bind(name); dgram().sendto(b"j", name); print("inside_abstract", b.recv(4).decode(), flush=True)
p, q = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
p.send(b"k"); p.sendmsg([b"l"])
print("inside_socketpair", q.recv(4).decode() + q.recv(4).decode(), flush=True)
# --- the host's, bound after the launch ---
for label, path in (("workspace", ws), ("home", home), ("tmp", tmp)):
    print(label + "_sendto", res(lambda: dgram().sendto(b"evil", path)), flush=True)
    print(label + "_sendmsg", res(lambda: dgram().sendmsg([b"evil"], [], 0, path)), flush=True)
    print(label + "_sendmmsg", res(lambda: sendmmsg(dgram(), [path], [b"evil"])), flush=True)
    print(label + "_connect", res(lambda: dgram().connect(path)), flush=True)
link = os.path.join(scratch, "link"); os.symlink(ws, link)
print("symlink_sendto", res(lambda: dgram().sendto(b"evil", link)), flush=True)
print("abstract_sendto", res(lambda: dgram().sendto(b"evil", "\0" + abstract)), flush=True)
print("abstract_connect", res(lambda: dgram().connect("\0" + abstract)), flush=True)
# A thread rewriting the sockaddr between the inside socket and the host's while sendto reads it.
buf = ctypes.create_string_buffer(sun(inside), 110)
flips = (sun(ws), sun(inside))
d = dgram(); d.setblocking(False)  # nobody reads the inside socket now: its queue fills
race(lambda i: ctypes.memmove(buf, flips[i % 2], 110), lambda: libc.sendto(d.fileno(), b"race", 4, 0, buf, 110))
# A thread swapping the descriptor between an inet and a unix datagram socket.
inet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); unix = dgram()
target = os.dup(unix.fileno())
host = ctypes.create_string_buffer(sun(ws), 110)
race(lambda i: os.dup2((inet if i % 2 else unix).fileno(), target), lambda: libc.sendto(target, b"race", 4, 0, host, 110))
print("races", "done", flush=True)
# A socket of the sandbox's own, used (so its inode is remembered), closed and unlinked; the
# host then binds its own at that path: a new inode, checked again, refused.
reuse = os.path.join(scratch, "reuse.sock")
mine = dgram(); mine.bind(reuse); dgram().sendto(b"m", reuse); mine.close(); os.unlink(reuse)
print("freed", reuse, flush=True)
while not os.path.exists(go + ".2"):
    time.sleep(0.01)
print("reused_sendto", res(lambda: dgram().sendto(b"evil", reuse)), flush=True)
"""
)


class HostDatagrams(HostListener):
    """A host unix datagram socket (``path``, or an abstract ``name``) that records every
    datagram it receives, in order."""

    def __init__(self, identity, path=None, name=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path = path
        if path is not None:
            self.sock.bind(str(path))
            os.chown(path, identity.uid, identity.gid)  # the user may send to it: only the guard stops
        else:
            self.sock.bind("\0" + name)
        self.seen: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                self.seen.append(self.sock.recv(64))
            except OSError:
                return


_CONTROL = (
    "import socket,sys\n"
    "for t in sys.argv[1:]:\n"
    " socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'control', t.replace('@', '\\0', 1))\n"
    "print('ok')\n"
)


@pytest.mark.parametrize("mode", list(MODES))
def test_datagrams_inside_work_and_host_datagram_sockets_stay_unreachable(identity, mode):
    tag = uuid.uuid4().hex[:8]
    home = identity.home / f".cordon-dgram-{tag}"
    scratch = identity.workspace / f"inside-{tag}"
    tmpdir = f"/tmp/cordon-dgram-{tag}"
    for d in (home, scratch, tmpdir):
        os.mkdir(d)
        os.chown(d, identity.uid, identity.gid)
    go = identity.workspace / f"go-{tag}"
    jsonl = identity.workspace / f"denials-{tag}.jsonl"
    paths = [identity.workspace / f"late-{tag}.sock", home / "late.sock", f"{tmpdir}/late.sock"]
    abstract = f"cordon-dgram-{tag}"
    argv = [INSIDE_PYTHON, "-I", "-S", "-c", ATTACK, str(go), *map(str, paths), abstract, str(scratch)]
    p = subprocess.Popen(
        identity.sandbox_argv("run", *MODES[mode], "--share-tmp", "--denials", str(jsonl), "--", *argv),
        cwd=identity.workspace,
        env=identity.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )
    hosts = []
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        hosts = [HostDatagrams(identity, path=path) for path in paths]
        hosts.append(HostDatagrams(identity, name=abstract))
        go.write_text("")
        lines = []
        while not lines or not lines[-1].startswith("freed "):
            line = p.stdout.readline()
            assert line, p.stderr.read()
            lines.append(line.strip())
        hosts.append(HostDatagrams(identity, path=scratch / "reuse.sock"))
        (identity.workspace / f"go-{tag}.2").write_text("")
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        got = dict(line.split(" ", 1) for line in [*lines[:-1], *out.splitlines()])
        refused, absent = str(errno.EACCES), str(errno.ECONNREFUSED)
        expected = {
            "inside_sendto": "ok a",
            "inside_sendmsg": "ok bc",
            "inside_connect_send": "d",
            "inside_relative": "ok e",
            "inside_sendmmsg": "sent 2 lens 1,2 f gh",
            "inside_rights": "fd passed",
            "inside_autobind": "i",
            "inside_abstract": "j",
            "inside_socketpair": "kl",
            "symlink_sendto": refused,
            "abstract_sendto": absent,
            "abstract_connect": absent,
            "races": "done",
            "reused_sendto": refused,
        }
        for label in ("workspace", "home", "tmp"):
            expected.update({f"{label}_{op}": refused for op in ("sendto", "sendmsg", "sendmmsg", "connect")})
        assert got == expected, (got, err)
        # Positive control: the same sockets receive unconfined, as the same user; and each got
        # that one datagram only (none from the sandbox before it).
        targets = [str(x) for x in paths] + ["@" + abstract, str(scratch / "reuse.sock")]
        r = identity.run([INSIDE_PYTHON, "-I", "-S", "-c", _CONTROL, *targets])
        assert r.stdout.strip() == "ok", r.stderr
        assert [h.wait_for(b"control") for h in hosts] == [[b"control"]] * 5, err
        # Each refusal is a denial: layer, operation, target, the flag that allows it.
        events = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        seen = {(e["layer"], e["operation"], e["target"], e["allow_with"], e["errno"]) for e in events}
        for path in paths:
            for op in ("sendto", "sendmsg", "sendmmsg", "connect"):
                assert ("seccomp", op, str(path), "--network on", "EACCES") in seen, (op, path, events)
        for op in ("sendto", "connect"):
            assert ("seccomp", op, "@" + abstract, "--network on", "ECONNREFUSED") in seen, events
        # The sandbox's own datagrams are not denials.
        own = (str(scratch / "inside.sock"), "inside.sock")
        assert not [e for e in events if e["target"] in own or e["target"].startswith("@cordon-inside")], (
            events
        )
        assert "blocked sendto" in err and "--network on" in err, err  # the stderr summary
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for h in hosts:
            h.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmpdir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_signal_never_repeats_a_supervised_send(identity):
    """A send the supervisor made is answered once: a signal arriving meanwhile does not make
    the caller restart it (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV). A thread sends numbered
    datagrams while the main thread takes a stream of handled signals; the receiver must see
    each number exactly once, in order."""
    script = identity.workspace / f"signals-{uuid.uuid4().hex[:8]}.py"
    script.write_text(_SIGNALS)
    os.chown(script, identity.uid, identity.gid)
    from tests.sandbox.linux.confine_support import sandbox_run

    r = sandbox_run(identity, cmd=[INSIDE_PYTHON, "-I", str(script)])
    assert r.returncode == 0, r.stderr
    sent, received, signals = r.stdout.split()
    assert int(signals) > 50, r.stdout  # the signals did arrive while sending
    assert sent == received == "2000", r.stdout


_SIGNALS = r"""
import os, signal, socket, tempfile, threading
d = tempfile.mkdtemp(); path = os.path.join(d, "r")
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); rx.bind(path)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
count = [0]
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
signal.signal(signal.SIGALRM, lambda *a: count.__setitem__(0, count[0] + 1))
got = []
def receive():
    while len(got) < 2000:
        got.append(int(rx.recv(16)))
t = threading.Thread(target=receive); t.start()
tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(2000):
    tx.sendto(str(i).encode(), path)
t.join(60)
signal.setitimer(signal.ITIMER_REAL, 0)
assert got == list(range(len(got))), got[:50]
print(2000, len(got), count[0])
"""


def test_explain_says_how_unix_sockets_are_kept_apart(tmp_path):
    """--explain names the guard's mechanism where it is in force, and says nothing of it with
    the host's network (no guard there)."""
    import sys

    from tests.support.identities import REPO, make_xdg, xdg_env

    env = {**os.environ, **xdg_env(make_xdg(tmp_path / "xdg")), "PYTHONPATH": str(REPO)}

    def explain(*flags):
        r = subprocess.run(
            [sys.executable, "-m", "cordon.sandbox", "run", *flags, "--explain", "--", "true"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return [line.strip() for line in r.stderr.splitlines() if line.strip().startswith("unix sockets:")]

    (line,) = explain()
    assert "datagram" in line and "sendmsg" in line and "unreachable" in line, line
    assert explain("--network", "on") == []


_CONTROL_MESSAGES = r"""
import os, socket, struct
def res(fn):
    try:
        fn(); return "ok"
    except OSError as e:
        return str(e.errno)
p, q = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
q.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
own = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
other = struct.pack("iII", os.getpid(), os.getuid() + 1, os.getgid())
print("creds_own", res(lambda: p.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, own)])))
_, anc, _, _ = q.recvmsg(4, socket.CMSG_SPACE(12))
print("creds_uid", struct.unpack("iII", anc[0][2])[1] == os.getuid())
print("creds_forged", res(lambda: p.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, other)])))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
tos = [(socket.IPPROTO_IP, socket.IP_TOS, struct.pack("i", 0x10))]
print("tos", res(lambda: u.sendmsg([b"x"], tos, 0, u.getsockname())))
mark = [(socket.SOL_SOCKET, 36, struct.pack("I", 7))]  # SO_MARK: CAP_NET_ADMIN
print("mark", res(lambda: u.sendmsg([b"x"], mark, 0, u.getsockname())))
"""


@pytest.mark.parametrize("mode", list(MODES))
def test_a_supervised_send_lends_no_privilege(identity, mode):
    """The launcher makes the send, so the kernel checks the launcher's credentials: the guard
    must refuse what the command could not do itself. SCM_CREDENTIALS with ids other than the
    caller's own, and a control message that needs a capability (SO_MARK), are refused exactly
    as the kernel refuses them without the guard (``--network on``: the command's own send,
    the control); the caller's own credentials and an unprivileged IP_TOS pass in both."""
    from tests.sandbox.linux.confine_support import sandbox_run

    argv = [INSIDE_PYTHON, "-I", "-S", "-c", _CONTROL_MESSAGES]
    runs = {}
    for label, flags in (("guard", MODES[mode]), ("kernel", ("--network", "on"))):
        r = sandbox_run(identity, *flags, cmd=argv)
        assert r.returncode == 0, r.stderr
        runs[label] = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    # Another uid: EPERM where it is mapped (root without a user namespace), else EINVAL.
    forged = {str(errno.EPERM), str(errno.EINVAL)}
    assert runs["kernel"]["creds_forged"] in forged, runs
    expected = {"creds_own": "ok", "creds_uid": "True", "creds_forged": runs["kernel"]["creds_forged"]}
    expected.update(tos="ok", mark=str(errno.EPERM))
    assert runs["kernel"] == expected, runs  # the control: what the kernel says to the command
    assert runs["guard"] == expected, runs
