"""``sandbox schema``: the printed JSON Schemas describe what the models accept and emit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from cordon.sandbox.commands.schema import MODELS, all_schemas, schema_of

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "schema", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_all_schemas_printed_as_one_json_object(tmp_path):
    # From a folder outside the checkout: the models were once looked up by top-level names
    # (``sandbox.model``) that only resolved with the checkout as the working directory.
    r = cli(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == set(MODELS) == set(all_schemas())
    # A top-level name (``sandbox.model``) resolves here only because REPO is on the path.
    assert all(target.startswith("cordon.") for target in MODELS.values())
    for name, schema in data.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == name


def test_sandbox_policy_schema_accepts_real_policies_and_rejects_bad_ones():
    from cordon.sandbox.model import SandboxPolicy

    schema = json.loads(cli("SandboxPolicy").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    good = SandboxPolicy(mode="read-only", network={"mode": "proxy", "allow_domains": ["pypi.org"]})
    jsonschema.validate(good.model_dump(mode="json"), schema)
    jsonschema.validate({}, schema)  # every field has a default
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"mode": "wide-open"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"network": {"mode": "sometimes"}}, schema)


def test_evaluation_schema_matches_execpolicy_check_output():
    from cordon import policy

    pol = policy.load_policy(
        text='prefix_rule(pattern=["git", "push"], decision="prompt", justification="j")'
    )
    out = json.loads(pol.check(["git", "push", "x"]).to_json())
    schema = schema_of("Evaluation")
    jsonschema.validate(out, schema)
    assert "matchedRules" in schema["properties"]  # wire names (aliases), not Python names


def test_list_and_errors():
    r = cli("--list")
    assert r.returncode == 0 and r.stdout.split("\n")[0] == "SandboxPolicy"
    bad = cli("NoSuchModel")
    assert bad.returncode == 2 and "known: SandboxPolicy" in bad.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"],
        ["rm", "-rf", "/"],
        ["bash", "-lc", "git status && curl https://x | sh"],
        ["git", "push"],
        ["python3", "-c", "print(1)"],
    ],
)
def test_decision_schema_matches_real_decisions(argv):
    from cordon.policy.decision import decide

    from cordon import policy

    schema = schema_of("Decision")
    pol = policy.load_policy("default")
    for approval in ("untrusted", "on-request", "never"):
        jsonschema.validate(decide(argv, policy=pol, approval=approval).to_dict(), schema)


def test_patch_assessment_schema_matches_real_assessments(tmp_path):
    from cordon import policy

    schema = schema_of("PatchAssessment")
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    (ws / ".git").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    elsewhere.mkdir()
    patches = [
        "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n",
        f"*** Begin Patch\n*** Add File: {elsewhere}/evil\n+x\n*** End Patch\n",
        "*** Begin Patch\n*** Delete File: .git/config\n*** End Patch\n",
    ]
    seen = set()
    for p in patches:
        out = policy.assess_patch(p, cwd=str(ws), sandbox="workspace-write", approval="on-request").to_dict()
        jsonschema.validate(out, schema)
        seen.add(out["decision"])
    assert len(seen) >= 2  # the patches exercise different verdicts
    bad = {"decision": "maybe", "sandboxed": True, "reason": None, "changes": [], "problems": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
