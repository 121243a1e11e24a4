"""Suite-wide fixtures. Markers are declared in pyproject.toml.

- The whole session (this process and every subprocess it starts) uses its own XDG folders,
  made here before any test module is imported: Cordon's cache and config never touch the
  real ``~/.cache/cordon`` or ``~/.config/cordon``. Identities get their own (``Identity.xdg``).

- ``identity``: parametrised over "root" and "user"; confinement tests take it so every
  attack runs as root and as the unprivileged account ``cordon-test``.
- ``http_server`` / ``https_server`` / ``http_server6``: loopback echo servers.
- ``scratch``: a world-traversable temporary folder (pytest's tmp_path is 0700).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import identities
from tests.support.servers import EchoServer, TcpRecorder

_SESSION_XDG = identities.make_xdg(Path(tempfile.mkdtemp(prefix="cordon-tests-xdg-")))
os.environ.update(identities.xdg_env(_SESSION_XDG))


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_SESSION_XDG, ignore_errors=True)


@pytest.fixture(scope="session")
def scratch_session() -> Path:
    root = identities.scratch_root()
    yield root
    identities.cleanup(root)
    identities.restore_traverse()


@pytest.fixture
def scratch(scratch_session: Path, request) -> Path:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix=request.node.name[:40].replace("/", "_") + "-", dir=scratch_session))
    d.chmod(0o755)
    return d


@pytest.fixture(params=["root", "user"])
def identity(request, scratch_session: Path) -> identities.Identity:
    """Each test that takes this runs once as root and once as the unprivileged account."""
    ident = identities.identity_for(request.param, scratch_session)
    yield ident
    identities.cleanup(ident.workspace)


@pytest.fixture
def http_server():
    with EchoServer("127.0.0.1") as s:
        yield s


@pytest.fixture
def http_server6():
    with EchoServer("::1") as s:
        yield s


@pytest.fixture
def https_server():
    with EchoServer("127.0.0.1", tls=True, cert_names=("localhost", "allowed.test")) as s:
        yield s


@pytest.fixture
def tcp_recorder():
    with TcpRecorder("127.0.0.1") as r:
        yield r
