"""``execpolicy rules list|show`` and shipped-set lookup by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.shipped import describe_shipped, list_shipped, resolve_rules_path

REPO = Path(__file__).resolve().parents[2]


def execpolicy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cordon.policy", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_rules_list_json_names_every_file_with_its_header_summary():
    r = execpolicy("rules", "list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = {d["name"] for d in data}
    assert names == {p.stem for p in (REPO / "rules").glob("*.rules")}
    by_name = {d["name"]: d for d in data}
    assert by_name["default"]["kind"] == "commands" and by_name["registries"]["kind"] == "network"
    assert "read-only" in by_name["default"]["summary"]
    assert Path(by_name["python"]["path"]).read_text().startswith("# python:")


def test_rules_list_table():
    r = execpolicy("rules", "list")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(line.startswith("default ") for line in lines)
    assert "--rules default" in r.stdout


def test_rules_show_prints_the_file_and_rejects_unknown_names():
    r = execpolicy("rules", "show", "node")
    assert r.returncode == 0 and r.stdout == (REPO / "rules" / "node.rules").read_text()
    bad = execpolicy("rules", "show", "nosuchset")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "shipped sets: default" in bad.stderr


def test_resolve_by_name_and_by_path(tmp_path, monkeypatch):
    assert resolve_rules_path("default") == list_shipped()["default"]
    local = tmp_path / "default"
    local.write_text("")
    monkeypatch.chdir(tmp_path)
    # an existing local file always wins over a shipped name
    assert resolve_rules_path("default") == Path("default")
    assert resolve_rules_path("x/default.rules") == Path("x/default.rules")
    assert resolve_rules_path("nosuchset") == Path("nosuchset")


def test_every_header_names_its_file():
    for s in describe_shipped():
        first = s.path.read_text().splitlines()[0]
        assert first.startswith(f"# {s.name}: "), first
        assert len(s.summary) > 20


def test_execpolicy_check_finds_shipped_sets_by_name_and_prints_codex_bytes():
    record = json.loads((Path(__file__).parent / "codex_check.json").read_text())
    ex = next(e for e in record["files"]["default.rules"]["examples"] if e["argv"] == ["rm", "-rf", "/"])
    r = execpolicy("check", "--rules", "default", "--", "rm", "-rf", "/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ex["stdout"]  # what the real Codex printed for rules/default.rules


@pytest.mark.sandbox
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sandbox run here is the Linux backend")
def test_sandbox_run_takes_network_rules_from_a_shipped_set_by_name(scratch):
    import shutil
    import tempfile

    # A short HOME: the proxy's unix socket lives under ~/.cache when XDG_RUNTIME_DIR is unset,
    # and a deep scratch path would exceed AF_UNIX's 108-byte limit (reported to the lead).
    home = tempfile.mkdtemp(prefix="ch-", dir="/tmp")
    try:
        r = _run_explain(scratch, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    reach = next(line for line in r.stderr.splitlines() if line.strip().startswith("network:"))
    assert "pypi.org" in reach and "files.pythonhosted.org" in reach
    assert "registry.npmjs.org" not in r.stderr


def _run_explain(scratch, home):
    return subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "run", "--rules", "net-pypi", "--explain", "--", "true"],
        capture_output=True,
        text=True,
        cwd=scratch,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": home, "PYTHONPATH": str(REPO)},
    )
