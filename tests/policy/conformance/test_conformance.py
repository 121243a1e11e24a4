"""Cordon's ``execpolicy check`` vs outputs recorded from ``codex execpolicy check`` 0.169.0.

Every case in cases.json runs three ways: the CLI in-process (``policy.commands.check.run``),
the library API (``load_policy`` + ``Policy.check`` / ``RulesError``), and, for a sample, the
real ``python -m policy check`` subprocess. stdout, stderr and the exit code must be equal byte
for byte, except for the deviations listed below (each with its reason).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.commands.check import run
from cordon.policy.diagnostics import envelope
from cordon.policy.engine import RulesError, load_policy
from cordon.policy.fastpath import Usage
from cordon.policy.fastpath import check_args as parse_args

from tests.policy.conformance.generate import materialise

HERE = Path(__file__).resolve().parent
DATA = json.loads((HERE / "cases.json").read_text())
# Files using Cordon's opt-in builtins: Codex rejects them (that is the point: a plain Codex file
# can never mean something else in Cordon); checked separately below.
EXTENSIONS = [c for c in DATA["cases"] if c.get("cordon_extension")]
CASES = [c for c in DATA["cases"] if not c.get("cordon_extension")]
REPO = HERE.parents[2]

# Cases whose stderr differs on purpose or by a known gap; stdout and exit code must still match,
# and stderr's first line (which file failed) too.
STDERR_DEVIATIONS: dict[str, str] = {}

# Cases where Cordon's default differs from Codex 0.169.0 by design (restrictive basename
# matching, Codex #37079): compared with --codex-compat, and the default checked separately.
COMPAT = {c["name"] for c in CASES if c.get("cordon_default_differs")}


def expected(case: dict, root: Path) -> dict:
    e = case["expected"]
    fix = lambda s: s.replace("{cwd}", str(root)).replace("{prog}", "execpolicy check")  # noqa: E731
    return {"stdout": fix(e["stdout"]), "stderr": fix(e["stderr"]), "exit": e["exit"]}


@pytest.fixture
def casedir(tmp_path, monkeypatch):
    root = tmp_path.resolve()
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
    return root


def _args(case):
    args = list(case["args"])
    if case["name"] in COMPAT:
        args = ["--codex-compat", *args]
    return args


def _compare(case, got: dict, exp: dict):
    assert got["exit"] == exp["exit"], (case["name"], got, exp)
    assert got["stdout"] == exp["stdout"], case["name"]
    if case["name"] in STDERR_DEVIATIONS:
        assert got["stderr"].split("\n", 1)[0] == exp["stderr"].split("\n", 1)[0]
    else:
        assert got["stderr"] == exp["stderr"], case["name"]


def test_enough_cases():
    assert len(CASES) >= 150
    assert EXTENSIONS
    assert DATA["peer"].startswith("codex-cli 0.169.0")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cli_in_process(case, casedir, capsys):
    materialise(case, casedir)
    code = run(_args(case))
    out, err = capsys.readouterr()
    _compare(case, {"stdout": out, "stderr": err, "exit": code}, expected(case, casedir))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_library_api(case, casedir):
    materialise(case, casedir)
    exp = expected(case, casedir)
    try:
        opts = parse_args(_args(case))
    except Usage:
        assert exp["exit"] == 2
        return
    try:
        policy = load_policy(*opts["rules"])
    except RulesError as e:
        assert exp["exit"] == 1
        assert e.file is not None and e.message
        if case["name"] not in STDERR_DEVIATIONS:
            assert envelope(e.stage, e.source, e.report) == exp["stderr"]
        return
    ev = policy.check(
        opts["command"], resolve_host_executables=opts["resolve"], restrictive_basename=not opts["compat"]
    )
    assert exp["exit"] == 0
    assert ev.to_json(pretty=opts["pretty"]) + "\n" == exp["stdout"]
    # The pydantic view agrees with the JSON.
    assert [m.model_dump(by_alias=True, exclude_none=True) for m in ev.matched_rules] == json.loads(
        exp["stdout"]
    )["matchedRules"]


SAMPLE = CASES[::9]


@pytest.mark.parametrize("case", SAMPLE, ids=[c["name"] for c in SAMPLE])
def test_cli_subprocess(case, casedir):
    materialise(case, casedir)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(casedir / "home"),
        "XDG_CACHE_HOME": str(casedir / "xdg-cache"),
        "PYTHONPATH": str(REPO),
    }
    p = subprocess.run(
        [sys.executable, "-m", "cordon.policy", "check", *_args(case)],
        cwd=casedir,
        env=env,
        capture_output=True,
    )
    got = {"stdout": p.stdout.decode(), "stderr": p.stderr.decode(), "exit": p.returncode}
    _compare(case, got, expected(case, casedir))


@pytest.mark.parametrize("name", sorted(COMPAT))
def test_cordon_default_closes_unlisted_path_dodge(name, casedir, capsys):
    """Codex 0.169.0 lets /tmp/git dodge a prompt/forbidden `git` rule once host_executable is
    declared (#37079); Cordon's default still applies the rule and reports the resolved path."""
    case = next(c for c in CASES if c["name"] == name)
    materialise(case, casedir)
    assert run(case["args"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] in ("prompt", "forbidden")
    assert all("resolvedProgram" in m["prefixRuleMatch"] for m in out["matchedRules"])
    assert json.loads(expected(case, casedir)["stdout"]) == {"matchedRules": []}


@pytest.mark.parametrize("case", EXTENSIONS, ids=[c["name"] for c in EXTENSIONS])
def test_extensions_are_rejected_by_codex_and_accepted_by_cordon(case, casedir, capsys):
    exp = expected(case, casedir)
    assert exp["exit"] == 1 and "Variable `command_rule` not found" in exp["stderr"]
    materialise(case, casedir)
    assert run(case["args"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "allow"
