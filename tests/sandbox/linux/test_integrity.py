"""Integrity across launches (issue 14): nothing a sandboxed command writes can weaken a later
launch. Each attack runs through the real ``sandbox run`` CLI as root and as the unprivileged
account; each has a positive control showing the same operation works where the protection
does not apply (the same rename of an unprotected sibling inside the same sandbox, or the
operation done unconfined), so a test cannot pass because the operation was impossible anyway.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from cordon.sandbox.errors import ConfigError

from tests.sandbox.linux.confine_support import ops_argv, parse_ops, sandbox_run
from tests.support.identities import INSIDE_PYTHON

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None, reason="needs Linux and bubblewrap"
    ),
]


def _own(identity, *paths: Path) -> None:
    for p in paths:
        os.chown(p, identity.uid, identity.gid)


def _tree(identity, base: Path, rel: str, content: str | None = None) -> Path:
    """``base/rel`` created as ``identity`` would have (every new folder and file owned by it)."""
    p = base
    parts = Path(rel).parts
    for i, part in enumerate(parts):
        p = p / part
        last = i == len(parts) - 1
        if last and content is not None:
            p.write_text(content)
        elif not p.exists():
            p.mkdir()
        _own(identity, p)
    return p


def _ops(identity, *specs: str, flags=(), env=None) -> dict[str, str]:
    r = sandbox_run(identity, *flags, cmd=ops_argv(*specs), env=env)
    assert r.returncode == 0, f"sandbox run failed ({r.returncode}): {r.stderr}"
    got = parse_ops(r.stdout)
    assert set(got) == set(specs), (got, r.stderr)
    return got


# --- class 1: renaming a parent of a protected path ------------------------------------------------
def _rename_attack(identity, protected_parent: Path, control_parent: Path, *, flags=(), env=None) -> None:
    """Rename ``protected_parent`` (an ancestor, two levels up, of a protected path) inside the
    sandbox: must fail with EBUSY (it is pinned). ``control_parent`` has the same shape but
    holds nothing protected: its rename in the same sandbox succeeds."""
    moved = protected_parent.with_name(protected_parent.name + "-moved")
    cmoved = control_parent.with_name(control_parent.name + "-moved")
    got = _ops(
        identity,
        f"rename:{protected_parent}:{moved}",
        f"rename:{control_parent}:{cmoved}",
        flags=flags,
        env=env,
    )
    assert got[f"rename:{control_parent}:{cmoved}"] == "ok", got  # positive control
    cmoved.rename(control_parent)  # back, for the next attempt
    assert got[f"rename:{protected_parent}:{moved}"] == "EBUSY", got
    assert protected_parent.is_dir() and not moved.exists()


def test_cache_inside_the_workspace_cannot_be_moved_away(identity):
    """XDG_CACHE_HOME inside the project (as CI setups do): renaming a parent of Cordon's cache
    would let the command rebuild the cache path with planted entries for the next launch."""
    ws = identity.workspace
    cache_home = _tree(identity, ws, "ci/xdg/cache")
    control = _tree(identity, ws, "other/xdg/cache")
    env = identity.env(XDG_CACHE_HOME=str(cache_home))
    _rename_attack(identity, ws / "ci", ws / "other", env=env)
    _rename_attack(identity, ws / "ci" / "xdg", ws / "other" / "xdg", env=env)
    assert (cache_home / "cordon").is_dir()
    del control


def test_cache_in_a_writable_home_cannot_be_moved_away(identity):
    """The whole home writable (``--workspace ~``): ``~/.cache`` is pinned, ``~/.cache/cordon``
    read-only. Runs with the default cache location (HOME's)."""
    home = identity.home
    tag = uuid.uuid4().hex[:8]
    control = _tree(identity, home, f".cordon-control-{tag}/cordon")
    try:
        got = _ops(
            identity,
            f"rename:{home}/.cache:{home}/.cache-{tag}",
            f"write:{home}/.cache/cordon/planted-{tag}",
            f"rename:{control.parent}:{control.parent}-moved",
            flags=("--workspace", str(home)),
        )
        assert got[f"rename:{control.parent}:{control.parent}-moved"] == "ok", got
        assert got[f"rename:{home}/.cache:{home}/.cache-{tag}"] == "EBUSY", got
        assert got[f"write:{home}/.cache/cordon/planted-{tag}"] == "EROFS", got
        assert not (home / f".cache-{tag}").exists()
    finally:
        shutil.rmtree(home / f".cordon-control-{tag}", ignore_errors=True)
        shutil.rmtree(home / f".cordon-control-{tag}-moved", ignore_errors=True)


def test_absent_user_config_cannot_be_created(identity):
    """``--writable-root`` over XDG_CONFIG_HOME with no cordon folder yet: without protection
    the command plants ``cordon/config.toml`` with ``mode = "danger-full-access"`` and the
    next launch runs unconfined. The folder is created (0700) and bound read-only, its
    parents pinned."""
    ws = identity.workspace
    cfg_home = _tree(identity, ws, "cfg/xdg")
    control = _tree(identity, ws, "ctl/xdg")
    env = identity.env(
        XDG_CONFIG_HOME=str(cfg_home), XDG_CACHE_HOME=str(_tree(identity, ws.parent, f"c-{ws.name}"))
    )
    planted = cfg_home / "cordon" / "config.toml"
    got = _ops(
        identity,
        f"mkdir:{cfg_home}/cordon",
        f"write:{planted}",
        f"write:{control}/config.toml",  # positive control: the same folder shape, unprotected
        flags=("--writable-root", str(cfg_home)),
        env=env,
    )
    assert got[f"write:{control}/config.toml"] == "ok", got
    assert got[f"write:{planted}"] in ("EROFS", "EACCES"), got
    assert not planted.exists()
    st = (cfg_home / "cordon").stat()
    assert st.st_mode & 0o777 == 0o700 and st.st_uid == identity.uid
    _rename_attack(identity, ws / "cfg", ws / "ctl", env=env)


def test_existing_user_config_cannot_be_replaced_through_its_parent(identity):
    ws = identity.workspace
    cfg_home = _tree(identity, ws, "cfg/xdg")
    _tree(identity, cfg_home, "cordon/config.toml", 'mode = "workspace-write"\n')
    _tree(identity, ws, "ctl/xdg")
    env = identity.env(
        XDG_CONFIG_HOME=str(cfg_home), XDG_CACHE_HOME=str(_tree(identity, ws.parent, f"c-{ws.name}"))
    )
    _rename_attack(identity, ws / "cfg", ws / "ctl", env=env)
    _rename_attack(identity, cfg_home, ws / "ctl" / "xdg", env=env)
    assert (cfg_home / "cordon" / "config.toml").read_text() == 'mode = "workspace-write"\n'


def test_read_only_carve_out_cannot_be_moved_and_rebuilt(identity):
    """``--read-only a/b/file``: renaming ``a`` and recreating ``a/b/file`` would change its
    content at the same path."""
    ws = identity.workspace
    _tree(identity, ws, "a/b/file", "original\n")
    _tree(identity, ws, "c/b/file", "original\n")
    flags = ("--read-only", "a/b/file")
    _rename_attack(identity, ws / "a", ws / "c", flags=flags)
    _rename_attack(identity, ws / "a" / "b", ws / "c" / "b", flags=flags)
    got = _ops(identity, f"write:{ws}/a/b/file", f"write:{ws}/c/b/file", flags=flags)
    assert got[f"write:{ws}/c/b/file"] == "ok" and got[f"write:{ws}/a/b/file"] == "EROFS", got
    assert (ws / "a" / "b" / "file").read_text() == "original\n"


def test_deny_read_mask_cannot_be_moved_to_a_readable_path(identity):
    """``--deny-read conf/secret.env`` two levels down: moving ``conf`` in one launch would make
    the secret readable at ``conf-moved/...`` in the next."""
    ws = identity.workspace
    tag = uuid.uuid4().hex[:8]
    _tree(identity, ws, "conf/env/secret.env", f"SECRET-{tag}\n")
    _tree(identity, ws, "open/env/secret.env", f"PUBLIC-{tag}\n")
    flags = ("--deny-read", "conf/env/secret.env")
    _rename_attack(identity, ws / "conf", ws / "open", flags=flags)
    _rename_attack(identity, ws / "conf" / "env", ws / "open" / "env", flags=flags)
    # The next launch, same configuration: the secret is still where the mask is.
    r = sandbox_run(identity, *flags, cmd=["sh", "-c", f"cat {ws}/conf*/env/secret.env; echo end"])
    assert r.returncode == 0, r.stderr
    assert f"SECRET-{tag}" not in r.stdout
    # Positive control: unconfined, the same file is readable (the test's content is real).
    assert (ws / "conf" / "env" / "secret.env").read_text() == f"SECRET-{tag}\n"


def test_cordon_install_ancestors_are_pinned(tmp_path, monkeypatch):
    """Cordon's install two levels inside a writable root: the folder between them is pinned
    (a live rename of the real install is not attempted: it would break every other run).
    The install is a stand-in under tmp_path, so the test does not depend on where the
    checkout lies (a CI clone one level below /tmp has no room for two levels)."""
    from cordon.sandbox.linux import bwrap
    from cordon.sandbox.linux.assemble import own_install
    from cordon.sandbox.resolve import resolve

    import cordon

    root = tmp_path / "root"
    pkg = root / "mid" / "site" / "cordon"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    monkeypatch.setattr(cordon, "__file__", str(pkg / "__init__.py"))
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)  # no venv candidate: only the stand-in
    root = str(root)
    install = own_install([root])
    assert install == [str(pkg.parent)], "the folder holding the cordon package counts as its install"
    pol = resolve(cwd=root)
    plan = bwrap.build_bwrap_args(pol, empty_fd=9, keep_read_only=install)
    mid = os.path.dirname(install[0])
    assert mid in plan.pinned
    i = plan.args.index(mid)
    assert plan.args[i - 1 : i + 2] == ["--bind", mid, mid]
    # before the read-only bind of the install itself (a later pin would hide it)
    j = plan.args.index(install[0])
    assert i < j


