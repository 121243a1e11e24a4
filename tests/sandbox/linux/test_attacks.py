"""The attack battery: each test is one escape attempt through the real ``sandbox run`` CLI
(bubblewrap + the inner stage), run as root and as the unprivileged account, and asserted to
FAIL -- and, where the attack would leave a trace on the host, the host is checked too.

Attacks whose success would do harm are made harmless first: files written are new files,
kernel tunables are only opened for writing (never written), syscall probes use arguments
that a privileged, unconfined caller would see rejected with EINVAL/ENOENT.
"""

from __future__ import annotations

import errno
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.sandbox.linux.confine_support import build_probes, ops_argv, parse_ops, parse_probes, sandbox_run

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None, reason="needs Linux and bubblewrap"
    ),
]


# --- fixtures and helpers -----------------------------------------------------------------
@pytest.fixture(scope="module")
def probes_src(scratch_session):
    return build_probes(scratch_session)


@pytest.fixture
def probes(identity, probes_src) -> Path:
    """The probe binary inside the workspace (the sandbox's /tmp is private, so the session
    copy under /tmp is not visible inside)."""
    dst = identity.workspace / "probes"
    shutil.copy2(probes_src, dst)
    os.chown(dst, identity.uid, identity.gid)
    return dst


@pytest.fixture
def outside(identity):
    """A directory outside every writable root that file permissions let ``identity`` write
    (in its home; the scratch area is under /tmp, which is private inside the sandbox)."""
    d = identity.home / f".cordon-attack-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    (d / "file").write_text("original\n")
    for p in (d, d / "file"):
        os.chown(p, identity.uid, identity.gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def secrets(identity):
    """Fake secrets where real ones live (~/.ssh, ~/.aws, ~/.netrc, ~/.git-credentials)."""
    tag = uuid.uuid4().hex[:8]
    made: list[Path] = []
    files = {}
    for rel in (".ssh", ".aws", ".config/gh"):
        d = identity.home / rel
        if not d.exists():
            d.mkdir(parents=True)
            made.append(d)
            os.chown(d, identity.uid, identity.gid)
    for key, rel in (
        ("ssh", f".ssh/id_cordon_{tag}"),
        ("aws", f".aws/credentials_cordon_{tag}"),
        ("gh", f".config/gh/hosts_cordon_{tag}.yml"),
    ):
        p = identity.home / rel
        p.write_text(f"SECRET-{key}-{tag}\n")
        os.chown(p, identity.uid, identity.gid)
        files[key] = p
    for key, rel in (("netrc", ".netrc"), ("gitcred", ".git-credentials")):
        p = identity.home / rel
        if not p.exists():
            p.write_text(f"SECRET-{key}-{tag}\n")
            os.chown(p, identity.uid, identity.gid)
            made.append(p)
        files[key] = p
    files["tag"] = tag
    yield files
    for key in ("ssh", "aws", "gh"):
        files[key].unlink(missing_ok=True)
    for p in reversed(made):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def ops(identity, *specs: str, flags=(), env=None, **kw) -> dict[str, str]:
    r = sandbox_run(identity, *flags, cmd=ops_argv(*specs), env=env, **kw)
    assert r.returncode == 0, f"sandbox run failed ({r.returncode}): {r.stderr}"
    got = parse_ops(r.stdout)
    assert set(got) == set(specs), (got, r.stderr)
    return got


def denied(result: str) -> bool:
    return result != "ok"


def probe(identity, probes: Path, *names: str, flags=()) -> dict[str, tuple]:
    r = sandbox_run(identity, *flags, cmd=[str(probes), *names])
    assert r.returncode == 0, f"sandbox run failed ({r.returncode}): {r.stderr}"
    got = parse_probes(r.stdout)
    assert set(got) == set(names), (r.stdout, r.stderr)
    return got


def assert_eperm(got: dict, *names: str) -> None:
    for n in names:
        assert got[n] == ("errno", errno.EPERM), (n, got[n])


# --- writes outside the writable roots ------------------------------------------------------
def test_write_outside_workspace(identity, outside):
    got = ops(identity, f"write:{outside}/new", f"append:{outside}/file", f"chmod:{outside}/file")
    assert all(denied(v) for v in got.values()), got
    assert not (outside / "new").exists()
    assert (outside / "file").read_text() == "original\n"


def test_create_file_in_etc(identity):
    target = Path(f"/etc/cordon-attack-{uuid.uuid4().hex[:8]}")
    try:
        got = ops(identity, f"write:{target}")
        assert denied(got[f"write:{target}"])
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_delete_and_rename_outside(identity, outside):
    got = ops(identity, f"unlink:{outside}/file", f"rename:{outside}/file:{outside}/moved")
    assert all(denied(v) for v in got.values()), got
    assert (outside / "file").exists()


def test_read_only_mode_blocks_workspace_writes(identity):
    got = ops(identity, f"write:{identity.workspace}/x", flags=("--mode", "read-only"))
    assert denied(got[f"write:{identity.workspace}/x"])
    assert not (identity.workspace / "x").exists()


def test_read_only_mode_with_shared_tmp_writes_nothing(identity):
    """--share-tmp shows the host's /tmp; in read-only mode it must stay read-only."""
    name = f"/tmp/cordon-attack-{uuid.uuid4().hex[:8]}"
    try:
        got = ops(
            identity,
            f"write:{name}",
            f"write:{identity.workspace}/x",
            flags=("--mode", "read-only", "--share-tmp"),
        )
        assert all(denied(v) for v in got.values()), got
        assert not Path(name).exists() and not (identity.workspace / "x").exists()
    finally:
        Path(name).unlink(missing_ok=True)


def test_reopen_read_only_fd_for_writing_via_proc(identity, outside):
    got = ops(identity, f"reopen:{outside}/file")
    assert denied(got[f"reopen:{outside}/file"])


# --- protected names ------------------------------------------------------------------------------
@pytest.fixture
def repo(identity):
    ws = identity.workspace
    r = identity.run(["git", "init", "-q", str(ws)])
    assert r.returncode == 0, r.stderr
    (ws / ".agents").mkdir()
    (ws / ".agents" / "AGENTS.md").write_text("be nice\n")
    for p in [ws / ".agents", ws / ".agents" / "AGENTS.md"]:
        os.chown(p, identity.uid, identity.gid)
    return ws


def test_git_hooks_and_config_cannot_be_written(identity, repo):
    ws = repo
    got = ops(
        identity,
        f"write:{ws}/.git/hooks/pre-commit",
        f"append:{ws}/.git/config",
        f"write:{ws}/.agents/AGENTS.md",
    )
    assert all(denied(v) for v in got.values()), got
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert (ws / ".agents" / "AGENTS.md").read_text() == "be nice\n"


def test_absent_protected_names_cannot_be_created(identity):
    ws = identity.workspace
    got = ops(
        identity,
        f"mkdir:{ws}/.git",
        f"mkdir:{ws}/.codex",
        f"write:{ws}/.codex/config.toml",
        f"write:{ws}/.agents",
    )
    assert all(denied(v) for v in got.values()), got
    for name in (".git", ".codex", ".agents"):
        p = ws / name
        assert not p.exists() or (p.is_dir() and not any(p.iterdir())), name


def test_protected_names_in_a_root_made_read_only_by_its_owner(identity):
    """A writable root its owner set to 0555: the command (same uid) may chmod it back, so
    the absent protected names still get placeholders. (A root the user neither owns nor
    can write gets none: nothing can be created there, and the launch does not fail.)"""
    ws = identity.workspace / "ro-root"
    ws.mkdir()
    os.chown(ws, identity.uid, identity.gid)
    ws.chmod(0o555)
    try:
        got = ops(
            identity,
            f"chmod:{ws}",
            f"mkdir:{ws}/.git",
            f"write:{ws}/.codex",
            flags=("--writable-root", str(ws)),
        )
    finally:
        ws.chmod(0o755)
    assert got[f"chmod:{ws}"] == "ok", got  # the attack's first step works...
    assert denied(got[f"mkdir:{ws}/.git"]) and denied(got[f"write:{ws}/.codex"]), got
    assert not any((ws / n).exists() and any((ws / n).iterdir()) for n in (".git",))
    assert not (ws / ".codex").is_file()


def test_protected_name_rename_swap(identity, repo):
    ws = repo
    got = ops(identity, f"rename:{ws}/.git:{ws}/git-old", f"rename:{ws}/.agents:{ws}/agents-old")
    assert all(denied(v) for v in got.values()), got
    assert (ws / ".git" / "HEAD").exists() and (ws / ".agents" / "AGENTS.md").exists()


def test_protected_name_symlink_swap(identity, outside):
    ws = identity.workspace
    # .codex is absent: try to plant a symlink to a directory the sandbox controls.
    got = ops(
        identity, f"rmdir:{ws}/.codex", f"symlink:{outside}:{ws}/.codex", f"symlink:{outside}:{ws}/.git"
    )
    assert denied(got[f"symlink:{outside}:{ws}/.codex"]) and denied(got[f"symlink:{outside}:{ws}/.git"])
    assert not (ws / ".codex").is_symlink() and not (ws / ".git").is_symlink()


def test_protected_name_replaced_after_removal(identity, repo):
    ws = repo
    got = ops(identity, f"unlink:{ws}/.git/HEAD", f"rmdir:{ws}/.git", f"write:{ws}/.git/HEAD")
    assert all(denied(v) for v in got.values()), got
    assert (ws / ".git" / "HEAD").read_text().startswith("ref:")


# --- symlink and hard-link escapes -------------------------------------------------------------------
def test_symlink_write_escape(identity, outside):
    ws = identity.workspace
    os.symlink(outside / "file", ws / "link")
    got = ops(identity, f"write:{ws}/link", f"append:{ws}/link")
    assert all(denied(v) for v in got.values()), got
    assert (outside / "file").read_text() == "original\n"


def test_symlink_directory_escape(identity, outside):
    ws = identity.workspace
    os.symlink(outside, ws / "dirlink")
    got = ops(identity, f"write:{ws}/dirlink/new", f"mkdir:{ws}/dirlink/sub")
    assert all(denied(v) for v in got.values()), got
    assert not (outside / "new").exists() and not (outside / "sub").exists()


def test_hardlink_escape(identity, outside):
    ws = identity.workspace
    got = ops(identity, f"hardlink:{outside}/file:{ws}/hard", f"append:{ws}/hard")
    assert denied(got[f"hardlink:{outside}/file:{ws}/hard"]), got
    assert (outside / "file").read_text() == "original\n"  # appending hit a new file, not the link


def test_hardlink_secret_into_workspace(identity, secrets):
    ws = identity.workspace
    got = ops(identity, f"hardlink:{secrets['ssh']}:{ws}/stolen", f"cat:{ws}/stolen")
    assert all(denied(v) for v in got.values()), got


def test_symlink_to_secret(identity, secrets):
    ws = identity.workspace
    os.symlink(secrets["aws"], ws / "creds")
    r = sandbox_run(identity, cmd=ops_argv(f"cat:{ws}/creds"))
    assert "SECRET-" not in r.stdout
    assert parse_ops(r.stdout)[f"cat:{ws}/creds"] != "ok"


# --- secret reads -------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["ssh", "aws", "gh", "netrc", "gitcred"])
def test_secret_reads(identity, secrets, key):
    r = sandbox_run(identity, cmd=ops_argv(f"cat:{secrets[key]}"))
    assert r.returncode == 0, r.stderr
    assert "SECRET-" not in r.stdout
    assert parse_ops(r.stdout)[f"cat:{secrets[key]}"] != "ok"


def test_secret_names_are_hidden(identity, secrets):
    r = sandbox_run(identity, cmd=["ls", "-a", str(secrets["ssh"].parent), str(secrets["aws"].parent)])
    assert secrets["tag"] not in r.stdout + r.stderr


def test_shadow_files(identity):
    r = sandbox_run(identity, cmd=ops_argv("cat:/etc/shadow", "cat:/etc/gshadow"))
    assert r.returncode == 0, r.stderr
    assert "root:" not in r.stdout
    assert all(v != "ok" for v in parse_ops(r.stdout).values())


# --- environment and file descriptors ----------------------------------------------------------------
def test_env_secrets_do_not_leak(identity):
    env = identity.env(
        GITHUB_TOKEN="ghp_cordonsecret",
        AWS_SECRET_ACCESS_KEY="cordonsecret",
        OPENAI_API_KEY="sk-cordonsecret",
        NPM_TOKEN="cordonsecret",
    )
    r = sandbox_run(identity, cmd=["env"], env=env)
    assert r.returncode == 0, r.stderr
    assert "cordonsecret" not in r.stdout


def test_inherited_fds_are_closed(identity, secrets):
    fd = os.open(secrets["ssh"], os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        r = sandbox_run(
            identity,
            cmd=[*ops_argv(f"fd:{fd}"), ";"][:-1],
            pass_fds=(fd,),
        )
        got = parse_ops(r.stdout)
        assert got[f"fd:{fd}"] == "EBADF", (got, r.stderr)
        r = sandbox_run(identity, cmd=["sh", "-c", f"cat <&{fd}; ls /proc/self/fd"], pass_fds=(fd,))
        assert secrets["tag"] not in r.stdout
    finally:
        os.close(fd)


# --- network ----------------------------------------------------------------------------------------------
def test_host_loopback_tcp(identity, http_server):
    got = ops(identity, f"connect:127.0.0.1:{http_server.port}")
    assert denied(got[f"connect:127.0.0.1:{http_server.port}"])


def test_host_loopback_tcp6(identity, http_server6):
    got = ops(identity, f"connect:::1:{http_server6.port}")
    assert denied(got[f"connect:::1:{http_server6.port}"])


# Binding a port is allowed: the sandbox's own loopback (test_local_ipc.py shows a server
# there is unreachable from the host, and the host's from inside).


def test_host_unix_socket_path(identity, unix_listener):
    got = ops(identity, f"unix:{unix_listener}")
    assert denied(got[f"unix:{unix_listener}"])


def test_host_abstract_socket(identity, abstract_listener):
    got = ops(identity, f"abstract:{abstract_listener}")
    assert denied(got[f"abstract:{abstract_listener}"])


def test_host_abstract_socket_with_network_on(identity, abstract_listener):
    """With the host network, abstract sockets are shared: Landlock's scope (ABI 6) blocks them."""
    from cordon.sandbox.linux import landlock

    if landlock.abi_version() < 6:
        pytest.skip("abstract-socket scoping needs Landlock ABI 6")
    got = ops(identity, f"abstract:{abstract_listener}", flags=("--network", "on"))
    assert got[f"abstract:{abstract_listener}"] == "EPERM"


def test_raw_packet_and_vsock_even_with_network_on(identity, probes):
    got = probe(identity, probes, "raw", "packet", "vsock", "netlink_diag", flags=("--network", "on"))
    assert_eperm(got, "raw", "packet", "vsock", "netlink_diag")


# --- denied syscall families ---------------------------------------------------------------------------
SYSCALL_ATTACKS = {
    "ptrace": ["ptrace"],
    "process_vm": ["process_vm_readv", "kcmp", "pidfd_getfd"],
    "io_uring": ["io_uring"],
    "bpf": ["bpf"],
    "perf_event_open": ["perf"],
    "keyring": ["add_key", "keyctl", "request_key"],
    "vsock": ["vsock"],
    "raw_socket": ["raw"],
    "af_packet": ["packet"],
    "netlink_diag": ["netlink_diag", "netlink_uevent"],
    # inet sockets (also with garbage in the upper half) are the sandbox's own loopback under
    # bubblewrap: see test_fallback_syscalls_and_capabilities and test_local_ipc.py.
    "kexec_and_modules": ["kexec", "init_module", "finit_module", "delete_module", "reboot"],
    "mount_family": ["mount", "umount", "pivot_root", "fsopen", "open_tree", "open_by_handle_at"],
    "chroot": ["chroot"],
    "nested_namespaces": ["unshare_user", "unshare_net", "clone_newuser", "setns"],
    "clock_and_log": ["settimeofday", "adjtimex", "syslog", "swapon"],
    "userfaultfd": ["userfaultfd"],
    "sethostname": ["sethostname"],
    "personality": ["personality"],
    "tiocsti_pty": ["tiocsti", "tiocsti_hi32"],
    "x32_abi": ["x32"],
}


@pytest.mark.parametrize("family", list(SYSCALL_ATTACKS))
def test_denied_syscall_family(identity, probes, family):
    got = probe(identity, probes, *SYSCALL_ATTACKS[family], "getpid")
    assert got["getpid"] == ("ok", 0)
    assert_eperm(got, *SYSCALL_ATTACKS[family])


def test_i386_int80_is_killed(identity, probes):
    got = probe(identity, probes, "i386", "clone3")
    assert got["i386"] == ("signal", signal.SIGSYS)
    assert got["clone3"] == ("errno", errno.ENOSYS)


def test_unshare_binary(identity):
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare not installed")
    r = sandbox_run(identity, cmd=["unshare", "-U", "-r", "id", "-u"])
    assert r.returncode != 0 and r.stdout.strip() != "0"


def test_setarch_no_randomize(identity):
    if shutil.which("setarch") is None:
        pytest.skip("setarch not installed")
    r = sandbox_run(identity, cmd=["setarch", os.uname().machine, "-R", "true"])
    assert r.returncode != 0


# --- kernel tunables, host identity ----------------------------------------------------------------------
def test_proc_sys_writes(identity):
    """Opening for writing is the attack (nothing is written, so a failure of the wall does no harm)."""
    targets = [
        "/proc/sys/kernel/hostname",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
    ]
    got = ops(identity, *[f"openw:{t}" for t in targets])
    assert all(denied(v) for v in got.values()), got


def test_hostname_command(identity):
    before = socket.gethostname()
    r = sandbox_run(identity, cmd=["hostname", before])  # same name: harmless if it worked
    assert r.returncode != 0
    assert socket.gethostname() == before


def test_mount_and_chroot_commands(identity):
    ws = identity.workspace
    (ws / "m").mkdir()
    os.chown(ws / "m", identity.uid, identity.gid)
    r = sandbox_run(identity, cmd=["sh", "-c", f"mount -t tmpfs none {ws}/m || exit 3; exit 0"])
    assert r.returncode == 3
    r = sandbox_run(identity, cmd=["chroot", "/", "true"])
    assert r.returncode != 0


# --- host processes ----------------------------------------------------------------------------------------
@pytest.fixture
def victim(identity):
    p = subprocess.Popen(["sleep", "60"], **identity.popen_kwargs())
    yield p
    p.kill()
    p.wait()


def test_signal_host_process(identity, victim):
    r = sandbox_run(identity, cmd=["sh", "-c", f"kill -9 {victim.pid}"])
    assert r.returncode != 0
    assert victim.poll() is None


def test_host_processes_are_invisible(identity, victim):
    r = sandbox_run(identity, cmd=["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"])
    assert r.returncode == 0, r.stderr
    assert "sleep" not in r.stdout and "pytest" not in r.stdout
    r = sandbox_run(identity, cmd=["ls", "/proc"])
    pids = [int(x) for x in r.stdout.split() if x.isdigit()]
    assert 0 < len(pids) < 10, pids  # a fresh PID namespace: bwrap, the command, little else


# --- the launching terminal ----------------------------------------------------------------------------------
def on_terminal(identity, argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` as ``identity`` on a fresh pty that is its controlling terminal (as in an
    interactive shell); return (exit status, everything written to the terminal)."""
    import fcntl
    import termios

    master, slave = pty.openpty()

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        p = subprocess.Popen(
            argv,
            cwd=identity.workspace,
            env=identity.env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=take_terminal,
            **identity.popen_kwargs(),
        )
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last holder of the terminal is gone
                break
            if not chunk:
                break
            out += chunk
        return p.wait(timeout=60), out.decode(errors="replace").replace("\r", "")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_tiocsti_into_launching_terminal(identity, probes):
    # Control: outside the sandbox the same probe does inject (legacy TIOCSTI is on here).
    status, control = on_terminal(identity, [str(probes), "tiocstdin"])
    status, out = on_terminal(
        identity, identity.sandbox_argv("run", "--", str(probes), "tiocstdin", "tioclinux")
    )
    assert status == 0, out
    got = parse_probes(out)
    assert got.get("tiocstdin") == ("errno", errno.EPERM), out
    assert got.get("tioclinux") == ("errno", errno.EPERM), out
    if Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip() == "1":
        # (the injected "x" is echoed by the terminal, so it prefixes the probe's line)
        assert "xtiocstdin 0 0" in control, control  # so the EPERM above is the sandbox's doing


# --- private /tmp and /dev/shm ---------------------------------------------------------------------------------
def test_private_tmp_and_shm(identity):
    name = f"cordon-attack-{uuid.uuid4().hex[:8]}"
    got = ops(identity, f"write:/tmp/{name}", f"write:/dev/shm/{name}")
    try:
        assert not Path(f"/tmp/{name}").exists()
        assert not Path(f"/dev/shm/{name}").exists()
    finally:
        Path(f"/tmp/{name}").unlink(missing_ok=True)
        Path(f"/dev/shm/{name}").unlink(missing_ok=True)
    assert set(got.values()) == {"ok"}  # writable inside (tools need it), but private


def test_no_new_privileges_and_no_capabilities(identity):
    r = sandbox_run(identity, cmd=["grep", "-E", "^(NoNewPrivs|CapEff|CapBnd|Seccomp):", "/proc/self/status"])
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(":\t") for line in r.stdout.strip().splitlines())
    assert fields["NoNewPrivs"] == "1"
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert fields["Seccomp"] == "2"


def test_cordon_install_inside_a_writable_root_stays_read_only(identity):
    """A writable root that holds Cordon's own virtualenv: a planted ``.pth`` file (or any
    changed module) would run on the host at the next launch. The venv is bound read-only
    (EROFS, also for the unprivileged user, whose file permissions alone would say EACCES)."""
    from cordon.sandbox.linux.assemble import own_install

    prefix = os.path.realpath(sys.prefix)
    assert prefix != os.path.realpath(sys.base_prefix), "the tests run in the venv install.sh makes"
    parent = os.path.dirname(prefix)
    assert own_install([parent]) == [prefix]
    planted = Path(prefix) / f"cordon-attack-{uuid.uuid4().hex[:8]}.pth"
    try:
        got = ops(identity, f"write:{planted}", flags=("--writable-root", parent))
        assert got[f"write:{planted}"] == "EROFS", got
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)


def test_explicit_ld_preload_runs_nothing_before_the_walls(identity, scratch_session):
    """A dynamic-loader variable set on purpose (``--env-set LD_PRELOAD=...``) reaches the
    command only: not bwrap (on the host) nor the inner stage (static), where the library
    would run before Landlock and seccomp exist."""
    from tests.sandbox.linux.confine_support import HERE, compile_c

    lib = identity.workspace / "preload.so"
    compile_c(HERE / "preload_probe.c", lib, "-shared", "-fPIC")
    os.chown(lib, identity.uid, identity.gid)
    log = identity.workspace / "preload.log"
    r = sandbox_run(
        identity,
        "--env-set",
        f"LD_PRELOAD={lib}",
        "--env-set",
        f"CORDON_PRELOAD_LOG={log}",
        cmd=["/bin/true"],
    )
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert lines, "the command did not load the library (the attack must be real)"
    assert all(line.endswith("seccomp=2") for line in lines), lines
    assert not any("bwrap" in line or "cordon-inner" in line for line in lines), lines


# --- proxy mode: the only way out is the domain-filtering proxy --------------------------------------------
PROXY = ("--network", "proxy", "--allow-domain", "allowed.test")


def test_proxy_mode_direct_connections(identity, http_server, unix_listener, abstract_listener):
    """Past the proxy: straight to a host loopback port, a host unix socket (the srt escape),
    a host abstract socket."""
    got = ops(
        identity,
        f"connect:127.0.0.1:{http_server.port}",
        f"unix:{unix_listener}",
        f"abstract:{abstract_listener}",
        flags=PROXY,
    )
    assert all(denied(v) for v in got.values()), got


def test_proxy_mode_forwarder_cannot_be_signalled_or_read(identity):
    """The forwarder runs inside the namespaces but outside the command's Landlock domain:
    the command can neither signal it nor read its memory."""
    script = (
        'for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = "$$" ] && continue; '
        'echo "seen $pid"; kill -0 "$pid" 2>/dev/null && echo "signalable $pid"; '
        'head -c1 "/proc/$pid/mem" >/dev/null 2>&1 && echo "readable $pid"; '
        'cat "/proc/$pid/environ" >/dev/null 2>&1 && echo "environ $pid"; done; true'
    )
    r = sandbox_run(identity, *PROXY, cmd=["sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert "seen" in r.stdout  # the forwarder (and bwrap's init) are there to attack
    for word in ("signalable", "readable", "environ"):
        assert word not in r.stdout, r.stdout


# --- --fallback=landlock: no bubblewrap, the inner stage is the only wall ------------------------------------
@pytest.fixture
def no_bwrap_env(identity, scratch):
    """An environment whose PATH has no bwrap: `sandbox run --fallback=landlock` then runs the
    inner stage alone (commands are given by absolute path)."""
    empty = scratch / "empty-path"
    empty.mkdir()
    return identity.env(PATH=str(empty))


FALLBACK = ("--fallback", "landlock")


def fallback_ops(identity, env, *specs):
    r = sandbox_run(identity, *FALLBACK, cmd=ops_argv(*specs), env=env)
    assert r.returncode == 0, r.stderr
    assert "FALLBACK" in r.stderr  # stated on stderr, as promised
    return parse_ops(r.stdout)


def test_fallback_filesystem(identity, no_bwrap_env, outside, secrets):
    got = fallback_ops(
        identity,
        no_bwrap_env,
        f"write:{identity.workspace}/ok",
        f"write:{outside}/new",
        f"append:{outside}/file",
        f"cat:{secrets['ssh']}",
        f"cat:{secrets['aws']}",
        "cat:/etc/shadow",
        "openw:/proc/sys/kernel/hostname",
        "openw:/proc/sys/kernel/core_pattern",
        "openw:/proc/sysrq-trigger",
        "openw:/dev/tty0",  # the host's devices: a root command owns them, capabilities or not
        "openw:/dev/kvm",
        "read:/dev/loop0",
    )
    assert got.pop(f"write:{identity.workspace}/ok") == "ok"
    assert all(denied(v) for v in got.values()), got
    assert (outside / "file").read_text() == "original\n"


def test_fallback_network_and_processes(identity, no_bwrap_env, http_server, abstract_listener, victim):
    specs = [f"connect:127.0.0.1:{http_server.port}", f"abstract:{abstract_listener}", f"kill:{victim.pid}"]
    got = fallback_ops(identity, no_bwrap_env, *specs)
    assert denied(got[specs[0]]) and denied(got[specs[1]])
    from cordon.sandbox.linux import landlock

    if landlock.abi_version() >= 6:  # no PID namespace here: Landlock's signal scope is the wall
        assert got[specs[2]] == "EPERM"
    assert victim.poll() is None


def test_fallback_syscalls_and_capabilities(identity, no_bwrap_env, probes, outside):
    r = sandbox_run(
        identity,
        *FALLBACK,
        cmd=[
            str(probes),
            "ptrace",
            "mount",
            "unshare_user",
            "bpf",
            "x32",
            "socket_inet",
            "socket_inet_hi32",
            "socket_unix",
        ],
        env=no_bwrap_env,
    )
    got = parse_probes(r.stdout)
    # No network namespace here: with the network off, inet and unix sockets stay denied.
    assert_eperm(
        got, "ptrace", "mount", "unshare_user", "bpf", "x32", "socket_inet", "socket_inet_hi32", "socket_unix"
    )
    # A root launcher keeps every capability without bubblewrap: the inner stage drops them.
    foreign = outside / "foreign"
    foreign.write_text("x\n")
    os.chown(foreign, 65534, 65534)
    r = sandbox_run(identity, *FALLBACK, cmd=["/bin/grep", "^Cap", "/proc/self/status"], env=no_bwrap_env)
    caps = dict(line.split(":\t") for line in r.stdout.strip().splitlines())
    if not identity.is_root:
        caps.pop("CapBnd")  # irrelevant without uid 0 under no_new_privs (and not droppable)
    assert caps and all(int(v, 16) == 0 for v in caps.values()), caps
    got = fallback_ops(identity, no_bwrap_env, f"chmod:{foreign}")
    assert denied(got[f"chmod:{foreign}"])
    assert foreign.stat().st_mode & 0o777 != 0o777


def test_fallback_env_and_fds(identity, no_bwrap_env, secrets):
    env = dict(no_bwrap_env, GITHUB_TOKEN="ghp_cordonsecret")
    fd = os.open(secrets["ssh"], os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        r = sandbox_run(
            identity, *FALLBACK, cmd=[*ops_argv(f"fd:{fd}", "env:GITHUB_TOKEN")], env=env, pass_fds=(fd,)
        )
    finally:
        os.close(fd)
    got = parse_ops(r.stdout)
    assert got[f"fd:{fd}"] == "EBADF" and got["env:GITHUB_TOKEN"] != "ok", got


# --- set-id files (they outlive the sandbox: the host would run them with the file's owner) ---
SETID_CHMOD = ("chmod", "fchmod", "fchmodat", "fchmodat2")
SETID_CREATE = ("mknod", "mknodat", "open", "openat", "creat")


def setid_specs(ws: Path, tag: str) -> tuple[list[str], Path]:
    """Every way to give a file a set-uid or set-gid mode, on a copied binary or a new file."""
    target = ws / f"copied-true-{tag}"
    shutil.copy2("/bin/true", target)
    specs = []
    for mode in ("4755", "2755", "6755"):
        specs += [f"setid:{call}:{mode}:{target}" for call in SETID_CHMOD]
        specs += [f"setid:{call}:{mode}:{ws}/new-{call}-{mode}-{tag}" for call in SETID_CREATE]
    return specs, target


def setid_files(ws: Path) -> list[str]:
    return sorted(p.name for p in ws.iterdir() if p.lstat().st_mode & 0o6000)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe issues raw x86_64 system calls")
def test_set_id_bits_are_refused(identity):
    ws = identity.workspace
    specs, target = setid_specs(ws, "boxed")
    os.chown(target, identity.uid, identity.gid)
    plain = [f"setid:chmod:755:{target}", f"setid:openat:644:{ws}/plain-new"]
    got = ops(identity, *specs, f"setid:openat2:4755:{ws}/new-openat2", *plain)
    for s in specs:
        assert got[s] == "EPERM", (s, got[s])
    assert got[f"setid:openat2:4755:{ws}/new-openat2"] == "ENOSYS"  # its mode hides in a struct
    assert all(got[s] == "ok" for s in plain), got  # ordinary modes still work
    assert setid_files(ws) == []
    # Control: the same calls, unconfined, as the same identity, leave set-id files behind.
    ctl_specs, ctl_target = setid_specs(ws, "free")
    os.chown(ctl_target, identity.uid, identity.gid)
    r = identity.run(ops_argv(*ctl_specs, f"setid:openat2:4755:{ws}/free-openat2"))
    assert r.returncode == 0, r.stderr
    assert all(v == "ok" for v in parse_ops(r.stdout).values()), r.stdout
    left = setid_files(ws)
    assert ctl_target.name in left and "new-open-4755-free" in left and "free-openat2" in left, left
