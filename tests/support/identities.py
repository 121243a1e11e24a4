"""Run confinement tests twice: as root and as an unprivileged account made for the tests.

Real users are not root, and several sandbox behaviours differ by uid (bwrap's setuid
paths, /proc/sys writability, DAC on secrets). When the suite runs as root, an account
``cordon-test`` is created (once, idempotently) with its own home. When it runs as an
ordinary user, the ``root`` identity is skipped with that reason and ``user`` is the
current account.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEST_USER = "cordon-test"
# The interpreter for programs run INSIDE a sandbox: the venv's own path may be invisible there
# (a checkout or venv under the private /tmp), the real interpreter under /usr is not. Programs
# that use it stick to the standard library.
INSIDE_PYTHON = os.path.realpath(sys.executable)
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who a test launches commands as, with a workspace and home that identity owns."""

    name: str  # "root" or "user"
    uid: int
    gid: int
    home: Path
    workspace: Path
    # This identity's own XDG folders (cache, config, data, state) for the session: Cordon's cache
    # and config of a test run never land in the real ~/.cache/cordon or ~/.config/cordon.
    xdg: Path | None = None

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment for this identity (no inherited secrets from the runner)."""
        pw = pwd.getpwuid(self.uid)
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "USER": pw.pw_name,
            "LOGNAME": pw.pw_name,
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),
        }
        if self.xdg is not None:
            env.update(xdg_env(self.xdg))
        env.update(extra)
        return env

    def popen_kwargs(self) -> dict:
        """Keyword arguments for subprocess.run/Popen that launch as this identity."""
        if os.geteuid() == self.uid:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        """A text-mode Popen as this identity in its workspace, every stdio a pipe (a command
        the test talks to while it runs)."""
        for k in ("stdin", "stdout", "stderr"):
            kw.setdefault(k, subprocess.PIPE)
        kw.setdefault("cwd", self.workspace)
        kw.setdefault("env", self.env())
        return subprocess.Popen(argv, text=True, **kw, **self.popen_kwargs())

    def run(self, argv: list[str], *, cwd: Path | None = None, env: dict | None = None, **kw):
        """subprocess.run as this identity, text mode, output captured."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        return subprocess.run(
            argv,
            cwd=cwd or self.workspace,
            env=env if env is not None else self.env(),
            **self.popen_kwargs(),
            **kw,
        )

    def sandbox_argv(self, *args: str) -> list[str]:
        """argv that runs the ``sandbox`` CLI from this checkout with this interpreter."""
        return [sys.executable, "-m", "cordon.sandbox", *args]


# An argv prefix under which a root launcher finds no cgroup it may use: the cgroup filesystems
# remounted read-only in a mount namespace of its own (as in most containers).
READ_ONLY_CGROUPS = [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    "for m in $(awk '$9 ~ /^cgroup/ {print $5}' /proc/self/mountinfo); do "
    'mount -o remount,bind,ro "$m" || exit 1; done; exec "$@"',
    "sh",
]


def ensure_test_user() -> pwd.struct_passwd:
    """Create the unprivileged test account if missing (root only)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/sh", "--user-group", TEST_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(TEST_USER)


def unreachable_for_others(path: Path) -> Path | None:
    """The first ancestor of ``path`` that others cannot traverse, if any."""
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
        except OSError:
            return p
        if not mode & 0o001:
            return p
    return None


# Ancestors whose mode was widened for the test account, restored by restore_traverse().
_WIDENED: dict[Path, int] = {}


def grant_traverse(path: Path) -> None:
    """Let the test account reach ``path``: add o+x (traverse only, no listing) where missing.

    A checkout under a 0700 folder (mktemp -d, /root) would otherwise be closed to the
    unprivileged account. The original modes are restored at the end of the session.
    """
    while (blocker := unreachable_for_others(path)) is not None:
        mode = blocker.stat().st_mode & 0o7777
        _WIDENED.setdefault(blocker, mode)
        os.chmod(blocker, mode | 0o001)


def restore_traverse() -> None:
    for p, mode in _WIDENED.items():
        try:
            os.chmod(p, mode)
        except OSError:
            pass
    _WIDENED.clear()


def make_workspace(owner_uid: int, owner_gid: int, root: Path) -> Path:
    ws = Path(tempfile.mkdtemp(prefix="ws-", dir=root))
    os.chmod(ws, 0o755)
    os.chown(ws, owner_uid, owner_gid)
    return ws


def identity_for(name: str, scratch: Path) -> Identity:
    """Build the identity ``name`` ("root" or "user"), or raise a skip/fail reason."""
    import pytest

    euid = os.geteuid()
    if name == "root":
        if euid != 0:
            pytest.skip("the 'root' identity needs the suite to run as root; this run is unprivileged")
        return Identity(
            "root", 0, 0, Path(pwd.getpwuid(0).pw_dir), make_workspace(0, 0, scratch), xdg_for(0, 0, scratch)
        )
    if euid == 0:
        pw = ensure_test_user()
        for needed in (REPO, Path(sys.executable)):
            grant_traverse(needed)
        home = Path(pw.pw_dir)
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        return Identity(
            "user",
            pw.pw_uid,
            pw.pw_gid,
            home,
            make_workspace(pw.pw_uid, pw.pw_gid, scratch),
            xdg_for(pw.pw_uid, pw.pw_gid, scratch),
        )
    pw = pwd.getpwuid(euid)
    return Identity(
        "user",
        euid,
        os.getegid(),
        Path(pw.pw_dir),
        make_workspace(euid, os.getegid(), scratch),
        xdg_for(euid, os.getegid(), scratch),
    )


XDG_DIRS = {
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_STATE_HOME": "state",
}


def xdg_env(root: Path) -> dict[str, str]:
    """The XDG variables pointing into ``root`` (made by make_xdg)."""
    return {var: str(root / sub) for var, sub in XDG_DIRS.items()}


def make_xdg(root: Path, uid: int | None = None, gid: int | None = None) -> Path:
    """Empty XDG folders under ``root`` (0700), owned by ``uid`` when given."""
    for sub in (None, *XDG_DIRS.values()):
        d = root / sub if sub else root
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if uid is not None and os.geteuid() == 0:
            os.chown(d, uid, gid)
    return root


def xdg_for(uid: int, gid: int, scratch: Path) -> Path:
    """One set of XDG folders per account for the session, owned by it (shared by its tests, as
    a real user's cache is shared by their commands)."""
    return make_xdg(scratch / f"xdg-{uid}", uid, gid)


def scratch_root() -> Path:
    """A world-traversable scratch folder (pytest's tmp_path is 0700, closed to the test user)."""
    base = Path(tempfile.mkdtemp(prefix="cordon-tests-"))
    os.chmod(base, 0o755)
    return base


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
