"""The bubblewrap argv (sandbox.linux.bwrap) and what it does when run for real.

First half: the argv as data (order, masks, placeholders, namespaces) for policies
built on real directories. Second half: each mount claim attacked inside a real
sandbox, as root and as the unprivileged account (``identity``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.linux.bwrap import build_bwrap_args
from cordon.sandbox.resolve import resolve

ALL_OPTS = {"--perms", "--disable-userns", "--unshare-cgroup-try", "--json-status-fd"}


def pairs(args: list[str], opt: str) -> list[str]:
    """Destinations of every ``opt SRC DEST`` / ``opt DEST`` occurrence."""
    out = []
    for i, a in enumerate(args):
        if a == opt:
            out.append(args[i + 2] if opt in ("--bind", "--ro-bind", "--ro-bind-data") else args[i + 1])
    return out


def plan_for(ws: Path, **kw):
    pol = resolve(cwd=ws, **kw)
    return build_bwrap_args(pol, empty_fd=3, options=ALL_OPTS)


# ---------------------------------------------------------------- argv as data
def test_root_read_only_then_writable_binds_then_protected(scratch: Path) -> None:
    ws = scratch / "ws"
    ws.mkdir()
    (ws / ".git").mkdir()
    plan = plan_for(ws)
    a = plan.args
    assert a[:3] == ["--ro-bind", "/", "/"]
    bind = a.index("--bind", 3)
    assert a[bind : bind + 3] == ["--bind", str(ws), str(ws)]
    git = a.index(str(ws / ".git"))
    assert git > bind and a[git - 1] == "--ro-bind"  # protected after writable: it wins
    assert plan.placeholders == [str(ws / ".codex"), str(ws / ".agents"), str(ws / ".cordon.toml")]


def test_proc_sys_rebound_read_only_and_fresh_dev_proc(scratch: Path) -> None:
    a = plan_for(scratch).args
    assert a[3:5] == ["--dev", "/dev"] and a[5:7] == ["--proc", "/proc"]
    i = a.index("/proc/sys")
    assert a[i - 1] == "--ro-bind" and i > a.index("--proc")


def test_namespaces_and_process_options(scratch: Path) -> None:
    a = plan_for(scratch).args
    for opt in (
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--unshare-net",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ):
        assert opt in a, opt
    assert a[a.index("--cap-drop") + 1] == "ALL"
    assert a[a.index("--chdir") + 1] == str(scratch)


def test_network_on_keeps_host_netns(scratch: Path) -> None:
    pol = resolve(cwd=scratch)
    a = build_bwrap_args(pol, empty_fd=3, options=ALL_OPTS, net_isolated=False).args
    assert "--unshare-net" not in a


def test_old_bwrap_without_disable_userns_is_noted(scratch: Path) -> None:
    plan = build_bwrap_args(resolve(cwd=scratch), empty_fd=3, options={"--perms"})
    assert "--disable-userns" not in plan.args
    assert any("nested user namespaces" in n for n in plan.notes)
    assert "--unshare-cgroup" in plan.args


def test_private_tmp_unless_shared(scratch: Path) -> None:
    a = plan_for(scratch).args
    assert a[a.index("--tmpfs") + 1] == "/tmp"
    shared = plan_for(scratch, share_tmp=True).args
    assert "/tmp" in pairs(shared, "--bind") and "/dev/shm" in pairs(shared, "--bind")
    assert "/tmp" not in pairs(shared, "--tmpfs")
    # Read-only mode writes nothing, a shared /tmp included (Landlock agrees; this is the outer wall).
    ro = plan_for(scratch, share_tmp=True, mode="read-only").args
    assert "/tmp" in pairs(ro, "--ro-bind") and "/tmp" not in pairs(ro, "--bind")


def test_deny_read_masks_files_dirs_and_symlinked_entries(scratch: Path) -> None:
    # Everything lives inside the workspace: the rest of the host /tmp is hidden anyway.
    ws = scratch / "ws"
    ws.mkdir()
    secret_dir = ws / "secrets"
    secret_dir.mkdir()
    secret_file = ws / ".env"
    secret_file.write_text("x")
    real = ws / "real-aws"
    real.mkdir()
    (ws / "aws-link").symlink_to(real)
    plan = plan_for(
        ws, deny_read=[str(secret_dir), str(secret_file), str(ws / "aws-link"), str(ws / "absent")]
    )
    a = plan.args
    assert str(secret_dir) in pairs(a, "--tmpfs")
    assert str(secret_file) in pairs(a, "--ro-bind-data")
    assert str(real) in pairs(a, "--tmpfs")  # the link's target is what gets hidden
    assert str(ws / "absent") not in a
    i = a.index(str(secret_file))
    assert a[i - 4 : i - 2] == ["--perms", "0000"]
    assert a.index(str(secret_file)) > a.index(str(ws))  # masks come after the writable bind


def test_outside_tmp_paths_skipped_under_private_tmp(scratch: Path) -> None:
    ws = scratch / "ws"
    ws.mkdir()
    other = scratch / "other-secret"
    other.write_text("x")
    assert str(other) not in plan_for(ws, deny_read=[str(other)]).args
    assert str(other) in plan_for(ws, deny_read=[str(other)], share_tmp=True).args


def test_deny_sockets_masked(scratch: Path) -> None:
    import socket

    sock_path = scratch / "ctl.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))
    try:
        plan = plan_for(scratch / ".", deny_sockets=[str(sock_path)])
        assert str(sock_path) in pairs(plan.args, "--ro-bind-data")
    finally:
        s.close()


def test_host_sockets_masked_where_visible(scratch: Path) -> None:
    """sockets.host_sockets() finds a listener on a path no list names; the plan masks it
    unless the sandbox cannot see it anyway (private /tmp, a masked folder, /dev)."""
    import socket

    from cordon.sandbox.linux import sockets

    ws = scratch / "ws"
    ws.mkdir()
    hidden = scratch / "hidden"
    hidden.mkdir()
    listeners = []
    for p in (ws / "a.sock", hidden / "b.sock"):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.listen(1)
        listeners.append(s)
    try:
        found = sockets.host_sockets()
        assert str(ws / "a.sock") in found and str(hidden / "b.sock") in found
        not_a_socket = ws / "plain"
        not_a_socket.write_text("x")
        pol = resolve(cwd=ws, deny_read=[str(hidden)], share_tmp=True)
        plan = build_bwrap_args(
            pol, empty_fd=3, options=ALL_OPTS, host_sockets=[*found, str(not_a_socket), "/dev/log"]
        )
        masks = pairs(plan.args, "--ro-bind-data")
        assert str(ws / "a.sock") in masks and str(ws / "a.sock") in plan.sockets
        assert str(hidden / "b.sock") not in masks  # its folder is masked already
        assert str(not_a_socket) not in masks and "/dev/log" not in masks
        # With the private /tmp, sockets under the host's /tmp are invisible: no mask needed.
        assert str(scratch).startswith("/tmp/")
        plan = build_bwrap_args(resolve(cwd=ws), empty_fd=3, options=ALL_OPTS, host_sockets=found)
        masks = pairs(plan.args, "--ro-bind-data")
        assert str(ws / "a.sock") in masks  # the writable root is bound into the private /tmp
        assert str(hidden / "b.sock") not in masks  # the rest of the host's /tmp is not there
    finally:
        for s in listeners:
            s.close()


def test_symlinked_protected_name_is_refused(scratch: Path) -> None:
    (scratch / "decoy").mkdir()
    (scratch / ".codex").symlink_to(scratch / "decoy")
    with pytest.raises(SandboxError, match="symlink"):
        plan_for(scratch)


def test_missing_writable_root_is_an_error(scratch: Path) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        plan_for(scratch, writable_roots=[str(scratch / "nope")])


def test_protected_names_in_every_writable_root(scratch: Path) -> None:
    extra = scratch / "extra"
    extra.mkdir()
    ws = scratch / "ws"
    ws.mkdir()
    plan = plan_for(ws, writable_roots=[str(extra)])
    for root in (ws, extra):
        for name in (".git", ".codex", ".agents"):
            assert str(root / name) in plan.placeholders


def test_git_write_mode_pins_git_and_protects_config(scratch: Path) -> None:
    subprocess.run(["git", "init", "-q", str(scratch)], check=True)
    plan = plan_for(scratch, allow_git_write=True)
    git = scratch / ".git"
    assert str(git) in pairs(plan.args, "--bind")
    ro = pairs(plan.args, "--ro-bind")
    for name in ("hooks", "config", "info", "description"):
        assert str(git / name) in ro, name
    assert str(git / "objects") not in ro and str(git / "refs") not in ro


def test_read_only_carve_out_inside_root(scratch: Path) -> None:
    (scratch / "vendor").mkdir()
    plan = plan_for(scratch, read_only_paths=["vendor"])
    assert str(scratch / "vendor") in pairs(plan.args, "--ro-bind")


def test_plan_cli_json(scratch: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cordon.sandbox",
            "plan",
            "--platform",
            "linux",
            "--json",
            "--deny-read",
            "/etc/hostname",
            "--",
            "echo",
            "hi",
        ],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["engine"] == "bwrap" and data["command"] == ["echo", "hi"]
    argv = data["argv"]
    assert argv[0] == "bwrap" and argv[-2:] == ["echo", "hi"]
    assert "/etc/hostname" in data["bwrap"]["masked"]
    assert data["env"]["CORDON_SANDBOX"] == "bwrap"
    if data["inner"] is not None:
        assert "seccomp" in data["inner"] and "landlock" in data["inner"]


def test_plan_cli_other_platforms_or_clear_error(scratch: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    for platform in ("macos", "windows"):
        p = subprocess.run(
            [sys.executable, "-m", "cordon.sandbox", "plan", "--platform", platform, "--json", "--", "ls"],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if p.returncode == 0:
            assert json.loads(p.stdout)["platform"] == platform
        else:
            assert p.returncode == 125 and platform in p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "plan", "--platform", "beos", "--", "ls"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "unknown platform" in p.stderr  # a usage error


# ---------------------------------------------------------------- the mounts, attacked


def sbx(identity, script: str, *flags: str, cwd: Path | None = None):
    return identity.run(
        identity.sandbox_argv("run", *flags, "--", "sh", "-c", script), cwd=cwd or identity.workspace
    )


@pytest.mark.sandbox
def test_protected_names_cannot_be_created_or_swapped(identity) -> None:
    ws = identity.workspace
    script = (
        "mkdir .codex 2>/dev/null && echo MKDIR; "
        "touch .agents/x 2>/dev/null && echo TOUCH; "
        "mv .git .git-old 2>/dev/null && echo RENAME; "
        "rm -rf .git 2>/dev/null; [ -d .git ] || echo REMOVED; "
        "ln -s /tmp .codex 2>/dev/null && echo LINK; "
        "echo done"
    )
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    os.chown(ws / ".git", identity.uid, identity.gid)
    r = sbx(identity, script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done", r.stdout
    assert (ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (ws / ".codex").exists() and not (ws / ".agents").exists()  # placeholders cleaned up


@pytest.mark.sandbox
def test_git_hooks_and_config_read_only_in_git_write_mode(identity) -> None:
    ws = identity.workspace
    r = identity.run(["git", "init", "-q", "."], cwd=ws)
    assert r.returncode == 0, r.stderr
    script = (
        "echo evil > .git/hooks/pre-commit 2>/dev/null && echo HOOK; "
        "echo '[core]' >> .git/config 2>/dev/null && echo CONFIG; "
        "mv .git/config .git/c2 2>/dev/null && echo MVCONFIG; "
        "mv .git .g2 2>/dev/null && echo MVGIT; "
        "echo x > .git/info/exclude 2>/dev/null && echo INFO; "
        "echo ok > .git/newfile && echo WRITABLE"
    )
    r = sbx(identity, script, "--allow-git-write")
    assert r.stdout.split() == ["WRITABLE"], (r.stdout, r.stderr)


@pytest.mark.sandbox
def test_secrets_and_shadow_unreadable(identity) -> None:
    ssh = identity.home / ".ssh"
    ssh.mkdir(exist_ok=True)
    key = ssh / "id_test"
    key.write_text("PRIVATE")
    os.chown(ssh, identity.uid, identity.gid)
    os.chown(key, identity.uid, identity.gid)
    try:
        r = sbx(
            identity, f"cat {key} 2>&1; ls {ssh} 2>&1; cat /etc/shadow 2>&1; cat /etc/gshadow 2>&1; echo end"
        )
        assert "PRIVATE" not in r.stdout
        assert "root:" not in r.stdout
        assert r.stdout.strip().endswith("end")
    finally:
        key.unlink()


@pytest.mark.sandbox
def test_proc_sys_and_hostname_not_writable(identity) -> None:
    before = Path("/proc/sys/kernel/hostname").read_text()
    r = sbx(
        identity,
        "echo pwned > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE; "
        "hostname pwned 2>/dev/null && echo SETHOST; echo end",
    )
    assert Path("/proc/sys/kernel/hostname").read_text() == before
    assert "WROTE" not in r.stdout and r.stdout.strip().endswith("end")


@pytest.mark.sandbox
def test_private_tmp_and_outside_writes(identity, scratch: Path) -> None:
    marker = Path("/tmp") / f"cordon-private-tmp-{os.getpid()}-{identity.name}"
    r = sbx(
        identity,
        f"echo x > {marker} && echo TMPWRITE; echo y > /etc/cordon-x 2>/dev/null && echo ETC; "
        f"echo z > {scratch}/outside 2>/dev/null && echo OUTSIDE; echo end",
    )
    assert "TMPWRITE" in r.stdout  # the private /tmp is writable...
    assert not marker.exists()  # ...and is not the host's
    assert "ETC" not in r.stdout and "OUTSIDE" not in r.stdout
    assert not (scratch / "outside").exists()


@pytest.mark.sandbox
def test_launcher_state_read_only_when_inside_workspace(identity) -> None:
    """With the whole home writable, Cordon's cache and config still cannot be changed."""
    home = identity.home
    cache = home / ".cache" / "cordon"
    r = identity.run(
        identity.sandbox_argv(
            "run",
            "--workspace",
            str(home),
            "--",
            "sh",
            "-c",
            f"echo poison > {cache}/x 2>/dev/null && echo POISONED; echo end",
        ),
        cwd=home,
    )
    assert r.returncode == 0, r.stderr
    assert "POISONED" not in r.stdout


