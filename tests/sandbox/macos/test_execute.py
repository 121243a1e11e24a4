"""The darwin launcher's process behaviour, with a stand-in for sandbox-exec.

This is Linux: /usr/bin/sandbox-exec does not exist, so ``SANDBOX_EXEC`` is pointed at a
small script that drops ``-p PROFILE -D K=V ...`` and execs the command after ``--``.
That checks what our layer does (argv handed over, exit status, signals, temp folder
cleanup, refusal paths); it does not and cannot check Seatbelt's enforcement.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from cordon.sandbox.errors import EXIT_SETUP_FAILED, SandboxError
from cordon.sandbox.macos import execute
from cordon.sandbox.macos import plan as plan_mod

from tests.sandbox.macos.policies import resolved

STAND_IN = """#!{python}
import os, sys
args = sys.argv[1:]
with open(os.environ["RECORD"], "w") as f:
    f.write("\\0".join(args))
cmd = args[args.index("--") + 1:]
os.execvp(cmd[0], cmd)
"""


@pytest.fixture
def tmp_path(monkeypatch):
    """A folder outside /tmp, /var and /etc: those names are /private aliases on macOS,
    which the plan applies, and /private does not exist on this Linux host."""
    import shutil
    import tempfile

    aliased = ("/tmp", "/var", "/etc", "/private")
    candidates = [Path(__file__).resolve().parents[3] / ".cache", Path.home() / ".cache", Path("/dev/shm")]
    # The checkout itself may live under /tmp (a CI clone): take the first candidate that is not.
    base = next(c for c in candidates if not str(c.resolve()).startswith(aliased)) / "cordon-macos-exec"
    base.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(dir=base))
    monkeypatch.setattr(tempfile, "tempdir", str(d))  # prepare()'s mkdtemp lands here too
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    exe = tmp_path / "sandbox-exec"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setattr(plan_mod, "SANDBOX_EXEC", str(exe))
    monkeypatch.setattr(execute, "SANDBOX_EXEC", str(exe))
    return tmp_path / "record"


def make_plan(tmp_path, argv, record):
    policy = resolved(workspace=str(tmp_path))
    plan = execute.prepare(policy, argv, {"PATH": os.environ["PATH"], "RECORD": str(record)})
    return plan


def test_exit_status_mapping():
    assert execute.exit_status(0) == 0
    assert execute.exit_status(3) == 3
    assert execute.exit_status(-signal.SIGKILL) == 137
    assert execute.exit_status(-signal.SIGTERM) == 143


def test_refuses_on_a_non_darwin_platform_and_removes_its_temp_folder(tmp_path):
    plan = execute.prepare(resolved(workspace=str(tmp_path)), ["true"], {})
    assert Path(plan.tmpdir).is_dir()
    with pytest.raises(SandboxError, match="only on macOS"):
        execute.run(plan)  # this host is linux
    assert not Path(plan.tmpdir).exists()


def test_missing_sandbox_exec_refuses_with_125(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(execute, "_HOST", "darwin")
    monkeypatch.setattr(execute, "SANDBOX_EXEC", "/nonexistent/sandbox-exec")
    monkeypatch.setattr(plan_mod, "SANDBOX_EXEC", "/nonexistent/sandbox-exec")
    marker = tmp_path / "ran"
    code = execute.main(
        resolved(workspace=str(tmp_path)), ["touch", str(marker)], {"PATH": os.environ["PATH"]}
    )
    assert code == EXIT_SETUP_FAILED == 125
    assert "refusing to run unconfined" in capsys.readouterr().err
    assert not marker.exists()


def test_placeholder_plan_is_refused(stand_in):
    plan = plan_mod.build_plan(resolved(), ["true"], {})
    with pytest.raises(SandboxError, match="private temp folder"):
        execute.run(plan, platform="darwin")


def test_argv_reaches_sandbox_exec_and_exit_status_passes_through(tmp_path, stand_in):
    plan = make_plan(tmp_path, ["sh", "-c", 'test -d "$TMPDIR" && exit 7'], stand_in)
    assert execute.run(plan, platform="darwin") == 7
    recorded = stand_in.read_text().split("\0")
    assert recorded == plan.argv[1:]
    assert not Path(plan.tmpdir).exists()  # the private temp folder is removed


def test_death_by_signal_is_128_plus_n(tmp_path, stand_in):
    plan = make_plan(tmp_path, ["sh", "-c", "kill -TERM $$"], stand_in)
    assert execute.run(plan, platform="darwin") == 128 + signal.SIGTERM


def test_sigterm_to_the_launcher_reaches_the_command_group(tmp_path, stand_in):
    plan = make_plan(tmp_path, ["sh", "-c", "sleep 30 & wait"], stand_in)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    t0 = time.monotonic()
    try:
        code = execute.run(plan, platform="darwin")
    finally:
        timer.cancel()
    assert code == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 10


def test_command_runs_in_a_new_session(tmp_path, stand_in):
    out = tmp_path / "sid"
    plan = make_plan(
        tmp_path,
        [sys.executable, "-c", f"import os; open({str(out)!r},'w').write(str(os.getsid(0)))"],
        stand_in,
    )
    assert execute.run(plan, platform="darwin") == 0
    assert int(out.read_text()) != os.getsid(0)


FETCH = """
import os, sys, urllib.request
proxy = os.environ["HTTP_PROXY"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
out = []
for url in sys.argv[1:]:
    try:
        out.append(str(opener.open(url, timeout=5).status))
    except urllib.error.HTTPError as e:
        out.append(str(e.code))
    except Exception as e:
        out.append(type(e).__name__)
open(os.environ["RESULT"], "w").write(proxy + "\\n" + " ".join(out))
"""


@pytest.mark.network
def test_proxy_mode_starts_cordons_proxy_and_allows_only_its_port(tmp_path, stand_in, http_server):
    from cordon.sandbox.model import NetworkMode, NetworkPolicy

    result = tmp_path / "result"
    policy = resolved(
        workspace=str(tmp_path),
        network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["allowed.localhost"]),
    )
    env = {"PATH": os.environ["PATH"], "RECORD": str(stand_in), "RESULT": str(result)}
    argv = [
        sys.executable,
        "-c",
        FETCH,
        f"http://allowed.localhost:{http_server.port}/",
        "http://denied.test/",
    ]
    assert execute.main(policy, argv, env, platform="darwin") == 0
    proxy_url, statuses = result.read_text().split("\n")
    port = int(proxy_url.rsplit(":", 1)[1])
    assert proxy_url.startswith("http://cordon:") and "@127.0.0.1:" in proxy_url  # per-run credential
    assert statuses.split()[0] == "200" and statuses.split()[1] != "200"
    recorded = stand_in.read_text().split("\0")
    profile = recorded[recorded.index("-p") + 1]
    assert f'(allow network-outbound (remote ip "localhost:{port}"))' in profile
    assert profile.count("(allow network-outbound") == 1
    # the proxy is gone after the run
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_proxy_mode_off_macos_refuses_before_starting_anything(tmp_path, capsys):
    from cordon.sandbox.model import NetworkMode, NetworkPolicy

    policy = resolved(workspace=str(tmp_path), network=NetworkPolicy(mode=NetworkMode.PROXY))
    assert execute.main(policy, ["true"], {}) == 125
    assert "only on macOS" in capsys.readouterr().err
