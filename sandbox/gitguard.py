"""Git state a sandboxed command must not turn into code the host runs later.

The host's own git (``git status`` from an editor or a shell prompt, ``git commit``) trusts
what it finds in a repository: hooks, ``core.fsmonitor``, filter/diff drivers, included
config files, each submodule's ``.git`` entry. Protecting the name ``.git`` at the top of a
writable root is not enough when any of those lives elsewhere in the workspace. At launch,
on the host, before the sandbox starts, this module finds every such path for each writable
root that holds a repository:

* the real git directory: ``.git`` itself, or the target of a ``gitdir:`` file
  (``--separate-git-dir``, linked worktrees), and its ``commondir``;
* the configuration git reads for it (the common ``config``, ``config.worktree``, the user's
  and the system's files) and, recursively, every ``include.path`` / ``includeIf.*.path``
  file whatever its condition (a condition can become true later: ``onbranch:``);
* in that configuration, every value git runs or reads as a path: ``core.hooksPath``,
  ``core.fsmonitor``, ``filter.*.clean/smudge/process``, ``diff.*.textconv/command``,
  ``merge.*.driver``, ``alias.*`` shell aliases, credential helpers, ``hook.*.command``...
  (``COMMAND_KEYS``): each word naming a path inside a writable root;
* each registered submodule (a gitlink in the index, a ``.gitmodules`` path): its ``.git``.

Configuration is parsed by the host's git itself (``git config --file F --null --list``),
so what we read is exactly what git will read: no second parser to disagree with it. The
git used is the first on PATH outside every writable root (a workspace cannot plant one).

``audit_before``/``audit_after`` implement the post-run audit of ``--allow-git-write``.
Standard library only (the ``sandbox run`` hot path imports this).
"""

from __future__ import annotations

import os
import stat

from cordon.sandbox.errors import SandboxError

from cordon.paths import within

# Keys (lower-case, as ``git config --list`` prints them) whose value git runs as a command
# or uses as a path it executes or reads configuration from, matched on the last component
# (``filter.lfs.clean`` -> ``clean``) or the whole key.
COMMAND_KEY_SUFFIXES = frozenset(
    {
        "hookspath",  # core.hooksPath: a directory of hooks
        "fsmonitor",  # core.fsmonitor: true/false, or a hook program
        "sshcommand",
        "editor",
        "pager",
        "askpass",
        "gitproxy",
        "alternaterefscommand",
        "external",  # diff.external
        "textconv",
        "command",  # diff.<driver>.command, hook.<name>.command
        "cmd",  # difftool/mergetool/man/browser <tool>.cmd
        "path",  # difftool/mergetool <tool>.path (include paths are handled on their own)
        "driver",  # merge.<driver>.driver
        "clean",
        "smudge",
        "process",
        "helper",  # credential.helper
        "program",  # gpg.program, gpg.<format>.program
        "difffilter",  # interactive.diffFilter
        "packobjectshook",
        "receivepack",
        "uploadpack",
        "browser",
        "update",  # submodule.<name>.update = !command (honoured from .git/config only)
    }
)
# Sections whose every value may be a command (alias.x = !cmd, pager.log = cmd).
COMMAND_SECTIONS = ("alias.", "pager.")
BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", ""})
# git's own limit on include depth.
MAX_INCLUDE_DEPTH = 10
# Submodules of submodules are followed this deep.
MAX_SUBMODULE_DEPTH = 4
GITLINK_MODE = b"\x00\x00\xe0\x00"  # 0o160000, big-endian, as the index stores it


class GitGuard:
    """What the bubblewrap plan must add for git: read-only paths, creation blocks, notes."""

    __slots__ = ("audited", "block", "notes", "read_only", "reasons", "repos")

    def __init__(self) -> None:
        self.read_only: list[str] = []  # existing paths to bind read-only
        self.block: list[str] = []  # absent paths that must not be created (placeholders)
        self.audited: list[str] = []  # real git dirs inside writable roots, for --allow-git-write
        self.repos: list[tuple[str, str, str]] = []  # (worktree, gitdir, commondir)
        self.reasons: dict[str, str] = {}  # path -> why (for --explain)
        self.notes: list[str] = []