def test_immovable_ancestors_pins_every_level_and_nested_roots(tmp_path):
    from cordon.sandbox.linux.bwrap import immovable_ancestors

    r = tmp_path / "r"
    (r / "a" / "b" / "c").mkdir(parents=True)
    (r / "n" / "m").mkdir(parents=True)
    r, a, b, n, m = (str(x) for x in (r, r / "a", r / "a" / "b", r / "n", r / "n" / "m"))
    assert immovable_ancestors([f"{b}/c/file"], [r]) == [a, b, f"{b}/c"]
    assert immovable_ancestors([f"{a}/file"], [r]) == [a]
    assert immovable_ancestors([f"{r}/file", "/etc/passwd"], [r]) == []  # nothing between
    # a root nested in another is pinned (shallow first), whatever is protected
    assert (
        immovable_ancestors([f"{m}/x/y"], [r, m]) == [n, m, f"{m}/x"] if os.path.isdir(f"{m}/x") else [n, m]
    )


# --- class 4: the native inner stage, the seccomp table ---------------------------------------------
def _native_plan(*records: tuple[bytes, bytes]) -> bytes:
    import struct

    return b"CORDONI1" + b"".join(t + struct.pack("<I", len(d)) + d for t, d in records)


def test_native_stage_refuses_nul_in_a_text_record(identity):
    """A path record ``/tmp\\0/x`` would be cut to ``/tmp`` by C string handling: a narrower
    rule silently becomes a wider one. Refused with 125 and a message (no crash)."""
    from tests.sandbox.linux.confine_support import native_inner, run_inner

    native_inner()
    ll = (b"L", (1 | 2).to_bytes(4, "little"))
    good = _native_plan(ll, (b"r", b"/"), (b"w", b"/dev/null"))
    r = run_inner(good, ["true"], identity=identity, executor="native")
    assert r.returncode == 0, r.stderr  # positive control: the same plan without the NUL runs
    bad = _native_plan(ll, (b"r", b"/"), (b"w", b"/dev/null\0/x"))
    r = run_inner(bad, ["true"], identity=identity, executor="native")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert "NUL byte" in r.stderr and "the command was not run" in r.stderr


