"""Known-safe and dangerous commands (policy.safety), table-driven from Codex's rules."""

from __future__ import annotations

import sys

import pytest
from cordon.policy.programs import data, program_name
from cordon.policy.safety import (
    command_might_be_dangerous,
    is_forced_rm,
    is_known_safe_command,
    unwrap_command,
    unwrap_once,
)

LINUX = sys.platform.startswith("linux")

SAFE = [
    # always-safe list (Codex <= 0.148)
    *[[name] for name in data()["always_safe"]],
    ["cat", "README.md"],
    ["grep", "-R", "TODO", "src"],
    ["/usr/bin/grep", "x"],
    ["/bin/ls", "-la"],
    ["ls", "-la", "/etc"],
    # base64 without output files
    ["base64", "file"],
    ["base64", "-d", "file"],
    ["base64", "-w", "0", "f"],
    # find without actions that run or write
    ["find", ".", "-name", "*.py"],
    ["find", ".", "-type", "f", "-print"],
    ["find", ".", "-maxdepth", "1"],
    # rg without --pre / --hostname-bin / -z
    ["rg", "TODO"],
    ["rg", "-n", "-i", "foo", "src"],
    ["rg", "-g", "*.gz", "foo"],  # `z` inside a -g value is not -z
    ["rg", "-gz", "foo"],
    # sed -n Np / M,Np, at most 4 args
    ["sed", "-n", "10p"],
    ["sed", "-n", "1,5p", "file.txt"],
    ["sed", "-n", "100p", "f"],
    # git read-only subcommands
    ["git", "status"],
    ["git", "log", "--oneline", "-n", "5"],
    ["git", "diff", "HEAD~1"],
    ["git", "show", "HEAD"],
    ["git", "branch"],
    ["git", "branch", "--show-current"],
    ["git", "branch", "-a", "-v"],
    ["git", "branch", "--format=%(refname)"],
    ["git", "-C", "repo", "status"],
    ["git", "--git-dir", ".git", "log"],
    ["git", "--git-dir=.git", "log"],
    ["git", "--no-pager", "diff"],
    ["/usr/bin/git", "status"],
    # bash -lc of plain safe commands
    ["bash", "-lc", "ls"],
    ["bash", "-lc", "ls && pwd"],
    ["bash", "-lc", "git status | wc -l"],
    ["bash", "-c", "cat a; head -n 3 b"],
    ["zsh", "-lc", "ls"],
    ["sh", "-c", "echo 'hi there' | tr a-z A-Z"],
    ["/bin/zsh", "-lc", "grep -c x f || true"],
]

UNSAFE = [
    [],
    ["cargo", "check"],  # was safe in 2025, not since
    ["python3", "-c", "print(1)"],
    ["rm", "x"],
    ["touch", "x"],
    ["./ls"],
    ["./sed", "-n", "1p"],  # gh #28732: basename-only matching
    ["/tmp/cat", "x"],
    ["bin/grep", "x"],
    ["/home/u/bin/ls"],
    # base64 writing a file
    ["base64", "-o", "out", "f"],
    ["base64", "--output", "out"],
    ["base64", "--output=out"],
    ["base64", "-ob64.txt"],
    ["base64", "-do", "out"],
    ["base64", "--outp=x"],
    # find actions
    *[["find", ".", action] for action in data()["find_unsafe_args"]],
    ["find", ".", "-exec", "rm", "{}", ";"],
    # rg running programs
    ["rg", "--pre", "cat", "x"],
    ["rg", "--pre=cat", "x"],
    ["rg", "--hostname-bin", "h", "x"],
    ["rg", "--hostname-bin=h", "x"],
    ["rg", "--search-zip", "x"],
    ["rg", "-z", "x"],
    ["rg", "-iz", "x"],
    # sed other than -n Np
    ["sed", "-n", "1,5p", "a", "b"],
    ["sed", "-i", "s/a/b/", "f"],
    ["sed", "-n", "1e", "f"],
    ["sed", "-n", "p"],
    ["sed", "s/a/b/"],
    ["sed", "-n"],
    # git
    ["git"],
    ["git", "checkout", "status"],
    ["git", "commit"],
    ["git", "push"],
    ["git", "reset", "--hard"],
    ["git", "-c", "core.pager=evil", "log"],
    ["git", "-ccore.pager=evil", "log"],
    ["git", "--config-env", "a=B", "status"],
    ["git", "--config-env=a=B", "status"],
    ["git", "log", "--output", "x"],
    ["git", "log", "--output=x"],
    ["git", "diff", "--ext-diff"],
    ["git", "diff", "--textconv"],
    ["git", "log", "--exec=x"],
    ["git", "log", "--paginate"],
    ["git", "-p", "log"],
    ["git", "--exec-path=/tmp/x", "status"],
    ["git", "log", "--outp=x"],
    ["git", "branch", "-d", "x"],
    ["git", "branch", "-D", "x"],
    ["git", "branch", "new-branch"],
    ["git", "branch", "-m", "a", "b"],
    ["/tmp/git", "status"],
    ["legit", "status"],
    # scripts
    ["bash", "-lc", "ls > out"],
    ["bash", "-lc", "ls && rm x"],
    ["bash", "-lc", "echo $(id)"],
    ["bash", "-lc", "'git status'"],
    ["bash", "-lc", "git", "status"],
    ["bash", "-lc", ""],
    ["bash", "-lc", "(ls)"],
    ["bash", "-lc", "FOO=1 ls"],
    ["bash", "-lc", "cat <<EOF\nx\nEOF"],
    ["fish", "-c", "ls"],
    ["/tmp/bash", "-lc", "ls"],
    ["./zsh", "-lc", "ls"],
    ["bash", "-x", "ls"],
]


