"""One ``SandboxPolicy`` from an integration's keyword arguments, shared by every adapter.

The keywords mirror ``sandbox run``'s flags (writable roots, read-only carve-outs, the network
allow-list, rules files for ``network_rule`` entries, resource limits...), so an adapter's
constructor reads like the command line, and the translation (including the rules) is the CLI's own: one meaning.
A full ``SandboxPolicy`` may be given instead for everything the flags do not cover.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cordon.sandbox import SandboxPolicy

PathLike = str | os.PathLike[str]


def build_policy(
    policy: SandboxPolicy | None = None,
    *,
    mode: str | None = None,
    writable_roots: Sequence[PathLike] = (),
    read_only_paths: Sequence[PathLike] = (),
    deny_read: Sequence[PathLike] = (),
    network: str | None = None,
    allow_domains: Sequence[str] = (),
    deny_domains: Sequence[str] = (),
    rules: Sequence[PathLike] = (),
    allow_git_write: bool = False,
    fallback: str | None = None,
    limits: Mapping[str, int | float | str] | None = None,
) -> SandboxPolicy:
    """``policy`` as given, or one built from the flag-like keywords (not both)."""
    flags = dict(
        mode=mode,
        writable_roots=[os.fspath(p) for p in writable_roots],
        read_only=[os.fspath(p) for p in read_only_paths],
        deny_read=[os.fspath(p) for p in deny_read],
        network=network,
        allow_domains=list(allow_domains),
        deny_domains=list(deny_domains),
        rules=[os.fspath(r) for r in rules],
        allow_git_write=allow_git_write,
        fallback=fallback,
        limits=dict(limits or {}),
    )
    given = {k: v for k, v in flags.items() if v not in (None, [], {}, False)}
    if policy is not None:
        if given:
            from cordon.sandbox import ConfigError

            raise ConfigError(
                f"give either a SandboxPolicy or policy keywords, not both (got {', '.join(sorted(given))})",
                field="policy",
            )
        return policy
    from cordon.sandbox.config import to_policy

    return to_policy(given)
