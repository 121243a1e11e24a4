"""Said once, before the command starts: what this policy will make this command fail at.

A confined command fails the way its tool reports it (``npm`` retries for a minute, ``git``
says "Device or resource busy"), which rarely names the cause. When the policy and the argv
make the cause certain, ``sandbox run`` says it first, with the flag that changes it:

- the network is off and the command is a known network operation (``npm install``,
  ``pip install``, ``git clone``, ``curl`` ...);
- ``--allow-git-write`` in a workspace without ``.git`` (nothing to make writable, and a new
  one cannot be created inside: the name is protected), or ``git init`` there;
- ``--allow-git-write`` and a git command that writes ``.git/config`` (``git config``,
  ``git remote add`` ...): the config stays read-only, and git reports EBUSY.

Pure: ``hints(policy, argv)`` returns the lines; nothing is printed or probed here apart from
one ``lstat`` of the workspace's ``.git``. Standard library only (the ``sandbox run`` hot path).
"""

from __future__ import annotations

import os

ANY = None
# tool -> subcommands that need the network (ANY: every use). Only the certain cases: a build
# that may run offline from a warm cache (cargo build, mvn, gradle) is not named.
NETWORK_COMMANDS: dict[str, frozenset[str] | None] = {
    "npm": frozenset(
        {"install", "i", "ci", "add", "update", "up", "audit", "publish", "view", "info", "outdated", "exec"}
    ),
    "npx": ANY,
    "yarn": frozenset({"", "install", "add", "upgrade", "up", "dlx"}),
    "pnpm": frozenset({"install", "i", "add", "update", "up", "dlx"}),
    "bun": frozenset({"install", "add", "x"}),
    "pip": frozenset({"install", "download", "index"}),
    "pip3": frozenset({"install", "download", "index"}),
    "uv": frozenset({"add", "sync", "lock", "pip", "tool"}),
    "poetry": frozenset({"install", "add", "update", "lock"}),
    "pipenv": frozenset({"install", "sync", "lock", "update"}),
    "cargo": frozenset({"install", "fetch", "update", "add", "search", "publish"}),
    "go": frozenset({"get", "install"}),
    "gem": frozenset({"install", "update", "fetch"}),
    "bundle": frozenset({"", "install", "update"}),
    "composer": frozenset({"install", "update", "require"}),
    "git": frozenset({"clone", "fetch", "pull", "push", "ls-remote"}),
    "apt": frozenset({"update", "install", "upgrade"}),
    "apt-get": frozenset({"update", "install", "upgrade", "dist-upgrade"}),
    "curl": ANY,
    "wget": ANY,
    "ssh": ANY,
    "scp": ANY,
    "sftp": ANY,
}
# git subcommands (with the options that make them write .git/config).
GIT_CONFIG_WRITERS = {
    "config": ANY,
    "remote": frozenset({"add", "rename", "remove", "rm", "set-url", "set-head", "set-branches"}),
    "branch": frozenset(
        {"-u", "--set-upstream-to", "--unset-upstream", "--track", "-t", "--edit-description"}
    ),
    "push": frozenset({"-u", "--set-upstream"}),
    "checkout": frozenset({"--track", "-t"}),
    "switch": frozenset({"--track", "-t"}),
    "submodule": frozenset({"init", "add"}),
    "worktree": frozenset({"add"}),
}
# `git config` forms that only read (or write another file than .git/config), and that write.
GIT_CONFIG_READS = frozenset(
    {
        "--get",
        "--get-all",
        "--get-regexp",
        "--get-urlmatch",
        "--list",
        "-l",
        "get",
        "list",
        "--global",
        "--system",
        "--file",
        "-f",
    }
)
GIT_CONFIG_WRITES = frozenset(
    {
        "--unset",
        "--unset-all",
        "--add",
        "--replace-all",
        "--rename-section",
        "--remove-section",
        "--edit",
        "-e",
    }
)


def _words(argv: list[str]) -> tuple[str, list[str]]:
    """(tool, its arguments), seeing through ``python -m pip`` and git's global options."""
    tool = os.path.basename(argv[0]) if argv else ""
    rest = list(argv[1:])
    if tool.startswith("python") and rest[:1] == ["-m"] and len(rest) > 1:
        tool, rest = rest[1], rest[2:]
    if tool == "git":
        out, skip = [], False
        for a in rest:
            if skip:
                skip = False
            elif not out and a in ("-C", "-c", "--git-dir", "--work-tree", "--namespace"):
                skip = True
            elif not out and a.startswith("-"):
                continue
            else:
                out.append(a)
        rest = out
    return tool, rest


def _subcommand(rest: list[str]) -> str:
    return next((a for a in rest if not a.startswith("-")), "")


def hints(policy, argv: list[str]) -> list[str]:
    """The notes for ``argv`` under ``policy`` (a resolved policy), in the order they matter."""
    out: list[str] = []
    tool, rest = _words(argv)
    net = policy.network.mode
    mode = policy.mode
    if mode == "danger-full-access":
        return out
    sub = _subcommand(rest)
    if net == "off" and tool in NETWORK_COMMANDS:
        wanted = NETWORK_COMMANDS[tool]
        if wanted is ANY or sub in wanted:
            shown = tool if wanted is ANY else " ".join([tool, sub]).strip()
            out.append(
                f"the network is off (the default), so `{shown}` cannot reach any server and may "
                "retry for a while before it fails. Allow what it needs: --rules registries "
                "(package registries, through the filtering proxy), --allow-domain HOST, or --network on"
            )
    ws = policy.workspace
    git_absent = ws is not None and not os.path.lexists(os.path.join(ws, ".git"))
    if git_absent and (policy.allow_git_write or (tool == "git" and sub == "init")):
        out.append(
            f"{ws} has no .git, and none can be created inside the sandbox (.git is a protected "
            "name: it stays an empty read-only placeholder)"
            + (", so --allow-git-write has nothing to make writable" if policy.allow_git_write else "")
            + ". Run `git init` outside the sandbox first"
        )
    if policy.allow_git_write and tool == "git" and sub in GIT_CONFIG_WRITERS:
        opts = GIT_CONFIG_WRITERS[sub]
        args = {a.split("=", 1)[0] for a in rest[1:]}
        if opts is ANY:  # git config: a write unless a read form; `git config KEY` reads
            positional = [a for a in rest[1:] if not a.startswith("-")]
            writes = not args & GIT_CONFIG_READS and (bool(args & GIT_CONFIG_WRITES) or len(positional) >= 2)
        else:
            writes = bool(args & opts)
        if writes:
            out.append(
                f"`git {sub}` here writes .git/config, which stays read-only with --allow-git-write "
                "(settings there can make git run programs on the host: core.fsmonitor, "
                "core.hooksPath, aliases); git will report 'Device or resource busy'. Change it "
                "outside the sandbox, or for one command: git -c KEY=VALUE ..."
            )
    return out
