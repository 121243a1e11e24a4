"""Denial events: which wall blocked what, which policy entry caused it, and the smallest grant.

One event type for every wall. Observers report raw facts (the seccomp supervisor: a syscall
and its arguments, or a filesystem call it confirmed will fail; the proxy: its decision log;
the launcher: the variables the environment policy withheld; the limits: which one fired);
``Walls`` turns each fact into a ``Denial`` against the resolved policy, naming the policy
entry (``rule``) and the smallest flag that would allow it (``allow_with``, None where
nothing may). A new wall adds an observer and, if it needs one, a method on ``Walls``.

Owns: the event type, attribution, the JSON Lines form and the stderr summary. Must not
touch: the walls themselves (observing never changes what is allowed). Standard library only
(the ``sandbox run`` hot path imports this).
"""

from __future__ import annotations

import os

from cordon.paths import within

LAYERS = ("mount", "landlock", "seccomp", "proxy", "env", "limit")
SUMMARY_MAX = 10  # distinct denials shown on stderr after a run; the JSON Lines file has all


class Denial:
    """One operation the sandbox blocked.

    layer: the wall (``LAYERS``); operation: read, write, create, delete, exec, connect, a
    syscall name...; target: absolute path, host:port or syscall; rule: the policy entry that
    caused it; allow_with: the smallest flag or config entry that would allow it (None: nothing
    may); errno: the error the command saw (a name, e.g. "EROFS"); pid and process: who tried.
    """

    __slots__ = (
        "allow_with",
        "count",
        "detail",
        "errno",
        "layer",
        "operation",
        "pid",
        "process",
        "rule",
        "target",
    )

    def __init__(
        self,
        layer: str,
        operation: str,
        target: str,
        rule: str,
        allow_with: str | None,
        *,
        errno: str | None = None,
        pid: int | None = None,
        process: str | None = None,
        detail: str | None = None,
    ):
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}")
        self.layer = layer
        self.operation = operation
        self.target = target
        self.rule = rule
        self.allow_with = allow_with
        self.errno = errno
        self.pid = pid
        self.process = process
        self.detail = detail
        self.count = 1

    @property
    def key(self) -> tuple:
        """What makes two events the same denial (repeats only raise ``count``)."""
        return (self.layer, self.operation, self.target, self.rule)

    def to_dict(self) -> dict:
        out = {
            "layer": self.layer,
            "operation": self.operation,
            "target": self.target,
            "rule": self.rule,
            "allow_with": self.allow_with,
        }
        for name in ("errno", "pid", "process", "detail"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Denial:
        return cls(
            d["layer"],
            d["operation"],
            d["target"],
            d["rule"],
            d.get("allow_with"),
            errno=d.get("errno"),
            pid=d.get("pid"),
            process=d.get("process"),
            detail=d.get("detail"),
        )

    def describe(self) -> str:
        """One line for people and models: what was blocked, by what, and how to allow it."""
        grant = f"allow with {self.allow_with}" if self.allow_with else "nothing may allow it"
        times = f" x{self.count}" if self.count > 1 else ""
        return escape(f"blocked {self.operation} {self.target}{times} ({self.layer}: {self.rule}; {grant})")

    def __repr__(self) -> str:
        return f"Denial({self.to_dict()!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Denial) and other.to_dict() == self.to_dict()


def escape(text: str) -> str:
    """Control characters (and backslashes) written as escapes: a path or host chosen by the
    command must not move the cursor or rewrite the terminal when the summary is printed."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or ch in "\u2028\u2029\u202e\u2066\u2067\u2068\u2069":
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


class Recorder:
    """Collects denials of one sandbox: deduplicated, in order, thread-safe; optionally streams
    each new one to a JSON Lines file and to a callback as it happens."""

    def __init__(self, jsonl: str | None = None, on_denial=None, walls: Walls | None = None):
        self.walls = walls  # how raw facts become denials for this sandbox (set by the launcher)
        from cordon.sandbox.fastpath import thread as _thread

        self._lock = _thread.allocate_lock()
        self._by_key: dict[tuple, Denial] = {}
        self.on_denial = on_denial
        self.path = jsonl
        self._file = None
        if jsonl:
            # Opened by the launcher before the sandbox starts: a bad path is a usage error.
            self._file = open(jsonl, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, d: Denial | None) -> None:
        if d is None:
            return
        with self._lock:
            seen = self._by_key.get(d.key)
            if seen is not None:
                seen.count += 1
                return
            self._by_key[d.key] = d
            if self._file is not None:
                import json  # only when writing: json imports re

                self._file.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
                self._file.flush()
        if self.on_denial is not None:
            try:
                self.on_denial(d)
            except Exception:  # a caller's callback must not stop the supervisor
                pass

    @property
    def denials(self) -> list[Denial]:
        with self._lock:
            return list(self._by_key.values())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def probing(d: Denial) -> bool:
    """A refused ``socket()``: the C library probes for sockets it can do without (nscd on
    every user or host lookup, a UDP socket to sort addresses), so on its own it says little."""
    return d.layer == "seccomp" and d.operation in ("socket", "socketpair")


READS_UNWATCHED = (
    "reads of files the sandbox hides are not watched by default; "
    "--denials FILE (or CORDON_DENIALS=all) reports them too"
)


def summary(
    denials, limit: int = SUMMARY_MAX, failed: bool = True, reads_watched: bool = True, person: bool = False
) -> list[str]:
    """Lines for stderr after a run: one per distinct denial, capped, escaped.

    Not shown there (they are in the JSON Lines file and ``result.denials``): variables the
    environment policy withheld (not attempts by the command; listing them after every run
    would be noise), the limit that fired (the launcher prints its own line for it), and
    refused ``socket()`` calls when the command succeeded (``probing``: ``ls -l`` would
    report nscd's socket every time).

    ``reads_watched`` False (the default observation level, see docs/denials.md): a summary
    ends by saying how to see reads of hidden files; so does a failed command without one when
    a ``person`` reads stderr (a terminal). For scripts and models a command's own failure
    stays free of Cordon's messages."""
    shown = [d for d in denials if d.layer not in ("env", "limit") and (failed or not probing(d))]
    if not shown:
        hint = failed and person and not reads_watched
        return [f"sandbox: the command failed; {READS_UNWATCHED}"] if hint else []
    lines = [f"sandbox: {len(shown)} operation(s) denied by the sandbox:"]
    lines += [f"sandbox:   {d.describe()}" for d in shown[:limit]]
    if len(shown) > limit:
        lines.append(f"sandbox:   ... and {len(shown) - limit} more (write them all with --denials FILE)")
    if not reads_watched:
        lines.append(f"sandbox:   ({READS_UNWATCHED})")
    return lines


# --- attribution ------------------------------------------------------------------------------
def _quote(p: str) -> str:
    import shlex

    return shlex.quote(p)


class Walls:
    """The policy as the observers need it: from a raw fact to a ``Denial``.

    ``policy`` is the resolved policy; ``engine`` "bwrap" or "landlock" (the fallback, where
    Landlock is the filesystem wall); ``masked``/``protected`` come from the bubblewrap plan.
    """

    def __init__(self, policy, engine: str = "bwrap", masked=(), protected=(), home: str | None = None):
        self.policy = policy
        self.engine = engine
        self.mode = policy.mode
        self.network = policy.network.mode
        self.writable = [os.fspath(r) for r in policy.writable_roots]
        if (engine == "bwrap" and not policy.share_tmp) or self.mode == "workspace-write":
            self.writable += ["/tmp", "/dev/shm"]
        deny = [os.fspath(p) for p in (*policy.deny_read, *policy.deny_sockets)]
        self.masked = [os.fspath(p) for p in masked] if engine == "bwrap" else deny
        self._mask_set: set[str] | None = None  # built at the first hidden() call
        self._mask_tops: set[str] = set()  # their top-level folders ("/root", "/etc")
        self.protected = [os.fspath(p) for p in protected]
        self._home = home
        self._default_sources: dict[str, str] | None = None

    @property
    def _defaults(self) -> dict[str, str]:
        """Worked out at the first denial that needs it, not at every launch (~90 realpath)."""
        if self._default_sources is None:
            self._default_sources = _default_deny_sources(self._home)
        return self._default_sources

    # -- filesystem ----------------------------------------------------------------------------
    def fs_layer(self) -> str:
        return "mount" if self.engine == "bwrap" else "landlock"

    def hidden(self, path: str) -> str | None:
        """The deny-read entry hiding ``path`` (the path itself or the nearest one above it),
        or None. Walks up ``path`` against a set: the supervisor asks this for every observed
        filesystem call, and a root launch has dozens of masks."""
        masks = self._mask_set
        if masks is None:
            masks = self._mask_set = {m.rstrip("/") or "/" for m in self.masked}
            self._mask_tops = {"/" + m.split("/")[1] for m in masks if m != "/"}
        if "/" not in masks and path[: (path.find("/", 1) + 1 or len(path) + 1) - 1] not in self._mask_tops:
            return None  # nothing is masked under this top-level folder (/usr, /proc...)
        p = path
        while True:
            if p in masks:
                return p
            if p == "/" or not p:
                return None
            p = p[: p.rfind("/")] or "/"

    def private_tmp(self, path: str) -> bool:
        """Is ``path`` under the sandbox's private /tmp (where host files are not visible)?"""
        if self.engine != "bwrap" or self.policy.share_tmp or not within(path, "/tmp"):
            return False
        return not any(within(path, r) for r in self.writable if r not in ("/tmp", "/dev/shm"))

    def tmp_hidden(self, operation: str, path: str, **who) -> Denial:
        """A host path the private /tmp hides."""
        rule = "the sandbox has a private /tmp (the host's /tmp is not visible)"
        allow = "--share-tmp" if self.mode != "read-only" or operation in ("read", "exec") else None
        return Denial("mount", operation, path, rule, allow, **who)

    def read(self, operation: str, path: str, **who) -> Denial | None:
        """A read or exec of ``path``: a denial when a deny-read entry hides it."""
        m = self.hidden(path)
        if m is None:
            return None
        rule, allow = self._deny_rule(m)
        return Denial(self.fs_layer(), operation, path, rule, allow, **who)

    def _deny_rule(self, m: str) -> tuple[str, str | None]:
        if m in {os.path.normpath(s) for s in self.policy.deny_sockets}:
            return f"host control socket {m} is hidden (deny_sockets)", None
        if m in self._defaults:
            entry = self._defaults[m]
            return f"default deny-read {entry}", "--no-default-deny-read"
        return f"--deny-read {m}", f"remove --deny-read {m}"

    def write(self, operation: str, path: str, **who) -> Denial | None:
        """A write (create, delete, rename, truncate...) of ``path``: a denial unless it lies in
        a writable root and outside every read-only carve-out."""
        layer = self.fs_layer()
        if any(within(path, k) for k in ("/proc", "/sys")) or (
            within(path, "/dev") and not within(path, "/dev/shm")
        ):
            return Denial(
                layer, operation, path, "kernel interfaces are read-only in the sandbox", None, **who
            )
        carve = max((p for p in self.protected if within(path, p)), key=len, default=None)
        if carve is not None and any(within(path, r) for r in self.writable):
            rule, allow = self._carve_rule(carve)
            return Denial("mount", operation, path, rule, allow, **who)
        cwd = os.fspath(self.policy.cwd)
        read_only_cwd = self.mode == "read-only" and within(path, cwd)  # even under the private /tmp
        if not read_only_cwd and any(within(path, r) for r in self.writable):
            return None
        parent = os.path.dirname(path.rstrip("/")) or "/"
        if self.mode == "read-only":
            rule = "read-only mode: nothing is writable"
            allow = "--mode workspace-write" if within(parent, cwd) else None
            if allow is None:
                allow = f"--mode workspace-write --writable-root {_quote(parent)}"
        else:
            rule = "outside the writable roots (" + ", ".join(self.writable[:3]) + ")"
            allow = f"--writable-root {_quote(parent)}"
        return Denial(layer, operation, path, rule, allow, **who)

    def _carve_rule(self, carve: str) -> tuple[str, str | None]:
        name = os.path.basename(carve)
        ro = {os.fspath(p) for p in self.policy.read_only_paths}
        if carve in ro:
            return f"--read-only {carve}", f"remove --read-only {carve}"
        parts = carve.split("/")
        if ".git" in parts[:-1]:
            return f"audited git mode keeps {carve} read-only (hooks and config run code)", None
        if name == ".git":
            return "protected name .git (read-only in every writable root)", "--allow-git-write"
        if name in self.policy.protected_names:
            return f"protected name {name} (read-only in every writable root)", None
        if name == ".cordon.toml":
            return "the project config is read-only inside the sandbox", None
        return f"Cordon's own state or code ({carve}) is read-only inside the sandbox", None

    # -- seccomp --------------------------------------------------------------------------------
    def syscall(self, name: str, args=(), **who) -> Denial:
        """A system call the seccomp filter refused."""
        from cordon.sandbox.linux import seccomp

        target = name
        allow = None
        why = next((w for w, names in seccomp.DENIED_SYSCALLS.items() if name in names), None)
        if name in ("socket", "socketpair") and args:
            fam = {v: k for k, v in seccomp.AF.items()}.get(
                args[0] & 0xFFFFFFFF, f"family {args[0] & 0xFFFFFFFF}"
            )
            target = f"{name}({fam})"
            if name == "socket" and fam == "AF_UNIX":
                # Under bubblewrap they are allowed (host sockets masked); refused only without it.
                why = f"unix sockets are refused in network mode {self.network} without bubblewrap (nothing hides the host's)"
                allow = "--network on" if self.network != "on" else None
            elif name == "socket" and fam in ("AF_INET", "AF_INET6") and self.network == "off":
                why = "network mode off without bubblewrap (no loopback namespace of its own)"
                allow = "--network proxy --allow-domain HOST"
            else:
                why = f"{fam} sockets are refused (raw, packet, netlink and vsock reach the host's network stack)"
        elif name in ("clone", "unshare"):
            flags = [k for k, v in seccomp.CLONE_NS_FLAGS.items() if args and args[0] & v]
            target = f"{name}({'|'.join(flags) or 'namespace flags'})"
            why = "creating namespaces (a nested user namespace hands back every capability)"
        elif name == "ioctl" and len(args) > 1:
            target = f"ioctl({ {seccomp.TIOCSTI: 'TIOCSTI', seccomp.TIOCLINUX: 'TIOCLINUX'}.get(args[1] & 0xFFFFFFFF, hex(args[1])) })"
            why = "injecting input into the terminal"
        elif name == "personality" and args:
            target = f"personality({args[0] & 0xFFFFFFFF:#x})"
            why = "personality flags that weaken the process (e.g. no address randomization)"
        rule = why or "refused system call"
        return Denial("seccomp", name, target, rule, allow, errno="EPERM", **who)

    # -- proxy ----------------------------------------------------------------------------------
    def proxy(self, ev: dict) -> Denial | None:
        """A line of the proxy's decision log (a deny verdict) -> a denial."""
        if ev.get("verdict") != "deny" or ev.get("reason") in ("resolve-failed", "upstream-failed"):
            return None  # an allowed destination that DNS or the upstream failed: not the sandbox
        host = str(ev.get("host") or "?")
        port = ev.get("port") or 0
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if not ev.get("host"):  # the proxy could not know it, and says why
            target = f"(no target: {ev.get('target_unknown') or 'not named'})"
        reason = str(ev.get("reason") or "denied")
        detail = str(ev.get("detail") or "")
        # The log's own "rule" names the proxy part that decided (default-deny, sni-check...) or
        # the matching pattern; the reason and detail say the same in the policy's terms.
        allow: str | None = None
        if reason == "not-allowed":
            rule = (
                "not in the allowed domains"
                if not self.policy.network.allow_domains
                else ("not in the allowed domains (" + ", ".join(self.policy.network.allow_domains[:3]) + ")")
            )
            allow = f"--allow-domain {host}" if host != "?" else None
        elif reason == "deny-listed" and ev.get("origin"):
            # A .rules network_rule (forbidden, or prompt: nobody to ask inside a sandbox).
            rule = f"network_rule {detail} at {ev['origin']}"
            allow = f"remove the network_rule at {ev['origin']}"
        elif reason == "deny-listed":
            pattern = detail or str(ev.get("rule") or "")
            rule = f"--deny-domain {pattern}" if pattern else "deny-listed"
            allow = f"remove --deny-domain {pattern}" if pattern else None
        elif reason == "private-address":
            rule = (
                f"{host} resolves to a {detail or 'private'} address (refused unless that address is allowed)"
            )
            allow = None
        elif reason == "sni-mismatch":
            rule = f"TLS name does not match the allowed host ({detail})"
        else:
            rule = reason + (f" ({detail})" if detail else "")
        return Denial("proxy", str(ev.get("proto") or "connect"), target, rule, allow, detail=detail or None)

    # -- limits ---------------------------------------------------------------------------------
    def limit(self, hit) -> Denial:
        """The resource limit that ended or stopped the command (sandbox.linux.limits.verdict)."""
        return Denial(
            "limit",
            hit.key,
            f"{hit.key} {hit.shown}",
            f"--limit {hit.key}={hit.shown} ({hit.mechanism})",
            f"--limit {hit.key}=VALUE (above {hit.shown})",
            detail=hit.message,
        )

    # -- environment ------------------------------------------------------------------------------
    def env(self, environ, env) -> list[Denial]:
        """Variables of ``environ`` the command does not get (names only, never values)."""
        from cordon.policy.envfilter import DEFAULT_EXCLUDES, matches

        pol = self.policy.env
        out = []
        for name in environ:
            if name in env:
                continue
            from cordon.sandbox.hardening import is_dynamic_loader_variable

            inherit = pol.inherit
            if is_dynamic_loader_variable(name):
                rule = "dynamic-loader variable (it would run code before the walls exist)"
            elif inherit != "all":
                rule = f"--env-inherit {inherit}"
            elif not pol.ignore_default_excludes and matches(name, DEFAULT_EXCLUDES):
                rule = "default env exclude " + "/".join(p for p in DEFAULT_EXCLUDES if matches(name, [p]))
            elif matches(name, pol.exclude):
                rule = "--env-exclude " + next(p for p in pol.exclude if matches(name, [p]))
            elif pol.include_only:
                rule = "--env-include-only (" + ", ".join(pol.include_only[:3]) + ")"
            else:
                rule = "environment policy"
            out.append(Denial("env", "inherit", name, rule, f"--env-set {name}=VALUE"))
        return out


def _default_deny_sources(home: str | None) -> dict[str, str]:
    """Canonical path -> the default deny-read entry it comes from (``~/.ssh``...)."""
    from cordon.sandbox.resolve import DEFAULT_DENY_READ, canonical, homes

    out: dict[str, str] = {}
    for entry in DEFAULT_DENY_READ:
        if entry.startswith("~/"):
            for h in homes(home):
                out.setdefault(canonical(os.path.join(h, entry[2:])), entry)
        else:
            out.setdefault(canonical(entry), entry)
    return out


def write_jsonl(path: str, denials) -> None:
    import json

    with open(path, "a", encoding="utf-8") as f:
        for d in denials:
            f.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")


def read_jsonl(path: str) -> list[Denial]:
    import json

    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(Denial.from_dict(json.loads(line)))
    return out
