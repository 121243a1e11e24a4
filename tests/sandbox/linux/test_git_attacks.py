"""Git state that would make the HOST run code later: each test plants it from inside a real
``sandbox run`` (as root and as the unprivileged account), then runs the host's own git the
way an editor or a shell prompt would, and checks that nothing ran. Every scenario has its
positive control: the same attack run unconfined, followed by the same host git command,
does run the planted code (so the test can fail).
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from tests.sandbox.linux.confine_support import sandbox_run

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None or shutil.which("git") is None,
        reason="needs Linux, bubblewrap and git",
    ),
]

GIT_ID = ["-c", "user.email=t@example.invalid", "-c", "user.name=t", "-c", "protocol.file.allow=always"]


def git(identity, ws: Path, *args: str, check: bool = True):
    env = identity.env(GIT_CONFIG_NOSYSTEM="1")
    r = identity.run(["git", *GIT_ID, *args], cwd=ws, env=env)
    if check:
        assert r.returncode == 0, (args, r.stderr)
    return r


def write(identity, p: Path, text: str, mode: int = 0o644) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(mode)
    for q in (p, *[x for x in p.parents if identity.workspace in x.parents]):
        os.chown(q, identity.uid, identity.gid)
    return p


def fresh_repo(identity, name: str) -> Path:
    """A repository with one commit, owned by ``identity``, at the top of a new writable root."""
    ws = identity.workspace / name
    ws.mkdir()
    os.chown(ws, identity.uid, identity.gid)
    git(identity, ws, "init", "-q")
    git(identity, ws, "commit", "-q", "--allow-empty", "-m", "init")
    return ws


# Each scenario: setup(identity, ws, marker) prepares the repository the user has; ATTACK is a
# shell script run inside the sandbox (in ws) that plants code writing ``$M``; HOST is what the
# host runs afterwards in ws.
def setup_fsmonitor(identity, ws: Path, marker: Path) -> None:
    write(identity, ws / "tools" / "fsmon.sh", "#!/bin/sh\nexit 1\n", 0o755)
    git(identity, ws, "config", "core.fsmonitor", "tools/fsmon.sh")


def setup_include(identity, ws: Path, marker: Path) -> None:
    write(identity, ws / "shared.gitconfig", "[alias]\n\tst = status\n")
    git(identity, ws, "config", "include.path", "../shared.gitconfig")
    git(identity, ws, "config", "includeIf.onbranch:release.path", "../release.gitconfig")


def setup_hooks_path(identity, ws: Path, marker: Path) -> None:
    write(identity, ws / ".husky" / "commit-msg", "#!/bin/sh\nexit 0\n", 0o755)
    git(identity, ws, "config", "core.hooksPath", ".husky")


def setup_filter_driver(identity, ws: Path, marker: Path) -> None:
    write(identity, ws / "scripts" / "clean.sh", "#!/bin/sh\ncat\n", 0o755)
    write(identity, ws / ".gitattributes", "*.txt filter=tidy\n")
    git(identity, ws, "config", "filter.tidy.clean", "sh scripts/clean.sh")
    write(identity, ws / "a.txt", "one\n")
    git(identity, ws, "add", "a.txt", ".gitattributes")
    git(identity, ws, "commit", "-q", "-m", "a")


def setup_separate_gitdir(identity, ws: Path, marker: Path) -> None:
    """``.git`` is a ``gitdir:`` file pointing at a git dir elsewhere in the workspace."""
    os.rename(ws / ".git", ws / "real.git")
    write(identity, ws / ".git", "gitdir: real.git\n")


def setup_submodule(identity, ws: Path, marker: Path) -> None:
    src = identity.workspace / f"{ws.name}-subsrc"
    src.mkdir()
    os.chown(src, identity.uid, identity.gid)
    git(identity, src, "init", "-q")
    git(identity, src, "commit", "-q", "--allow-empty", "-m", "s")
    git(identity, ws, "submodule", "add", "-q", str(src), "sub")
    git(identity, ws, "commit", "-q", "-m", "sub")


def setup_embedded_repo(identity, ws: Path, marker: Path) -> None:
    """``git add nested`` of a repository with its own .git directory: a gitlink, no .gitmodules."""
    nested = ws / "nested"
    nested.mkdir()
    os.chown(nested, identity.uid, identity.gid)
    git(identity, nested, "init", "-q")
    git(identity, nested, "commit", "-q", "--allow-empty", "-m", "n")
    git(identity, ws, "add", "nested")
    git(identity, ws, "commit", "-q", "-m", "nested")


EVIL_FSMONITOR = 'printf "[core]\\n\\tfsmonitor = \\"touch $M; false\\"\\n"'
SCENARIOS = {
    "fsmonitor script": (setup_fsmonitor, 'printf "#!/bin/sh\\ntouch $M\\nexit 1\\n" > tools/fsmon.sh', "status"),
    "fsmonitor script, parent renamed": (
        setup_fsmonitor,
        'mv tools old && mkdir tools && printf "#!/bin/sh\\ntouch $M\\nexit 1\\n" > tools/fsmon.sh && chmod +x tools/fsmon.sh',
        "status",
    ),
    "included config": (
        setup_include,
        f"{EVIL_FSMONITOR} >> shared.gitconfig; {EVIL_FSMONITOR} > release.gitconfig; git checkout -q -b release",
        "status",
    ),
    "hooksPath": (setup_hooks_path, 'printf "#!/bin/sh\\ntouch $M\\n" > .husky/commit-msg', "commit"),
    "filter driver script": (setup_filter_driver, 'printf "touch $M; cat\\n" > scripts/clean.sh; echo two >> a.txt', "add"),
    "separate git dir": (setup_separate_gitdir, f"{EVIL_FSMONITOR} >> real.git/config", "status"),
    "submodule .git file": (
        setup_submodule,
        f"mkdir evil && cp -r .git/modules/sub/. evil/ ; sed -i /worktree/d evil/config; {EVIL_FSMONITOR} >> evil/config; "
        'printf "gitdir: ../evil\\n" > sub/.git',
        "status",
    ),
    "embedded repository": (setup_embedded_repo, f"{EVIL_FSMONITOR} >> nested/.git/config", "status"),
}  # fmt: skip
HOST = {
    "status": ["status", "--short"],
    "commit": ["commit", "-q", "--allow-empty", "-m", "host commit"],
    "add": ["add", "a.txt"],
}


def host_git(identity, ws: Path, what: str) -> str:
    r = git(identity, ws, *HOST[what], check=False)
    return r.stdout + r.stderr


@pytest.fixture
def marker(identity):
    m = identity.home / f".cordon-git-pwned-{uuid.uuid4().hex[:8]}"
    yield m
    m.unlink(missing_ok=True)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_planted_git_state_does_not_run_on_the_host(identity, marker, scenario):
    setup, attack, host = SCENARIOS[scenario]
    ws = fresh_repo(identity, "boxed")
    setup(identity, ws, marker)
    r = sandbox_run(identity, cmd=["sh", "-c", attack], cwd=ws, env=identity.env(M=str(marker)))
    assert r.returncode != 125, r.stderr  # the sandbox ran (the attack's own steps fail)
    after = host_git(identity, ws, host)
    assert not marker.exists(), (
        f"{scenario}: the host's git ran code planted by the sandbox",
        r.stderr,
        after,
    )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_control_the_same_attack_unconfined_runs_on_the_host(identity, marker, scenario):
    setup, attack, host = SCENARIOS[scenario]
    ws = fresh_repo(identity, "free")
    setup(identity, ws, marker)
    r = identity.run(["sh", "-c", attack], cwd=ws, env=identity.env(M=str(marker)))
    assert r.returncode == 0, r.stderr
    host_git(identity, ws, host)
    assert marker.exists(), (
        f"{scenario}: the planted state did not run even unconfined: the test proves nothing"
    )


# --- --allow-git-write: the audited mode ---------------------------------------------------------
def test_audited_mode_removes_symlinks_planted_in_git_dir(identity, marker):
    """A symlink at .git/logs/HEAD would make the host's next commit append to any file."""
    victim = write(identity, identity.home / f".cordon-victim-{uuid.uuid4().hex[:8]}", "original\n")
    try:
        attack = (
            f"git {' '.join(GIT_ID)} commit -q --allow-empty -m inside && "
            f"rm -f .git/logs/HEAD && ln -s {victim} .git/logs/HEAD"
        )
        ws = fresh_repo(identity, "boxed")
        r = sandbox_run(identity, "--allow-git-write", cmd=["sh", "-c", attack], cwd=ws)
        assert r.returncode == 0, r.stderr  # git commit works in this mode
        assert "git audit: removed symlink" in r.stderr and ".git/logs/HEAD" in r.stderr, r.stderr
        assert not (ws / ".git" / "logs" / "HEAD").is_symlink()
        git(identity, ws, "commit", "-q", "--allow-empty", "-m", "host commit")
        assert victim.read_text() == "original\n"
        # Control: unconfined, the host's next commit writes through the planted link.
        ws2 = fresh_repo(identity, "free")
        assert identity.run(["sh", "-c", attack], cwd=ws2).returncode == 0
        git(identity, ws2, "commit", "-q", "--allow-empty", "-m", "host commit")
        assert "host commit" in victim.read_text()
    finally:
        victim.unlink(missing_ok=True)


