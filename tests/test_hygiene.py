"""The suite cleans up after itself: run as root it must not leave private keys in /tmp, nor fill
the real ``~/.cache/cordon`` or read the real ``~/.config/cordon`` (tests/conftest.py gives the
session and each identity their own XDG folders)."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

import pytest

from tests.support.identities import XDG_DIRS
from tests.support.servers import EchoServer


def _real_home() -> Path:
    return Path(pwd.getpwuid(os.geteuid()).pw_dir).resolve()


def test_the_session_has_its_own_xdg_folders():
    for var in XDG_DIRS:
        d = Path(os.environ[var]).resolve()
        assert d.is_dir(), var
        assert _real_home() not in (d, *d.parents), f"{var}={d} is inside the real home"
    # What Cordon itself computes from them.
    from cordon.sandbox.config import user_config_path
    from cordon.sandbox.linux.probe import cache_dir

    assert not Path(cache_dir()).resolve().is_relative_to(_real_home())
    assert not Path(user_config_path()).resolve().is_relative_to(_real_home())


@pytest.mark.sandbox
@pytest.mark.skipif(sys.platform != "linux", reason="runs the Linux sandbox")
def test_each_identity_keeps_cordons_state_in_its_own_folders(identity):
    """A launch as root or as the test account writes its cache under that identity's XDG folder;
    HOME stays the account's real home (that is where secrets to hide live)."""
    assert identity.xdg is not None and identity.xdg.stat().st_uid == identity.uid
    env = identity.env()
    assert env["XDG_CACHE_HOME"] == str(identity.xdg / "cache") and env["HOME"] == str(identity.home)
    r = identity.run(identity.sandbox_argv("run", "--", "true"))
    assert r.returncode == 0, r.stderr
    assert (identity.xdg / "cache" / "cordon" / "bwrap-probe.txt").is_file()


def test_the_tls_test_server_leaves_no_private_key_on_disk():
    with EchoServer("127.0.0.1", tls=True) as server:
        folder = server.cert_file.parent
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files == [server.cert_file]  # the key was loaded and removed
        assert b"PRIVATE KEY" not in server.cert_file.read_bytes()
    assert not folder.exists()
