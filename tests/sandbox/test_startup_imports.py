"""`sandbox run` start-up: what the hot path must not import (speed is measured in bench/).

Each of these costs milliseconds at every launch: ``re``/``enum`` ~10 ms together (pip's
console-script wrapper imports ``re``, which is why ``sandbox`` is the plain script bin/sandbox),
``ctypes`` ~5-10 ms, ``typing``/``collections`` a few, typer/pydantic/lark ~50 ms each.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.identities import XDG_DIRS

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "re",
    "enum",
    "ctypes",
    "typing",
    "collections",
    "pathlib",
    "subprocess",
    "typer",
    "pydantic",
    "lark",
)

# Run with -S (site imports nothing of its own), so everything new was imported by the script;
# site-packages are put on the path afterwards (pyseccomp, if the inner-stage cache is cold).
PROBE = """
import sys
before = set(sys.modules)
sys.path += {site!r}
sys.argv = [{script!r}, "run", "--", "true"]
code = None
try:
    # The script's imports, then its main() with explicit argv (as __main__ it would end the
    # process with os._exit before this could report).
    scope = {{"__name__": "probe"}}
    with open({script!r}) as f:
        exec(compile(f.read(), {script!r}, "exec"), scope)
    scope["main"](["run", "--", "true"])
except SystemExit as e:
    code = e.code
print("RESULT", code, *sorted(set(sys.modules) - before))
"""


def _new_modules(cwd: Path) -> tuple[str, list[str]]:
    import site

    script = str(REPO / "bin" / "sandbox")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(Path.home())}
    env.update({var: os.environ[var] for var in XDG_DIRS})  # the session's cache, not ~/.cache
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(script=script, site=site.getsitepackages())],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1].split()
    return line[1], line[2:]


@pytest.mark.sandbox
def test_bin_sandbox_is_a_plain_script():
    text = (REPO / "bin" / "sandbox").read_text()
    assert text.startswith("#!python\n")
    assert "import re" not in text


@pytest.mark.sandbox
def test_run_hot_path_imports_nothing_heavy(scratch):
    ws = Path(scratch)
    _new_modules(ws)  # the first run may fill the on-disk caches (host probe, inner stage)
    code, new = _new_modules(ws)
    assert code == "0"
    heavy = sorted(m for m in new if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`sandbox run -- true` imported {heavy}"


# The start-up shortcuts live in one place per command (policy/fastpath.py for `execpolicy`,
# sandbox/fastpath.py for `sandbox`), so the rest is ordinary Python. Programs of their own
# keep their own budgets: the Python inner stage (with the Landlock binding and the seccomp
# loader it runs inside the sandbox, where only those modules are loaded), the proxy forwarder.
SHORTCUT_HOMES = {"policy/fastpath.py", "sandbox/fastpath.py"}
OWN_PROGRAMS = {
    "sandbox/linux/inner.py",
    "sandbox/linux/landlock.py",
    "sandbox/linux/seccomp.py",
    "sandbox/linux/proxy_forwarder.py",
}


def test_private_cpython_modules_only_in_the_fast_path_homes():
    import ast

    found = []
    for part in ("cordon", "policy", "sandbox", "netproxy", "integrations"):
        for path in sorted((REPO / part).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in SHORTCUT_HOMES or rel in OWN_PROGRAMS:
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                found += [
                    f"{rel}:{node.lineno} imports {n}"
                    for n in names
                    if n.startswith("_") and n != "__future__"
                ]
    assert found == [], "start-up shortcuts belong in policy/fastpath.py or sandbox/fastpath.py"


def test_the_homes_name_every_c_module_they_stand_for():
    from cordon.sandbox import fastpath

    for name, module in fastpath._C_MODULES.items():
        assert getattr(fastpath, name) is __import__(module)
    with pytest.raises(AttributeError):
        fastpath.no_such_shortcut  # noqa: B018


# `sandbox run` pauses the cyclic collector while it starts (sandbox/fastpath.py) and turns it back
# on once bubblewrap runs: the launcher may then wait for hours while its supervisor works.
COLLECTOR = """
import gc, sys
sys.argv = ["sandbox", "run", "--", "true"]
import cordon.sandbox.commands.run as run_cmd
seen = {}
harden = run_cmd._harden
def spy():
    seen["starting"] = gc.isenabled()
    harden()
    seen["running"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    if "embedded" in seen:  # the program itself ends with os._exit: report from here
        print(seen, flush=True)
run_cmd._harden = spy
from cordon.sandbox.__main__ import main
try:
    main(["run", "--", "true"])  # an embedding caller: the collector is not touched
except SystemExit:
    pass
seen["embedded"] = (seen.pop("starting"), gc.get_freeze_count())
main()  # the program itself
"""


@pytest.mark.sandbox
def test_the_collector_is_paused_only_while_the_program_starts(scratch):
    from cordon.sandbox import fastpath

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(Path.home())}
    env.update({var: os.environ[var] for var in XDG_DIRS})
    out = subprocess.run(
        [sys.executable, "-c", COLLECTOR], capture_output=True, text=True, cwd=scratch, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    seen = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert seen["embedded"] == (True, 0), seen  # a caller's process: left alone, nothing frozen
    assert seen["starting"] is False and seen["running"] is True and seen["frozen"] > 0, seen
    # In this process: a resume without a pause does nothing.
    import gc

    fastpath.collector_on()
    assert gc.isenabled() and gc.get_freeze_count() == 0
