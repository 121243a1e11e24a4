"""Fixtures shared by the Linux sandbox tests."""

from __future__ import annotations

import os
import shutil
import socket
import uuid

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


@pytest.fixture
def unix_listener(identity):
    """A host unix socket in a directory the sandbox can read (the identity's home)."""
    d = identity.home / f".cordon-sock-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    os.chown(d, identity.uid, identity.gid)
    path = d / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    os.chown(path, identity.uid, identity.gid)
    s.listen(8)
    yield path
    s.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def abstract_listener():
    """A host listener on an abstract unix socket (no file: only the network namespace and
    Landlock's scope keep a sandbox from it); yields its name without the leading NUL."""
    name = f"cordon-attack-{uuid.uuid4().hex[:8]}"
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0" + name)
    s.listen(8)
    yield name
    s.close()
