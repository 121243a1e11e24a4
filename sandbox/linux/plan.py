"""``build_plan`` for Linux (contract D): the exact launch as data, nothing run.

The plan holds the bubblewrap argv, the inner stage's Landlock and seccomp rules (from
``InnerStage.describe()``), the command's environment and the notes ``--explain``
prints. Importable on any platform; on a host without bubblewrap the plan still shows
what would run, with ``bwrap.path`` marked as not found.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pydantic import BaseModel, Field


class BwrapPart(BaseModel):
    path: str | None = Field(description="bubblewrap found outside the workspace, or None")
    version: str | None = None
    argv: list[str] = Field(description="full argv; {STATUS_FD} is chosen at launch")
    fds: dict[int, str] = Field(default_factory=dict, description="fd -> what the launcher puts there")
    placeholders: list[str] = Field(default_factory=list)
    masked: list[str] = Field(default_factory=list)
    read_only: list[str] = Field(default_factory=list)
    pinned: list[str] = Field(
        default_factory=list, description="folders bound onto themselves: no protected path can be moved"
    )
    writable: list[str] = Field(default_factory=list)


class LinuxPlan(BaseModel):
    platform: str = "linux"
    engine: str = Field(description="bwrap | landlock | none")
    command: list[str]
    bwrap: BwrapPart | None = None
    inner: dict[str, Any] | None = Field(default=None, description="Landlock and seccomp rules")
    network: dict[str, Any]
    env: dict[str, str]
    limits: list[dict[str, Any]] = Field(
        default_factory=list, description="each resource limit: value, mechanism, scope, enforced"
    )
    notes: list[str] = Field(default_factory=list)


def build_plan(policy, argv: list[str], env: dict[str, str]) -> LinuxPlan:
    """The launch ``sandbox run`` would perform for ``argv`` under ``policy`` (resolved)."""
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.linux import bwrap as _bwrap
    from cordon.sandbox.linux import probe
    from cordon.sandbox.linux.assemble import (
        empty_dirs,
        git_guard,
        hidden_state,
        host_sockets_to_mask,
        launcher_state,
        locate_bwrap,
        named_secrets,
        own_install,
        sandbox_env,
    )

    mode = str(getattr(policy.mode, "value", policy.mode))
    net = str(getattr(policy.network.mode, "value", policy.network.mode))
    network = {
        "mode": net,
        "allow_domains": list(policy.network.allow_domains),
        "deny_domains": list(policy.network.deny_domains),
    }
    if mode == "danger-full-access":
        from cordon.sandbox.resolve import apply_env

        return LinuxPlan(
            engine="none",
            command=list(argv),
            network={"mode": "host"},
            env=apply_env(policy.env, env),
            notes=["UNCONFINED: danger-full-access"],
        )
    notes: list[str] = []
    on_linux = sys.platform.startswith("linux")
    path, why_not = locate_bwrap(policy, env) if on_linux else (None, "not Linux")
    if path:
        info = probe.bwrap_info(path, roots=[os.fspath(r) for r in policy.writable_roots])
        options, version = info.options, info.version
    else:
        options, version = list(probe.WANTED_OPTIONS), None
        notes.append(f"{why_not}: `sandbox run` would refuse (exit 125) unless --fallback=landlock")
    engine = "landlock" if (not path and policy.fallback == "landlock") else "bwrap"
    lplan, limits = _limits(policy, engine, options, net == "proxy", on_linux, notes)
    from cordon.sandbox.linux import inner as inner_mod

    prelude = ["<proxy forwarder>"] if net == "proxy" else None
    inner = None
    inner_argv, inner_fds, inner_bwrap = list(argv), {}, []
    try:
        stage = inner_mod.build_inner(
            policy, list(argv), prelude=prelude, under_bwrap=engine == "bwrap", rlimits=lplan.rlimits
        )
        inner = stage.describe()
        inner_argv, inner_fds, inner_bwrap = list(stage.argv), dict(stage.fds), list(stage.bwrap_args)
    except SandboxError as e:
        notes.append(f"inner stage: {e}")
    cmd_env = sandbox_env(policy, env, engine)
    if engine == "landlock":
        return LinuxPlan(
            engine="landlock",
            command=list(argv),
            inner=inner,
            network=network,
            env=cmd_env,
            limits=limits,
            notes=[*notes, "no namespaces: deny-read masks and placeholders not in force"],
        )
    empty_fd = 3
    while empty_fd in inner_fds:
        empty_fd += 1
    try:
        bplan = _bwrap.build_bwrap_args(
            policy,
            empty_fd=empty_fd,
            options=options,
            net_isolated=net != "on",
            keep_read_only=(
                launcher_state(policy.cwd, policy.writable_roots) + own_install(policy.writable_roots)
            )
            if on_linux
            else (),
            empty_dirs=empty_dirs() if on_linux else None,
            hide=hidden_state() + named_secrets(policy, env) if on_linux else (),
            git_guard=git_guard(policy, env) if on_linux else None,
            tmp_size=lplan.tmp_size,
            host_sockets=host_sockets_to_mask(policy) if on_linux else (),
        )
    except SandboxError as e:
        raise SandboxError(f"the sandbox could not be planned: {e}") from None
    notes.extend(bplan.notes)
    bridge = ["<proxy bridge bwrap args>"] if net == "proxy" else []
    full = ["bwrap", *bplan.args, *bridge, *inner_bwrap, "--json-status-fd", "{STATUS_FD}", "--", *inner_argv]
    fds = {
        k: f"the native inner stage, opened read-only from {v[1]}"
        if isinstance(v, tuple)
        else f"inner stage data ({len(v)} bytes)"
        for k, v in inner_fds.items()
    }
    fds[empty_fd] = "empty file (masks deny-read files)"
    return LinuxPlan(
        engine="bwrap",
        command=list(argv),
        bwrap=BwrapPart(
            path=path,
            version=version,
            argv=full,
            fds=fds,
            placeholders=bplan.placeholders,
            masked=[*bplan.masked, *bplan.sockets],
            read_only=bplan.protected,
            pinned=bplan.pinned,
            writable=bplan.writable,
        ),
        inner=inner,
        network=network,
        env=cmd_env,
        limits=limits,
        notes=notes,
    )


def _limits(policy, engine: str, options, proxied: bool, on_linux: bool, notes: list[str]):
    """(the limit plan, its entries as data); a limit `run` would refuse becomes a note."""
    from cordon.sandbox.linux import limits as _lim

    lplan = _lim.plan(
        getattr(policy, "limits", None),
        h=None if on_linux else _lim.Hierarchies(v1={}, v2=None),
        bwrap_size="--size" in options,
        under_bwrap=engine == "bwrap",
        private_tmp=engine == "bwrap" and not policy.share_tmp,
        prelude=proxied,
    )
    if lplan.unenforced and "limits" not in policy.allow_unenforced:
        notes.append(
            f"`sandbox run` would refuse (exit 125): cannot enforce {', '.join(lplan.unenforced)} here "
            "(--allow-unenforced limits runs without)"
        )
    return lplan, [_lim.as_data(e) for e in lplan.entries]
