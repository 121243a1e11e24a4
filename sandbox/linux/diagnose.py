"""Why bubblewrap cannot run on this host, and the exact change that fixes it.

Three causes account for nearly every "sandbox fails here" report about bubblewrap-based
sandboxes, and each has its own fix:

- an **unprivileged container** (Docker, Podman, Kubernetes, LXC): the runtime's seccomp
  profile refuses ``unshare(CLONE_NEWUSER)`` (EPERM), its AppArmor profile refuses mounts, or
  its masked ``/proc`` paths make a fresh ``/proc`` mount fail;
- **Ubuntu 24.04+ AppArmor** (``kernel.apparmor_restrict_unprivileged_userns=1``): a program
  without an AppArmor profile that grants ``userns`` gets a user namespace without
  capabilities, so bubblewrap's mounts fail;
- **user namespaces disabled** by a sysctl (or an enclosing namespace's limit of 0).

``facts()`` gathers what is needed from the kernel and the filesystem (markers the container
runtimes create, ``/proc/self/uid_map``, sysctls); ``fix(...)`` is pure, so every branch is
testable without the host it describes. Standard library only. Must not touch: the launch.
"""

from __future__ import annotations

import os

# What --fallback=landlock (Landlock + seccomp, no namespaces) cannot enforce.
FALLBACK_CANNOT_ENFORCE = (
    "deny-read masks inside writable roots",
    "read-only placeholders for absent .git/.codex/.agents",
    "a private /tmp and /dev/shm",
    "PID, IPC and UTS isolation",
    "a network namespace: with the network off, loopback servers and unix sockets are denied; "
    "--network proxy is unavailable",
)


def fallback_offer() -> str:
    return "--fallback=landlock runs it with Landlock + seccomp only, which cannot enforce: " + "; ".join(
        FALLBACK_CANNOT_ENFORCE
    )


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _int(path: str) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def container_runtime() -> str | None:
    """docker | podman | kubernetes | lxc | "a container" | None, from the marks runtimes leave."""
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.path.isdir("/var/run/secrets/kubernetes.io"):
        return "kubernetes"
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/dev/lxd") or os.path.isdir("/dev/.lxc"):
        return "lxc"
    cgroup = _read("/proc/1/cgroup") or ""
    for word, name in (
        ("kubepods", "kubernetes"),
        ("libpod", "podman"),
        ("docker", "docker"),
        ("lxc", "lxc"),
    ):
        if word in cgroup:
            return name
    env1 = _read("/proc/1/environ") or ""  # root only; systemd-nspawn and LXC set container=
    for item in env1.split("\0"):
        if item.startswith("container="):
            return item.split("=", 1)[1] or "a container"
    return None


def in_user_namespace() -> bool:
    """True when this process's uids are a mapped range (a rootless or user-namespaced container,
    or an enclosing sandbox), not the initial namespace's full identity map."""
    text = _read("/proc/self/uid_map")
    if text is None:
        return False
    return text.split() != ["0", "0", "4294967295"]


def facts(bwrap_path: str | None = None) -> dict:
    return {
        "container": container_runtime(),
        "user_namespace": in_user_namespace(),
        "apparmor_restrict": _int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        "apparmor_enabled": (_read("/sys/module/apparmor/parameters/enabled") or "").strip() == "Y",
        "bwrap": bwrap_path,
    }


def apparmor_profile(bwrap_path: str) -> str:
    """The AppArmor profile that lets this bubblewrap create user namespaces (Ubuntu 24.04+)."""
    return (
        "abi <abi/4.0>,\n"
        "include <tunables/global>\n"
        f"profile cordon-bwrap {bwrap_path} flags=(unconfined) {{\n"
        "  userns,\n"
        "  include if exists <local/cordon-bwrap>\n"
        "}\n"
    )


CONTAINER_FIX = {
    "docker": "start the container with: docker run --security-opt seccomp=unconfined "
    "--security-opt apparmor=unconfined --security-opt systempaths=unconfined ... "
    "(or --privileged)",
    "podman": "start the container with: podman run --security-opt seccomp=unconfined "
    "--security-opt label=disable --security-opt unmask=ALL ... (or --privileged)",
    "kubernetes": "give the pod's container securityContext: seccompProfile: {type: Unconfined}, "
    "appArmorProfile: {type: Unconfined}, procMount: Unmasked (with hostUsers: false)",
    "lxc": "allow nesting: lxc config set CONTAINER security.nesting=true (incus: incus config set "
    "CONTAINER security.nesting=true), then restart it",
}


def fix(reason: str | None, f: dict) -> str:
    """The exact change for a host where bubblewrap cannot build its sandbox.

    ``reason`` is ``probe.userns_status().reason`` (None when a user namespace could be made
    but bubblewrap still failed); ``f`` is ``facts()``.
    """
    reason = reason or ""
    bwrap = f.get("bwrap") or "/usr/bin/bwrap"
    if "max_user_namespaces" in reason and not f.get("user_namespace"):
        return "enable user namespaces (as root): sysctl -w user.max_user_namespaces=15000"
    if "unprivileged_userns_clone" in reason:
        return "enable user namespaces (as root): sysctl -w kernel.unprivileged_userns_clone=1"
    if (f.get("apparmor_restrict") == 1 or "apparmor" in reason.lower()) and not f.get("container"):
        return (
            "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04+). Allow this bubblewrap "
            f"(as root): write /etc/apparmor.d/cordon-bwrap with\n{apparmor_profile(bwrap)}"
            "then run: apparmor_parser -r /etc/apparmor.d/cordon-bwrap "
            "(or, for every program: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"
        )
    runtime = f.get("container")
    if runtime or f.get("user_namespace"):
        how = CONTAINER_FIX.get(
            runtime or "",
            "start the container (or the enclosing sandbox) with user namespaces allowed: no "
            "seccomp filter that denies unshare(CLONE_NEWUSER), nested user namespaces enabled",
        )
        where = (
            f"a {runtime} container" if runtime in CONTAINER_FIX else "an unprivileged container or sandbox"
        )
        return f"this runs inside {where}, which does not allow user namespaces; {how}; or run it outside"
    if "ENOSPC" in reason:
        return "raise the limit (as root): sysctl -w user.max_user_namespaces=15000"
    if "EPERM" in reason:
        return (
            "a seccomp filter or security module forbids unshare(CLONE_NEWUSER) for this process; "
            "run it where user namespaces are allowed (a container started with --privileged, or a VM)"
        )
    return "run `bwrap --ro-bind / / true` to see bubblewrap's own error"
