"""Environment policy (policy.envpolicy): Codex's shell_environment_policy, step by step."""

from __future__ import annotations

import pytest
from cordon.policy.envfilter import SECRET_NAME_PATTERNS, filter_environ, looks_secret
from cordon.policy.envpolicy import (
    CORE_VARS_UNIX,
    DEFAULT_EXCLUDES,
    WINDOWS_DEFAULT_PATHEXT,
    EnvironmentPolicy,
    apply_env_policy,
    matches,
)
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "SHELL": "/bin/bash",
    "USER": "u",
    "TMPDIR": "/tmp",
    "OPENAI_API_KEY": "sk-1",
    "AWS_SECRET_ACCESS_KEY": "s",
    "MY_SECRET_TOKEN": "t",
    "FOO_KEY": "k",
    "github_token": "lower",
    "PLAIN_A": "a",
    "PLAIN_B": "b",
    "MY_CA_FILE": "c",
    "EDITOR": "vi",
    "KEYBOARD": "us",
}


def run(**kwargs):
    return apply_env_policy(EnvironmentPolicy(**kwargs), PARENT, platform="linux")


def test_default_inherits_all_but_secrets():
    env = run()
    assert set(env) == set(PARENT) - {
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "MY_SECRET_TOKEN",
        "FOO_KEY",
        "github_token",  # patterns are case-insensitive
        "KEYBOARD",  # *KEY* is a glob on the name: KEYBOARD matches too (as in Codex)
    }


def test_ignore_default_excludes_passes_everything():
    # Codex 0.169.0's default (observed: OPENAI_API_KEY etc. reach the shell tool)
    assert run(ignore_default_excludes=True) == PARENT


def test_inherit_core_keeps_only_the_core_list():
    env = run(inherit="core")
    assert env == {k: PARENT[k] for k in ("PATH", "HOME", "LANG", "SHELL", "USER", "TMPDIR")}
    assert set(CORE_VARS_UNIX) >= set(env)


def test_inherit_none_starts_empty():
    assert run(inherit="none") == {}
    assert run(inherit="none", set={"A": "1"}) == {"A": "1"}


# Codex's order: inherit, default excludes, exclude, set, include_only.
def test_set_runs_after_the_excludes():
    env = run(exclude=["PLAIN_*"], set={"PLAIN_A": "over", "EXTRA_TOKEN": "t"})
    assert env["PLAIN_A"] == "over"  # set survives exclude
    assert env["EXTRA_TOKEN"] == "t"  # and the default *TOKEN* exclude
    assert "PLAIN_B" not in env


def test_include_only_runs_after_set():
    env = run(set={"DROPPED": "x", "KEPT_1": "y"}, include_only=["PATH", "KEPT_*"])
    assert env == {"PATH": "/usr/bin", "KEPT_1": "y"}


def test_observed_codex_run():
    # sandboxes.md 6.2 "Observed run" (Codex 0.169.0)
    env = run(
        inherit="all",
        ignore_default_excludes=False,
        exclude=["PLAIN_*", "*CA_*"],
        set={"EXTRA_TOKEN": "t", "PLAIN_VAR": "over"},
        include_only=["PATH", "HOME", "EXTRA_*", "PLAIN_*", "LANG", "pl*"],
    )
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "EXTRA_TOKEN": "t",
        "PLAIN_VAR": "over",
    }


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("OPENAI_API_KEY", ["*KEY*"], True),
        ("openai_api_key", ["*KEY*"], True),
        ("PATH", ["path"], True),
        ("PATH", ["PAT?"], True),
        ("PATH", ["PA[ST]H"], True),
        ("PATH", ["PA[!T]H"], False),
        ("PATH", ["P"], False),
        ("MY_VAR", ["MY_*", "X"], True),
        ("A.B", ["A?B"], True),
        ("X", [], False),
    ],
)
def test_matches_is_a_case_insensitive_glob(name, patterns, expected):
    assert matches(name, patterns) == expected


def test_filters_table_is_another_spelling_of_exclude_and_include_only():
    legacy = run(exclude=["PLAIN_B"], include_only=["PATH", "PLAIN_*"])
    table = run(filters={"PLAIN_B": "exclude", "PATH": "include", "PLAIN_*": "include"})
    assert legacy == table == {"PATH": "/usr/bin", "PLAIN_A": "a"}


def test_filters_exclude_only():
    assert "EDITOR" not in run(filters={"editor": "exclude"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": {"A": "include"}, "exclude": ["B"]},
        {"filters": {"A": "exclude"}, "include_only": ["B"]},
        {"filters": {"FOO_*": "include", "foo_*": "exclude"}},  # differ only in case
        {"filters": {"A": "allow"}},
        {"inherit": "some"},
        {"unknown_key": 1},
        {"set": {"A": 1}},
    ],
)
def test_bad_policies_are_errors_naming_the_field(kwargs):
    with pytest.raises(ValidationError) as err:
        EnvironmentPolicy(**kwargs)
    assert err.value.errors()


