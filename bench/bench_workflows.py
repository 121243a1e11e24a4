"""The everyday-workflow battery (issue 17): real developer workflows, confined, side by side.

Each workflow prepares a fresh workspace, then runs one shell command in it:
  * unconfined (the control: a workflow that fails here is not counted for anyone);
  * ``sandbox run`` with the default policy plus only the flags the docs give for that kind
    of work (``--allow-git-write`` to commit, ``--network proxy --allow-domain`` with
    ``--resolve`` for an install from a registry);
  * ``codex sandbox`` (workspace-write; ``network_access=true`` where the work needs the
    registry, its documented switch) and ``srt`` (write access to the workspace, the registry's
    host in ``allowedDomains``), when installed in .cache/peers.
Installs go to a registry served on 127.0.0.1 by this process (a PyPI simple index and an npm
registry holding one small package each). Run as root, and with ``--user`` as the test
account (tests/support/identities.py). Prints a table and the pass counts.

Run: ``.venv/bin/python bench/bench_workflows.py [--user] [--only NAME,...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
PY = sys.executable  # the venv (pytest, Cordon); visible inside (not under a writable root)

C_HELLO = '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n'
GIT_ID = "git -c user.name=t -c user.email=t@t "


# --- the local registry ------------------------------------------------------------------------
def _wheel() -> tuple[str, bytes]:
    name = "cordonpkg-1.0-py3-none-any.whl"
    buf = io.BytesIO()
    files = {
        "cordonpkg/__init__.py": b"VALUE = 42\n",
        "cordonpkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: cordonpkg\nVersion: 1.0\n",
        "cordonpkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{p},sha256={__import__('base64').urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
        for p, d in files.items()
    )
    files["cordonpkg-1.0.dist-info/RECORD"] = (record + "cordonpkg-1.0.dist-info/RECORD,,\n").encode()
    with zipfile.ZipFile(buf, "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
    return name, buf.getvalue()


def _npm_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in {
            "package/package.json": json.dumps(
                {"name": "cordon-pkg", "version": "1.0.0", "main": "index.js"}
            ).encode(),
            "package/index.js": b"module.exports = 42;\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Registry:
    """A PyPI simple index and an npm registry on 127.0.0.1 (any Host name is accepted)."""

    def __init__(self):
        wheel_name, wheel = _wheel()
        tgz = _npm_tarball()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        sha = hashlib.sha256(wheel).hexdigest()
        self.files["/simple/cordonpkg/"] = (
            "text/html",
            f'<html><body><a href="/files/{wheel_name}#sha256={sha}">{wheel_name}</a></body></html>'.encode(),
        )
        self.files["/simple/"] = (
            "text/html",
            b'<html><body><a href="/simple/cordonpkg/">cordonpkg</a></body></html>',
        )
        self.files[f"/files/{wheel_name}"] = ("application/octet-stream", wheel)
        self.files["/cordon-pkg/-/cordon-pkg-1.0.0.tgz"] = ("application/octet-stream", tgz)
        self._npm_meta(tgz)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _npm_meta(self, tgz: bytes) -> None:
        import base64

        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()

        def meta(host: str) -> bytes:
            return json.dumps(
                {
                    "name": "cordon-pkg",
                    "dist-tags": {"latest": "1.0.0"},
                    "versions": {
                        "1.0.0": {
                            "name": "cordon-pkg",
                            "version": "1.0.0",
                            "dist": {
                                "tarball": f"http://{host}/cordon-pkg/-/cordon-pkg-1.0.0.tgz",
                                "integrity": integrity,
                                "shasum": hashlib.sha1(tgz).hexdigest(),
                            },
                        }
                    },
                }
            ).encode()

        self.npm_meta = meta

    def _handler(self):
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path.startswith("http://"):
                    path = "/" + path.split("/", 3)[3]
                if path == "/cordon-pkg":
                    body, kind = (
                        reg.npm_meta(self.headers.get("Host", f"127.0.0.1:{reg.port}")),
                        "application/json",
                    )
                elif path in reg.files:
                    kind, body = reg.files[path]
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        return H


# --- the workflows -----------------------------------------------------------------------------
# name -> (category, setup(ws), command, cordon flags, needs the registry)
def _w(files: dict[str, str], *, git: bool = False, bare: bool = False):
    def setup(ws: Path) -> None:
        for rel, text in files.items():
            p = ws / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        if git or bare:
            run = lambda *a: subprocess.run(a, cwd=ws, check=True, capture_output=True)  # noqa: E731
            run("git", "init", "-q", "-b", "main")
            run("git", "add", "-A")
            run(*GIT_ID.split(), "commit", "-qm", "init")
            if bare:
                run("git", "clone", "-q", "--bare", ".", "origin.git")

    return setup


def _foreign_tar(ws: Path) -> None:
    src = io.BytesIO(b"hello\n")
    with tarfile.open(ws / "foreign.tar", "w") as t:
        info = tarfile.TarInfo("pkg/payload.txt")
        info.size = 6
        info.uid = info.gid = 4321
        t.addfile(info, src)


PYTEST_LIVE = """
import http.server, threading, urllib.request
def test_live_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_address[1]}/", timeout=10) as r:
        assert r.status == 200
    srv.shutdown()
