"""Legitimate work inside ``sandbox run`` (default policy): it must just work.

Edit files, git (and git commit in the audited git mode), Python with a venv and a pip
install of a local wheel, a C build with make and gcc, pipes, exit codes, stdin,
signals and a terminal. Each test runs as root and as the unprivileged account.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.sandbox


def sbx(identity, *cmd: str, flags=(), cwd: Path | None = None, **kw):
    return identity.run(identity.sandbox_argv("run", *flags, "--", *cmd), cwd=cwd or identity.workspace, **kw)


def sh(identity, script: str, flags=(), **kw):
    return sbx(identity, "sh", "-c", script, flags=flags, **kw)


def own(identity, *paths: Path) -> None:
    for p in paths:
        os.chown(p, identity.uid, identity.gid)


def test_edit_files(identity) -> None:
    ws = identity.workspace
    (ws / "a.txt").write_text("hello\n")
    own(identity, ws / "a.txt")
    r = sh(
        identity,
        "sed -i s/hello/bye/ a.txt && mkdir -p d/e && echo new > d/e/b.txt && "
        "mv d/e/b.txt c.txt && rm -r d && cat a.txt c.txt",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bye\nnew\n"
    assert (ws / "a.txt").read_text() == "bye\n" and (ws / "c.txt").read_text() == "new\n"
    assert not (ws / "d").exists()


def _git_repo(identity) -> Path:
    ws = identity.workspace
    env = identity.env(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    for argv in (
        ["git", "init", "-q", "-b", "main", "."],
        ["sh", "-c", "echo one > f.txt"],
        ["git", "add", "f.txt"],
        ["git", "commit", "-q", "-m", "first"],
    ):
        r = identity.run(argv, cwd=ws, env=env)
        assert r.returncode == 0, r.stderr
    return ws


def test_git_read_operations_in_workspace(identity) -> None:
    ws = _git_repo(identity)
    (ws / "f.txt").write_text("two, and longer\n")  # a different size: no racy-git ambiguity
    r = sh(identity, "git status --short && git diff --stat && git log --oneline | wc -l")
    assert r.returncode == 0, r.stderr
    assert " M f.txt" in r.stdout and r.stdout.strip().endswith("1")


def test_git_commit_needs_and_works_in_audited_git_mode(identity) -> None:
    ws = _git_repo(identity)
    hooks_before = sorted(p.name for p in (ws / ".git" / "hooks").iterdir())
    config_before = (ws / ".git" / "config").read_text()
    script = (
        "echo three > f.txt && git -c user.name=t -c user.email=t@t commit -q -am second "
        "&& git log --oneline | wc -l"
    )
    denied = sh(identity, script)
    assert denied.returncode != 0  # .git is read-only by default
    r = sh(identity, script, flags=["--allow-git-write"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
    log = identity.run(["git", "log", "--format=%s"], cwd=ws)
    assert log.stdout.split() == ["second", "first"]
    assert sorted(p.name for p in (ws / ".git" / "hooks").iterdir()) == hooks_before
    assert (ws / ".git" / "config").read_text() == config_before


def _wheel(dest: Path) -> Path:
    """A minimal pure-Python wheel built by hand (no network, no build backend)."""
    name = "cordon_tinypkg-0.1-py3-none-any.whl"
    files = {
        "cordon_tinypkg/__init__.py": b"def answer():\n    return 42\n",
        "cordon_tinypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: cordon-tinypkg\nVersion: 0.1\n",
        "cordon_tinypkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append("cordon_tinypkg-0.1.dist-info/RECORD,,")
    files["cordon_tinypkg-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(dest / name, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return dest / name


@pytest.mark.slow
def test_python_venv_and_pip_install_local_wheel(identity) -> None:
    ws = identity.workspace
    whl = _wheel(ws)
    own(identity, whl)
    script = (
        "python3 -m venv venv && venv/bin/python -m pip install -q --no-index --disable-pip-version-check "
        f"{whl.name} && venv/bin/python -c 'import cordon_tinypkg; print(cordon_tinypkg.answer())'"
    )
    # The test checkout's PYTHONPATH must not leak into the venv's interpreter.
    r = sh(identity, script, flags=["--env-exclude", "PYTHONPATH"], timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("42")
    assert list((ws / "venv" / "lib").glob("python3*/site-packages/cordon_tinypkg/__init__.py"))


def test_c_build_with_make_and_gcc(identity) -> None:
    ws = identity.workspace
    (ws / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("built");return 3;}\n')
    (ws / "Makefile").write_text("hello: hello.c\n\tgcc -O1 -o hello hello.c\n")
    own(identity, ws / "hello.c", ws / "Makefile")
    r = sh(identity, "make -s && ./hello")
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == "built"
    assert (ws / "hello").exists()


def test_pipes_exit_codes_and_stdin(identity) -> None:
    r = sh(identity, "seq 1 5000 | sort -rn | head -1")
    assert (r.returncode, r.stdout.strip()) == (0, "5000")
    assert sh(identity, "exit 42").returncode == 42
    assert sbx(identity, "false").returncode == 1
    r = sbx(identity, "tr", "a-z", "A-Z", input="piped input\n")
    assert (r.returncode, r.stdout) == (0, "PIPED INPUT\n")


def test_signal_exit_status_is_128_plus_n(identity) -> None:
    assert sh(identity, "kill -TERM $$").returncode == 128 + signal.SIGTERM
    assert sh(identity, "kill -KILL $$").returncode == 128 + signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_forwarded_to_the_command(identity, sig) -> None:
    script = f'trap "echo caught; exit 7" {sig.name[3:]}; echo ready; while :; do sleep 0.05; done'
    p = subprocess.Popen(
        identity.sandbox_argv("run", "--", "sh", "-c", script),
        cwd=identity.workspace,
        env=identity.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 7, err
    assert "caught" in out


def test_terminal_passed_through(identity) -> None:
    import pty

    ws = identity.workspace
    argv = identity.sandbox_argv(
        "run", "--", "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; read x; echo got:$x"
    )
    master, slave = pty.openpty()
    p = subprocess.Popen(
        argv, cwd=ws, env=identity.env(), stdin=slave, stdout=slave, stderr=slave, **identity.popen_kwargs()
    )
    os.close(slave)
    os.write(master, b"typed\n")
    buf = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and b"got:" not in buf:
        try:
            buf += os.read(master, 1024)
        except OSError:
            break
    p.wait(timeout=30)
    os.close(master)
    assert b"is-a-tty" in buf and b"got:typed" in buf, buf
    assert p.returncode == 0


def test_environment_scrubbed_and_marked(identity) -> None:
    env = identity.env(MY_API_TOKEN="t0psecret", AWS_SECRET_ACCESS_KEY="k", PLAIN="visible")
    r = identity.run(identity.sandbox_argv("run", "--", "env"), cwd=identity.workspace, env=env)
    assert r.returncode == 0, r.stderr
    assert "t0psecret" not in r.stdout and "AWS_SECRET_ACCESS_KEY" not in r.stdout
    assert "PLAIN=visible" in r.stdout
    assert "CORDON_SANDBOX=bwrap" in r.stdout and "CORDON_SANDBOX_NETWORK=off" in r.stdout


@pytest.mark.network
def test_network_modes_through_the_cli(identity, http_server) -> None:
    url = f"http://127.0.0.1:{http_server.port}/"
    curl = f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' {url}; echo"
    off = sh(identity, curl)
    assert off.stdout.strip() in ("000", ""), off.stdout  # no route out of the namespace
    on = sh(identity, curl, flags=["--network", "on"])
    assert on.stdout.strip() == "200", on.stderr
    # XDG_RUNTIME_DIR points into /run/user, which is masked inside: the bridge must not live there.
    env = identity.env(XDG_RUNTIME_DIR=f"/run/user/{identity.uid}")
    proxied = sh(
        identity, curl, flags=["--allow-domain", f"127.0.0.1:{http_server.port}"], timeout=120, env=env
    )
    assert proxied.stdout.strip() == "200", proxied.stderr
    # Loopback is in NO_PROXY (servers inside the sandbox), so ask curl to use the proxy anyway.
    denied = sh(
        identity,
        curl.replace("curl ", "curl --noproxy '' "),
        flags=["--allow-domain", "example.invalid"],
        timeout=120,
    )
    assert denied.stdout.strip() == "403", denied.stderr
    assert "denied" in denied.stderr  # the launcher prints the proxy's one-line summary


def test_doctor_reports_this_host(identity) -> None:
    import json

    r = identity.run(identity.sandbox_argv("doctor", "--json"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["platform"] == "linux" and d["bwrap"]["works"] is True
    assert d["user_namespaces"]["available"] is True and d["run_engine"] == "bwrap"
    assert "--json-status-fd" in d["bwrap"]["options"]
    human = identity.run(identity.sandbox_argv("doctor"))
    assert "sandbox run will use: bwrap" in human.stdout


def test_ctrl_z_and_fg_pause_and_resume_the_command(identity) -> None:
    _pause_and_resume(identity, identity.sandbox_argv("run", "--", *TICKER))


# The launcher as `sandbox run`, except that its main thread blocks the job-control signals
# after starting a thread that does not: the kernel then gives them to that thread, as it may
# to any of the launcher's threads (supervisor, watcher) under load.
SIGNALS_TO_ANOTHER_THREAD = """
import signal, sys, threading
threading.Thread(target=threading.Event().wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTSTP, signal.SIGCONT})
from cordon.sandbox.commands.run import main_run
sys.exit(main_run(sys.argv[1:]))
"""


def test_ctrl_z_and_fg_work_when_another_thread_takes_the_signal(identity) -> None:
    """A signal the kernel gives to another of the launcher's threads still runs the launcher's
    handler: before, the main thread sat in wait4 and never ran it, so the command stayed
    stopped for good (found hung under load: a vfork child stopped, its shell waiting)."""
    _pause_and_resume(identity, [sys.executable, "-c", SIGNALS_TO_ANOTHER_THREAD, "--", *TICKER])


TICKER = ("sh", "-c", "while :; do echo tick; sleep 0.05; done")


def _pause_and_resume(identity, argv: list[str]) -> None:
    ws = identity.workspace
    p = subprocess.Popen(argv, cwd=ws, env=identity.env(), stdout=subprocess.PIPE, **identity.popen_kwargs())
    fd = p.stdout.fileno()

    def drain() -> bytes:
        out = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    try:
        assert os.read(fd, 5) == b"tick\n"
        p.send_signal(signal.SIGTSTP)
        deadline = time.monotonic() + 10
        while psutil_status(p.pid) != "stopped" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert psutil_status(p.pid) == "stopped"
        os.set_blocking(fd, False)
        time.sleep(0.3)
        drain()  # what was printed before the stop took effect
        time.sleep(0.5)
        assert drain() == b"", "the command kept running while suspended"
        p.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        out = b""
        while b"tick" not in out and time.monotonic() < deadline:  # never a read that can hang
            time.sleep(0.05)
            out += drain()
        assert b"tick" in out, "the command did not resume"
    finally:
        p.kill()
        p.wait(timeout=10)


def psutil_status(pid: int) -> str:
    import psutil

    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"