def read_gitfile(path: str) -> str | None:
    """The directory a ``gitdir: X`` file points at (relative to the file), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    line = head.split(b"\n", 1)[0].strip()
    if not line.startswith(b"gitdir:"):
        return None
    target = os.fsdecode(line[len(b"gitdir:") :].strip())
    if not target:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(path), target))


def _commondir(gitdir: str) -> str:
    try:
        with open(os.path.join(gitdir, "commondir"), "rb") as f:
            rel = os.fsdecode(f.read(4096).split(b"\n", 1)[0].strip())
    except OSError:
        return gitdir
    return os.path.normpath(os.path.join(gitdir, rel)) if rel else gitdir


def _git_env(home: str) -> dict[str, str]:
    # Nothing from the caller's GIT_* variables (GIT_CONFIG_COUNT/KEY/VALUE, GIT_DIR...).
    return {"PATH": "/usr/bin:/bin", "HOME": home, "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"}


def _stat_key(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    # ctime cannot be set back by anyone but root with a clock change: any edit changes the key.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# The cache as this process last read it, with the file's stat key: a process that launches
# many sandboxes reads the file again only when it changed (unmarshalling it held the GIL for
# about a millisecond per launch). The copy handed out is the file's content as of that key,
# so it is believed exactly as far as the file itself is.
_last_read: tuple[str, tuple, dict] | None = None


def load_cache(path: str) -> dict:
    """Parsed config files from earlier launches (in Cordon's cache, read-only in sandboxes)."""
    global _last_read
    import marshal

    key = _stat_key(path)
    last = _last_read
    if key is not None and last is not None and last[0] == path and last[1] == key:
        return dict(last[2])
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = marshal.loads(f.read())  # not load(f): it reads a file object in small pieces
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    _last_read = (path, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), data)
    return dict(data)


def save_cache(path: str, cache: dict, limit: int = 256) -> None:
    import marshal

    if len(cache) > limit:
        for k in list(cache)[: len(cache) - limit]:
            del cache[k]
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            marshal.dump(cache, f)
        os.replace(tmp, path)
    except OSError:
        pass


def config_entries(git: str, path: str, home: str, cache: dict | None = None) -> list[tuple[str, str]] | None:
    """``key, value`` pairs of one config file as git itself parses it (no includes followed);
    None when git cannot parse it (then git refuses the file too). ``cache`` maps a path to
    (stat key, entries): a file unchanged since an earlier launch is not parsed again."""
    key = _stat_key(path)
    if cache is not None and key is not None:
        hit = cache.get(path)
        if hit is not None and tuple(hit[0]) == key:
            return [tuple(e) for e in hit[1]] if hit[1] is not None else None
    out = _parse_config(git, path, home)
    if cache is not None and key is not None:
        cache[path] = (key, out)
    return out