"""
NODE_LIVE = """
const test = require('node:test'); const assert = require('node:assert'); const http = require('node:http');
test('live server', async () => {
  const srv = http.createServer((q, s) => s.end('ok')); await new Promise(r => srv.listen(0, '127.0.0.1', r));
  const body = await new Promise((res, rej) => http.get({host: '127.0.0.1', port: srv.address().port}, r => {
    let d = ''; r.on('data', c => d += c); r.on('end', () => res(d)); }).on('error', rej));
  assert.strictEqual(body, 'ok'); srv.close();
});
"""
MP = {
    "fork": "import multiprocessing as mp\nif __name__=='__main__':\n with mp.get_context('fork').Pool(2) as p: assert p.map(abs,[-1,-2])==[1,2]\n print('ok')\n",
    "forkserver": "import multiprocessing as mp\nif __name__=='__main__':\n with mp.get_context('forkserver').Pool(2) as p: assert p.map(abs,[-1,-2])==[1,2]\n print('ok')\n",
    "spawn_executor": "import concurrent.futures as cf\nif __name__=='__main__':\n with cf.ProcessPoolExecutor(2) as e: assert list(e.map(abs,[-1,-2]))==[1,2]\n print('ok')\n",
    "manager": "import multiprocessing as mp\nif __name__=='__main__':\n with mp.Manager() as m:\n  d=m.dict(); d['a']=1; assert dict(d)=={'a':1}\n print('ok')\n",
}
ASYNC_UNIX = """
import asyncio, os, tempfile
async def main():
    p = os.path.join(tempfile.mkdtemp(), "s")
    async def h(r, w): w.write(await r.read(2)); await w.drain(); w.close()
    srv = await asyncio.start_unix_server(h, p)
    r, w = await asyncio.open_unix_connection(p); w.write(b"hi"); await w.drain()
    assert await r.read(2) == b"hi"; srv.close()
