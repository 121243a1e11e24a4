"""Amendments (policy.amend): Codex's exact line format and write protocol, and concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.policy.amend import (
    append_allow_rule,
    append_network_rule,
    append_rule_line,
    format_allow_rule,
    format_network_rule,
)
from cordon.policy.errors import PolicyError

REPO = Path(__file__).resolve().parents[2]

FORMAT = [
    (["echo", "hello"], 'prefix_rule(pattern=["echo", "hello"], decision="allow")'),
    # the example from Codex's amend.rs tests
    (["echo", "Hello, world!"], 'prefix_rule(pattern=["echo", "Hello, world!"], decision="allow")'),
    (["npm", "run", "dev"], 'prefix_rule(pattern=["npm", "run", "dev"], decision="allow")'),
    (["say", 'a "quote"'], 'prefix_rule(pattern=["say", "a \\"quote\\""], decision="allow")'),
    (["echo", "back\\slash"], 'prefix_rule(pattern=["echo", "back\\\\slash"], decision="allow")'),
    (["echo", "café 😀"], 'prefix_rule(pattern=["echo", "café 😀"], decision="allow")'),  # non-ASCII raw
    (["echo", "a\nb\tc"], 'prefix_rule(pattern=["echo", "a\\nb\\tc"], decision="allow")'),
    (["echo", "\x01"], 'prefix_rule(pattern=["echo", "\\u0001"], decision="allow")'),
    (["echo", "a/b"], 'prefix_rule(pattern=["echo", "a/b"], decision="allow")'),  # `/` not escaped
    (["ls"], 'prefix_rule(pattern=["ls"], decision="allow")'),
]


@pytest.mark.parametrize(("prefix", "line"), FORMAT)
def test_format_allow_rule(prefix, line):
    assert format_allow_rule(prefix) == line


def test_format_rejects_empty_and_non_strings():
    with pytest.raises(ValueError):
        format_allow_rule([])
    with pytest.raises(TypeError):
        format_allow_rule(["ls", 1])  # type: ignore[list-item]


def test_format_network_rule():
    assert (
        format_network_rule("example.com", "https", "allow")
        == 'network_rule(host="example.com", protocol="https", decision="allow")'
    )
    assert (
        format_network_rule("api.x.io", "http", "deny", "no")
        == 'network_rule(host="api.x.io", protocol="http", decision="deny", justification="no")'
    )
    for bad in [("", "https", "allow"), ("h", "ftp", "allow"), ("h", "https", "ask")]:
        with pytest.raises(ValueError):
            format_network_rule(*bad)


def test_append_creates_file_and_directory(tmp_path):
    rules = tmp_path / "rules" / "default.rules"
    assert append_allow_rule(rules, ["echo", "hi"])
    assert rules.read_text() == 'prefix_rule(pattern=["echo", "hi"], decision="allow")\n'


def test_append_does_not_create_parents_of_the_rules_directory(tmp_path):
    rules = tmp_path / "a" / "b" / "default.rules"
    with pytest.raises(PolicyError) as err:
        append_allow_rule(rules, ["ls"])
    assert err.value.file == str(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


def test_append_dedups_exact_lines_only(tmp_path):
    rules = tmp_path / "default.rules"
    assert append_allow_rule(rules, ["ls"])
    assert not append_allow_rule(rules, ["ls"])
    # a semantically equal rule with other formatting is still appended (as in Codex)
    rules.write_text('prefix_rule(pattern=["pwd"],decision="allow")\n')
    assert append_allow_rule(rules, ["pwd"])
    assert rules.read_text().count("pwd") == 2


def test_dedup_sees_crlf_lines(tmp_path):
    rules = tmp_path / "default.rules"
    rules.write_bytes(b'prefix_rule(pattern=["ls"], decision="allow")\r\n')
    assert not append_allow_rule(rules, ["ls"])


def test_missing_trailing_newline_is_fixed(tmp_path):
    rules = tmp_path / "default.rules"
    rules.write_text('prefix_rule(pattern=["a"], decision="prompt")')
    assert append_allow_rule(rules, ["b"])
    assert rules.read_text() == (
        'prefix_rule(pattern=["a"], decision="prompt")\nprefix_rule(pattern=["b"], decision="allow")\n'
    )


def test_existing_content_is_kept_byte_for_byte(tmp_path):
    rules = tmp_path / "default.rules"
    original = b'# my rules\n\nprefix_rule(pattern=["x"])  # caf\xc3\xa9\n'
    rules.write_bytes(original)
    append_allow_rule(rules, ["y"])
    assert rules.read_bytes() == original + b'prefix_rule(pattern=["y"], decision="allow")\n'


def test_empty_file_gets_no_leading_newline(tmp_path):
    rules = tmp_path / "default.rules"
    rules.write_text("")
    append_allow_rule(rules, ["ls"])
    assert rules.read_text() == 'prefix_rule(pattern=["ls"], decision="allow")\n'


def test_append_network_rule(tmp_path):
    rules = tmp_path / "default.rules"
    assert append_network_rule(rules, "pypi.org", "https", "allow")
    assert not append_network_rule(rules, "pypi.org", "https", "allow")
    assert rules.read_text() == 'network_rule(host="pypi.org", protocol="https", decision="allow")\n'


def test_a_line_with_a_newline_is_refused(tmp_path):
    with pytest.raises(ValueError):
        append_rule_line(tmp_path / "r.rules", "a\nb")
    assert not (tmp_path / "r.rules").exists()


def test_unwritable_target_is_a_located_error(tmp_path):
    target = tmp_path / "dir.rules"
    target.mkdir()
    with pytest.raises(PolicyError) as err:
        append_allow_rule(target, ["ls"])
    assert err.value.file == str(target)


def test_appended_rules_parse_with_the_engine(tmp_path):
    from cordon.policy import load_policy

    rules = tmp_path / "default.rules"
    for prefix in (["echo", "Hello, world!"], ["say", 'a "q" \\ é'], ["x\ny"]):
        append_allow_rule(rules, prefix)
    loaded = load_policy(rules)
    assert loaded.check(["echo", "Hello, world!", "more"]).decision == "allow"
    assert loaded.check(["say", 'a "q" \\ é']).decision == "allow"
    assert loaded.check(["x\ny"]).decision == "allow"
    assert loaded.check(["say"]).decision is None


WRITER = """
import sys
from cordon.policy.amend import append_allow_rule
path, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(count):
    append_allow_rule(path, ["tool", who, str(i)])
    append_allow_rule(path, ["shared", str(i)])
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    rules = tmp_path / "default.rules"
    rules.write_text("# header without newline")
    writers, count = 8, 40
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(rules), f"w{n}", str(count)], env=env)
        for n in range(writers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    lines = rules.read_text().split("\n")
    assert lines[0] == "# header without newline"
    assert lines[-1] == ""  # ends with exactly one newline
    body = lines[1:-1]
    expected_private = {
        format_allow_rule(["tool", f"w{n}", str(i)]) for n in range(writers) for i in range(count)
    }
    expected_shared = {format_allow_rule(["shared", str(i)]) for i in range(count)}
    assert set(body) == expected_private | expected_shared  # nothing lost, nothing torn
    assert len(body) == len(expected_private) + len(expected_shared)  # shared ones written exactly once


# Recorded from Codex 0.169.0: these prefixes appended by Cordon, then `codex execpolicy check`.
CODEX_RECORD = json.loads((Path(__file__).parent / "data" / "amend_codex_0169.json").read_text("utf-8"))


def test_appended_text_is_byte_identical_to_the_recorded_file(tmp_path):
    rules = tmp_path / "default.rules"
    prefixes = [c["argv"] for c in CODEX_RECORD["checks"][::3]]
    for prefix in prefixes:
        append_allow_rule(rules, prefix)
    assert rules.read_text("utf-8") == CODEX_RECORD["rules"]


@pytest.mark.parametrize("check", CODEX_RECORD["checks"], ids=lambda c: repr(c["argv"])[:40])
def test_codex_reads_our_amendments_like_our_engine(tmp_path, check):
    from cordon.policy import load_policy

    rules = tmp_path / "default.rules"
    rules.write_text(CODEX_RECORD["rules"], "utf-8")
    assert check["rc"] == 0
    assert load_policy(rules).check(check["argv"]).to_json() + "\n" == check["stdout"]
