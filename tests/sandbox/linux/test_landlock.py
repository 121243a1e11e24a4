"""The Landlock wall on its own, applied by the real inner program in a child on this kernel.

Every denial is paired with a control run without the wall, so a failure is Landlock's
doing and not file permissions'.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.sandbox.linux import landlock
from cordon.sandbox.linux.inner import DEVICES

from tests.sandbox.linux.confine_support import ops_argv, parse_ops, run_inner

ABI = landlock.abi_version() if sys.platform == "linux" else 0
pytestmark = pytest.mark.skipif(
    ABI < 1, reason="this kernel has no Landlock (the inner stage then reports it)"
)


def test_constants_match_the_landlock_package():
    from landlock import FSAccess

    ours = {name.upper(): bit for name, bit in landlock.FS.items()}
    theirs = {m.name: m.value for m in FSAccess}
    # Rights newer than the package (ABI 9's resolve_unix, Linux 7.1) are ours alone.
    newer = {k: v for k, v in ours.items() if k not in theirs}
    assert {k: ours[k] for k in theirs} == theirs and set(newer) <= {"RESOLVE_UNIX"}
    assert newer.get("RESOLVE_UNIX", 1 << 16) == 1 << 16  # LANDLOCK_ACCESS_FS_RESOLVE_UNIX
    assert landlock.library_abi() == ABI


def test_rights_per_abi():
    assert landlock.fs_rights(1) == (1 << 13) - 1
    assert landlock.fs_rights(2) & landlock.FS["refer"]
    assert not landlock.fs_rights(2) & landlock.FS["truncate"]
    assert landlock.fs_rights(7) == landlock.ALL_FS
    assert landlock.net_rights(3) == 0 and landlock.net_rights(4) == 3
    assert landlock.scope_rights(5) == 0 and landlock.scope_rights(6) == 3
    spec = {"net": True, "scope": True}
    assert "tcp bind/connect (ABI 4)" in landlock._missing(3, spec)
    assert landlock._missing(7, spec) == []


@pytest.fixture
def tree(identity, scratch):
    """ws/ (writable root), out/ (writable by DAC, not by policy), secret/ (deny-read)."""
    base = scratch / "ll"
    for d in ("ws", "out", "secret", "pub"):
        (base / d).mkdir(parents=True)
    (base / "secret" / "key").write_text("s3cret\n")
    (base / "pub" / "note").write_text("public\n")
    (base / "pub" / "lone-secret").write_text("s3cret\n")
    (base / "out" / "existing").write_text("x\n")
    for p in [base, *base.rglob("*")]:
        os.chown(p, identity.uid, identity.gid)
    return base


def spec_for(base: Path, **extra) -> dict:
    ll = {
        "read": ["/"],
        "write": [str(base / "ws")],
        "devices": list(DEVICES),
        "deny": [str(base / "secret"), str(base / "pub" / "lone-secret")],
        "required": True,
    }
    ll.update(extra)
    return {"v": 1, "landlock": ll}


def fs_ops(b: Path) -> list[str]:
    return [
        f"write:{b}/ws/new",
        f"write:{b}/out/new",
        f"append:{b}/out/existing",
        f"mkdir:{b}/out/d",
        f"unlink:{b}/out/existing",
        f"rename:{b}/ws/new:{b}/out/moved",
        f"read:{b}/pub/note",
        f"read:{b}/secret/key",
        f"read:{b}/pub/lone-secret",
        f"list:{b}/pub",
        f"symlink:{b}/secret/key:{b}/ws/link",
        f"read:{b}/ws/link",
        f"hardlink:{b}/secret/key:{b}/ws/hard",
        "write:/dev/null",
        f"write:{b}/ws/after",
    ]


def test_filesystem_rules(identity, tree, inner_executor):
    b = tree
    r = run_inner(spec_for(b), ops_argv(*fs_ops(b)), identity=identity)
    assert r.returncode == 0, r.stderr
    got = parse_ops(r.stdout)
    assert got[f"write:{b}/ws/new"] == "ok"
    assert got[f"write:{b}/ws/after"] == "ok"
    assert got["write:/dev/null"] == "ok"
    assert got[f"read:{b}/pub/note"] == "ok"
    assert got[f"list:{b}/pub"] == "ok"
    assert got[f"symlink:{b}/secret/key:{b}/ws/link"] == "ok"  # creating a link is fine...
    for denied in (
        f"write:{b}/out/new",
        f"append:{b}/out/existing",
        f"mkdir:{b}/out/d",
        f"unlink:{b}/out/existing",
        f"read:{b}/secret/key",
        f"read:{b}/pub/lone-secret",
        f"read:{b}/ws/link",  # ...reading through it is not
    ):
        assert got[denied] == "EACCES", (denied, got[denied])
    assert got[f"rename:{b}/ws/new:{b}/out/moved"] in ("EACCES", "EXDEV")
    # A hard link would give the secret a second, readable name: REFER (ABI 2) refuses it.
    assert got[f"hardlink:{b}/secret/key:{b}/ws/hard"] in ("EACCES", "EXDEV")
    assert (b / "secret" / "key").read_text() == "s3cret\n"
    assert not (b / "out" / "new").exists()


def test_filesystem_control_without_landlock(identity, tree):
    b = tree
    r = run_inner({"v": 1}, ops_argv(*fs_ops(b)), identity=identity)
    got = parse_ops(r.stdout)
    for op in (
        f"write:{b}/out/new",
        f"read:{b}/secret/key",
        f"read:{b}/pub/lone-secret",
        f"read:{b}/ws/link",
    ):
        assert got[op] == "ok", (op, got[op])


def test_list_only_directories_and_canonical_denies(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "null").write_text("")
    (tmp_path / "dev" / "disk").write_text("raw")
    rules, _ = landlock.plan_rules(
        {
            "read": [str(tmp_path)],
            "deny": [str(tmp_path / "dev")],
            "devices": [str(tmp_path / "dev" / "null")],
            "list": [str(tmp_path / "dev")],
        }
    )
    paths = dict(rules)
    assert paths[str(tmp_path / "dev")] == landlock.FS["read_dir"]
    assert paths[str(tmp_path / "dev" / "null")] == landlock.DEVICE
    assert str(tmp_path / "dev" / "disk") not in paths


def test_deny_expansion_plans_siblings_and_skips_symlinks(tmp_path):
    (tmp_path / "a" / "secret").mkdir(parents=True)
    (tmp_path / "a" / "ok").mkdir()
    (tmp_path / "a" / "file").write_text("x")
    os.symlink(tmp_path / "a" / "secret", tmp_path / "a" / "alias")
    (tmp_path / "w" / "hidden").mkdir(parents=True)
    rules, outer_only = landlock.plan_rules(
        {
            "read": [str(tmp_path)],
            "write": [str(tmp_path / "w")],
            "deny": [str(tmp_path / "a" / "secret"), str(tmp_path / "w" / "hidden")],
        }
    )
    paths = dict(rules)
    assert paths[str(tmp_path)] == landlock.FS["read_dir"]
    assert paths[str(tmp_path / "a")] == landlock.FS["read_dir"]
    assert paths[str(tmp_path / "a" / "ok")] == landlock.READ
    assert paths[str(tmp_path / "a" / "file")] == landlock.READ
    assert str(tmp_path / "a" / "secret") not in paths
    assert str(tmp_path / "a" / "alias") not in paths  # a rule on a link would land on its target
    assert paths[str(tmp_path / "w")] == landlock.ALL_FS
    # Landlock cannot carve a hole in a writable root: reported, left to bubblewrap's mask.
    assert outer_only == [str(tmp_path / "w" / "hidden")]


def test_network_and_scope_rules(identity, http_server, abstract_listener, inner_executor):
    ops = ops_argv(f"connect:127.0.0.1:{http_server.port}", "bind:0", f"abstract:{abstract_listener}")
    control = parse_ops(run_inner({"v": 1}, ops, identity=identity).stdout)
    assert set(control.values()) == {"ok"}, control
    spec = {"v": 1, "landlock": {"read": ["/"], "write": [], "net": True, "scope": True, "required": True}}
    r = run_inner(spec, ops, identity=identity)
    got = parse_ops(r.stdout)
    if ABI >= 4:
        assert got[f"connect:127.0.0.1:{http_server.port}"] == "EACCES"
        assert got["bind:0"] == "EACCES"
    if ABI >= 6:
        assert got[f"abstract:{abstract_listener}"] == "EPERM"


def test_signal_scope(identity, inner_executor):
    if ABI < 6:
        pytest.skip(f"signal scoping needs Landlock ABI 6, this kernel has {ABI}")
    victim = subprocess.Popen(["sleep", "30"], **identity.popen_kwargs())
    try:
        control = parse_ops(run_inner({"v": 1}, ops_argv(f"kill:{victim.pid}"), identity=identity).stdout)
        assert control[f"kill:{victim.pid}"] == "ok"
        spec = {"v": 1, "landlock": {"read": ["/"], "write": [], "scope": True, "required": True}}
        got = parse_ops(run_inner(spec, ops_argv(f"kill:{victim.pid}"), identity=identity).stdout)
        assert got[f"kill:{victim.pid}"] == "EPERM"
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_apply_reports_what_it_enforced():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: apply, report, exit
        os.close(r)
        try:
            import ctypes

            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)
            rep = landlock.apply({"read": ["/"], "write": ["/tmp"], "net": True, "scope": True})
            os.write(w, repr(rep).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    import ast

    rep = ast.literal_eval(data.decode())
    assert rep["abi"] == ABI and rep["enforced"] is True
    assert rep["fs_rules"] >= 2
    assert rep["net"] is (ABI >= 4)
    assert rep["scope"] == (["abstract_unix_socket", "signal"] if ABI >= 6 else [])