def test_launcher_refuses_to_encode_a_nul(tmp_path):
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.linux.inner import encode_native

    assert encode_native({"prelude": ["a"]})  # control
    with pytest.raises(SandboxError, match="NUL"):
        encode_native({"prelude": ["a\0b"]})


@pytest.mark.parametrize("output", ["rea\\0dy\\n", "\\0ready\\n", "ready\\0\\n"])
def test_prelude_printing_a_nul_fails_125(identity, inner_executor, output):
    """The native stage crashed (SIGSEGV) on a NUL before the newline; both stages refuse."""
    from tests.sandbox.linux.confine_support import run_inner

    ok = run_inner({"v": 1, "prelude": ["printf", "ready\\n"], "seccomp": b""}, ["true"], identity=identity)
    assert ok.returncode == 0, ok.stderr  # positive control
    spec = {"v": 1, "prelude": ["printf", output], "seccomp": b""}
    r = run_inner(spec, ["true"], identity=identity)
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert "prelude" in r.stderr and "the command was not run" in r.stderr


# The kernel's system-call table (x86_64, as of 6.18) for every call that changes mounts or
# joins namespaces by number alone (clone/unshare are checked by flags in test_seccomp).
MOUNT_AND_NAMESPACE_X86_64 = {
    "pivot_root": 155,
    "chroot": 161,
    "mount": 165,
    "umount2": 166,
    "open_by_handle_at": 304,
    "setns": 308,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "open_tree_attr": 467,
}
_CALL_ALL = (
    "import ctypes,sys\n"
    "libc=ctypes.CDLL(None,use_errno=True)\n"
    "for nr in sys.argv[1:]:\n"
    "    r=libc.syscall(int(nr),-1,-1,-1,-1,-1)\n"
    "    print(nr,0 if r==0 else ctypes.get_errno())\n"
)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the table above is x86_64's")
def test_every_mount_and_namespace_call_is_denied(identity, inner_executor):
    import errno

    from cordon.sandbox.linux import seccomp

    from tests.sandbox.linux.confine_support import run_inner, seccomp_spec
    from tests.sandbox.linux.test_seccomp import eperm, run_bpf
    from tests.support.identities import INSIDE_PYTHON

    names = {n for group in seccomp.DENIED_SYSCALLS.values() for n in group}
    assert set(MOUNT_AND_NAMESPACE_X86_64) <= names
    for name, nr in MOUNT_AND_NAMESPACE_X86_64.items():
        if name in seccomp.UNIFIED_NUMBERS:
            assert seccomp.UNIFIED_NUMBERS[name] == nr, name
    for network in ("off", "proxy", "on"):
        prog = seccomp.compile_bpf(network)
        for name, nr in MOUNT_AND_NAMESPACE_X86_64.items():
            assert run_bpf(prog, nr) == eperm(), (network, name)
    argv = [INSIDE_PYTHON, "-I", "-S", "-c", _CALL_ALL, *map(str, MOUNT_AND_NAMESPACE_X86_64.values())]
    free = dict(line.split() for line in identity.run(argv).stdout.splitlines())
    confined = dict(
        line.split() for line in run_inner(seccomp_spec(), argv, identity=identity).stdout.splitlines()
    )
    for name, nr in MOUNT_AND_NAMESPACE_X86_64.items():
        # positive control: this kernel implements the call, and for root nothing but the
        # filter answers EPERM (the arguments are invalid, the capabilities are there)
        assert int(free[str(nr)]) != errno.ENOSYS, (name, free)
        if identity.is_root:
            assert int(free[str(nr)]) != errno.EPERM, (name, free)
        assert int(confined[str(nr)]) == errno.EPERM, (name, confined)


