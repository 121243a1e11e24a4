"""Path containment, defined once: is this path a root or beneath it?

Standard library only (``os``, loaded before any Python code runs): the launcher asks this
on every ``sandbox run``.
"""

import os


def within(path: str, root: str) -> bool:
    """Is ``path`` ``root`` itself or beneath it?

    Lexical: both are absolute and already normalised (no ``..``; symlinks are the caller's
    business). A trailing ``/`` on ``root`` is ignored, and every absolute path is within ``/``.
    """
    stem = root.rstrip("/")
    return path in (root, stem) or path.startswith(stem + "/")


def within_any(path: str, tops) -> bool:
    """``within(path, t)`` for some ``t`` in the set ``tops`` (normalised, no trailing ``/``
    except ``/`` itself): one set lookup per ancestor of ``path`` instead of a comparison per
    entry (the deny list alone has ~90 entries, checked against whole lists at every launch)."""
    while True:
        if path in tops:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