def test_windows_core_and_pathext():
    parent = {
        "Path": "C:\\w",
        "SystemRoot": "C:\\Windows",
        "USERPROFILE": "C:\\u",
        "SECRET_X": "s",
        "FOO": "f",
    }
    env = apply_env_policy(EnvironmentPolicy(inherit="core"), parent, platform="win32")
    assert env == {
        "Path": "C:\\w",
        "SystemRoot": "C:\\Windows",
        "USERPROFILE": "C:\\u",
        "PATHEXT": WINDOWS_DEFAULT_PATHEXT,
    }
    kept = apply_env_policy(EnvironmentPolicy(), {"pathext": ".EXE"}, platform="win32")
    assert kept == {"pathext": ".EXE"}  # not added when present in any case
    assert "PATHEXT" not in apply_env_policy(EnvironmentPolicy(), {}, platform="linux")


def test_input_mapping_is_not_modified():
    parent = dict(PARENT)
    run(set={"PATH": "/x"}, exclude=["HOME"])
    assert parent == PARENT


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(st.dictionaries(_names, st.text(max_size=5), max_size=15))
def test_default_policy_never_leaks_a_secret_looking_name(environ):
    env = apply_env_policy(EnvironmentPolicy(), environ, platform="linux")
    assert all(not matches(k, DEFAULT_EXCLUDES) for k in env)
    assert all(env[k] == environ[k] for k in env)


@given(
    st.dictionaries(_names, st.text(max_size=5), max_size=15),
    st.dictionaries(_names, st.text(max_size=3), max_size=4),
)
def test_set_values_always_win_without_include_only(environ, extra):
    env = apply_env_policy(EnvironmentPolicy(set=extra, exclude=["*"]), environ, platform="linux")
    assert env == extra


# --- Cordon's broader default excludes (names and values) ---------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "postgres://app:pw@db:5432/app",
        "redis://:pw@cache:6379",
        "https://x-access-token:abc@github.com/o/r.git",
        "https://ghp_aaaaaaaaaaaaaaaaaaaa@github.com/o/r",
        "https://hooks.slack.com/services/T0/B0/XXXX",
        "https://discord.com/api/webhooks/1/abc",
        "Server=db;User Id=sa;Password=pw;",
        "host=db user=app password=pw",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_values_that_carry_a_secret(value):
    assert looks_secret(value)
    assert filter_environ({"X": value}) == {}
    assert filter_environ({"X": value}, ignore_default_excludes=True) == {"X": value}


@pytest.mark.parametrize(
    "value",
    ["https://example.org/a?b=c", "ssh://git@github.com/o/r.git", "/usr/bin:/bin", "C.UTF-8", "true", "a.b.c",
     "user@example.org", "postgres://db:5432/app"],
)  # fmt: skip
def test_ordinary_values_are_kept(value):
    assert not looks_secret(value)


@pytest.mark.parametrize("name", ["PGPASSWORD", "MYSQL_PWD", "DB_PASSWD", "AWS_CREDENTIALS", "NPM_CONFIG__AUTH",
                                  "SSH_AUTH_SOCK", "SMTP_PASS", "GPG_PASSPHRASE"])  # fmt: skip
def test_password_style_names_are_excluded(name):
    assert matches(name, SECRET_NAME_PATTERNS)


@pytest.mark.parametrize(
    "name", ["GIT_AUTHOR_NAME", "AUTHOR", "PWD", "OLDPWD", "PASSAGE", "XAUTHORITY", "PATH"]
)
def test_lookalike_names_are_kept(name):
    assert not matches(name, SECRET_NAME_PATTERNS)


def test_matches_each_pattern_form_like_fnmatch():
    """matches() sorts patterns into exact / prefix / suffix / contains / glob once per list;
    every form must answer exactly what a case-insensitive fnmatch does."""
    import fnmatch

    from cordon.policy.envfilter import matches

    patterns = ["PATH", "aws_*", "*_token", "*Secret*", "A?B", "[xy]Z", "*", "**KEY", "K*Y"]
    names = [
        "path",
        "PATHS",
        "AWS_REGION",
        "MY_TOKEN",
        "TOKEN_X",
        "topsecretvalue",
        "AXB",
        "xz",
        "KEY",
        "KAY",
    ]
    for pat in patterns:
        for name in names:
            want = fnmatch.fnmatchcase(name.upper(), pat.upper())
            assert matches(name, [pat]) == want, (name, pat)
            assert matches(name, (pat,)) == want, (name, pat)
    assert not matches("ANY", [])
