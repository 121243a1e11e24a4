"""Attempt operations given on the command line; print one line each: ``<op> ok`` or ``<op> <errno>``.

Run inside a sandbox (or under one wall) by the confinement tests. Standard library only.
Ops: write:P append:P openw:P reopen:P cat:P read:P list:P mkdir:P rmdir:P unlink:P symlink:TARGET:LINK
hardlink:SRC:DST rename:SRC:DST chmod:P connect:HOST:PORT bind:PORT unix:PATH
abstract:NAME kill:PID fd:N env:NAME exists:P setid:SYSCALL:MODE:P (x86_64: one raw system
call that sets MODE, octal, on P or creates P with it: chmod fchmod fchmodat fchmodat2 mknod
mknodat open openat creat openat2)
"""

import os
import socket
import sys


def setid(call: str, mode: int, path: str) -> None:
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    p = ctypes.c_char_p(path.encode())
    at, creat, wr = -100, 0o100, 0o1  # AT_FDCWD, O_CREAT, O_WRONLY
    L = ctypes.c_long
    fd = None
    if call == "fchmod":
        fd = os.open(path, os.O_RDONLY)
    args = {
        "chmod": (90, p, L(mode)),
        "fchmod": (91, L(fd or 0), L(mode)),
        "fchmodat": (268, L(at), p, L(mode)),
        "fchmodat2": (452, L(at), p, L(mode), L(0)),
        "mknod": (133, p, L(0o100000 | mode), L(0)),
        "mknodat": (259, L(at), p, L(0o100000 | mode), L(0)),
        "open": (2, p, L(creat | wr), L(mode)),
        "openat": (257, L(at), p, L(creat | wr), L(mode)),
        "creat": (85, p, L(mode)),
    }
    if call == "openat2":
        how = ctypes.create_string_buffer(struct.pack("=QQQ", creat | wr, mode, 0))
        args["openat2"] = (437, L(at), p, how, L(24))
    nr, *rest = args[call]
    rc = libc.syscall(L(nr), *rest)
    if fd is not None:
        os.close(fd)
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    if call in ("open", "openat", "creat", "openat2"):
        os.close(rc)


def op(spec: str) -> None:
    kind, _, arg = spec.partition(":")
    a = arg.split(":")
    if kind == "write":
        with open(arg, "w") as f:
            f.write("pwned\n")
    elif kind == "append":
        with open(arg, "a") as f:
            f.write("pwned\n")
    elif kind == "openw":  # open for writing, write nothing (for files where a write would do harm)
        os.close(os.open(arg, os.O_WRONLY))
    elif kind == "reopen":  # open read-only, then re-open through /proc/self/fd for writing
        fd = os.open(arg, os.O_RDONLY)
        os.close(os.open(f"/proc/self/fd/{fd}", os.O_WRONLY))
    elif kind == "cat":  # print the first line (to prove what was or was not read)
        with open(arg, "rb") as f:
            sys.stdout.write(f"content {f.readline().decode(errors='replace').strip()}\n")
    elif kind == "read":
        with open(arg, "rb") as f:
            f.read(1)
    elif kind == "list":
        os.listdir(arg)
    elif kind == "mkdir":
        os.mkdir(arg)
    elif kind == "rmdir":
        os.rmdir(arg)
    elif kind == "unlink":
        os.unlink(arg)
    elif kind == "symlink":
        os.symlink(a[0], a[1])
    elif kind == "hardlink":
        os.link(a[0], a[1])
    elif kind == "rename":
        os.rename(a[0], a[1])
    elif kind == "chmod":
        os.chmod(arg, 0o777)
    elif kind == "connect":
        host, port = arg.rsplit(":", 1)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.settimeout(5)
        s.connect((host, int(port)))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        if not s.recv(1):
            raise OSError(0, "connected but no reply")
    elif kind == "bind":
        s = socket.socket()
        s.bind(("127.0.0.1", int(arg)))
    elif kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(arg)
    elif kind == "abstract":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect("\0" + arg)
    elif kind == "kill":
        os.kill(int(arg), 0)
    elif kind == "fd":
        os.fstat(int(arg))
    elif kind == "env":
        if arg not in os.environ:
            raise OSError(2, "unset")
    elif kind == "exists":
        os.lstat(arg)
    elif kind == "setid":
        setid(a[0], int(a[1], 8), ":".join(a[2:]))
    else:
        raise SystemExit(f"unknown op {spec}")


for spec in sys.argv[1:]:
    try:
        op(spec)
        print(spec, "ok", flush=True)
    except OSError as e:
        print(spec, e.errno, flush=True)
