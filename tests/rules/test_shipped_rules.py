"""The shipped rule sets: recorded as accepted by the real Codex, loaded by Cordon, self-consistent.

``codex_check.json`` is written by ``record_codex.py`` (run it after editing rules/); these
tests never run the peer. They fail if a file changed since it was recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
RECORD = json.loads((Path(__file__).parent / "codex_check.json").read_text())
FILES = sorted(p.name for p in RULES.glob("*.rules"))
SEVERITY = {"allow": 0, "prompt": 1, "forbidden": 2}


def test_ships_the_promised_sets():
    for name in ("default", "python", "node", "rust", "go", "git-readonly", "registries"):
        assert f"{name}.rules" in FILES
    assert (RULES / "README.md").is_file()


@pytest.mark.parametrize("name", FILES)
def test_codex_record_is_current_and_clean(name):
    rec = RECORD["files"].get(name)
    assert rec is not None, f"{name} was never checked by codex: run tests/rules/record_codex.py"
    sha = hashlib.sha256((RULES / name).read_bytes()).hexdigest()
    assert rec["sha256"] == sha, f"{name} changed after it was recorded: run tests/rules/record_codex.py"
    assert rec["exit_code"] == 0 and rec["stderr"] == "", rec["stderr"]
    assert all(e["exit_code"] == 0 for e in rec["examples"])


def test_no_stale_records():
    assert sorted(RECORD["files"]) == FILES


@pytest.mark.parametrize("name", FILES)
def test_every_rule_is_justified_and_exemplified(name):
    rec = RECORD["files"][name]
    assert rec["prefix_rules"] or rec["network_rules"]
    for rule in rec["prefix_rules"]:
        assert rule["justification"] and len(rule["justification"]) > 30, rule["pattern"]
        assert rule["match"] and rule["not_match"], f"{name}: {rule['pattern']} needs match and not_match"
        if rule["decision"] != "allow":
            # prompt/forbidden rules must point at what to do instead
            assert "Safer" in rule["justification"], rule["justification"]
    for rule in rec["network_rules"]:
        assert rule["justification"] and rule["protocol"] == "https", rule


@pytest.mark.parametrize("name", [n for n in FILES if RECORD["files"][n]["prefix_rules"]])
def test_match_examples_get_their_rules_decision_from_the_whole_file(name):
    """A rule's match example must end with that rule's decision once the WHOLE file applies.

    Codex validates an example only against its own rule, so a broader rule elsewhere
    in the file could silently outrank it (a ``git stash`` prompt swallowing an allowed
    ``git stash list``). This catches that, from Codex's own recorded answers.
    """
    rec = RECORD["files"][name]
    for ex in rec["examples"]:
        if ex["kind"] != "match":
            continue
        rule = rec["prefix_rules"][ex["rule"]]
        got = json.loads(ex["stdout"])
        assert got.get("decision") == rule["decision"], (ex["argv"], got)


def test_registries_is_the_union_of_the_net_sets():
    union = [
        (r["host"], r["protocol"], r["decision"])
        for n in FILES
        if n.startswith("net-")
        for r in RECORD["files"][n]["network_rules"]
    ]
    reg = [
        (r["host"], r["protocol"], r["decision"])
        for r in RECORD["files"]["registries.rules"]["network_rules"]
    ]
    assert sorted(reg) == sorted(union)
    hosts = {h for h, _, _ in reg}
    for needed in (
        "pypi.org",
        "files.pythonhosted.org",
        "registry.npmjs.org",
        "index.crates.io",
        "static.crates.io",
        "proxy.golang.org",
        "sum.golang.org",
        "github.com",
    ):
        assert needed in hosts


# --- Cordon's engine on the same files -------------------------------------------


def _engine():
    from cordon import policy

    try:
        return policy.load_policy
    except AttributeError:
        pytest.skip("policy.load_policy (the engine) is not in this checkout yet")


@pytest.mark.parametrize("name", FILES)
def test_cordon_loads_and_agrees_with_codex_on_every_example(name):
    load_policy = _engine()
    rec = RECORD["files"][name]
    pol = load_policy(RULES / name)  # load-time validation runs the file's own examples
    for ex in rec["examples"]:
        assert pol.check(ex["argv"]).to_json() + "\n" == ex["stdout"], ex["argv"]
    assert pol.check(["true"]).to_json() + "\n" == rec["stdout"]


@pytest.mark.parametrize("name", [n for n in FILES if RECORD["files"][n]["network_rules"]])
def test_cordon_reads_the_network_rules(name):
    load_policy = _engine()
    pol = load_policy(RULES / name)
    got = sorted((r.host, r.protocol, r.decision) for r in pol.network_rules)
    want = sorted((r["host"], r["protocol"], r["decision"]) for r in RECORD["files"][name]["network_rules"])
    assert got == want


def test_cordon_loads_every_shipped_set_by_name_together():
    load_policy = _engine()
    pol = load_policy(*[Path(n).stem for n in FILES])
    assert pol.check(["rm", "-rf", "/"]).decision == "forbidden"
    assert pol.check(["git", "status"]).decision == "allow"
    assert pol.check(["pip", "install", "--user", "x"]).decision == "forbidden"


# --- host-executable pinning -------------------------------------------------------------


def _probe(name: str, argv: list[str]) -> dict:
    for p in RECORD["files"][name]["probes"]:
        if p["argv"] == argv:
            return json.loads(p["stdout"])
    raise AssertionError(f"no probe {argv} recorded")


@pytest.mark.parametrize("name", [n for n in FILES if RECORD["files"][n]["prefix_rules"]])
def test_allowed_programs_are_pinned_to_system_folders(name):
    """Every program an allow rule names is pinned by host_executable, so a planted
    ``./ls`` cannot ride on the ``ls`` allow rule (host resolution is always on in core)."""
    rec = RECORD["files"][name]
    for rule in rec["prefix_rules"]:
        if rule["decision"] != "allow":
            continue
        first = rule["pattern"][0]
        for prog in first if isinstance(first, list) else [first]:
            paths = rec["host_executables"].get(prog)
            assert paths, f"{name}: allowed program {prog!r} is not pinned"
            assert all(p.startswith(("/bin/", "/usr/", "/opt/homebrew/")) for p in paths), paths


def test_codex_agrees_planted_programs_get_no_allow_and_forbidden_follows_any_path():
    assert _probe("default.rules", ["./ls"]) == {"matchedRules": []}
    assert _probe("default.rules", ["/tmp/x/cat", "/etc/passwd"]) == {"matchedRules": []}
    assert _probe("default.rules", ["./git", "status"]) == {"matchedRules": []}
    assert _probe("default.rules", ["/usr/bin/ls", "-la"])["decision"] == "allow"
    assert _probe("default.rules", ["/usr/bin/git", "status"])["decision"] == "allow"
    assert _probe("default.rules", ["/tmp/rm", "-rf", "/"])["decision"] == "forbidden"
    assert _probe("default.rules", ["/usr/local/bin/git", "push", "--force", "origin", "main"])[
        "decision"
    ] == ("forbidden")
    assert _probe("python.rules", ["./pip", "list"]) == {"matchedRules": []}
    assert _probe("python.rules", ["/usr/bin/pip", "list"])["decision"] == "allow"
    assert _probe("node.rules", ["node_modules/.bin/npm", "ls"]) == {"matchedRules": []}
    assert _probe("git-readonly.rules", ["./git", "status"]) == {"matchedRules": []}


@pytest.mark.parametrize("name", FILES)
def test_cordon_agrees_with_codex_on_host_resolution_probes(name, monkeypatch):
    load_policy = _engine()
    monkeypatch.chdir("/")  # the probes were recorded from "/" (relative argv[0] resolves there)
    pol = load_policy(RULES / name)
    for p in RECORD["files"][name]["probes"]:
        assert pol.check(p["argv"], resolve_host_executables=True).to_json() + "\n" == p["stdout"], p["argv"]