def test_seccomp_cache_gives_the_same_launch(scratch: Path, tmp_path: Path, monkeypatch) -> None:
    """The on-disk seccomp cache must never change what runs: cached == freshly built. Only the
    compiled program is cached (sandbox/linux/bpfcache.py), never argv, fds or bwrap arguments."""
    from cordon.sandbox.linux import assemble as asm_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # outside the writable root
    pol = resolve(cwd=scratch)
    fresh = asm_mod.assemble(pol, ["echo", "a b"], dict(os.environ), use_cache=False, warn=lambda m: None)
    first = asm_mod.assemble(pol, ["echo", "a b"], dict(os.environ), warn=lambda m: None)  # fills the cache
    # "+guard": the late-socket guard's program (sockets.late_socket_guard) has its own entry
    entries = list((tmp_path / "cache" / "cordon").glob("seccomp-off+ns*-*.bpf"))
    assert len(entries) == 1 and not list((tmp_path / "cache" / "cordon").glob("inner-*"))
    cached = asm_mod.assemble(pol, ["echo", "a b"], dict(os.environ), warn=lambda m: None)
    from cordon.sandbox.linux.supervise import NOTIFY_FD

    def fds(a):  # the supervisor's socket (late-socket guard) is each launch's own
        return {k: v for k, v in a.launch.fds.items() if k != NOTIFY_FD}

    for a in (first, cached):
        assert a.launch.argv == fresh.launch.argv and fds(a) == fds(fresh)
        assert (a.launch.supervisor is None) == (fresh.launch.supervisor is None)
    # a cache inside the writable root is neither read nor written
    monkeypatch.setenv("XDG_CACHE_HOME", str(scratch / "cache"))
    asm_mod.assemble(pol, ["echo"], dict(os.environ), warn=lambda m: None)
    assert not list((scratch / "cache" / "cordon").glob("seccomp-*.bpf"))


