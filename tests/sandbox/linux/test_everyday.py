"""Small everyday breakages (issue 17, item 4), as root and as the test account:

- root extracting a tarball made elsewhere (GNU tar restores owners; only uid 0 is mapped);
- the README's ``sandbox run --rules registries -- npm install`` (npm needs a writable cache;
  the host's stays read-only, so a private one is used);
- ``git init`` / ``git config`` under ``--allow-git-write`` say why they cannot work;
- with the network off, a network tool is told why it will fail, once, before it starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.sandbox.linux.confine_support import sandbox_run

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None, reason="needs Linux and bubblewrap"
    ),
]


def _own(identity, *paths) -> None:
    for p in paths:
        os.chown(p, identity.uid, identity.gid)


def test_tarball_made_elsewhere_extracts(identity):
    ws = identity.workspace
    src = ws / "payload.txt"
    src.write_text("hello\n")
    tar = ws / "foreign.tar"
    with tarfile.open(tar, "w") as t:
        info = t.gettarinfo(str(src), arcname="pkg/payload.txt")
        info.uid = info.gid = 4321  # made on another machine, by another user
        info.uname = info.gname = ""
        with open(src, "rb") as f:
            t.addfile(info, f)
    src.unlink()
    _own(identity, tar)
    out = ws / "out"
    out.mkdir()
    _own(identity, out)
    r = sandbox_run(identity, cmd=["tar", "-xf", str(tar), "-C", str(out)])
    assert r.returncode == 0, r.stderr
    assert (out / "pkg" / "payload.txt").read_text() == "hello\n"
    if identity.is_root:
        # Control: asking tar to restore owners (what root's tar does by default) fails inside,
        # so the default above is what made it work; a TAR_OPTIONS the user sets is kept.
        shutil.rmtree(out / "pkg")
        r = sandbox_run(
            identity, "--env-set", "TAR_OPTIONS=--same-owner", cmd=["tar", "-xf", str(tar), "-C", str(out)]
        )
        assert r.returncode != 0 and "Cannot change ownership" in r.stderr, r.stderr
    r = sandbox_run(identity, cmd=["sh", "-c", "echo TAR_OPTIONS=${TAR_OPTIONS-unset}"])
    assert r.stdout.strip() == ("TAR_OPTIONS=--no-same-owner" if identity.is_root else "TAR_OPTIONS=unset")


@pytest.fixture
def npm_project(identity, scratch):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (the CI image installs it for the peers)")
    dep = scratch / "dep"
    dep.mkdir()
    (dep / "package.json").write_text('{"name": "dep", "version": "1.0.0", "main": "index.js"}\n')
    (dep / "index.js").write_text("module.exports = 42\n")
    subprocess.run(["npm", "pack", "-q"], cwd=dep, check=True, capture_output=True)
    ws = identity.workspace
    (ws / "package.json").write_text('{"name": "app", "version": "1.0.0"}\n')
    shutil.copy(dep / "dep-1.0.0.tgz", ws / "dep-1.0.0.tgz")
    _own(identity, ws / "package.json", ws / "dep-1.0.0.tgz")
    return ws


def _listing(path) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs} if path.exists() else set()


def test_readme_npm_install_example(identity, npm_project):
    """README: `sandbox run --rules registries -- npm install` (here from a local tarball: no
    registry is reachable on this machine). The host's ~/.npm stays untouched."""
    host_cache = identity.home / ".npm"
    before = _listing(host_cache)
    install = ["npm", "install", "--no-audit", "--no-fund", "./dep-1.0.0.tgz"]
    r = sandbox_run(identity, "--rules", "registries", cmd=install)
    assert r.returncode == 0, r.stderr
    assert (npm_project / "node_modules" / "dep" / "index.js").is_file()
    assert _listing(host_cache) == before  # nothing the host's npm would later trust
    # Control: the host's cache itself is read-only inside; that is why npm gets its own.
    shutil.rmtree(npm_project / "node_modules")
    made = not host_cache.exists()
    host_cache.mkdir(exist_ok=True)
    _own(identity, host_cache)
    try:
        r = sandbox_run(
            identity, "--rules", "registries", "--env-set", f"npm_config_cache={host_cache}", cmd=install
        )
        assert r.returncode != 0 and "npm error" in r.stderr, (r.stdout, r.stderr)
        assert not (npm_project / "node_modules" / "dep").exists() and _listing(host_cache) == before
    finally:
        if made:
            shutil.rmtree(host_cache, ignore_errors=True)


def test_npm_cache_made_writable_on_purpose_is_used(identity, scratch):
    home = scratch / "home"
    (home / ".npm").mkdir(parents=True)
    _own(identity, home, home / ".npm")
    env = identity.env(HOME=str(home))
    probe = ["sh", "-c", "echo cache=${npm_config_cache-default}"]
    r = sandbox_run(identity, cmd=probe, env=env)
    assert r.stdout.strip() == "cache=/tmp/.cordon-cache/npm", r.stderr
    r = sandbox_run(identity, "--writable-root", str(home / ".npm"), cmd=probe, env=env)
    assert r.stdout.strip() == "cache=default", r.stderr  # the documented opt-in: the host's own


def test_git_init_with_allow_git_write_says_why(identity):
    ws = identity.workspace
    r = sandbox_run(identity, "--allow-git-write", cmd=["git", "init", "-q"])
    assert r.returncode != 0
    assert "has no .git" in r.stderr and "git init` outside the sandbox" in r.stderr
    assert not (ws / ".git").exists()  # nothing was created (the placeholder is gone again)
    # Control: outside the sandbox the same command makes the repository.
    assert identity.run(["git", "init", "-q"]).returncode == 0 and (ws / ".git" / "HEAD").is_file()


def test_git_config_with_allow_git_write_says_why(identity):
    ws = identity.workspace
    assert identity.run(["git", "init", "-q"]).returncode == 0
    config = (ws / ".git" / "config").read_text()
    r = sandbox_run(identity, "--allow-git-write", cmd=["git", "config", "user.name", "Sandboxed"])
    assert r.returncode != 0
    assert r.stderr.count("writes .git/config, which stays read-only with --allow-git-write") == 1, r.stderr
    assert (ws / ".git" / "config").read_text() == config
    # A read is no write: no note. And the same write outside the sandbox works (control).
    r = sandbox_run(identity, "--allow-git-write", cmd=["git", "config", "--get", "core.bare"])
    assert r.returncode == 0 and "note" not in r.stderr, r.stderr
    assert identity.run(["git", "config", "user.name", "Host"]).returncode == 0


def test_network_off_says_why_once(identity, http_server):
    url = f"http://127.0.0.1:{http_server.port}/"
    r = sandbox_run(identity, cmd=["curl", "-sS", "--max-time", "5", url])
    assert r.returncode != 0
    assert r.stderr.count("the network is off (the default), so `curl` cannot reach any server") == 1
    assert "--rules registries" in r.stderr and "--network on" in r.stderr
    # Not for a command that needs no network, and not when the network is on (control:
    # the same request then succeeds).
    assert "network is off" not in sandbox_run(identity, cmd=["true"]).stderr
    r = sandbox_run(identity, "--network", "on", cmd=["curl", "-sS", "--max-time", "5", url])
    assert r.returncode == 0 and "network is off" not in r.stderr, r.stderr
