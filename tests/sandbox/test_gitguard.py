"""sandbox.gitguard on real repositories made by the host's git: what it finds to protect.

(The attacks themselves, through ``sandbox run`` as root and as the user, are in
tests/sandbox/linux/test_git_attacks.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cordon.sandbox import gitguard
from cordon.sandbox.errors import SandboxError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
GIT = shutil.which("git") or "git"
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}


def git(cwd: Path, *args: str) -> str:
    r = subprocess.run(
        [
            GIT,
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "user.name=t",
            "-c",
            "protocol.file.allow=always",
            *args,
        ],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "commit", "-q", "--allow-empty", "-m", "i")
    return path


def with_gitlinks(tmp_path: Path) -> Path:
    top = repo(tmp_path / "top")
    for name in ("a", "deep/er/b"):
        repo(top / name)
        git(top, "add", name)
    (top / "file.txt").write_text("x\n")
    git(top, "add", "file.txt")
    return top


def inspect(root: Path, **kw) -> gitguard.GitGuard:
    return gitguard.inspect([str(root)], git=GIT, home="/nonexistent", **kw)


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_gitlinks_are_found_in_every_index_version(tmp_path, version):
    top = with_gitlinks(tmp_path)
    git(top, "update-index", "--index-version", version)
    if version == "3":
        (top / "later.txt").write_text("y\n")
        git(top, "add", "-N", "later.txt")  # intent-to-add: an extended-flags entry
    assert sorted(gitguard.index_gitlinks(str(top / ".git"))) == ["a", "deep/er/b"]


def test_gitlinks_in_a_split_index(tmp_path):
    top = with_gitlinks(tmp_path)
    git(top, "update-index", "--split-index")
    assert sorted(gitguard.index_gitlinks(str(top / ".git"))) == ["a", "deep/er/b"]


def test_embedded_repositories_and_their_configs_are_protected(tmp_path):
    top = with_gitlinks(tmp_path)
    g = inspect(top)
    assert str(top / "a" / ".git") in g.read_only and str(top / "deep/er/b/.git") in g.read_only


def test_config_paths_and_commands_inside_the_root(tmp_path):
    top = repo(tmp_path / "top")
    (top / "tools").mkdir()
    (top / "tools" / "fsmon").write_text("#!/bin/sh\n")
    (top / "inc.cfg").write_text('[diff "x"]\n\ttextconv = ./tools/conv --flag\n')
    git(top, "config", "core.fsmonitor", "tools/fsmon")
    git(top, "config", "core.hooksPath", ".husky")
    git(top, "config", "include.path", "../inc.cfg")
    git(top, "config", "alias.up", "!sh scripts/up.sh && echo done")
    git(top, "config", "user.name", "tools/fsmon-looking-name")  # not a command key: ignored
    git(top, "config", "core.fsmonitor2", "true")
    g = inspect(top)
    assert str(top / "tools" / "fsmon") in g.read_only
    assert str(top / "inc.cfg") in g.read_only
    assert str(top / "tools" / "conv") in g.block  # absent script named by an included file
    assert str(top / ".husky") in g.block and str(top / "scripts") in g.block
    assert str(top / ".git" / "config") in g.read_only
    assert not any("fsmon-looking" in p for p in g.read_only + g.block)


def test_a_symlink_on_the_way_is_refused(tmp_path):
    top = repo(tmp_path / "top")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", top / ".husky")
    git(top, "config", "core.hooksPath", ".husky")
    with pytest.raises(SandboxError, match="symlink"):
        inspect(top)


def test_gitdir_file_and_commondir(tmp_path):
    main = repo(tmp_path / "main")
    git(main, "worktree", "add", "-q", str(tmp_path / "wt"))
    roots = [str(tmp_path / "wt"), str(main)]  # the linked worktree and the main checkout
    g = gitguard.inspect(roots, git=GIT, home="/nonexistent")
    wt_gitdir = str(main / ".git" / "worktrees" / "wt")
    assert (str(tmp_path / "wt"), wt_gitdir, str(main / ".git")) in g.repos
    assert wt_gitdir in g.read_only and str(main / ".git") in g.read_only
    g = gitguard.inspect(roots, git=GIT, home="/nonexistent", allow_git_write=True)
    assert g.audited == [str(main / ".git"), wt_gitdir]  # the common dir first: the other lies inside


def test_paths_outside_the_writable_roots_are_left_alone(tmp_path):
    top = repo(tmp_path / "top")
    git(top, "config", "core.hooksPath", str(tmp_path / "hooks-outside"))
    g = inspect(top)
    assert not any("hooks-outside" in p for p in g.read_only + g.block)


def test_without_git_the_git_dir_is_still_found(tmp_path):
    top = repo(tmp_path / "top")
    os.rename(top / ".git", top / "real.git")
    (top / ".git").write_text("gitdir: real.git\n")
    g = gitguard.inspect([str(top)], git=None, home="/nonexistent")
    assert str(top / "real.git") in g.read_only


def test_audit_reports_symlinks_and_new_gitlinks(tmp_path):
    top = repo(tmp_path / "top")
    snap = gitguard.audit_before([str(top / ".git")])
    os.symlink("/etc/passwd", top / ".git" / "logs" / "planted")
    repo(top / "nested")
    git(top, "add", "nested")
    (top / ".git" / "worktrees").mkdir()
    (top / ".git" / "worktrees" / "x").mkdir()
    lines = gitguard.audit_after(snap)
    assert any("removed symlink" in x and "planted" in x for x in lines)
    assert not (top / ".git" / "logs" / "planted").is_symlink()
    assert any("new gitlink 'nested'" in x for x in lines)
    assert any("worktrees/x" in x for x in lines)
    assert gitguard.audit_after(gitguard.audit_before([str(top / ".git")])) == []


def test_parsed_files_are_cached_by_their_stat(tmp_path):
    top = with_gitlinks(tmp_path)
    git(top, "config", "core.hooksPath", ".husky")
    cache: dict = {}
    first = inspect(top, cache=cache)
    assert any(k.startswith("index:") for k in cache) and str(top / ".git" / "config") in cache
    again = inspect(top, cache=cache)
    assert (again.read_only, again.block) == (first.read_only, first.block)
    git(top, "config", "core.hooksPath", "hooks2")  # a changed file is parsed again
    assert str(top / "hooks2") in inspect(top, cache=cache).block