@pytest.mark.sandbox
def test_concurrent_sandboxes_keep_placeholders_until_the_last_exits(identity) -> None:
    """A sandbox ending must not remove a placeholder another sandbox has mounted: on Linux
    that would detach the mount there and let the other one create .codex."""
    ws = identity.workspace

    def start(script: str) -> subprocess.Popen:
        p = subprocess.Popen(
            identity.sandbox_argv("run", "--", "sh", "-c", f"echo ready; read x; {script}"),
            cwd=ws,
            env=identity.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            **identity.popen_kwargs(),
        )
        assert p.stdout.readline().strip() == "ready"
        return p

    first = start("echo first-done")  # creates the .codex placeholder
    second = None
    try:
        second = start(
            "mkdir .codex/x 2>/dev/null && echo MADE; rmdir .codex 2>/dev/null && echo REMOVED; "
            "mkdir -p .codex/y 2>/dev/null && echo MADE2; echo second-done"
        )
        out1, _ = first.communicate("go\n", timeout=60)  # the creator ends first
        assert out1.strip() == "first-done"
        assert (ws / ".codex").is_dir()  # kept: the second sandbox still uses it
        out2, _ = second.communicate("go\n", timeout=60)
        assert out2.split() == ["second-done"], out2
        # The last one to end removes what the first had to keep (nothing was made in it).
        assert not (ws / ".codex").exists()
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()


