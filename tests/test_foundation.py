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

from tests.support import identities
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


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, source tree): the wheel built from a clean clone of this checkout's HEAD, as a
    release would be (no build leftovers, no untracked files). Outside a git checkout, from a
    copy of the tree without the ignored folders."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(src)], check=True)
        subprocess.run(["git", "-C", str(src), "checkout", "-q", "--detach", head.stdout.strip()], check=True)
    else:
        shutil.copytree(
            REPO,
            src,
            ignore=shutil.ignore_patterns(
                ".venv", ".cache", ".git", "__pycache__", "build", "cordon-inner", "starlark.tables"
            ),
        )
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(src)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return next(tmp.glob("cordon_sandbox-*.whl")), src


@pytest.mark.slow
def test_wheel_contains_data_files(built_wheel):
    """Grammars, profiles and shipped rules must be inside the wheel, not only in the checkout."""
    wheel, src = built_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        p.relative_to(src)
        for ext in ("*.lark", "*.rules", "*.sbpl")
        for p in src.rglob(ext)
        if not {".venv", ".cache", ".git", "tests", "build", "dist"} & set(p.relative_to(src).parts)
    ]
    for rel in expected:
        inside = (
            str(rel).replace("rules/", "cordon/policy/shipped_rules/", 1)
            if rel.parts[0] == "rules"
            else f"cordon/{rel}"
        )
        assert inside in names, f"{rel} missing from the wheel"
    for pkg in ("policy", "sandbox", "netproxy", "integrations"):
        assert f"cordon/{pkg}/py.typed" in names
    for adapter in ("langchain", "openai_agents", "ray", "_launch"):
        assert f"cordon/integrations/{adapter}.py" in names
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


_PROJECT_FILES = {
    # An agent project's own modules, named like Cordon's parts: importing any of them is a failure.
    name: f"raise ImportError('the project\\'s own {name} was imported instead of cordon')\n"
    for name in ("policy.py", "sandbox.py", "netproxy.py")
}


@pytest.mark.slow
@pytest.mark.network
def test_plain_install_from_the_wheel(built_wheel, tmp_path):
    """What a library user gets from `pip install cordon-sandbox`, in a fresh venv: the
    distribution, the cordon namespace importable next to a project's own policy.py and
    sandbox.py, consistent dependencies (pip check), h11 >= 0.16, and `sandbox mcp` answering an
    MCP initialize (raw JSON-RPC: no client library in that venv)."""
    wheel, _ = built_wheel
    venv = tmp_path / "venv"
    subprocess.run([identities.INSIDE_PYTHON, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    out = subprocess.run([py, "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    check = subprocess.run([py, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    project = tmp_path / "agent-project"
    project.mkdir()
    for name, text in _PROJECT_FILES.items():
        (project / name).write_text(text)
    probe = (
        "import importlib.metadata as m, json, sys, sysconfig, os\n"
        "import cordon.sandbox, cordon.policy, cordon.netproxy\n"
        "from cordon.sandbox import SandboxPolicy, run\n"
        "from cordon import policy\n"
        "had_lark = 'lark' in sys.modules\n"
        "pol = policy.load_policy('default')\n"
        "parsed = 'lark' in sys.modules and not had_lark\n"
        "site = sysconfig.get_paths()['purelib']\n"
        "print(json.dumps({'dist': m.version('cordon-sandbox'), 'h11': m.version('h11'),\n"
        "  'mcp': m.version('mcp'), 'where': cordon.sandbox.__file__,\n"
        "  'check': pol.check(['git', 'status']).decision, 'parsed': parsed,\n"
        "  'top': sorted(n for n in ('policy', 'sandbox', 'netproxy') if os.path.exists(os.path.join(site, n)))}))\n"
    )
    r = subprocess.run([py, "-c", probe], cwd=project, capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    from cordon import __version__

    assert facts["dist"] == __version__
    assert facts["where"].startswith(str(venv)) and facts["top"] == []
    assert facts["check"] == "allow"
    assert facts["parsed"] is False  # the shipped set came from the store built into the wheel
    assert tuple(int(x) for x in facts["h11"].split(".")[:2]) >= (0, 16)
    assert int(facts["mcp"].split(".")[0]) >= 2

    for argv in ([str(venv / "bin" / "sandbox"), "--version"], [py, "-m", "cordon.policy", "--version"]):
        v = subprocess.run(argv, cwd=project, capture_output=True, text=True, env=_clean_env())
        assert v.stdout == f"cordon-sandbox {__version__}\n", v.stderr

    replies = _mcp_session(
        [str(venv / "bin" / "sandbox"), "mcp", "--workspace", str(project)],
        cwd=project,
        requests=[
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "cordon-tests", "version": "0"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        ],
    )
    init = replies[1]["result"]
    assert init["serverInfo"]["name"] == "cordon" and init["serverInfo"]["version"] == __version__
    assert isinstance(init["protocolVersion"], str) and "tools" in init["capabilities"]
    assert {t["name"] for t in replies[2]["result"]["tools"]} == {"shell", "execpolicy_check", "decide"}


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH pointing at this checkout: the venv alone must provide cordon."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _mcp_session(argv: list[str], cwd: Path, requests: list[dict]) -> dict[int, dict]:
    """Send JSON-RPC lines to a stdio MCP server; return its replies by id (stdin closed last)."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=_clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    replies: dict[int, dict] = {}
    try:
        for req in requests:
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
            if "id" not in req:
                continue
            while req["id"] not in replies:
                line = proc.stdout.readline()
                assert line, f"server closed stdout; stderr: {proc.stderr.read()[-3000:]}"
                msg = json.loads(line)
                if "id" in msg:
                    replies[msg["id"]] = msg
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return replies


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
