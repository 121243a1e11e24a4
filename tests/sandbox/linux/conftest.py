"""Fixtures shared by the Linux sandbox tests."""

from __future__ import annotations

import pytest

from tests.sandbox.linux import confine_support


@pytest.fixture(params=["native", "python"])
def inner_executor(request, monkeypatch):
    """Run the test once with each inner-stage program (cordon-inner and inner.py): both
    must apply the same walls, so every wall test attacks both. Covers ``run_inner`` and
    ``build_inner`` (through CORDON_INNER, which also reaches ``sandbox run``)."""
    if request.param == "python":
        monkeypatch.setenv("CORDON_INNER", "python")
    else:
        monkeypatch.delenv("CORDON_INNER", raising=False)
        confine_support.native_inner()
    monkeypatch.setattr(confine_support, "EXECUTOR", request.param)
    return request.param
