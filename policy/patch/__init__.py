"""apply_patch support: parse, validate, apply (all-or-nothing), detect in commands, assess safety.

Owns the apply_patch format and everything Cordon decides about patches. Pure library apart from
``apply_patch``, which writes the tree it is given (and nothing else); it never starts processes.
Must not touch: command rules (``policy.engine``/``policy.decide``), the sandbox, the network.

    from cordon.policy.patch import parse_patch, apply_patch, assess_patch, detect_patch
"""

from __future__ import annotations

from cordon.policy.errors import PatchError
from cordon.policy.patch.apply import ApplyResult, apply_patch, stage_patch
from cordon.policy.patch.detect import Detection, detect_patch
from cordon.policy.patch.model import AddFile, Chunk, DeleteFile, Patch, UpdateFile
from cordon.policy.patch.parser import parse_patch
from cordon.policy.patch.safety import PatchAssessment, PatchChange, assess_patch


def validate_patch(text: str) -> Patch:
    """Strict check against the published Lark grammar (imports Lark, so only on demand)."""
    from cordon.policy.patch.grammar import validate_patch as _validate

    return _validate(text)


__all__ = [
    "AddFile",
    "ApplyResult",
    "Chunk",
    "DeleteFile",
    "Detection",
    "Patch",
    "PatchAssessment",
    "PatchChange",
    "PatchError",
    "UpdateFile",
    "apply_patch",
    "assess_patch",
    "detect_patch",
    "parse_patch",
    "stage_patch",
    "validate_patch",
]
