"""Representative resolved policies with fixed macOS paths (independent of this host)."""

from __future__ import annotations

from cordon.sandbox.model import (
    DEFAULT_DENY_READ,
    DEFAULT_DENY_SOCKETS,
    PROTECTED_NAMES,
    NetworkMode,
    NetworkPolicy,
    SandboxMode,
)
from cordon.sandbox.resolve import ResolvedPolicy, env_rules, network_rules

HOME = "/Users/dev"
WORKSPACE = "/Users/dev/proj"
TRICKY = '/Users/dev/we"ird\\dir (1)/ünï.c+d[x]'


def _plain(model):
    """A pydantic NetworkPolicy / EnvironmentPolicy as the plain fields resolve takes."""
    return None if model is None else model.model_dump(mode="json")


def resolved(**kw) -> ResolvedPolicy:
    """A ResolvedPolicy with these fixed (macOS or Windows) paths, not resolved on this host."""
    home = kw.pop("home", HOME)
    ws = str(kw.pop("workspace", WORKSPACE))
    mode = str(kw.pop("mode", SandboxMode.WORKSPACE_WRITE))
    extra = [str(p) for p in kw.pop("extra_roots", [])]
    deny = [home + p[1:] if p.startswith("~") else str(p) for p in kw.pop("deny_read", DEFAULT_DENY_READ)]
    fields = dict(
        mode=mode,
        cwd=ws,
        workspace=ws if mode == "workspace-write" else None,
        writable_roots=(ws, *extra) if mode == "workspace-write" else (),
        read_only_paths=tuple(str(p) for p in kw.pop("read_only_paths", [])),
        deny_read=tuple(deny),
        deny_sockets=tuple(str(p) for p in kw.pop("deny_sockets", DEFAULT_DENY_SOCKETS)),
        protected_names=tuple(kw.pop("protected_names", PROTECTED_NAMES)),
        allow_git_write=kw.pop("allow_git_write", False),
        share_tmp=kw.pop("share_tmp", False),
        network=network_rules(_plain(kw.pop("network", None))),
        env=env_rules(_plain(kw.pop("env", None))),
        fallback="none",
    )
    assert not kw, kw
    return ResolvedPolicy(**fields)


# name -> (policy, build_plan keyword arguments)
CASES = {
    "default": (lambda: resolved(), {}),
    "read_only": (lambda: resolved(mode=SandboxMode.READ_ONLY), {}),
    "proxy": (lambda: resolved(network=NetworkPolicy(mode=NetworkMode.PROXY)), {"proxy_port": 3128}),
    "network_on": (lambda: resolved(network=NetworkPolicy(mode=NetworkMode.ON)), {}),
    "extra_roots": (
        lambda: resolved(
            extra_roots=["/tmp/build", "/Volumes/cache"],
            read_only_paths=[WORKSPACE + "/vendor", "/Volumes/cache/pinned"],
            share_tmp=True,
        ),
        {},
    ),
    "git_write": (lambda: resolved(allow_git_write=True), {}),
    "tricky_paths": (lambda: resolved(workspace=TRICKY, deny_read=[TRICKY + "/secret\nline"]), {}),
    "danger": (
        lambda: resolved(mode=SandboxMode.DANGER_FULL_ACCESS, network=NetworkPolicy(mode=NetworkMode.ON)),
        {},
    ),
}