asyncio.run(main()); print("ok")
"""

WORKFLOWS: dict[str, tuple] = {
    # builds
    "make: C program": (
        "build",
        _w({"hello.c": C_HELLO, "Makefile": "hello: hello.c\n\tcc -o hello hello.c\n"}),
        "make -s && ./hello",
        [],
        False,
    ),
    "make -j4: parallel": (
        "build",
        _w(
            {
                **{f"f{i}.c": f"int f{i}(void){{return {i};}}\n" for i in range(8)},
                "main.c": "int main(void){return 0;}\n",
                "Makefile": "OBJ=$(patsubst %.c,%.o,$(wildcard *.c))\napp: $(OBJ)\n\tcc -o app $(OBJ)\n",
            }
        ),
        "make -s -j4 && ./app",
        [],
        False,
    ),
    "cmake + ninja": (
        "build",
        _w(
            {
                "hello.c": C_HELLO,
                "CMakeLists.txt": "cmake_minimum_required(VERSION 3.10)\nproject(h C)\nadd_executable(hello hello.c)\n",
            }
        ),
        "cmake -S . -B build -G Ninja >/dev/null && cmake --build build >/dev/null && ./build/hello",
        [],
        False,
    ),
    "rustc": (
        "build",
        _w({"hello.rs": 'fn main(){println!("hello");}\n'}),
        "rustc hello.rs && ./hello",
        [],
        False,
    ),
    "cargo build (no deps)": (
        "build",
        _w(
            {
                "Cargo.toml": '[package]\nname="app"\nversion="0.1.0"\nedition="2021"\n',
                "src/main.rs": 'fn main(){println!("hi");}\n',
            }
        ),
        "cargo build -q --offline && ./target/debug/app",
        [],
        False,
    ),
    "javac + java": (
        "build",
        _w(
            {
                "Hello.java": 'public class Hello{public static void main(String[] a){System.out.println("hi");}}\n'
            }
        ),
        "javac Hello.java && java Hello",
        [],
        False,
    ),
    "npm run build (scripts)": (
        "build",
        _w(
            {
                "package.json": json.dumps(
                    {
                        "name": "a",
                        "version": "1.0.0",
                        "scripts": {"build": "node -e \"require('fs').writeFileSync('out.txt','x')\""},
                    }
                )
            }
        ),
        "npm run -s build && test -f out.txt",
        [],
        False,
    ),
    "python compileall + venv": (
        "build",
        _w({"src/m.py": "X = 1\n"}),
        f"{PY} -m compileall -q src && /usr/bin/python3 -m venv --without-pip env && env/bin/python -c 'print(1)'",
        [],
        False,
    ),
    # installs through the proxy, from the local registry
    "pip install from a registry": (
        "install",
        _w({}),
        "{py} -m pip install -q --no-deps --target deps --trusted-host registry.test --index-url http://registry.test:{port}/simple cordonpkg && PYTHONPATH=deps {py} -c 'import cordonpkg; assert cordonpkg.VALUE == 42'",
        "registry",
        True,
    ),
    "npm install from a registry": (
        "install",
        _w({"package.json": json.dumps({"name": "a", "version": "1.0.0"})}),
        "npm install --no-audit --no-fund --registry http://registry.test:{port}/ cordon-pkg >/dev/null && node -e \"process.exit(require('cordon-pkg') === 42 ? 0 : 1)\"",
        "registry",
        True,
    ),
    "curl a registry": (
        "install",
        _w({}),
        "curl -sSf http://registry.test:{port}/simple/ -o index.html && grep -q cordonpkg index.html",
        "registry",
        True,
    ),
    "pip install --target (offline wheel)": (
        "install",
        _w({}),
        "{py} -m pip download -q --no-deps -d dl --trusted-host registry.test --index-url http://registry.test:{port}/simple cordonpkg && {py} -m pip install -q --no-index --find-links dl --target t cordonpkg",
        "registry",
        True,
    ),
    # tests
    "pytest": (
        "test",
        _w({"test_a.py": "def test_a():\n    assert 1 + 1 == 2\n"}),
        "{py} -m pytest -q -p no:cacheprovider",
        [],
        False,
    ),
    "pytest with a live server": (
        "test",
        _w({"test_live.py": PYTEST_LIVE}),
        "{py} -m pytest -q -p no:cacheprovider",
        [],
        False,
    ),
    "node --test with a live server": (
        "test",
        _w({"live.test.js": NODE_LIVE}),
        "node --test live.test.js >/dev/null",
        [],
        False,
    ),
    "multiprocessing fork pool": ("test", _w({"m.py": MP["fork"]}), "{py} m.py", [], False),
    "multiprocessing forkserver pool": ("test", _w({"m.py": MP["forkserver"]}), "{py} m.py", [], False),
    "ProcessPoolExecutor (spawn)": ("test", _w({"m.py": MP["spawn_executor"]}), "{py} m.py", [], False),
    "multiprocessing Manager": ("test", _w({"m.py": MP["manager"]}), "{py} m.py", [], False),
    "asyncio unix server": ("test", _w({"a.py": ASYNC_UNIX}), "{py} a.py", [], False),
    "sqlite3 database": (
        "test",
        _w({}),
        "sqlite3 db.sqlite 'create table t(x); insert into t values(1); select count(*) from t;'",
        [],
        False,
    ),
    "socat unix relay": (
        "test",
        _w({}),
        "socat UNIX-LISTEN:./s.sock,fork EXEC:'echo pong' & p=$!; sleep 0.5; echo ping | socat - UNIX-CONNECT:./s.sock | grep -q pong; r=$?; kill $p; exit $r",
        [],
        False,
    ),
    # git
    "git status / diff / log": (
        "git",
        _w({"a.txt": "a\n"}, git=True),
        "echo b >> a.txt && git status --short && git diff --stat && git log --oneline -1",
        [],
        False,
    ),
    "git commit": (
        "git",
        _w({"a.txt": "a\n"}, git=True),
        "echo b >> a.txt && " + GIT_ID + "commit -qam change && git log --oneline | wc -l | grep -q 2",
        ["--allow-git-write"],
        False,
    ),
    "git branch + checkout": (
        "git",
        _w({"a.txt": "a\n"}, git=True),
        "git checkout -qb feature && git branch --show-current | grep -q feature",
        ["--allow-git-write"],
        False,
    ),
    "git clone (local)": (
        "git",
        _w({"a.txt": "a\n"}, bare=True),
        "git clone -q origin.git copy && test -f copy/a.txt",
        [],
        False,
    ),
    "git stash": (
        "git",
        _w({"a.txt": "a\n"}, git=True),
        "echo b >> a.txt && " + GIT_ID + "stash -q && git stash list | grep -q stash",
        ["--allow-git-write"],
        False,
    ),
    # ptys and terminals
    "script (a pty)": ("pty", _w({}), "script -qec 'tty' /dev/null | grep -q /dev/pts", [], False),
    "python pty.spawn": (
        "pty",
        _w({}),
        "{py} -c \"import pty,sys; sys.exit(pty.spawn(['true']))\"",
        [],
        False,
    ),
    "tmux session": (
        "pty",
        _w({}),
        "tmux -S ./tm.sock new-session -d 'sleep 2' && tmux -S ./tm.sock ls >/dev/null && tmux -S ./tm.sock kill-server",
        [],
        False,
    ),
    # files and tools
    "tar: archive made elsewhere": (
        "files",
        _foreign_tar,
        "mkdir out && tar -xf foreign.tar -C out && cat out/pkg/payload.txt",
        [],
        False,
    ),
    "zip / unzip": (
        "files",
        _w({"d/a.txt": "a\n"}),
        "zip -qr a.zip d && rm -r d && unzip -q a.zip && test -f d/a.txt",
        [],
        False,
    ),
    "openssl self-signed cert": (
        "files",
        _w({}),
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 1 -subj /CN=t 2>/dev/null && test -s c.pem",
        [],
        False,
    ),
    "ssh-keygen": ("files", _w({}), "ssh-keygen -q -t ed25519 -N '' -f ./id && test -f id.pub", [], False),
    "rg / jq / sed pipeline": (
        "files",
        _w({"a.json": '{"k": [1, 2, 3]}\n', "src/x.py": "TODO = 1\n"}),
        "rg -q TODO src && jq '.k | length' a.json | sed 's/3/three/' | grep -q three",
        [],
        False,
    ),
}


# --- runners -------------------------------------------------------------------------------------
def _peers():
    try:
        from bench import peers
    except ImportError:  # run as a script from bench/
        sys.path.insert(0, str(HERE))
        import peers  # type: ignore
    return peers.codex(), peers.srt()


def argv_for(engine: str, cmd: str, flags, registry: bool, port: int, ws: Path, settings: Path) -> list[str]:
    if engine == "unconfined":
        return ["sh", "-c", cmd]
    if engine == "cordon":
        extra = list(flags) if isinstance(flags, list) else []
        if registry:
            # docs/netproxy.md: a name pinned to a loopback address is allowed with that address
            extra += [
                "--network",
                "proxy",
                "--allow-domain",
                "registry.test",
                "--resolve",
                "registry.test=127.0.0.1",
            ]
            extra += ["--allow-domain", f"127.0.0.1:{port}"]
        return [PY, "-m", "cordon.sandbox", "run", *extra, "--", "sh", "-c", cmd]
    if engine == "codex":
        codex, _ = _peers()
        net = ["-c", "sandbox_workspace_write.network_access=true"] if registry else []
        return [str(codex), "sandbox", "-c", 'sandbox_mode="workspace-write"', *net, "--", "sh", "-c", cmd]
    if engine == "srt":
        _, srt = _peers()
        settings.write_text(
            json.dumps(
                {
                    "network": {"allowedDomains": ["registry.test", "localhost"], "deniedDomains": []},
                    "filesystem": {"denyRead": [], "allowWrite": [str(ws)], "denyWrite": []},
                }
            )
        )
        return [str(srt), "--settings", str(settings), "-c", cmd]
    raise ValueError(engine)


def run_one(name: str, engine: str, ident, port: int, root: Path) -> tuple[bool, str]:
    _category, setup, cmd, flags, registry = WORKFLOWS[name]
    ws = Path(tempfile.mkdtemp(prefix="wf-", dir=root))
    setup(ws)
    if ident is not None:
        subprocess.run(["chown", "-R", f"{ident.uid}:{ident.gid}", str(ws)], check=True)
    cmd = cmd.replace("{py}", PY).replace("{port}", str(port))
    if engine in ("unconfined", "codex") and registry:
        # Codex's network_access=true is the host's network: the registry's own address.
        cmd = cmd.replace("registry.test", "127.0.0.1")
    if engine == "srt" and registry:
        # srt has no name pinning: "localhost" is allowed, and its NO_PROXY (which lists
        # localhost) cleared so that clients go through its proxy to the host's loopback.
        cmd = "export NO_PROXY= no_proxy=; " + cmd.replace("registry.test", "localhost")
    settings = root / f"srt-{os.getpid()}.json"
    argv = argv_for(engine, cmd, flags, registry, port, ws, settings)
    env = (
        dict(ident.env())
        if ident is not None
        else {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
        }
    )
    env["PYTHONPATH"] = str(REPO)
    kw = ident.popen_kwargs() if ident is not None else {}
    try:
        r = subprocess.run(argv, cwd=ws, env=env, capture_output=True, text=True, timeout=240, **kw)
        ok, why = r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        return ok, "" if ok else f"rc={r.returncode}: {why[0][:150]}"
    except subprocess.TimeoutExpired:
        return False, "timeout"
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def cases(ctx) -> list:
    """For bench/run.py: the battery as root, then as the test account (a table, no timings)."""
    run_battery(user=False)
    if os.geteuid() == 0:
        run_battery(user=True)
    return []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", action="store_true", help="run as the unprivileged test account")
    ap.add_argument("--only", default="")
    ap.add_argument("--engines", default="unconfined,cordon,codex,srt")
    args = ap.parse_args()
    return run_battery(args.user, args.only, args.engines)


def run_battery(user: bool, only: str = "", engines: str = "unconfined,cordon,codex,srt") -> int:
    from tests.support import identities

    root = Path(tempfile.mkdtemp(prefix="cordon-workflows-"))
    root.chmod(0o755)
    ident = identities.identity_for("user", identities.scratch_root()) if user else None
    if ident is not None:
        os.chown(root, ident.uid, ident.gid)
    codex, srt = _peers()
    engines = [e for e in engines.split(",") if (e != "codex" or codex) and (e != "srt" or srt)]
    reg = Registry()
    names = [n for n in WORKFLOWS if not only or n in only.split(",")]
    results: dict[str, dict[str, tuple[bool, str]]] = {}
    for n in names:
        results[n] = {e: run_one(n, e, ident, reg.port, root) for e in engines}
        row = "  ".join(f"{e}={'ok' if results[n][e][0] else 'FAIL'}" for e in engines)
        print(f"{WORKFLOWS[n][0]:8s} {n:38s} {row}", flush=True)
        for e in engines:
            if not results[n][e][0] and e != "unconfined":
                print(f"         {e}: {results[n][e][1]}", flush=True)
    counted = [n for n in names if results[n].get("unconfined", (True, ""))[0]]
    who = "the test account" if ident else "root"
    print(f"\nas {who}: {len(counted)} workflows run unconfined (the control)")
    for e in engines:
        if e == "unconfined":
            continue
        print(f"  {e:8s} {sum(results[n][e][0] for n in counted)}/{len(counted)}")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