# --- class 2: nothing executable or policy-shaping is believed from a file a sandbox could write ----
_ALLOW_ALL = (0x06, 0, 0, 0x7FFF0000)  # ret SECCOMP_RET_ALLOW


def _plant_allow_all(identity, cache: Path) -> Path:
    """What a sandboxed command with write access to the cache would plant: a well-formed
    entry (right key, matching digest, the exact prefix) whose filter allows everything."""
    import struct

    from cordon.sandbox.linux import bpfcache, seccomp

    key = bpfcache._key("off+ns")  # the entry a bubblewrap launch with the network off reads
    program = seccomp.prefix_program() + struct.pack("=HBBI", *_ALLOW_ALL)
    path = Path(bpfcache._path(str(cache), "off+ns", key))
    _tree(identity, cache.parent, cache.name)
    path.write_bytes(b"\n".join((bpfcache.FORMAT, key, bpfcache.sha256_of(program))) + b"\n\n" + program)
    path.chmod(0o600)
    _own(identity, path)
    return path


# A netlink sock_diag socket: unprivileged users may open one, seccomp denies it in every mode.
_DIAG_SOCKET = (
    "import socket\ntry:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)\n    print('OPEN')\n"
    "except OSError:\n    print('DENIED')\n"
)


def test_planted_seccomp_entry_in_an_exposed_cache_is_not_used(identity):
    """The reported attack: an inner-stage cache entry with the same key and an altered
    payload gave the next launch no seccomp. Only the compiled filter is cached now, and an
    entry inside a writable root is never read."""
    from tests.support.identities import INSIDE_PYTHON

    ws = identity.workspace
    cache_home = _tree(identity, ws, "xdg")
    planted = _plant_allow_all(identity, cache_home / "cordon")
    env = identity.env(XDG_CACHE_HOME=str(cache_home))
    # Positive control: the same entry, where nothing marks it as exposed, IS accepted (it is
    # well formed: only the trust rules stand between it and the launch).
    probe = (
        "import sys\nfrom cordon.policy.statetrust import Launches\nfrom cordon.sandbox.linux import bpfcache\n"
        "print(bpfcache.load(sys.argv[1], 'off+ns', Launches([]), []) is not None)\n"
    )
    r = identity.run([sys.executable, "-c", probe, str(planted.parent)], env=env)
    assert r.stdout.strip() == "True", r.stderr
    # The launch: the workspace holds the cache; the real filter is in force (sock_diag denied).
    r = sandbox_run(identity, cmd=[INSIDE_PYTHON, "-I", "-S", "-c", _DIAG_SOCKET], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "DENIED"
    r = identity.run([INSIDE_PYTHON, "-I", "-S", "-c", _DIAG_SOCKET], env=env)
    assert r.stdout.strip() == "OPEN"  # control: without the filter the probe's socket opens


def test_seccomp_entry_rules(tmp_path, monkeypatch):
    """Each rule on its own: a tampered digest, a foreign prefix, group-writable, another
    owner's, inside a recorded writable root that did not protect it."""
    import struct

    from cordon.policy.statetrust import Launches, recent_launches, record_launch
    from cordon.sandbox.linux import bpfcache, seccomp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = tmp_path / "xdg" / "cordon"
    good = seccomp.compile_bpf("off")
    bpfcache.store(str(cache), "off", good, Launches([]), [])
    assert bpfcache.load(str(cache), "off", Launches([]), []) == good  # control
    (entry,) = cache.glob("seccomp-off-*.bpf")
    blob = entry.read_bytes()
    entry.write_bytes(blob[:-8] + struct.pack("=HBBI", *_ALLOW_ALL))
    assert bpfcache.load(str(cache), "off", Launches([]), []) is None  # digest
    head, _, _ = blob.partition(b"\n\n")
    other = b"\0" * 8 + good[8:]
    lines = head.split(b"\n")
    entry.write_bytes(b"\n".join((lines[0], lines[1], bpfcache.sha256_of(other))) + b"\n\n" + other)
    assert bpfcache.load(str(cache), "off", Launches([]), []) is None  # prefix
    entry.write_bytes(blob)
    entry.chmod(0o620)
    assert bpfcache.load(str(cache), "off", Launches([]), []) is None  # group-writable
    entry.chmod(0o600)
    os.chown(entry, 65534, 65534)
    assert bpfcache.load(str(cache), "off", Launches([]), []) is None  # not ours
    os.chown(entry, os.geteuid(), os.getegid())
    assert bpfcache.load(str(cache), "off", Launches([]), [str(tmp_path)]) is None  # current root
    record_launch([str(tmp_path)], [])  # a --fallback landlock launch, say: protected nothing
    assert bpfcache.load(str(cache), "off", recent_launches(), []) is None
    record_launch([str(tmp_path / "elsewhere")], [])
    record_launch([str(tmp_path)], [str(cache)])  # a launch that kept the cache read-only
    launches = recent_launches()
    assert launches.exposure(str(entry)) is not None  # the older record still counts
    assert Launches([((str(tmp_path),), (str(cache),))]).exposure(str(entry)) is None


def test_bwrap_probe_cache_in_an_exposed_place_is_not_believed(tmp_path, monkeypatch):
    """A probe line without ``--disable-userns`` would leave nested user namespaces open."""
    import shutil as _shutil

    from cordon.policy.statetrust import Launches
    from cordon.sandbox.linux import probe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    bwrap = os.path.realpath(_shutil.which("bwrap"))
    real = probe.bwrap_info(bwrap, launches=Launches([]))
    assert "--disable-userns" in real.options, "this bubblewrap has it (the attack needs it to matter)"
    ident = "\t".join(str(x) for x in probe._identity(bwrap))
    (tmp_path / "xdg" / "cordon" / "bwrap-probe.txt").write_text(
        f"v{probe._CACHE_VERSION}\n{ident}\t{real.version}\t--json-status-fd\n"
    )
    weak = probe.bwrap_info(bwrap, launches=Launches([]))
    assert "--disable-userns" not in weak.options  # control: a trusted entry is used as is
    assert "--disable-userns" in probe.bwrap_info(bwrap, launches=Launches([]), roots=[str(tmp_path)]).options
    exposed = Launches([((str(tmp_path),), ())])
    (tmp_path / "xdg" / "cordon" / "bwrap-probe.txt").write_text(
        f"v{probe._CACHE_VERSION}\n{ident}\t{real.version}\t--json-status-fd\n"
    )
    assert "--disable-userns" in probe.bwrap_info(bwrap, launches=exposed).options


def test_policy_cache_entry_needs_the_trust_rules(tmp_path, monkeypatch):
    from cordon.policy import cache
    from cordon.policy.statetrust import record_launch

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache.put("ab" * 32, {"rules": 1})
    assert cache.get("ab" * 32) == {"rules": 1}  # control
    entry = tmp_path / "xdg" / "cordon" / "policies" / "ab" / ("ab" * 32)
    entry.chmod(0o666)
    assert cache.get("ab" * 32) is None
    entry.chmod(0o600)
    record_launch([str(tmp_path)], [])
    assert cache.get("ab" * 32) is None


_FORGED_STORE_PROBE = """
import marshal, sys
from cordon.policy import cache, engine
given, _path, content = engine.read_source("default")
store = sys.argv[1]
if sys.argv[2] == "forge":
    allow = engine.load_policy(text='prefix_rule(pattern=["git"], decision="allow")').to_data()
    key = cache.shipped_key(engine.ENGINE_VERSION, given, content)
    sys.stdout.buffer.write(marshal.dumps((1, {given: (key, allow)})))
else:
    data = cache.get_shipped(engine.ENGINE_VERSION, given, content, path=store)
    print("USED" if data is not None else "IGNORED")
"""


def test_shipped_rules_store_written_by_a_sandbox_is_not_believed(identity):
    """The install's store of parsed shipped rule sets (policy/cache.py) lies in a writable
    root when the install does (a virtualenv in the workspace). A sandboxed command that
    replaces it with "allow everything" must not change a later ``execpolicy check``."""
    ws = identity.workspace
    home = _tree(identity, identity.home, f".cordon-xdg-{uuid.uuid4().hex[:8]}")
    try:
        env = identity.env(XDG_CACHE_HOME=str(home))
        py = [sys.executable, "-c", _FORGED_STORE_PROBE]
        forged = identity.run([*py, "-", "forge"], env=env, text=False)
        assert forged.returncode == 0, forged.stderr
        # control: the same forged store, left where no launch could write, is believed
        outside = _tree(identity, home, "install")
        (outside / "shipped.compiled").write_bytes(forged.stdout)
        _own(identity, outside / "shipped.compiled")
        r = identity.run([*py, str(outside / "shipped.compiled"), "check"], env=env)
        assert r.stdout.strip() == "USED", r.stderr
        # the attack: a sandboxed command writes it into its workspace (the venv's place)
        target = ws / f"venv-{uuid.uuid4().hex[:6]}"
        write = f"import os; os.mkdir({str(target)!r}); open({str(target / 'shipped.compiled')!r}, 'wb').write(bytes.fromhex({forged.stdout.hex()!r}))"
        r = sandbox_run(identity, cmd=[INSIDE_PYTHON, "-I", "-S", "-c", write], env=env)
        assert r.returncode == 0, r.stderr
        assert (target / "shipped.compiled").read_bytes() == forged.stdout
        r = identity.run([*py, str(target / "shipped.compiled"), "check"], env=env)
        assert r.stdout.strip() == "IGNORED", r.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_per_launch_state_is_unreadable_inside(identity):
    """Other launches' workspaces and deny lists (the launch journal, placeholder journals;
    the whole-stage cache entries of earlier versions are removed)."""
    ws = identity.workspace
    # in the home: the private /tmp would hide a cache under /tmp anyway
    cache_home = _tree(identity, identity.home, f".cordon-xdg-{uuid.uuid4().hex[:8]}")
    try:
        env = identity.env(XDG_CACHE_HOME=str(cache_home))
        old = _tree(identity, cache_home, "cordon/inner-0badf00d.bin", f"workspace {ws}")
        assert old.is_file()  # control: it was there before the launch
        r = sandbox_run(identity, "--deny-read", "secret-name-xyz", cmd=["true"], env=env)
        assert r.returncode == 0, r.stderr
        assert not old.exists()
        journal = cache_home / "cordon" / "state" / "launches"
        # positive control: the journal is there and names this workspace, readable unconfined
        r = identity.run(["cat", str(journal)])
        assert r.returncode == 0 and str(ws) in r.stdout
        got = _ops(
            identity,
            f"read:{journal}",
            f"list:{cache_home}/cordon/state",
            f"list:{cache_home}/cordon/journals",
            env=env,
        )
        assert set(got.values()) == {"EACCES"}, got
        got = _ops(identity, f"list:{cache_home}/cordon", env=env)
        assert got[f"list:{cache_home}/cordon"] == "ok"  # only the per-launch state is hidden
    finally:
        shutil.rmtree(cache_home, ignore_errors=True)


def test_user_config_that_others_can_change_is_refused(identity):
    ws = identity.workspace
    cfg_home = _tree(identity, ws.parent, f"cfg-{uuid.uuid4().hex[:8]}")
    try:
        cfg = _tree(identity, cfg_home, "cordon/config.toml", 'mode = "workspace-write"\n')
        env = identity.env(XDG_CONFIG_HOME=str(cfg_home), XDG_CACHE_HOME=str(cfg_home / "cache"))
        r = sandbox_run(identity, cmd=["true"], env=env)
        assert r.returncode == 0, r.stderr  # control
        cfg.chmod(0o666)
        r = sandbox_run(identity, cmd=["sh", "-c", "echo RAN"], env=env)
        assert r.returncode == ConfigError.exit_code and "RAN" not in r.stdout, r.stderr
        assert "writable by group or others" in r.stderr
        assert str(cfg) in r.stderr
    finally:
        shutil.rmtree(cfg_home, ignore_errors=True)


def test_user_config_exposed_to_an_earlier_fallback_launch_is_refused(identity, scratch):
    """A --fallback landlock launch cannot protect anything inside its writable roots: its
    command really can rewrite a config there. The next launch refuses that config."""
    ws = identity.workspace
    cfg_home = _tree(identity, ws, "cfg")
    cache_home = _tree(identity, ws.parent, f"cache-{uuid.uuid4().hex[:8]}")
    empty = scratch / "empty-path"
    empty.mkdir()
    try:
        cfg = _tree(identity, cfg_home, "cordon/config.toml", 'mode = "workspace-write"\n')
        env = identity.env(XDG_CONFIG_HOME=str(cfg_home), XDG_CACHE_HOME=str(cache_home))
        r = sandbox_run(identity, cmd=["sh", "-c", f"echo '# x' >> {cfg} || echo REFUSED"], env=env)
        assert r.returncode == 0 and "REFUSED" in r.stdout, r.stderr  # bwrap launches protect it
        assert sandbox_run(identity, cmd=["true"], env=env).returncode == 0
        fallback_env = dict(env, PATH=str(empty))  # no bwrap: the fallback is taken
        r = sandbox_run(
            identity,
            "--fallback",
            "landlock",
            cmd=["/bin/sh", "-c", f"echo '# planted' >> {cfg}"],
            env=fallback_env,
        )
        assert r.returncode == 0 and "FALLBACK" in r.stderr, r.stderr
        assert cfg.read_text().endswith("# planted\n")  # positive control: it really was writable
        r = sandbox_run(identity, cmd=["sh", "-c", "echo RAN"], env=env)
        assert r.returncode == ConfigError.exit_code and "RAN" not in r.stdout, r.stderr
        assert "may have written" in r.stderr and "launch journal" in r.stderr
    finally:
        shutil.rmtree(cache_home, ignore_errors=True)


# --- class 3: project files -------------------------------------------------------------------------
def test_project_paths_resolve_against_the_file_not_the_launch_directory(identity):
    """``deny_read = ["secret.env"]`` at the project root keeps hiding the file when the
    command is started from a subdirectory."""
    ws = identity.workspace
    tag = uuid.uuid4().hex[:8]
    _tree(identity, ws, "secret.env", f"SECRET-{tag}\n")
    sub = _tree(identity, ws, "sub")
    read = ["sh", "-c", f"cat {ws}/secret.env; echo end"]
    r = sandbox_run(identity, "--workspace", str(ws), cmd=read, cwd=sub)
    assert f"SECRET-{tag}" in r.stdout, r.stderr  # positive control: no project file, readable
    _tree(identity, ws, ".cordon.toml", 'deny_read = ["secret.env"]\n')
    r = sandbox_run(identity, "--workspace", str(ws), cmd=read, cwd=sub)
    assert r.returncode == 0, r.stderr
    assert f"SECRET-{tag}" not in r.stdout and "end" in r.stdout


def test_a_planted_nearer_project_file_keeps_the_farther_restrictions(identity):
    """A launch at the root plants ``sub/.cordon.toml`` (tightening only, so accepted without
    trust); a later launch in ``sub`` must keep the root file's deny_read and read_only."""
    ws = identity.workspace
    tag = uuid.uuid4().hex[:8]
    _tree(identity, ws, "secret.env", f"SECRET-{tag}\n")
    _tree(identity, ws, "other.txt", f"OTHER-{tag}\n")
    _tree(identity, ws, "keep.txt", "original\n")
    sub = _tree(identity, ws, "sub")
    _tree(identity, ws, ".cordon.toml", 'deny_read = ["secret.env"]\nread_only = ["keep.txt"]\n')
    plant = f"printf 'deny_read = [\"../other.txt\"]\\n' > {sub}/.cordon.toml"
    r = sandbox_run(identity, cmd=["sh", "-c", plant])
    assert r.returncode == 0 and (sub / ".cordon.toml").is_file(), r.stderr
    r = sandbox_run(
        identity,
        "--workspace",
        str(ws),
        cmd=["sh", "-c", f"cat {ws}/secret.env {ws}/other.txt; echo x >> {ws}/keep.txt; echo end"],
        cwd=sub,
    )
    assert r.returncode == 0, r.stderr
    assert f"OTHER-{tag}" not in r.stdout  # control: the planted file was read (and tightens)
    assert f"SECRET-{tag}" not in r.stdout  # the farther file's restriction survived
    assert (ws / "keep.txt").read_text() == "original\n"


def test_absent_file_of_a_trusted_project_cannot_be_created(identity):
    """A trusted project's file may widen the sandbox: a launch whose writable root contains
    that project must not be able to create it."""
    ws = identity.workspace
    cfg_home = _tree(identity, ws.parent, f"cfg-{uuid.uuid4().hex[:8]}")
    try:
        proj = _tree(identity, ws, "proj")
        other = _tree(identity, ws, "other")
        _tree(identity, cfg_home, "cordon/config.toml", f'trusted_projects = ["{proj}"]\n')
        env = identity.env(XDG_CONFIG_HOME=str(cfg_home), XDG_CACHE_HOME=str(cfg_home / "cache"))
        got = _ops(
            identity,
            f"write:{proj}/.cordon.toml",
            f"write:{other}/.cordon.toml",
            env=env,
        )
        assert got[f"write:{other}/.cordon.toml"] == "ok", got  # positive control
        assert got[f"write:{proj}/.cordon.toml"] != "ok", got
        assert not (proj / ".cordon.toml").is_file()
    finally:
        shutil.rmtree(cfg_home, ignore_errors=True)


def test_a_carve_out_that_vanished_inside_a_writable_root_is_refused(identity, scratch):
    """A configured deny path that disappeared was skipped silently. Now a launch that saw it
    refuses (125, saying why) once it is gone: here a --fallback landlock launch (no mounts, so
    nothing pins it) really moves it away."""
    ws = identity.workspace
    tag = uuid.uuid4().hex[:8]
    cache_home = _tree(identity, ws.parent, f"cache-{uuid.uuid4().hex[:8]}")
    empty = scratch / "empty-path"
    empty.mkdir()
    try:
        env = identity.env(XDG_CACHE_HOME=str(cache_home))
        _tree(identity, ws, "conf/env/secret.env", f"SECRET-{tag}\n")
        flags = ("--deny-read", "conf/env/secret.env", "--read-only", "never-there")
        r = sandbox_run(identity, *flags, cmd=["true"], env=env)
        assert r.returncode == 0, r.stderr  # sees it (and a read-only path never seen is no error)
        r = sandbox_run(
            identity,
            "--fallback",
            "landlock",
            cmd=["/bin/mv", f"{ws}/conf", f"{ws}/conf-moved"],
            env=dict(env, PATH=str(empty)),
        )
        assert r.returncode == 0 and (ws / "conf-moved").is_dir(), r.stderr  # positive control
        r = sandbox_run(identity, *flags, cmd=["sh", "-c", "echo RAN"], env=env)
        assert r.returncode == 125 and "RAN" not in r.stdout, (r.returncode, r.stderr)
        assert f"{ws}/conf/env/secret.env no longer exists" in r.stderr and "moved" in r.stderr
        (ws / "conf-moved").rename(ws / "conf")  # restored: runs again
        r = sandbox_run(identity, *flags, cmd=["true"], env=env)
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(cache_home, ignore_errors=True)
