"""The rule sets Cordon ships (``rules/*.rules``), found by name or by path.

In a wheel they live in the data package ``policy.shipped_rules``; in a checkout, in
the repository's ``rules/`` folder.
"""

from __future__ import annotations

from pathlib import Path


def shipped_rules_dir() -> Path:
    try:
        from importlib.resources import files

        d = Path(str(files("policy.shipped_rules")))
        if d.is_dir():
            return d
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "rules"


def list_shipped() -> dict[str, Path]:
    """Shipped rule-set names (file stem) -> path."""
    d = shipped_rules_dir()
    return {p.stem: p for p in sorted(d.glob("*.rules"))} if d.is_dir() else {}


def resolve_rules_path(arg: str) -> Path:
    """``--rules`` takes a path, or the name of a shipped set (``default``, ``python``...).

    An existing path always wins, so a local file named like a shipped set is never shadowed.
    """
    p = Path(arg)
    if p.exists() or "/" in arg or arg.endswith(".rules"):
        return p
    shipped = list_shipped()
    return shipped.get(arg, p)
