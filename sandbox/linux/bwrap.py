"""The bubblewrap argv for a resolved policy: the outer wall of the Linux sandbox.

Order matters (later mounts win):
  1. ``--ro-bind / /``: the host tree, read-only;  ``--dev /dev`` (fresh, private /dev/shm);
     ``--proc /proc`` (fresh) then ``/proc/sys`` and ``/proc/sysrq-trigger`` re-bound read-only
     (bwrap leaves /proc/sys writable for a root launcher: kernel tunables, core_pattern).
  2. a private ``/tmp`` (tmpfs) unless ``share_tmp``.
  3. ``--bind R R`` for every writable root, then read-only carve-outs inside them.
  4. protected names (.git, .codex, .agents) in every writable root: an existing entry is
     bound onto itself read-only (a mount point cannot be renamed or unlinked, so swaps
     fail with EBUSY); an absent one gets an empty read-only placeholder so it cannot be
     created; a symlink is refused (its target could be swapped under it).
     ``allow_git_write`` keeps ``.git`` writable but pinned, with hooks/config/info (and
     every other place git reads code or settings from) read-only.
  5. deny-read masks: an empty mode-000 tmpfs over a directory, an empty mode-000 file
     (from a memfd, never from a host path a sandbox could have swapped) over a file or
     socket; host control sockets likewise; and, when the command may use unix sockets
     (network off or proxied), every other host socket it could see (sandbox/linux/sockets.py).
  3-5 are preceded by the pins of ``immovable_ancestors``: every directory between a writable
     root and a path protected in 3-5 is bound onto itself, so no parent of a protected path
     can be renamed away (taking the protection with it) and rebuilt with planted content.
  6. namespaces user/pid/ipc/uts/cgroup(+net), ``--die-with-parent``, ``--new-session``,
     ``--cap-drop ALL``, ``--disable-userns`` when this bwrap has it.

Root: the launcher's uid stays mapped to itself inside (tools see the same owner on their
files); mapping root to another uid inside would not change what the host kernel sees (the
host uid is still 0), so /etc/shadow and friends are kept unreadable by the deny-read
masks, /proc/sys by the read-only re-bind, and capabilities by ``--cap-drop ALL``.

Pure apart from ``lstat`` calls: nothing here changes the filesystem. Standard library
only, no dataclasses (the ``sandbox run`` hot path imports this).
"""

from __future__ import annotations

import os
import stat

from cordon.sandbox.errors import ConfigError, SandboxError

from cordon.paths import within

# Inside .git, what stays read-only in the audited git-write mode: everything git reads
# code or settings from. objects/, refs/, logs/, index, HEAD and lock files stay writable.
GIT_READ_ONLY = (
    "hooks",
    "config",
    "config.worktree",
    "info",
    "modules",
    "worktrees",
    "commondir",
    "gitdir",
    "remotes",
    "branches",
    "description",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
)
PROJECT_CONFIG = ".cordon.toml"  # sandbox.config reads it; kept here to stay import-light
# bubblewrap refuses more arguments than this (MAX_ARGS in bubblewrap.c), --args included.
MAX_BWRAP_ARGS = 9000
# File masks bound from a descriptor of Cordon's empty file (one descriptor each: bubblewrap
# closes it once bound); numbered above the inner stage's (200-204) and well under the usual
# 1,024-descriptor limit. Masks beyond these use --ro-bind-data.
MASK_FD_BASE = 300
MASK_FDS = 128