def _parse_config(git: str, path: str, home: str) -> list[tuple[str, str]] | None:
    import subprocess

    try:
        r = subprocess.run(
            [git, "config", "--file", path, "--null", "--list"],
            env=_git_env(home),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    out = []
    for item in r.stdout.split(b"\0"):
        if not item:
            continue
        key, _, value = item.partition(b"\n")
        out.append((os.fsdecode(key), os.fsdecode(value)))
    return out


def _command_words(value: str) -> list[str]:
    """Words of a shell command value that could name a program or script (a superset: every
    word between shell operators, quotes dropped; shlex would import ``re`` on the hot path)."""
    v = value.strip()
    if v.startswith("!"):
        v = v[1:]
    for ch in ";|&()<>`'\"\t\n":
        v = v.replace(ch, " ")
    out = []
    for part in v.split():
        part = part.lstrip("$")
        if "=" in part and not part.startswith(("/", ".", "~")):
            part = part.split("=", 1)[1]  # VAR=path, --opt=path
        if part and not part.startswith("-"):
            out.append(part)
    return out


def _is_command_key(key: str) -> bool:
    k = key.lower()
    if k.startswith(COMMAND_SECTIONS):
        return True
    return k.rsplit(".", 1)[-1] in COMMAND_KEY_SUFFIXES


def inspect(
    roots, *, git: str | None, home: str, homes=(), allow_git_write: bool = False, cache: dict | None = None
) -> GitGuard:
    """Every path inside ``roots`` (writable roots) that git would execute or read
    configuration from, for the repositories at their tops and the user's own git config.
    ``cache``: see ``config_entries`` (the caller loads and saves it)."""
    guard = GitGuard()
    roots = [os.fspath(r) for r in roots]
    seen_configs: set[str] = set()

    def inside(p: str) -> bool:
        return any(within(p, r) for r in roots)

    def protect(p: str, why: str, *, worktree: str | None = None) -> None:
        """Bind ``p`` read-only if it exists, else block its first missing component."""
        p = os.path.normpath(p)
        if not inside(p) or p in guard.reasons:
            return
        root = max((r for r in roots if within(p, r)), key=len)
        # Every component from the root down must be a real directory (or the final entry):
        # a symlink inside a writable root could be re-pointed while the sandbox runs.
        cur = root
        rel = os.path.relpath(p, root)
        parts = [] if rel == "." else rel.split(os.sep)
        for i, part in enumerate(parts):
            cur = os.path.join(cur, part)
            try:
                st = os.lstat(cur)
            except OSError:
                if i == 0 or os.path.isdir(os.path.dirname(cur)):
                    guard.block.append(cur)
                    guard.reasons[cur] = why
                return
            if stat.S_ISLNK(st.st_mode):
                raise SandboxError(
                    f"{why} names {p}, but {cur} is a symlink (-> {os.readlink(cur)}) inside a writable "
                    f"root: the sandboxed command could re-point it at a directory it controls, and the "
                    f"host's git would then run what it finds there. Replace the symlink with the real "
                    f"directory, or move it outside the writable roots"
                )
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                return  # a file in the middle: the path cannot exist
        if p == root:
            return  # a whole writable root named by git config: nothing narrower to protect
        guard.read_only.append(p)
        guard.reasons[p] = why

    def scan_config(path: str, worktree: str | None, depth: int, origin: str) -> None:
        real = os.path.realpath(path)
        if real in seen_configs or depth > MAX_INCLUDE_DEPTH:
            return
        seen_configs.add(real)
        protect(path, f"git config {origin}")
        if git is None or not os.path.isfile(path):
            return
        entries = config_entries(git, path, home, cache)
        if entries is None:
            guard.notes.append(f"git cannot parse {path}; it is read-only, its contents were not followed")
            return
        for key, value in entries:
            k = key.lower()
            where = f"{key} in {path}"
            if k == "include.path" or (k.startswith("includeif.") and k.endswith(".path")):
                target = _expand(value, os.path.dirname(path), home)
                if target:
                    scan_config(target, worktree, depth + 1, f"(included by {where})")
                continue
            if not _is_command_key(k):
                continue
            if k.rsplit(".", 1)[-1] == "fsmonitor" and value.strip().lower() in BOOLEAN_WORDS:
                continue
            if k.rsplit(".", 1)[-1] == "hookspath":
                target = _expand(value, worktree or os.path.dirname(path), home)
                if target:
                    protect(target, where)
                continue
            for word in _command_words(value):
                target = _word_path(word, worktree, home)
                if target:
                    protect(target, where)

    # The user's and the system's configuration: a path there naming the workspace (a pager
    # script, an included file in a dotfiles checkout) is run by the host's git everywhere.
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    for h in dict.fromkeys([home, *homes]):
        for p in (
            os.path.join(h, ".gitconfig"),
            os.path.join(xdg if h == home else os.path.join(h, ".config"), "git", "config"),
        ):
            if os.path.isfile(p):
                scan_config(p, None, 0, "(user)")
    if os.path.exists("/etc/gitconfig"):
        scan_config("/etc/gitconfig", None, 0, "(system)")

    for r in roots:
        _inspect_repo(r, guard, protect, scan_config, inside, allow_git_write, 0, cache)
    guard.read_only = list(dict.fromkeys(guard.read_only))
    guard.block = list(dict.fromkeys(b for b in guard.block if b not in guard.read_only))
    return guard


def _inspect_repo(
    top: str, guard: GitGuard, protect, scan_config, inside, allow_git_write, depth, cache=None
) -> None:
    dotgit = os.path.join(top, ".git")
    try:
        st = os.lstat(dotgit)
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        return  # refused by the protected-name check (top) or protected as a submodule entry
    if stat.S_ISDIR(st.st_mode):
        gitdir = dotgit
    else:
        gitdir = read_gitfile(dotgit)
        if gitdir is None:
            return
        gitdir = os.path.realpath(gitdir)
        if inside(gitdir) and gitdir not in guard.audited:
            if allow_git_write and depth == 0:
                guard.audited.append(gitdir)
            else:
                protect(gitdir, f"the git directory {dotgit} points at")
    common = os.path.realpath(_commondir(gitdir))
    if common != os.path.realpath(gitdir) and inside(common):
        if allow_git_write and depth == 0:
            if common not in guard.audited:
                guard.audited.insert(0, common)  # before the per-worktree dir inside it
        else:
            protect(common, f"the common git directory of {dotgit}")
    guard.repos.append((top, gitdir, common))
    scan_config(os.path.join(common, "config"), top, 0, f"(repository {top})")
    wt_config = os.path.join(gitdir, "config.worktree")
    if os.path.exists(wt_config):
        scan_config(wt_config, top, 0, f"(worktree {top})")
    if depth >= MAX_SUBMODULE_DEPTH:
        return
    for rel in submodule_paths(top, gitdir, cache):
        sub = os.path.normpath(os.path.join(top, rel))
        if not within(sub, top) or sub == top:
            continue
        protect(os.path.join(sub, ".git"), f"the .git entry of submodule {rel} of {top}")
        if os.path.lexists(os.path.join(sub, ".git")) and not os.path.islink(os.path.join(sub, ".git")):
            _inspect_repo(sub, guard, protect, scan_config, inside, False, depth + 1, cache)


def submodule_paths(top: str, gitdir: str, cache: dict | None = None) -> list[str]:
    """Paths (relative to ``top``) of the gitlinks in the index and of ``.gitmodules`` entries."""
    out = list(index_gitlinks(gitdir, cache))
    gm = os.path.join(top, ".gitmodules")
    try:
        with open(gm, "rb") as f:
            text = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        text = ""
    # A light read: any ``path = X`` line. More than git would take is fine (each is protected).
    for line in text.splitlines():
        key, eq, value = line.strip().partition("=")
        if eq and key.strip().lower() == "path":
            v = value.strip().strip('"')
            if v:
                out.append(v)
    return list(dict.fromkeys(out))


def index_gitlinks(gitdir: str, cache: dict | None = None) -> list[str]:
    """Paths of the gitlinks (mode 160000: submodules, embedded repositories) in the index.

    Index versions 2 and 3 pad every entry to 8 bytes, so each entry's mode sits at a known
    alignment: a search for the gitlink mode there finds every gitlink (a rare false positive
    only protects one more path). Version 4 (prefix-compressed names) is walked entry by entry.
    A split index keeps entries in ``sharedindex.*``: those are read too. ``cache`` as in
    ``config_entries`` (an unchanged index file is not read again).
    """
    paths: list[str] = []
    names = ["index"]
    try:
        names += [n for n in os.listdir(gitdir) if n.startswith("sharedindex.")]
    except OSError:
        return paths
    for name in names:
        path = os.path.join(gitdir, name)
        key = _stat_key(path) if cache is not None else None
        hit = cache.get("index:" + path) if key is not None else None
        if hit is not None and tuple(hit[0]) == key:
            paths.extend(hit[1])
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        found = _gitlinks_in(data)
        if key is not None:
            cache["index:" + path] = (key, found)
        paths.extend(found)
    return list(dict.fromkeys(paths))


def _gitlinks_in(data: bytes) -> list[str]:
    import struct

    if len(data) < 12 or data[:4] != b"DIRC":
        return []
    version, count = struct.unpack_from(">II", data, 4)
    out: list[str] = []
    if version in (2, 3):
        start = 0
        while True:
            p = data.find(GITLINK_MODE, start)
            if p < 0:
                break
            start = p + 1
            if (p - 24 - 12) % 8:
                continue
            for hashlen in (20, 32):
                name = _v2_name(data, p - 24, hashlen)
                if name is not None:
                    out.append(name)
                    break
        return out
    if version == 4:
        return _walk_v4(data, count)
    return out


def _v2_name(data: bytes, entry: int, hashlen: int) -> str | None:
    flags_at = entry + 40 + hashlen
    if flags_at + 2 > len(data):
        return None
    flags = int.from_bytes(data[flags_at : flags_at + 2], "big")
    name_at = flags_at + 2 + (2 if flags & 0x4000 else 0)
    n = flags & 0xFFF
    end = data.find(b"\0", name_at) if n == 0xFFF else name_at + n  # 0xFFF: longer, NUL-terminated
    if end < 0 or end >= len(data) or data[end] != 0 or b"\0" in data[name_at:end] or end == name_at:
        return None
    return os.fsdecode(data[name_at:end])


def _walk_v4(data: bytes, count: int) -> list[str]:
    out = []
    pos = 12
    prev = b""
    for _ in range(count):
        mode = data[pos + 24 : pos + 28]
        # the hash length is not recorded here: try SHA-1 then SHA-256 layouts
        for hashlen in (20, 32):
            flags_at = pos + 40 + hashlen
            flags = int.from_bytes(data[flags_at : flags_at + 2], "big")
            q = flags_at + 2 + (2 if flags & 0x4000 else 0)
            strip, q2 = _varint(data, q)
            end = data.find(b"\0", q2)
            if end < 0 or strip > len(prev):
                continue
            name = prev[: len(prev) - strip] + data[q2:end]
            if (flags & 0xFFF) in (len(name), 0xFFF):
                break
        else:
            return out  # not a layout we understand: what was found so far
        if mode == GITLINK_MODE:
            out.append(os.fsdecode(name))
        prev = name
        pos = end + 1
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset varint (the one in index v4 and pack offsets)."""
    c = data[pos]
    pos += 1
    val = c & 0x7F
    while c & 0x80:
        val += 1
        c = data[pos]
        pos += 1
        val = (val << 7) + (c & 0x7F)
    return val, pos


def _expand(value: str, base: str, home: str) -> str | None:
    v = value.strip()
    if not v:
        return None
    if v == "~" or v.startswith("~/"):
        v = os.path.join(home, v[2:])
    elif v.startswith("%(prefix)/"):
        return None  # relative to git's install prefix: not the workspace
    return os.path.normpath(os.path.join(base, v))


def _word_path(word: str, worktree: str | None, home: str) -> str | None:
    if word.startswith("~/"):
        return os.path.normpath(os.path.join(home, word[2:]))
    if word.startswith("/"):
        return os.path.normpath(word)
    if worktree is None:
        return None  # relative words in user config name different files in every repository
    if "/" in word or word.startswith("."):
        return os.path.normpath(os.path.join(worktree, word))
    cand = os.path.join(worktree, word)
    return cand if os.path.lexists(cand) else None


# --- the post-run audit of --allow-git-write ---------------------------------------------------


def audit_before(gitdirs) -> dict:
    """What the audit compares against: gitlinks in each index, modules/ and worktrees/ names."""
    snap = {}
    for g in gitdirs:
        snap[g] = (set(index_gitlinks(g)), _names(g, "modules"), _names(g, "worktrees"))
    return snap


def _names(gitdir: str, sub: str) -> set[str]:
    try:
        return set(os.listdir(os.path.join(gitdir, sub)))
    except OSError:
        return set()


def audit_after(snapshot: dict) -> list[str]:
    """After the command: remove symlinks planted in each writable git dir, and report new
    gitlinks and new modules/worktrees entries. Returns the lines to show the user."""
    lines: list[str] = []
    for g, (links, modules, worktrees) in snapshot.items():
        for dirpath, dirnames, filenames in os.walk(g):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    try:
                        target = os.readlink(p)
                        os.unlink(p)
                        lines.append(f"removed symlink {p} -> {target} (git would follow it when writing)")
                    except OSError as e:
                        lines.append(f"symlink {p} could not be removed: {e.strerror}")
        for rel in sorted(set(index_gitlinks(g)) - links):
            lines.append(
                f"new gitlink {rel!r} in the index of {g}: the host's `git status` enters that "
                f"repository and runs what its config names; inspect it, or undo with "
                f"`git rm --cached -- {rel}`"
            )
        for sub, before in (("modules", modules), ("worktrees", worktrees)):
            for name in sorted(_names(g, sub) - before):
                lines.append(f"new entry {os.path.join(g, sub, name)} (created while the sandbox ran)")
    return lines
