"""Which program an argv[0] names, and the packaged command lists (``safety_data.json``).

Trusted are bare names and paths in the standard bin directories: ``/tmp/git`` is not ``git``.
Shared by the shell splitter (which shells' scripts are looked into), the heuristics
(``policy.safety``) and the decision (which matched rules may leave the sandbox).
"""

from __future__ import annotations

import json
import os
from functools import cache


@cache
def data() -> dict:
    """The packaged safe/dangerous/banned lists."""
    with open(os.path.join(os.path.dirname(__file__), "safety_data.json"), encoding="utf-8") as f:
        return json.load(f)


def program_name(arg0: str) -> str | None:
    """The program a trusted argv[0] names: a bare name, or a path in a system bin directory.

    Beyond Codex (gh #28732): Codex uses the basename of any path, so ``./sed`` or ``/tmp/cat``
    counted as the real tool. Cordon only trusts bare names and the standard bin directories.
    """
    if "/" not in arg0:
        return arg0
    head, base = os.path.split(arg0)
    if os.path.normpath(head) in data()["trusted_bin_dirs"] and base:
        return base
    return None