def _mask_fd_end() -> int:
    """One past the last mask descriptor this process may hand over: the launcher also keeps a
    copy of each above every target (launch._spawn), so the masks stay under half the
    descriptor limit (a low ``ulimit -n`` gets fewer or none)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    end = MASK_FD_BASE + MASK_FDS
    return end if soft == resource.RLIM_INFINITY else min(end, soft // 2)


# Placeholders are created for these when absent, so they cannot be created inside.
# (rebase-merge/, rebase-apply/ and sequencer/ hold the "exec" lines and the todo list that
# `git rebase --continue` / `git cherry-pick --continue` on the host would carry out.)
GIT_PLACEHOLDER_DIRS = ("hooks", "info", "modules", "worktrees", "rebase-merge", "rebase-apply", "sequencer")


class BwrapPlan:
    """The argv fragment plus what the launcher must know (placeholders it may clean up)."""

    __slots__ = (
        "args",
        "mask_fds",
        "masked",
        "notes",
        "pinned",
        "placeholders",
        "protected",
        "sockets",
        "writable",
    )

    def __init__(self) -> None:
        self.args: list[str] = []
        self.placeholders: list[str] = []  # host paths bwrap will create as mount points
        self.masked: list[str] = []  # deny-read paths actually masked
        self.protected: list[str] = []  # read-only carve-outs inside writable roots
        self.pinned: list[str] = []  # directories bound onto themselves (immovable_ancestors)
        self.writable: list[str] = []
        self.notes: list[str] = []
        self.sockets: list[str] = []  # host unix sockets masked (beyond deny_sockets)
        self.mask_fds: list[int] = []  # descriptors bwrap binds the empty file from (--ro-bind-fd)


# What a folder ``start`` makes before bubblewrap runs looks like to the plan (``made``).
_MADE_DIR = os.stat_result((stat.S_IFDIR | 0o700, 0, 0, 2, 0, 0, 0, 0, 0, 0))


def _lstat(p: str, made=()):
    if p in made:
        return _MADE_DIR
    try:
        return os.lstat(p)
    except OSError:
        return None


def immovable_ancestors(paths, roots, made=()) -> list[str]:
    """The directories to bind onto themselves (``--bind D D``, in the returned order, before
    any carve-out) so that no path in ``paths`` can be moved for the sandbox's lifetime.

    A bind mount on P pins P's own dentry only: when P lies two or more levels below a
    writable root, ``mv parent elsewhere`` carries the mount along and frees the name P for
    planted content (a read-only carve-out with new content, a deny-read file readable at
    its new path, a planted cache or config for the next launch). A mount point cannot be
    renamed or removed (EBUSY), so pinning every ancestor of P strictly inside the writable
    root closes that. Writable roots nested inside another root are pinned too: a pin of
    their parent (a recursive bind from the host tree) would otherwise hide their own bind.
    Shallow first, so a deeper pin is never hidden by a shallower one. Stays writable: a
    pin changes what can be moved, never what can be written. ``made``: folders that do not
    exist yet but will before bubblewrap runs (``build_bwrap_args``).
    """
    roots = [r.rstrip("/") or "/" for r in (os.fspath(x) for x in roots)]
    out: set[str] = {r for r in roots if any(r != o and within(r, o) for o in roots)}
    for p in (os.fspath(x) for x in paths):
        d = os.path.dirname(p.rstrip("/"))
        while d not in ("/", "") and any(d != r and within(d, r) for r in roots):
            if d in out:
                break  # its own ancestors are in already
            out.add(d)
            d = os.path.dirname(d)
    pins = []
    for d in sorted(out, key=lambda x: (x.count("/"), x)):
        st = _lstat(d, made)
        if st is not None and stat.S_ISDIR(st.st_mode):  # canonical paths: a real directory
            pins.append(d)
    return pins


def _creatable_in(directory: str) -> bool:
    """Could this user create a name in ``directory`` (now, or after a chmod it may do)?"""
    try:
        if os.stat(directory).st_uid == os.geteuid():
            return True
    except OSError:
        return True  # unknown: keep the placeholder (bwrap reports what fails)
    return os.access(directory, os.W_OK | os.X_OK)


def build_bwrap_args(
    policy,
    *,
    empty_fd: int,
    options: frozenset[str] | set[str] | list[str] = (),
    net_isolated: bool = True,
    keep_read_only=(),
    empty_dirs: tuple[str, ...] | None = None,
    hide=(),
    git_guard=None,
    tmp_size: int | None = None,
    host_sockets=(),
    made=(),
) -> BwrapPlan:
    """bwrap options (everything before ``--``) for ``policy``.

    ``policy`` is a ``ResolvedPolicy`` or anything with the same attributes.
    ``empty_fd`` is the fd number (inside bwrap) of an empty file used to mask files
    (``--ro-bind-data`` reads it to EOF each time, so one fd serves every mask);
    ``options`` the options this bwrap supports (from probe.bwrap_info);
    ``keep_read_only``: host paths (Cordon's own cache/config) bound read-only when they
    lie inside a writable root, so a sandbox cannot steer later launches.
    ``empty_dirs``: (mode 0555, mode 0000) empty host directories bound read-only as
    placeholders and directory masks: 3 arguments and one bind each instead of a tmpfs
    plus a remount (bwrap accepts at most 9000 arguments; see MAX_BWRAP_ARGS); a third
    entry, an empty mode-0000 file, masks the first MASK_FDS files through descriptors
    (``--ro-bind-fd``, numbers in ``plan.mask_fds``: the launcher opens the file and checks it
    on the descriptor, so no path is looked up between the check and the bind) instead of
    ``--ro-bind-data``, which makes bubblewrap write a file of its own for each mask.
    ``hide``: host paths masked like deny-read paths in every sandbox (Cordon's per-launch
    state: other launches' workspaces and deny lists; what the environment names and root-only
    files under /etc, see assemble.named_secrets).
    ``git_guard``: a ``sandbox.gitguard.GitGuard``, the paths inside writable roots that the
    host's git would run or read configuration from (real git dirs behind ``gitdir:`` files,
    included config files, hooksPath, fsmonitor and driver scripts, submodule ``.git`` entries).
    ``tmp_size``: bytes for each of the private /tmp and /dev/shm (tmpfs ``--size``; bwrap's
    own default would be half of RAM each); None leaves them at that default.
    ``host_sockets``: host unix socket files (sockets.host_sockets) to cover with an empty
    file, so the command's AF_UNIX sockets reach only its own; those the sandbox cannot see
    anyway (private /tmp, fresh /dev, under another mask) are left out.
    ``made``: Cordon's own folders that do not exist yet and that ``start`` makes before
    bubblewrap runs (assemble.own_folders): planned as the empty folders they will be, so the
    plan is the same before and after the first launch made them.
    """
    opts = set(options)
    plan = BwrapPlan()
    a = plan.args
    perms = "--perms" in opts
    mask_fd_end = _mask_fd_end() if "--ro-bind-fd" in opts and empty_dirs and len(empty_dirs) > 2 else 0
    a += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    a += ["--ro-bind", "/proc/sys", "/proc/sys"]
    if os.path.exists("/proc/sysrq-trigger"):
        a += ["--ro-bind", "/dev/null", "/proc/sysrq-trigger"]
    share_tmp = bool(policy.share_tmp)
    if share_tmp:
        # Shared means the host's own /tmp; writable only when the mode writes at all.
        bind = "--ro-bind" if policy.mode == "read-only" else "--bind"
        a += [bind, "/tmp", "/tmp"]
        if os.path.isdir("/dev/shm"):
            a += [bind, "/dev/shm", "/dev/shm"]
    else:
        size = ["--size", str(tmp_size)] if tmp_size else []
        a += [*size, "--tmpfs", "/tmp"]
        if size:
            # --dev's /dev/shm is a folder of /dev's own tmpfs: give it its own, of the same size.
            a += [*size, "--tmpfs", "/dev/shm"]

    roots = [os.fspath(r) for r in policy.writable_roots]
    for r in roots:
        st = _lstat(r)
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise ConfigError(
                f"writable root {r} does not exist or is not a directory", field="writable_roots"
            )
        if r in ("/", "/proc", "/dev", "/sys") or (
            r.startswith(("/proc/", "/sys/", "/dev/")) and r != "/dev/shm"
        ):
            hint = (
                " (the working directory is the workspace by default: in a container, whose working "
                "directory is /, run from your project directory or give --workspace DIR; "
                "--mode read-only writes nowhere)"
                if r == "/" and r == os.fspath(policy.cwd)
                else ""
            )
            raise ConfigError(
                f"{r} cannot be a writable root (it would replace the sandbox's own root, /proc or /dev){hint}; "
                "if you really want no filesystem confinement, say --mode danger-full-access",
                field="writable_roots",
            )
        if not share_tmp and within(r, "/tmp") and r != "/tmp":
            # A root under the private /tmp: bind the host directory into the tmpfs.
            pass
        a += ["--bind", r, r]
        plan.writable.append(r)

    cwd = os.fspath(policy.cwd)
    if not share_tmp and within(cwd, "/tmp") and not any(within(cwd, r) for r in roots):
        a += ["--ro-bind", cwd, cwd]  # e.g. read-only mode in a directory under /tmp: keep it visible

    carve_start = len(a)  # the pins of every carve-out below go here (immovable_ancestors)
    targets: list[str] = []  # every path a carve-out below binds, masks or holds a placeholder on

    def ro_bind(p: str) -> None:
        a.extend(("--ro-bind", p, p))
        plan.protected.append(p)
        targets.append(p)

    def placeholder(p: str) -> None:
        if empty_dirs:
            a.extend(("--ro-bind", empty_dirs[0], p))
        else:
            if perms:
                a.extend(("--perms", "0555"))
            a.extend(("--tmpfs", p, "--remount-ro", p))
        plan.placeholders.append(p)
        plan.protected.append(p)
        targets.append(p)

    def mask_file(p: str) -> None:  # an empty, mode-0000 file over p
        fd = MASK_FD_BASE + len(plan.mask_fds)
        if fd < mask_fd_end:
            plan.mask_fds.append(fd)
            a.extend(("--ro-bind-fd", str(fd), p))
            return
        if perms:
            a.extend(("--perms", "0000"))
        a.extend(("--ro-bind-data", str(empty_fd), p))

    for p in (os.fspath(x) for x in policy.read_only_paths):
        if _lstat(p) is not None and any(within(p, r) for r in roots):
            ro_bind(p)

    for r in roots:
        # An absent name needs a placeholder only where the command could create it: a root
        # this user neither owns (an owner can chmod it writable) nor can write on the host
        # stays unwritable inside (same uid, no capabilities), and bwrap could not make the
        # mount point there anyway.
        creatable = _creatable_in(r)
        for name in policy.protected_names:
            p = os.path.join(r, name)
            st = _lstat(p)
            if st is None:
                if creatable:
                    placeholder(p)
            elif stat.S_ISLNK(st.st_mode):
                raise SandboxError(
                    f"{p} is a symlink (-> {os.readlink(p)}) inside a writable root; a protected "
                    f"name must be a real directory or file, or absent, because a symlink could be "
                    f"swapped for a writable {name} while the sandbox runs. Replace it or remove it."
                )
            elif name == ".git" and policy.allow_git_write and stat.S_ISDIR(st.st_mode):
                _git_write(p, a, plan, ro_bind, placeholder)
            else:
                ro_bind(p)

    if git_guard is not None:
        _git_guard(git_guard, policy, a, plan, ro_bind, placeholder)

    # The project config governs later sandboxes here; an absent one must not be creatable
    # (in a trusted project it could widen the next run). An existing one: keep_read_only.
    if policy.workspace is not None:
        p = os.path.join(os.fspath(policy.workspace), PROJECT_CONFIG)
        st = _lstat(p)
        if st is None:
            if _creatable_in(os.path.dirname(p)):
                placeholder(p)
        elif stat.S_ISLNK(st.st_mode):
            raise SandboxError(f"{p} is a symlink inside the workspace; the project config must be a file")

    for p in keep_read_only:
        p = os.fspath(p)
        if not any(within(p, r) for r in roots):
            continue
        st = _lstat(p, made)
        if st is None:
            parent = os.path.dirname(p)
            if _lstat(parent, made) is not None and _creatable_in(parent) and p not in plan.placeholders:
                placeholder(p)  # absent: it must not be creatable either
        elif stat.S_ISLNK(st.st_mode):
            raise SandboxError(
                f"{p} (Cordon's own state) is a symlink inside a writable root; it could be swapped for "
                "a folder the command writes. Replace it with a real folder or file."
            )
        elif p not in plan.protected:
            ro_bind(p)

    for p in (os.fspath(x) for x in (*policy.deny_read, *policy.deny_sockets, *hide)):
        if not share_tmp and within(p, "/tmp") and not any(within(p, r) for r in roots):
            continue  # hidden by the private /tmp already (only bound roots show through)
        st = _lstat(p, made)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            # Paths are canonical, so this is a dangling link: nothing readable behind it.
            continue
        if stat.S_ISDIR(st.st_mode):
            if empty_dirs:
                a.extend(("--ro-bind", empty_dirs[1], p))
            else:
                if perms:
                    a.extend(("--perms", "0000"))
                a.extend(("--tmpfs", p, "--remount-ro", p))
        else:
            mask_file(p)
        plan.masked.append(p)
        targets.append(p)

    for p in host_sockets:
        p = os.fspath(p)
        if any(within(p, m) for m in plan.masked) or within(p, "/proc") or within(p, "/sys"):
            continue
        if within(p, "/dev") and not (share_tmp and within(p, "/dev/shm")):
            continue  # a fresh /dev (and a private /dev/shm) holds none of the host's
        if not share_tmp and within(p, "/tmp") and not any(within(p, r) for r in roots):
            continue
        st = _lstat(p)
        if st is None or not stat.S_ISSOCK(st.st_mode):
            continue
        mask_file(p)
        plan.sockets.append(p)
        targets.append(p)

    pins = immovable_ancestors(targets, roots, made)
    a[carve_start:carve_start] = [x for d in pins for x in ("--bind", d, d)]
    plan.pinned = pins

    a += ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    a.append("--unshare-cgroup-try" if "--unshare-cgroup-try" in opts else "--unshare-cgroup")
    if net_isolated:
        a.append("--unshare-net")
    if "--disable-userns" in opts:
        a.append("--disable-userns")
    else:
        plan.notes.append("this bwrap lacks --disable-userns: nested user namespaces stay possible")
    a += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--chdir", os.fspath(policy.cwd)]
    if len(a) > MAX_BWRAP_ARGS - 200:  # room for the inner stage, status fd and the command
        raise SandboxError(
            f"this policy needs {len(a)} bubblewrap arguments ({len(roots)} writable roots x "
            f"{len(policy.protected_names)} protected names, {len(plan.masked)} masks); bubblewrap accepts "
            f"at most {MAX_BWRAP_ARGS}. Use fewer, broader writable roots or deny-read paths"
        )
    return plan


def _git_guard(guard, policy, a: list[str], plan: BwrapPlan, ro_bind, placeholder) -> None:
    """What sandbox.gitguard found: audited git dirs first (a writable bind), then the
    read-only binds and creation blocks, which must lie on top of them."""
    for g in guard.audited:
        if policy.allow_git_write:
            _git_write(g, a, plan, ro_bind, placeholder)
        else:
            ro_bind(g)
    for p in guard.read_only:
        if p not in plan.protected and not any(
            within(p, q) and q not in plan.writable for q in plan.protected
        ):
            ro_bind(p)
    for p in guard.block:
        if not any(within(p, q) for q in plan.protected) and _creatable_in(os.path.dirname(p)):
            placeholder(p)
    plan.notes.extend(guard.notes)


def _git_write(git: str, a: list[str], plan: BwrapPlan, ro_bind, placeholder) -> None:
    """Audited git mode: .git writable but pinned; everything that configures git read-only."""
    a.extend(("--bind", git, git))  # a mount point cannot be renamed away and replaced
    # (.git sits directly in a writable root: its read-only children need no further pins)
    plan.writable.append(git)
    for name in GIT_READ_ONLY:
        p = os.path.join(git, name)
        st = _lstat(p)
        if st is None:
            if name in GIT_PLACEHOLDER_DIRS:
                placeholder(p)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise SandboxError(
                f"{p} is a symlink; refusing --allow-git-write on a repository whose "
                f"{name} is a symlink (it could be swapped)"
            )
        ro_bind(p)