@pytest.mark.sandbox
def test_policy_flags_take_effect(identity) -> None:
    ws = identity.workspace
    for d in ("vendor", "private"):
        (ws / d).mkdir()
        (ws / d / "f").write_text(d)
        os.chown(ws / d, identity.uid, identity.gid)
        os.chown(ws / d / "f", identity.uid, identity.gid)
    r = sbx(
        identity,
        "echo x > vendor/f 2>/dev/null && echo VENDOR; cat private/f 2>/dev/null && echo PRIVATE; "
        "echo ok > new.txt && echo WROTE",
        "--read-only",
        "vendor",
        "--deny-read",
        "private",
    )
    assert r.stdout.split() == ["WROTE"], (r.stdout, r.stderr)
    assert (ws / "vendor" / "f").read_text() == "vendor"
    ro = sbx(identity, "echo x > new2.txt 2>/dev/null && echo WROTE; echo end", "--mode", "read-only")
    assert ro.stdout.split() == ["end"] and not (ws / "new2.txt").exists()
    marker = f"cordon-share-tmp-{os.getpid()}-{identity.name}"
    try:
        shared = sbx(identity, f"echo x > /tmp/{marker} && echo WROTE", "--share-tmp")
        assert shared.stdout.strip() == "WROTE" and Path("/tmp", marker).exists()
    finally:
        Path("/tmp", marker).unlink(missing_ok=True)


