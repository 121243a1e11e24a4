"""The rule sets Cordon ships (``rules/*.rules``), found by name or by path.

In a wheel they live in the data package ``policy.shipped_rules``; in a checkout, in
the repository's ``rules/`` folder. Each file's first line is ``# NAME: SUMMARY``, which
``execpolicy rules list`` shows. Cheap to import: no engine, no pydantic.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))


def shipped_rules_dir() -> Path:
    # On the `execpolicy check` / `sandbox run` hot path: plain stat calls first
    # (importlib.resources alone costs ~20 ms to import).
    for d in (os.path.join(_HERE, "shipped_rules"), os.path.join(os.path.dirname(_HERE), "rules")):
        if os.path.isdir(d):
            return Path(d)
    try:
        from importlib.resources import files

        return Path(str(files("cordon.policy.shipped_rules")))
    except (ModuleNotFoundError, TypeError):
        return Path(_HERE).parent / "rules"


def list_shipped() -> dict[str, Path]:
    """Shipped rule-set names (file stem) -> path."""
    d = shipped_rules_dir()
    return {p.stem: p for p in sorted(d.glob("*.rules"))} if d.is_dir() else {}


def resolve_rules_path(arg: str) -> Path:
    """``--rules`` takes a path, or the name of a shipped set (``default``, ``python``...).

    An existing path always wins, so a local file named like a shipped set is never shadowed.
    """
    p = Path(arg)
    if "/" in arg or arg.endswith(".rules") or p.exists():
        return p
    cand = shipped_rules_dir() / f"{arg}.rules"
    return cand if cand.is_file() else p


class ShippedSet:
    """One shipped rules file, as ``execpolicy rules list`` reports it."""

    __slots__ = ("kind", "name", "path", "sha256", "summary")

    def __init__(self, name: str, path: Path, summary: str, kind: str, sha256: str):
        self.name = name
        self.path = path
        self.summary = summary
        self.kind = kind  # "commands" (prefix rules) or "network" (network_rule only)
        self.sha256 = sha256

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "summary": self.summary,
            "kind": self.kind,
            "sha256": self.sha256,
        }


def describe_shipped() -> list[ShippedSet]:
    """Every shipped set with the summary from its header line, in name order."""
    import hashlib

    out = []
    for name, path in list_shipped().items():
        data = path.read_bytes()
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("#").strip()
        label, sep, summary = first.partition(":")
        summary = summary.strip() if sep and label.strip() == name else first
        kind = "network" if name == "registries" or name.startswith("net-") else "commands"
        out.append(ShippedSet(name, path, summary, kind, hashlib.sha256(data).hexdigest()))
    return out


def unknown_rules_hint(arg: str) -> str:
    """What to tell a user whose ``--rules`` value is neither a file nor a shipped name."""
    names = ", ".join(list_shipped()) or "(none found)"
    return f"no rules file {arg!r} and no shipped set of that name; shipped sets: {names} (see `execpolicy rules list`)"


def rules_next_step(exc: BaseException) -> str | None:
    """The next step after ``--rules`` failed to load, for every command that takes it.

    None for an unknown name: the error's message already lists the shipped sets.
    """
    if getattr(exc, "unknown_name", False):
        return None
    src = getattr(exc, "source", None) or getattr(exc, "file", None) or getattr(exc, "filename", None)
    if getattr(exc, "stage", None) == "read" or isinstance(exc, OSError):
        return (
            f"--rules takes a readable .rules file or a shipped set name (`execpolicy rules list`); "
            f"{src!r} cannot be read"
        )
    import shlex

    return (
        f"`execpolicy lint {shlex.quote(str(src)) if src else 'FILE'}` lists every problem with file:line:col"
    )
