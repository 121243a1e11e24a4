"""``scripts/install.sh`` where it cannot do its job: it says what to do by hand and changes
nothing. Run on a copy of the script (it works on the folder above it), as the unprivileged
test account, with a PATH that lacks what each case needs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import identities
from tests.support.identities import REPO


@pytest.fixture
def user(scratch_session: Path) -> identities.Identity:
    """The unprivileged account (the script's no-sudo branch is for non-root users only)."""
    ident = identities.identity_for("user", scratch_session)
    yield ident
    identities.cleanup(ident.workspace)


def _checkout_copy(user: identities.Identity) -> Path:
    root = user.workspace / "cordon"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install.sh", root / "scripts" / "install.sh")
    for d in (root, root / "scripts"):
        os.chown(d, user.uid, user.gid)
    return root


def _bin(user: identities.Identity, tools: dict[str, str]) -> Path:
    """A PATH folder with exactly ``tools`` (name -> target, or shell text for a fake)."""
    b = user.workspace / "bin"
    b.mkdir()
    for name, what in tools.items():
        p = b / name
        if what.startswith("#!"):
            p.write_text(what)
            p.chmod(0o755)
        else:
            p.symlink_to(what)
    return b


def test_no_root_no_sudo_prints_the_apt_command_and_installs_nothing(user):
    root = _checkout_copy(user)
    # Core tools only: no bwrap, no ip, no cc, no sudo.
    path = _bin(user, {t: shutil.which(t) for t in ("bash", "dirname", "id", "env", "cat", "ls")})
    r = user.run(["bash", str(root / "scripts" / "install.sh")], cwd=root, env=user.env(PATH=str(path)))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "this account is not root and there is no sudo" in r.stderr
    apt = next(ln.strip() for ln in r.stderr.splitlines() if ln.strip().startswith("apt-get install"))
    assert "bubblewrap" in apt.split() and "gcc" in apt.split()
    assert not (root / ".venv").exists()


def test_old_python_is_refused_with_a_clear_message(user):
    root = _checkout_copy(user)
    fake = user.workspace / "python3.10"
    fake.write_text('#!/bin/sh\ncase "$1" in -V) echo "Python 3.10.12";; *) exit 1;; esac\n')
    fake.chmod(0o755)
    path = _bin(user, {t: shutil.which(t) for t in ("bash", "dirname", "id")})
    r = user.run(
        ["bash", str(root / "scripts" / "install.sh"), "--dev"],
        cwd=root,
        env=user.env(PATH=str(path), PYTHON=str(fake)),
    )
    assert r.returncode == 1
    assert f"Cordon needs Python 3.11 or newer; {fake} is Python 3.10.12." in r.stderr
    assert "PYTHON=/usr/bin/python3.12" in r.stderr and not (root / ".venv").exists()


def test_a_new_enough_python_passes_the_check(user):
    """Positive control: the real interpreter gets past the version check (the script then stops
    at the missing packages, as the account cannot install them)."""
    root = _checkout_copy(user)
    path = _bin(user, {t: shutil.which(t) for t in ("bash", "dirname", "id")})
    r = user.run(
        ["bash", str(root / "scripts" / "install.sh")],
        cwd=root,
        env=user.env(PATH=str(path), PYTHON=identities.INSIDE_PYTHON),
    )
    assert "needs Python 3.11" not in r.stderr
    assert "there is no sudo" in r.stderr and r.returncode == 1