def test_inner_stage_files_under_private_tmp_stay_visible(scratch: Path) -> None:
    from cordon.sandbox.linux.assemble import _visible_tools

    pol = resolve(cwd="/").replace(writable_roots=())  # no writable root under /tmp
    inner = ["/tmp/ci-venv/bin/python", "-I", "/tmp/pkg/sandbox/linux/inner.py", "--", "ls"]
    assert _visible_tools(pol, inner, ["ls"]) == [
        "--ro-bind",
        "/tmp/ci-venv",
        "/tmp/ci-venv",
        "--ro-bind",
        "/tmp/pkg",
        "/tmp/pkg",
    ]
    pol = pol.replace(writable_roots=("/tmp/pkg",))
    assert _visible_tools(pol, inner, ["ls"]) == ["--ro-bind", "/tmp/ci-venv", "/tmp/ci-venv"]
    assert _visible_tools(resolve(cwd=scratch, share_tmp=True), inner, ["ls"]) == []


@pytest.mark.sandbox
def test_explain_says_what_is_writable_hidden_and_reachable(identity) -> None:
    r = sbx(identity, "echo ran", "--explain", "--deny-read", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip() == "ran"
    err = r.stderr
    assert "engine bwrap" in err and f"writable: {identity.workspace}" in err
    assert "hidden (unreadable):" in err and "/etc/hostname" in err and "/etc/shadow" in err
    assert "network: no network" in err


@pytest.mark.parametrize("root", ["/", "/proc", "/sys/kernel"])
def test_system_roots_cannot_be_writable(root: str, scratch: Path) -> None:
    with pytest.raises(SandboxError, match="cannot be a writable root"):
        plan_for(scratch, writable_roots=[root])


@pytest.mark.sandbox
def test_inherited_descriptors_do_not_reach_the_command(identity, scratch: Path) -> None:
    import fcntl

    secret = scratch / "inherited.txt"
    secret.write_text("INHERITED-SECRET")
    fd = os.open(secret, os.O_RDONLY)
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 57)  # an inheritable descriptor, as a careless parent leaves
    os.close(fd)
    try:
        script = f"ls /proc/self/fd; cat /proc/self/fd/{high} 2>/dev/null; echo end"
        r = identity.run(identity.sandbox_argv("run", "--", "sh", "-c", script), pass_fds=(high,))
    finally:
        os.close(high)
    assert r.returncode == 0, r.stderr
    assert "INHERITED-SECRET" not in r.stdout
    assert sorted(int(x) for x in r.stdout.split()[:-1]) == [0, 1, 2, 3]  # 3: ls's own directory fd


@pytest.mark.sandbox
def test_project_config_cannot_be_created_or_changed(identity) -> None:
    ws = identity.workspace
    r = sbx(identity, "echo 'network = \"on\"' > .cordon.toml 2>/dev/null && echo CREATED; echo end")
    assert r.stdout.split() == ["end"], r.stdout
    assert not (ws / ".cordon.toml").exists()
    (ws / ".cordon.toml").write_text('deny_read = ["/nonexistent"]\n')
    r = sbx(identity, "echo 'network = \"on\"' >> .cordon.toml 2>/dev/null && echo CHANGED; echo end")
    assert r.stdout.split() == ["end"], r.stdout
    assert (ws / ".cordon.toml").read_text() == 'deny_read = ["/nonexistent"]\n'
