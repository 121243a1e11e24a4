"""sandbox.denylist: the curated list as data, what the environment names, the /etc scan."""

from __future__ import annotations

import os
from pathlib import Path

from cordon.sandbox import denylist

REPO = Path(__file__).resolve().parents[2]


def test_every_default_entry_is_documented():
    doc = (REPO / "docs" / "sandbox.md").read_text()
    missing = [p for p in denylist.DEFAULT_DENY_READ if f"`{p}`" not in doc]
    assert missing == []


def test_env_pointed_files_and_agent_sockets():
    env = {
        "KUBECONFIG": "/k/a:/k/b",
        "GOOGLE_APPLICATION_CREDENTIALS": "sa.json",
        "CARGO_HOME": "/c",
        "SSH_AUTH_SOCK": "/s/agent.1",
        "DOCKER_HOST": "unix:///d/docker.sock",
        "CONTAINER_HOST": "ssh://host",  # not a unix socket: dropped, nothing to mask
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/b/bus%2cx,guid=1;unix:abstract=/x",
    }
    hide, drop = denylist.env_named(env, homes=["/h"], cwd="/w")
    for p in (
        "/k/a",
        "/k/b",
        "/w/sa.json",
        "/c/credentials.toml",
        "/s/agent.1",
        "/d/docker.sock",
        "/b/bus,x",
    ):
        assert p in hide, p
    assert "/h/.gnupg/S.gpg-agent" in hide
    assert set(drop) == {"SSH_AUTH_SOCK", "DOCKER_HOST", "CONTAINER_HOST", "DBUS_SESSION_BUS_ADDRESS"}
    hide, drop = denylist.env_named(env, allow_agents=["ssh", "docker"], homes=["/h"], default_deny=False)
    assert "/s/agent.1" not in hide and "/d/docker.sock" not in hide and "/k/a" not in hide
    assert drop == ["DBUS_SESSION_BUS_ADDRESS"]


def test_root_only_scan(tmp_path):
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "public.conf").write_text("x")
    (tmp_path / "open" / "key.pem").write_text("x")
    (tmp_path / "open" / "key.pem").chmod(0o600)
    (tmp_path / "private").mkdir(mode=0o700)
    (tmp_path / "private" / "inner").write_text("x")
    os.symlink("/etc/hostname", tmp_path / "link")
    assert denylist.root_only_files(str(tmp_path)) == [
        str(tmp_path / "open" / "key.pem"),
        str(tmp_path / "private"),
    ]


def test_root_only_scan_skips_lock_and_temporary_files(tmp_path):
    for name in ("shadow+", "shadow.lock", "shadow.1234", "x.tmp", "real-secret"):
        (tmp_path / name).write_text("x")
        (tmp_path / name).chmod(0o600)
    assert denylist.root_only_files(str(tmp_path)) == [str(tmp_path / "real-secret")]