@pytest.mark.parametrize("argv", SAFE, ids=lambda a: " ".join(a)[:60])
def test_known_safe(argv):
    assert is_known_safe_command(argv)


@pytest.mark.parametrize("argv", UNSAFE, ids=lambda a: " ".join(a)[:60] or "empty")
def test_not_known_safe(argv):
    assert not is_known_safe_command(argv)


@pytest.mark.parametrize("name", ["numfmt", "tac"])
def test_linux_only_safe(name):
    assert is_known_safe_command([name, "x"]) == LINUX


@pytest.mark.parametrize(
    ("arg0", "expected"),
    [
        ("ls", "ls"),
        ("/bin/ls", "ls"),
        ("/usr/bin/ls", "ls"),
        ("/usr/local/bin/rg", "rg"),
        ("/usr//bin/ls", "ls"),
        ("./ls", None),
        ("/tmp/ls", None),
        ("../bin/ls", None),
        ("/usr/bin/", None),
    ],
)
def test_program_name(arg0, expected):
    assert program_name(arg0) == expected


DANGEROUS = [
    ["rm", "-f", "x"],
    ["rm", "-rf", "x"],
    ["rm", "-fr", "x"],
    ["rm", "-Rf", "x"],
    ["rm", "-r", "-f", "x"],
    ["rm", "x", "-f"],
    ["rm", "--force", "x"],
    ["rm", "--forc", "x"],
    ["rm", "-rf", "--no-preserve-root", "/"],
    ["rm", "--no-preserve-root", "-r", "/"],
    ["/bin/rm", "-fr", "x"],
    ["sudo", "rm", "-rf", "/"],
    ["sudo", "-u", "root", "rm", "-f", "x"],
    ["sudo", "--", "rm", "-f", "x"],
    ["sudo", "-E", "HOME=/x", "rm", "-f", "x"],
    ["doas", "rm", "-rf", "x"],
    ["env", "rm", "-rf", "x"],
    ["env", "A=1", "B=2", "rm", "-rf", "x"],
    ["env", "-i", "-u", "HOME", "rm", "-f", "x"],
    ["env", "-S", "rm -rf x"],
    ["env", "--split-string=rm -rf x"],
    ["timeout", "5", "rm", "-rf", "x"],
    ["timeout", "-s", "KILL", "5", "rm", "-rf", "x"],
    ["nice", "rm", "-rf", "x"],
    ["nice", "-n", "10", "rm", "-rf", "x"],
    ["nohup", "rm", "-rf", "x"],
    ["stdbuf", "-o", "0", "rm", "-rf", "x"],
    ["ionice", "-c", "3", "rm", "-rf", "x"],
    ["chrt", "-f", "10", "rm", "-rf", "x"],
    ["taskset", "0x1", "rm", "-rf", "x"],
    ["time", "rm", "-rf", "x"],
    ["command", "rm", "-rf", "x"],
    ["exec", "rm", "-rf", "x"],
    ["setsid", "rm", "-rf", "x"],
    ["xargs", "rm", "-rf"],
    ["xargs", "-0", "-n", "1", "rm", "-f"],
    ["busybox", "rm", "-rf", "x"],
    ["flock", "/tmp/l", "rm", "-rf", "x"],
    ["flock", "/tmp/l", "-c", "rm -rf x"],
    ["find", ".", "-exec", "rm", "-rf", "{}", ";"],
    ["find", ".", "-execdir", "rm", "-f", "{}", "+"],
    ["eval", "rm", "-rf", "x"],
    ["trap", "rm -rf x", "EXIT"],
    ["watch", "-n", "1", "rm", "-rf", "x"],
    ["sudo", "env", "A=1", "timeout", "5", "nice", "-n", "5", "rm", "-r", "-f", "x"],
    # inside scripts: every literal command anywhere in the tree
    ["bash", "-lc", "rm -rf x"],
    ["bash", "-lc", "ls && rm -rf x"],
    ["zsh", "-lc", "rm -rf .npm-cache"],
    ["/bin/zsh", "-lc", "rm -rf .npm-cache"],
    ["sh", "-c", "sudo rm -f x"],
    ["bash", "-lc", 'for f in *; do rm -f "$f"; done'],
    ["bash", "-lc", "if true; then rm -rf x; fi"],
    ["bash", "-lc", "echo $(rm -rf x)"],
    ["bash", "-lc", "(cd x && rm -rf y)"],
    ["bash", "-lc", "rm -rf x > /dev/null 2>&1"],
    ["bash", "-lc", "bash -c 'rm -rf x'"],
    ["bash", "-lc", "sudo env A=1 rm -rf x"],
    ["bash", "-lc", "rm {-rf,x}"],
    ["bash", "-lc", "find . -exec rm -rf {} +"],
    ["bash", "-e", "-c", "rm -rf x"],
    ["sh", "-xec", "rm -f a"],
    ["bash", "-lc", "rm -rf x", "extra"],
    # beyond Codex: scripts fed to a shell on stdin
    ["bash", "-lc", "bash <<EOF\nrm -rf x\nEOF"],
    ["bash", "-lc", "sh -s <<'X'\nls\nrm -f z\nX"],
    ["bash", "-lc", "sh <<< 'rm -rf y'"],  # not a plain wrapper, but the script still runs
]

