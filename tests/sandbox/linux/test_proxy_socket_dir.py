"""The proxy bridge's unix socket must fit AF_UNIX's path limit, without trusting shared /tmp."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.network]


def _deep_cache(identity) -> str:
    deep = identity.workspace / ("c" * 60) / ("d" * 60)
    deep.mkdir(parents=True)
    os.chown(deep, identity.uid, identity.gid)
    os.chown(deep.parent, identity.uid, identity.gid)
    return str(deep)


def test_proxy_mode_works_when_the_cache_path_is_too_long_for_a_socket(identity, http_server):
    env = identity.env(XDG_CACHE_HOME=_deep_cache(identity))
    url = f"http://127.0.0.1:{http_server.port}/deep"
    argv = identity.sandbox_argv(
        "run", "--allow-domain", f"127.0.0.1:{http_server.port}", "--", "curl", "-sS", url
    )
    r = identity.run(argv, env=env, cwd=identity.workspace)
    assert r.returncode == 0, r.stderr
    assert '"path": "/deep"' in r.stdout


def test_a_squatted_short_socket_dir_is_refused(identity, http_server):
    short = f"/tmp/cordon-{identity.uid}"
    shutil.rmtree(short, ignore_errors=True)
    os.mkdir(short, 0o777)
    # Owned by someone else: root (the suite) for the user, nobody for root.
    os.chown(short, 65534 if identity.is_root else 0, 65534 if identity.is_root else 0)
    try:
        env = identity.env(XDG_CACHE_HOME=_deep_cache(identity))
        argv = identity.sandbox_argv("run", "--allow-domain", f"127.0.0.1:{http_server.port}", "--", "true")
        r = identity.run(argv, env=env, cwd=identity.workspace)
        assert r.returncode == 125, r.stderr
        assert "not a private directory" in r.stderr
    finally:
        shutil.rmtree(short, ignore_errors=True)
