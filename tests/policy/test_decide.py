"""The command decision (policy.decide) and the `assess` / `decide` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.decision import (
    REASON_FORCED_RM,
    REASON_GRANULAR_RULES,
    REASON_GRANULAR_SANDBOX,
    REASON_NEVER,
    Approval,
    Decision,
    decide,
    is_banned_prefix,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]

RULES = """
prefix_rule(pattern=["git", "push"], decision="prompt", justification="pushing publishes")
prefix_rule(pattern=["git", "status"], decision="allow")
prefix_rule(pattern=["rm"], decision="forbidden", justification="destructive command")
prefix_rule(pattern=["curl"], decision="forbidden")
prefix_rule(pattern=["npm", "test"], decision="allow")
prefix_rule(pattern=["make"], decision="prompt")
prefix_rule(pattern=["make", "deploy"], decision="prompt", justification="deploys to prod")
prefix_rule(pattern=["echo"], decision="allow")
"""


@pytest.fixture(scope="module")
def rules():
    from cordon.policy import load_policy

    return load_policy(text=RULES, name="test.rules")


def bash(script: str) -> list[str]:
    return ["bash", "-lc", script]


WW, RO, FULL = "workspace-write", "read-only", "danger-full-access"

# (argv, approval, sandbox, escalated) -> (decision, bypass, reason, amendment); heuristics only.
HEURISTICS = [
    # untrusted: known-safe commands run (sandboxed), everything else asks
    (["ls"], "untrusted", WW, False, ("allow", False, None, ["ls"])),
    (bash("ls && git status | wc -l"), "untrusted", WW, False, ("allow", False, None, ["ls"])),
    (
        ["cargo", "build"],
        "untrusted",
        WW,
        False,
        (
            "prompt",
            False,
            "`cargo build` requires approval: `cargo build` is not a known-safe command",
            ["cargo", "build"],
        ),
    ),
    (["cargo", "build"], "untrusted", FULL, False, ("prompt", True, None, ["cargo", "build"])),
    (bash("ls && cargo build"), "untrusted", WW, False, ("prompt", False, None, ["cargo", "build"])),
    (["./sed", "-n", "1p"], "untrusted", WW, False, ("prompt", False, None, ["./sed", "-n", "1p"])),
    # heredoc fallback: complex, so no known-safe shortcut and no proposal
    (bash("cat <<'EOF'\nx\nEOF"), "untrusted", WW, False, ("prompt", False, None, None)),
    # on-request: sandboxed allow unless escalation is asked for
    (["cargo", "build"], "on-request", WW, False, ("allow", False, None, ["cargo", "build"])),
    (["cargo", "build"], "on-request", RO, False, ("allow", False, None, ["cargo", "build"])),
    (["ls"], "on-request", WW, False, ("allow", False, None, ["ls"])),
    (
        ["cargo", "build"],
        "on-request",
        WW,
        True,
        (
            "prompt",
            True,
            "`cargo build` requires approval: it asks to run outside the sandbox",
            ["cargo", "build"],
        ),
    ),
    (["cargo", "build"], "on-request", FULL, False, ("allow", True, None, None)),
    (["cargo", "build"], "on-request", FULL, True, ("allow", True, None, None)),
    (["cargo", "build"], "on-request", "external", False, ("allow", True, None, None)),
    # never: the sandbox is the only guard; nothing can be asked
    (["cargo", "build"], "never", WW, False, ("allow", False, None, None)),  # nobody to ask
    (
        ["cargo", "build"],
        "never",
        WW,
        True,
        ("forbidden", False, "`cargo build` rejected: blocked by policy", None),
    ),
    (["cargo", "build"], "never", FULL, False, ("allow", True, None, None)),
    # on-failure (legacy): like never for allows, but it can still ask
    (["cargo", "build"], "on-failure", WW, False, ("allow", False, None, ["cargo", "build"])),
    (["rm", "-rf", "x"], "on-failure", WW, False, ("prompt", False, None, None)),
    # dangerous: ask, or reject under never; never proposed for remembering
    (
        ["rm", "-rf", "x"],
        "on-request",
        WW,
        False,
        ("prompt", False, "`rm -rf x` requires approval: `rm -rf x` might be destructive (forced rm)", None),
    ),
    (["rm", "-rf", "x"], "untrusted", WW, False, ("prompt", False, None, None)),
    (
        ["rm", "-rf", "x"],
        "never",
        WW,
        False,
        ("forbidden", False, f"`rm -rf x` rejected: {REASON_FORCED_RM}", None),
    ),
    (
        ["/bin/zsh", "-lc", "rm -rf .npm-cache"],
        "never",
        WW,
        False,
        ("forbidden", False, f"`/bin/zsh -lc 'rm -rf .npm-cache'` rejected: {REASON_FORCED_RM}", None),
    ),
    (bash("ls && sudo rm -rf /"), "never", FULL, False, ("forbidden", False, None, None)),
    (["sudo", "env", "A=1", "rm", "-fr", "/"], "on-request", FULL, False, ("prompt", True, None, None)),
    (bash("for f in *; do rm -f $f; done"), "on-request", WW, False, ("prompt", False, None, None)),
    (["rm", "x"], "on-request", WW, False, ("allow", False, None, None)),  # `rm` is never proposed
    (bash("bash <<EOF\nrm -rf x\nEOF"), "never", WW, False, ("forbidden", False, None, None)),
    (bash("sh <<'X'\nrm -f y\nX"), "on-request", WW, False, ("prompt", False, None, None)),
    # granular
    (["rm", "-rf", "x"], "granular", WW, False, ("prompt", False, None, None)),
    (
        ["rm", "-rf", "x"],
        "granular:sandbox_approval=false",
        WW,
        False,
        ("forbidden", False, REASON_GRANULAR_SANDBOX, None),
    ),
    (
        ["cargo", "build"],
        "granular:sandbox_approval=false",
        WW,
        True,
        ("forbidden", False, REASON_GRANULAR_SANDBOX, None),
    ),
    (
        ["cargo", "build"],
        "granular:sandbox_approval=false",
        WW,
        False,
        ("allow", False, None, ["cargo", "build"]),
    ),
    (["cargo", "build"], "granular:rules=false", WW, True, ("prompt", True, None, ["cargo", "build"])),
    # proposals never use a banned prefix (exact, also by basename) or privilege wrappers
    (["python3"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["/usr/bin/python3"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["python3", "-c"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["bash", "-lc"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["git"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["sudo", "make", "install"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["env", "A=1", "make"], "untrusted", WW, False, ("prompt", False, None, None)),
    (["git", "push"], "untrusted", WW, False, ("prompt", False, None, ["git", "push"])),
]


@pytest.mark.parametrize(("argv", "approval", "sandbox", "escalated", "expected"), HEURISTICS)
def test_heuristic_decisions(argv, approval, sandbox, escalated, expected):
    result = decide(argv, policy=None, approval=approval, sandbox=sandbox, escalated=escalated)
    decision, bypass, reason, amendment = expected
    assert result.decision == decision
    assert result.bypass_sandbox == bypass
    if reason is not None:
        assert result.reason == reason
    assert result.proposed_amendment == amendment


# With rules: every split command is matched; the strictest decision wins.
WITH_RULES = [
    (["git", "status"], "on-request", WW, False, ("allow", True, None, None)),
    (["git", "status"], "untrusted", WW, False, ("allow", True, None, None)),
    (["git", "status"], "never", WW, False, ("allow", True, None, None)),
    (bash("git status && npm test"), "on-request", WW, False, ("allow", True, None, None)),
    (bash("git status && npm test -- --watch"), "untrusted", WW, False, ("allow", True, None, None)),
    # one unmatched command keeps the whole thing sandboxed (heuristic allow)
    (bash("git status && ls"), "on-request", WW, False, ("allow", False, None, ["ls"])),
    (bash("git status && cargo build"), "untrusted", WW, False, ("prompt", False, None, ["cargo", "build"])),
    # prompt rules: Codex's reason texts, the most specific (longest) prefix wins
    (
        ["git", "push", "origin"],
        "on-request",
        WW,
        False,
        ("prompt", False, "`git push origin` requires approval: pushing publishes", None),
    ),
    (["make"], "on-request", WW, False, ("prompt", False, "`make` requires approval by policy", None)),
    (
        ["make", "deploy"],
        "on-request",
        WW,
        False,
        ("prompt", False, "`make deploy` requires approval: deploys to prod", None),
    ),
    (["make"], "never", WW, False, ("forbidden", False, REASON_NEVER, None)),
    (["make"], "never", FULL, False, ("forbidden", False, REASON_NEVER, None)),  # gh #41068, as in Codex
    (["make"], "granular:rules=false", WW, False, ("forbidden", False, REASON_GRANULAR_RULES, None)),
    (["make"], "granular:sandbox_approval=false", WW, False, ("prompt", False, None, None)),
    # rule and sandbox both prompt: the rule case takes precedence
    (
        bash("make && cargo build"),
        "granular:rules=false,sandbox_approval=false",
        WW,
        True,
        ("forbidden", False, REASON_GRANULAR_RULES, None),
    ),
    (
        bash("make && cargo build"),
        "granular:sandbox_approval=false",
        WW,
        True,
        ("forbidden", False, REASON_GRANULAR_SANDBOX, None),
    ),
    # forbidden rules
    (
        ["rm", "-rf", "x"],
        "on-request",
        WW,
        False,
        ("forbidden", False, "`rm -rf x` rejected: destructive command", None),
    ),
    (
        ["rm", "-rf", "x"],
        "never",
        WW,
        False,
        ("forbidden", False, "`rm -rf x` rejected: destructive command", None),
    ),
    (
        ["curl", "https://x"],
        "on-request",
        WW,
        False,
        ("forbidden", False, "`curl https://x` rejected: policy forbids commands starting with `curl`", None),
    ),
    (
        bash("git status && curl x | sh"),
        "on-request",
        WW,
        False,
        (
            "forbidden",
            False,
            "`bash -lc 'git status && curl x | sh'` rejected: policy forbids commands starting with `curl`",
            None,
        ),
    ),
    (bash("make && rm x"), "on-request", WW, False, ("forbidden", False, None, None)),
    # loose split: rules see redirected / prefixed commands, which stay sandboxed (beyond Codex)
    (bash("echo hi > out.txt"), "on-request", WW, False, ("allow", False, None, None)),
    (bash("FOO=1 echo hi"), "on-request", WW, False, ("allow", False, None, None)),
    (bash("echo hi > out.txt"), "on-request", FULL, False, ("allow", True, None, None)),
    # ... and asking to escalate such a command needs a human
    (bash("echo hi > out.txt"), "on-request", WW, True, ("prompt", True, None, None)),
    (
        bash("echo hi > out.txt"),
        "never",
        WW,
        True,
        ("forbidden", False, "`bash -lc 'echo hi > out.txt'` rejected: blocked by policy", None),
    ),
    (
        bash("echo hi > out.txt"),
        "granular:sandbox_approval=false",
        WW,
        True,
        ("forbidden", False, None, None),
    ),
    (bash("git status 2>&1 | tee log"), "untrusted", WW, False, ("prompt", False, None, ["tee", "log"])),
    # an opaque script matches no rule: the whole argv is judged (and proposed)
    (bash("echo $(id)"), "on-request", WW, False, ("allow", False, None, ["bash", "-lc", "echo $(id)"])),
    (bash("echo $(rm -rf x)"), "on-request", WW, False, ("prompt", False, None, None)),
    # escalation: explicit allow rules run unsandboxed anyway; unmatched commands ask
    (["git", "status"], "on-request", WW, True, ("allow", True, None, None)),
    (bash("git status && ls"), "on-request", WW, True, ("prompt", True, None, ["ls"])),
]


@pytest.mark.parametrize(("argv", "approval", "sandbox", "escalated", "expected"), WITH_RULES)
def test_rule_decisions(rules, argv, approval, sandbox, escalated, expected):
    result = decide(argv, policy=rules, approval=approval, sandbox=sandbox, escalated=escalated)
    decision, bypass, reason, amendment = expected
    assert (result.decision, result.bypass_sandbox) == (decision, bypass)
    if reason is not None:
        assert result.reason == reason
    assert result.proposed_amendment == amendment


def test_redirected_rule_allow_explains_why_it_stays_sandboxed(rules):
    result = decide(bash("echo hi > out"), policy=rules, approval="on-request", sandbox=WW)
    assert result.outcome == "allow-sandboxed"
    assert "redirection" in result.reason


@pytest.mark.parametrize(
    ("argv", "requested", "expected"),
    [
        (["cargo", "build", "--release"], ["cargo", "build"], ["cargo", "build"]),
        (bash("cargo build && cargo test"), ["cargo"], ["cargo"]),
        # must cover every command, else the heuristic proposal is used
        (bash("cargo build && npm ci"), ["cargo"], ["cargo", "build"]),
        (["python3", "x.py"], ["python3"], ["python3", "x.py"]),  # banned
        (["git", "commit"], ["git"], ["git", "commit"]),  # banned
        (["cargo", "build"], [], ["cargo", "build"]),  # empty
        (bash("python3 <<'PY'\nx\nPY"), ["python3"], None),  # heredoc fallback disables it
    ],
)
def test_requested_prefix(argv, requested, expected):
    result = decide(argv, approval="untrusted", sandbox=WW, requested_prefix=requested)
    assert result.decision == "prompt"
    assert result.proposed_amendment == expected


def test_requested_prefix_not_offered_when_a_rule_matched(rules):
    result = decide(
        bash("make && cargo build"), policy=rules, approval="untrusted", requested_prefix=["make"]
    )
    assert result.proposed_amendment is None


def test_additional_permissions_behave_like_escalation():
    assert decide(["cargo", "build"], approval="on-request", additional_permissions=True).decision == "prompt"
    assert decide(["cargo", "build"], approval="never", additional_permissions=True).decision == "forbidden"


@pytest.mark.parametrize(
    ("prefix", "banned"),
    [
        (["python3"], True),
        (["python3", "-c"], True),
        (["/usr/bin/python3", "-c"], True),
        (["bash", "-lc"], True),
        (["/bin/zsh", "-lc"], True),
        (["git"], True),
        (["env"], True),
        (["env", "FOO=1", "make"], True),
        (["sudo", "apt", "install"], True),
        (["rm", "-r", "build"], True),
        (["node", "-e"], True),
        (["pwsh", "-Command"], True),
        ([], True),
        (["python3", "script.py"], False),
        (["git", "push"], False),
        (["npm", "run", "dev"], False),
        (["cargo", "test"], False),
        (["gh", "pr", "check"], False),
    ],
)
def test_banned_prefixes(prefix, banned):
    assert is_banned_prefix(prefix) == banned


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("untrusted", Approval("untrusted")),
        ("unless-trusted", Approval("untrusted")),
        ("on-request", Approval("on-request")),
        ("on-failure", Approval("on-failure")),
        ("never", Approval("never")),
        ("granular", Approval("granular")),
        ("granular:rules=false", Approval("granular", rules=False)),
        ("granular:sandbox_approval=false,rules=true", Approval("granular", sandbox_approval=False)),
        ("granular:sandbox-approval=FALSE", Approval("granular", sandbox_approval=False)),
    ],
)
def test_approval_parse(text, expected):
    assert Approval.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["sometimes", "", "never:rules=false", "granular:rules=maybe", "granular:bogus=true", "granular:rules"],
)
def test_approval_parse_errors(text):
    with pytest.raises(ValueError):
        Approval.parse(text)


def test_bad_arguments():
    with pytest.raises(ValueError):
        decide([], approval="never")
    with pytest.raises(ValueError):
        decide(["ls"], sandbox="none")


def test_json_shape():
    result = decide(["cargo", "build"], approval="untrusted")
    data = json.loads(result.to_json())
    assert list(data)[:4] == ["decision", "bypassSandbox", "reason", "proposedAmendment"]
    assert data["outcome"] == "ask"
    assert data["commands"] == [
        {"command": ["cargo", "build"], "decision": "prompt", "source": "heuristic", "heuristic": "untrusted"}
    ]
    assert isinstance(result, Decision)


@pytest.mark.parametrize(
    ("decision", "bypass", "outcome"),
    [
        ("allow", True, "allow-unsandboxed"),
        ("allow", False, "allow-sandboxed"),
        ("prompt", False, "ask"),
        ("forbidden", False, "reject"),
    ],
)
def test_outcome(decision, bypass, outcome):
    assert Decision(decision, bypass, None, None).outcome == outcome


# ---- CLI -------------------------------------------------------------------------------------


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cordon.policy", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        input=stdin,
        timeout=60,
    )


def test_cli_assess_json():
    out = cli("assess", "--json", "--", "bash", "-lc", "ls && sudo rm -rf /")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["knownSafe"] is False
    assert data["dangerous"] is True
    assert data["commands"] == [["ls"], ["sudo", "rm", "-rf", "/"]]
    out = cli("assess", "--json", "--", "git", "status")
    assert json.loads(out.stdout)["knownSafe"] is True


def test_cli_assess_takes_dash_arguments():
    out = cli("assess", "--json", "--", "-rf")
    assert json.loads(out.stdout)["commands"] == [["-rf"]]


def test_cli_decide_with_rules(tmp_path):
    rules = tmp_path / "my.rules"
    rules.write_text(RULES)
    out = cli(
        "decide", "--rules", str(rules), "--approval", "on-request", "--sandbox", WW, "--", "git", "status"
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["decision"], data["bypassSandbox"], data["reason"], data["proposedAmendment"]) == (
        "allow",
        True,
        None,
        None,
    )
    out = cli("decide", "-r", str(rules), "--approval", "never", "--sandbox", WW, "--", "make")
    assert json.loads(out.stdout)["reason"] == REASON_NEVER


def test_cli_decide_escalated_and_prefix_rule():
    out = cli(
        "decide",
        "--approval",
        "on-request",
        "--sandbox",
        WW,
        "--escalated",
        "--prefix-rule",
        '["cargo"]',
        "--",
        "cargo",
        "build",
    )
    data = json.loads(out.stdout)
    assert (data["decision"], data["bypassSandbox"], data["proposedAmendment"]) == ("prompt", True, ["cargo"])


@pytest.mark.parametrize(
    "args",
    [
        ("decide", "--approval", "sometimes", "--", "ls"),
        ("decide", "--sandbox", "none", "--", "ls"),
        ("decide", "--prefix-rule", "[1]", "--", "ls"),
        ("decide", "--prefix-rule", "not json", "--", "ls"),
        ("decide", "--approval", "never"),
        ("assess", "--json"),
    ],
)
def test_cli_usage_errors_exit_2(args):
    out = cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""


def test_cli_bad_rules_file_exits_1_with_location(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('prefix_rule(pattern=["ls"], decision="allow")\nprefix_rule(pattern=\n')
    out = cli("decide", "--rules", str(bad), "--", "ls")
    assert out.returncode == 1
    assert out.stdout == ""
    assert str(bad) in out.stderr
    out = cli("decide", "--rules", str(tmp_path / "missing.rules"), "--", "ls")
    assert out.returncode == 1
    assert out.stdout == ""


_token = st.one_of(
    st.sampled_from(
        ["bash", "-lc", "sh", "-c", "rm", "-rf", "sudo", "env", "A=1", "ls", "git", "status", "|", "&&"]
    ),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_token, min_size=1, max_size=6),
    st.sampled_from(
        [
            "untrusted",
            "on-request",
            "on-failure",
            "never",
            "granular",
            "granular:rules=false,sandbox_approval=false",
        ]
    ),
    st.sampled_from([WW, RO, FULL]),
    st.booleans(),
)
def test_random_commands_always_get_a_consistent_decision(argv, approval, sandbox, escalated):
    result = decide(argv, approval=approval, sandbox=sandbox, escalated=escalated)
    assert result.decision in ("allow", "prompt", "forbidden")
    data = json.loads(result.to_json())
    assert data["decision"] == result.decision
    if result.decision == "forbidden":
        assert result.reason and not result.bypass_sandbox and result.proposed_amendment is None
    if result.proposed_amendment is not None:
        assert not is_banned_prefix(result.proposed_amendment)
    if approval == "never":
        assert result.decision != "prompt"  # nobody can be asked


def test_basename_allow_through_an_undeclared_path_stays_sandboxed():
    from cordon.policy import load_policy

    declared = load_policy(
        text='prefix_rule(pattern=["git", "status"])\nhost_executable(name="git", paths=["/opt/git/bin/git"])\n'
    )
    open_policy = load_policy(text='prefix_rule(pattern=["git", "status"])\n')
    cases = [
        (open_policy, ["git", "status"], True),
        (open_policy, ["/usr/bin/git", "status"], True),  # system bin directory
        (open_policy, ["/tmp/git", "status"], False),  # Codex would run /tmp/git unsandboxed
        (open_policy, ["./git", "status"], False),
        (declared, ["/opt/git/bin/git", "status"], True),  # declared host executable
    ]
    for policy, argv, bypass in cases:
        result = decide(argv, policy=policy, approval="on-request", sandbox=WW)
        assert (result.decision, result.bypass_sandbox) == ("allow", bypass), argv
        if not bypass:
            assert "host executable" in result.reason


def test_cli_assess_human_output():
    out = cli("assess", "--", "bash", "-lc", "ls | wc -l")
    assert out.returncode == 0, out.stderr
    assert "known safe: yes" in out.stdout
    assert '["wc", "-l"]' in out.stdout


def test_cli_decide_option_forms(tmp_path):
    rules = tmp_path / "my.rules"
    rules.write_text(RULES)
    out = cli("decide", f"--rules={rules}", "--approval=never", "--sandbox=read-only", "--pretty", "make")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["decision"] == "forbidden"
    assert out.stdout.startswith("{\n  ")
    # a first `--` ends the options; the command may start with `-`
    out = cli("decide", "--", "--", "x")
    assert json.loads(out.stdout)["commands"][0]["command"] == ["--", "x"]
    out = cli("decide", "-rf")  # `-rf` is not `-r f`: it starts the command (as clap does)
    assert json.loads(out.stdout)["commands"][0]["command"] == ["-rf"]


def test_cli_help_and_unknown_options():
    for command in ("decide", "assess"):
        out = cli(command, "--help")
        assert out.returncode == 0 and "Usage: execpolicy " + command in out.stdout
        out = cli(command, "--bogus", "ls")
        assert out.returncode == 2 and "--bogus" in out.stderr and out.stdout == ""


def test_fast_path_imports_neither_typer_nor_pydantic():
    code = (
        "import sys, io\n"
        "from cordon.policy.commands import decide, assess\n"
        "sys.stdout = io.StringIO()\n"
        "assert decide.run(['--approval', 'untrusted', '--', 'bash', '-lc', 'ls | wc']) == 0\n"
        "assert assess.run(['--json', 'ls']) == 0\n"
        "bad = [m for m in ('typer', 'click', 'pydantic', 'lark') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr


def test_policy_decide_is_the_function_even_after_importing_the_module():
    """`policy.decide` must stay the function: the module is named policy.decision so that
    importing it can never rebind the package attribute to a module."""
    code = (
        "import cordon.policy.decision, types\nfrom cordon import policy\n"
        "assert isinstance(policy.decide, types.FunctionType), policy.decide\n"
        "assert policy.decide is policy.decision.decide\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


# --- apply_patch invocations are judged as patches (Codex's intercept) ---------------------------

_ADD_IN = "*** Begin Patch\n*** Add File: new.txt\n+hello\n*** End Patch"
_ADD_OUT = "*** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"
_ADD_GIT = "*** Begin Patch\n*** Add File: .git/hooks/post-commit\n+x\n*** End Patch"


def _heredoc(script_prefix: str, patch: str) -> list[str]:
    return ["bash", "-lc", f"{script_prefix}apply_patch <<'EOF'\n{patch}\nEOF\n"]


@pytest.mark.parametrize(
    "argv,approval,expected",
    [
        (["apply_patch", _ADD_IN], "on-request", "allow"),
        (["apply_patch", _ADD_OUT], "on-request", "prompt"),
        (["apply_patch", _ADD_OUT], "never", "forbidden"),
        (["apply_patch", _ADD_GIT], "on-request", "prompt"),
        (["apply_patch", _ADD_IN], "untrusted", "prompt"),
        (_heredoc("", _ADD_IN), "on-request", "allow"),
        # `cd DIR &&` moves where the paths land; it must not make DIR writable.
        (_heredoc("cd /etc && ", _ADD_IN), "on-request", "prompt"),
        (_heredoc("cd /etc && ", _ADD_IN), "never", "forbidden"),
    ],
)
def test_patch_invocations_are_judged_as_patches(tmp_path, argv, approval, expected):
    d = decide(argv, approval=approval, sandbox="workspace-write", cwd=tmp_path)
    assert d.decision == expected, d.reason
    assert d.split == "patch"
    assert not d.bypass_sandbox


def test_malformed_patch_invocation_is_refused_with_the_parser_message(tmp_path):
    d = decide(["apply_patch", "*** Begin Patch\n*** Frobnicate: x\n*** End Patch"], cwd=tmp_path)
    assert d.decision == "forbidden"
    assert "is not a valid hunk header" in d.reason


def test_without_cwd_a_patch_invocation_is_judged_as_a_command():
    d = decide(["apply_patch", _ADD_OUT], approval="on-request", sandbox="workspace-write")
    assert d.split != "patch"


def test_patch_check_cli_cd_does_not_widen_the_writable_roots(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cordon.policy",
            "patch",
            "check",
            "--cwd",
            str(tmp_path),
            "--sandbox",
            "workspace-write",
            "--approval",
            "on-request",
            "--",
            *_heredoc("cd /etc && ", _ADD_IN),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    out = json.loads(r.stdout)
    assert out["decision"] == "ask", out
    assert out["changes"][0]["path"] == "/etc/new.txt"


def test_decide_cli_judges_patches_with_cwd(tmp_path):
    base = [
        sys.executable,
        "-m",
        "cordon.policy",
        "decide",
        "--approval",
        "on-request",
        "--sandbox",
        "workspace-write",
    ]
    inside = subprocess.run(
        [*base, "--cwd", str(tmp_path), "--", "apply_patch", _ADD_IN],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert json.loads(inside.stdout)["decision"] == "allow", inside.stderr
    outside = subprocess.run(
        [*base, "--cwd", str(tmp_path / "sub"), "--", "apply_patch", _ADD_OUT],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert json.loads(outside.stdout)["decision"] == "prompt"
    widened = subprocess.run(
        [
            *base,
            "--cwd",
            str(tmp_path / "sub"),
            "--writable-root",
            str(tmp_path),
            "--",
            "apply_patch",
            _ADD_OUT,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert json.loads(widened.stdout)["decision"] == "allow", widened.stdout