def test_audited_mode_reports_a_new_gitlink(identity, marker):
    """``git add`` of a nested repository whose config runs code: reported after the run."""
    attack = (
        f"mkdir nested && cd nested && git init -q && git {' '.join(GIT_ID)} commit -q --allow-empty -m n && "
        f"{EVIL_FSMONITOR} >> .git/config && cd .. && git add nested"
    )
    ws = fresh_repo(identity, "boxed")
    r = sandbox_run(
        identity, "--allow-git-write", cmd=["sh", "-c", attack], cwd=ws, env=identity.env(M=str(marker))
    )
    assert r.returncode == 0, r.stderr
    assert "git audit: new gitlink 'nested'" in r.stderr, r.stderr
    # Control: the report is about something real: the host's git status runs the nested config.
    git(identity, ws, "status", "--short", check=False)
    assert marker.exists()


@pytest.mark.parametrize("name", ["rebase-merge", "rebase-apply", "sequencer", "modules", "worktrees"])
def test_audited_mode_keeps_sequencer_state_and_modules_read_only(identity, name):
    attack = (
        f"mkdir -p .git/{name}/x; echo 'exec touch /tmp/x' > .git/{name}/git-rebase-todo; ls -d .git/{name}"
    )
    ws = fresh_repo(identity, "boxed")
    r = sandbox_run(identity, "--allow-git-write", cmd=["sh", "-c", attack], cwd=ws)
    assert "Read-only file system" in r.stderr, r.stderr
    assert not (ws / ".git" / name).exists()  # the placeholder is gone, nothing was planted
    # Control: unconfined the same lines plant the state.
    assert identity.run(["sh", "-c", attack], cwd=ws).returncode == 0
    assert (ws / ".git" / name / "git-rebase-todo").exists()


def test_audited_mode_with_a_separate_git_dir(identity, marker):
    """``.git`` is a gitdir: file: the real git dir inside the workspace gets the audited split."""
    ws = fresh_repo(identity, "boxed")
    setup_separate_gitdir(identity, ws, marker)
    attack = (
        f"git {' '.join(GIT_ID)} commit -q --allow-empty -m inside && {EVIL_FSMONITOR} >> real.git/config"
    )
    r = sandbox_run(
        identity, "--allow-git-write", cmd=["sh", "-c", attack], cwd=ws, env=identity.env(M=str(marker))
    )
    assert "Read-only file system" in r.stderr, r.stderr
    log = git(identity, ws, "log", "--format=%s").stdout
    assert "inside" in log  # the commit landed in the real git dir
    assert not marker.exists()