NOT_DANGEROUS = [
    [],
    ["rm", "x"],
    ["rm", "-r", "x"],
    ["rm", "-i", "x"],
    ["rm", "--", "-f"],
    ["rm", "-r", "--", "-f"],
    ["rm", "--recursive", "x"],
    ["ls", "-f"],
    ["git", "reset", "--hard"],  # newest Codex: git forms are not "dangerous"
    ["git", "rm", "x"],
    ["git", "push", "--force"],
    ["git", "clean", "-fdx"],
    ["sudo", "ls"],
    ["sudo"],
    ["env"],
    ["env", "A=1"],
    ["timeout", "5"],
    ["command", "-v", "rm"],
    ["bash", "-lc", "echo 'rm -rf x'"],  # quoted text is not a command
    ["bash", "-lc", "cmd=rm; $cmd -rf x"],  # dynamic names are skipped (as in Codex)
    ["bash", "-lc", "ls && pwd"],
    ["echo", "rm", "-rf", "x"],
    ["bash", "-lc", ""],
    ["find", ".", "-name", "*.py"],
    ["bash", "-lc", "cat <<EOF\nrm -rf x\nEOF"],  # a heredoc to a non-shell is data
]


@pytest.mark.parametrize("argv", DANGEROUS, ids=lambda a: " ".join(a)[:60])
def test_dangerous(argv):
    assert command_might_be_dangerous(argv)


@pytest.mark.parametrize("argv", NOT_DANGEROUS, ids=lambda a: " ".join(a)[:60] or "empty")
def test_not_dangerous(argv):
    assert not command_might_be_dangerous(argv)


def test_nesting_deeper_than_eight_counts_as_dangerous():
    argv = ["ls"]
    for _ in range(8):
        argv = ["nice", *argv]
    assert not command_might_be_dangerous(argv)
    assert command_might_be_dangerous(["nice", *argv])


def test_forced_rm_needs_rm():
    assert is_forced_rm(["rm", "-f"])
    assert not is_forced_rm(["rmdir", "-f"])
    assert not is_forced_rm(["myrm", "-f"])


@pytest.mark.parametrize(
    ("argv", "inner"),
    [
        (["sudo", "-u", "bob", "ls", "-l"], ["ls", "-l"]),
        (["env", "A=1", "ls"], ["ls"]),
        (["env", "-C", "/tmp", "ls"], ["ls"]),
        (["timeout", "--signal=KILL", "10s", "make"], ["make"]),
        (["timeout", "-k", "5", "10", "make", "-j2"], ["make", "-j2"]),
        (["nice", "-n", "19", "make"], ["make"]),
        (["nice", "--adjustment=5", "make"], ["make"]),
        (["nohup", "make"], ["make"]),
        (["sudo", "env", "A=1", "timeout", "5", "nice", "make"], ["make"]),
        (["exec", "-a", "name", "make"], ["make"]),
        (["ls", "-l"], ["ls", "-l"]),
        (["sudo"], ["sudo"]),
    ],
)
def test_unwrap_command(argv, inner):
    assert unwrap_command(argv) == inner


def test_unwrap_once_returns_scripts_as_sh_c():
    assert unwrap_once(["trap", "rm -f x", "EXIT"]) == [["sh", "-c", "rm -f x"]]
    assert unwrap_once(["eval", "ls", "-l"]) == [["sh", "-c", "ls -l"]]
    assert unwrap_once(["find", ".", "-exec", "a", ";", "-ok", "b", "{}", "+"]) == [["a"], ["b", "{}"]]
    assert unwrap_once(["ls"]) == []
