"""The package layout, entry points and test machinery themselves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.identities import REPO


def test_import_packages():
    from cordon import netproxy, policy, sandbox

    for mod in (policy, sandbox, netproxy):
        assert mod.__doc__ and "Must not touch" in mod.__doc__


@pytest.mark.parametrize("module", ["cordon.sandbox", "cordon.policy"])
@pytest.mark.parametrize("spelling", [["--version"], ["version"]])
def test_version(module, spelling):
    """`sandbox --version` / `execpolicy --version` name the distribution pip installs."""
    from cordon import __version__

    out = subprocess.run([sys.executable, "-m", module, *spelling], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"cordon-sandbox {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


@pytest.mark.parametrize("module,prog", [("cordon.sandbox", "sandbox"), ("cordon.policy", "execpolicy")])
def test_python_dash_m_help(module, prog):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert prog in out.stdout


def test_console_scripts_installed():
    """The venv the suite runs in has the console scripts (the README installs non-editable)."""
    bindir = Path(sys.executable).parent
    for script in ("sandbox", "execpolicy"):
        exe = bindir / script
        if not exe.exists():
            pytest.skip(
                f"{exe} not installed: this interpreter's environment was not set up by scripts/install.sh"
            )
        out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd="/")
        assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_wheel_contains_data_files(tmp_path):
    """Grammars, profiles and shipped rules must be inside the wheel, not only in the checkout."""
    # Build from a copy: an in-tree setuptools build leaves build/ and *.egg-info behind.
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".venv", ".cache", ".git", "__pycache__", "build", "cordon-inner", "starlark.tables"
        ),
    )
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("cordon_sandbox-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        p.relative_to(REPO)
        for ext in ("*.lark", "*.rules", "*.sbpl")
        for p in REPO.rglob(ext)
        if not {".venv", ".cache", "tests", "build", "dist"} & set(p.parts)
    ]
    for rel in expected:
        inside = (
            str(rel).replace("rules/", "cordon/policy/shipped_rules/", 1)
            if rel.parts[0] == "rules"
            else f"cordon/{rel}"
        )
        assert inside in names, f"{rel} missing from the wheel"
    for pkg in ("policy", "sandbox", "netproxy"):
        assert f"cordon/{pkg}/py.typed" in names
    assert "cordon/policy/starlark/starlark.tables" in names  # built by setup.py, not copied
    # Nothing but the cordon namespace at the top level: no `policy`, `sandbox` or `netproxy`
    # package that another distribution (or a user's policy.py) could collide with.
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert tops == {"cordon"}, tops
    if sys.platform.startswith("linux"):
        # The native inner stage is compiled by the build (not copied: excluded above),
        # executable, and the wheel is tagged for this platform.
        info = zipfile.ZipFile(wheel).getinfo("cordon/sandbox/linux/cordon-inner")
        assert (info.external_attr >> 16) & 0o111 == 0o111
        assert not wheel.name.endswith("-none-any.whl"), wheel.name


def test_identity_fixture_runs_as_that_user(identity):
    out = identity.run(["id", "-u"])
    assert out.returncode == 0
    assert int(out.stdout) == identity.uid
    probe = identity.workspace / "probe"
    w = identity.run(["sh", "-c", f"echo x > {probe}"])
    assert w.returncode == 0, w.stderr
    assert probe.stat().st_uid == identity.uid


def test_user_identity_is_unprivileged(scratch_session):
    from tests.support.identities import identity_for

    user = identity_for("user", scratch_session)
    assert user.uid != 0
    out = user.run(["cat", "/etc/shadow"])
    assert out.returncode != 0


def test_http_echo_server(http_server):
    with urllib.request.urlopen(http_server.url + "/hello", timeout=5) as r:
        body = json.load(r)
    assert body["path"] == "/hello" and body["method"] == "GET"


def test_http6_echo_server(http_server6):
    with urllib.request.urlopen(http_server6.url + "/six", timeout=5) as r:
        assert json.load(r)["path"] == "/six"


def test_https_echo_server(https_server):
    import ssl

    ctx = ssl.create_default_context(cafile=str(https_server.cert_file))
    with urllib.request.urlopen(f"https://localhost:{https_server.port}/tls", timeout=5, context=ctx) as r:
        assert json.load(r)["path"] == "/tls"


def test_tcp_recorder_sees_first_bytes(tcp_recorder):
    import socket
    import time

    with socket.create_connection(("127.0.0.1", tcp_recorder.port), timeout=5) as s:
        s.sendall(b"hello-bytes")
    for _ in range(50):
        if tcp_recorder.received:
            break
        time.sleep(0.05)
    assert tcp_recorder.received == [b"hello-bytes"]


def test_servers_refuse_non_loopback():
    from tests.support.servers import EchoServer

    with pytest.raises(ValueError):
        EchoServer("0.0.0.0")


def test_ci_runs_readme_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("```")[0].strip() for b in readme.split("```sh\n")[1:3]]
    assert len(blocks) == 2 and "sandbox run" in blocks[0]
    ci = (REPO / ".ci" / "run").read_text()
    assert blocks[1] in ci.splitlines(), "'.ci/run' must call exactly the README's test command"
    assert os.access(REPO / ".ci" / "run", os.X_OK)
