"""The macOS plan: exact argv, environment, golden profiles. Verified as data, not on macOS.

Regenerate the golden files after an intended change with
``CORDON_REGEN_GOLDEN=1 pytest tests/sandbox/macos/test_plan.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cordon.policy.envpolicy import EnvironmentPolicy
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.macos import MacosPlan, build_plan
from cordon.sandbox.macos.plan import SANDBOX_EXEC, TMPDIR_PLACEHOLDER
from cordon.sandbox.model import NetworkMode, NetworkPolicy

from tests.sandbox.macos.policies import CASES, resolved

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CORDON_REGEN_GOLDEN") == "1"
ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/Users/dev",
    "LANG": "en_US.UTF-8",
    "TMPDIR": "/var/folders/xy/abc/T/",
}


def golden_view(plan: MacosPlan) -> dict:
    d = plan.as_data()
    assert d["argv"][2] == d.pop("profile")
    d["argv"][2] = "@profile (see the .sbpl file)"
    return d


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    factory, kw = CASES[name]
    plan = build_plan(
        factory(), ["cc", "-o", "hello world", "hello.c"], ENV, tmpdir="/tmp/cordon-sandbox.golden", **kw
    )
    sbpl, js = GOLDEN / f"{name}.sbpl", GOLDEN / f"{name}.json"
    view = json.dumps(golden_view(plan), indent=2, ensure_ascii=False) + "\n"
    if REGEN:
        sbpl.write_text(plan.profile, encoding="utf-8")
        js.write_text(view, encoding="utf-8")
    assert sbpl.exists(), f"missing golden file {sbpl}; run with CORDON_REGEN_GOLDEN=1"
    assert plan.profile == sbpl.read_text(encoding="utf-8")
    assert view == js.read_text(encoding="utf-8")


def test_argv_is_exactly_sandbox_exec_profile_params_and_command():
    policy = resolved(deny_read=["/Users/dev/.ssh"], deny_sockets=[], extra_roots=["/tmp/b"])
    plan = build_plan(policy, ["git", "commit", "-m", "a -D b=c -- d"], ENV, tmpdir="/tmp/cordon-sandbox.t")
    assert plan.argv == [
        "/usr/bin/sandbox-exec",
        "-p",
        plan.profile,
        "-D",
        "DENY_READ_0=/Users/dev/.ssh",
        "-D",
        "WRITABLE_ROOT_0=/Users/dev/proj",
        "-D",
        "WRITABLE_ROOT_0_EXCLUDED_0=/Users/dev/proj/.git",
        "-D",
        "WRITABLE_ROOT_0_EXCLUDED_1=/Users/dev/proj/.codex",
        "-D",
        "WRITABLE_ROOT_0_EXCLUDED_2=/Users/dev/proj/.agents",
        "-D",
        "WRITABLE_ROOT_1=/private/tmp/b",
        "-D",
        "WRITABLE_ROOT_1_EXCLUDED_0=/private/tmp/b/.git",
        "-D",
        "WRITABLE_ROOT_1_EXCLUDED_1=/private/tmp/b/.codex",
        "-D",
        "WRITABLE_ROOT_1_EXCLUDED_2=/private/tmp/b/.agents",
        "-D",
        "PRIVATE_TMP=/private/tmp/cordon-sandbox.t",
        "--",
        "git",
        "commit",
        "-m",
        "a -D b=c -- d",
    ]
    assert SANDBOX_EXEC == "/usr/bin/sandbox-exec"  # absolute: never looked up on PATH


def test_command_starting_with_dash_stays_after_double_dash():
    plan = build_plan(resolved(), ["-p", "(allow default)"], ENV, tmpdir="/tmp/t")
    i = plan.argv.index("--")
    assert plan.argv[i + 1 :] == ["-p", "(allow default)"]
    assert plan.argv.count("-p") == 2 and plan.argv[1] == "-p"


def test_empty_command_is_refused():
    with pytest.raises(ConfigError) as e:
        build_plan(resolved(), [], ENV)
    assert e.value.field == "argv"


def test_environment_policy_applies_and_markers_are_set():
    env = {
        **ENV,
        "OPENAI_API_KEY": "sk-x",
        "GITHUB_TOKEN": "t",
        "DYLD_INSERT_LIBRARIES": "/x.dylib",
        "KEEP": "1",
    }
    plan = build_plan(resolved(), ["true"], env, tmpdir="/tmp/cordon-sandbox.e")
    assert "OPENAI_API_KEY" not in plan.env and "GITHUB_TOKEN" not in plan.env
    assert "DYLD_INSERT_LIBRARIES" not in plan.env
    assert plan.env["KEEP"] == "1"
    assert plan.env["CORDON_SANDBOX"] == "seatbelt"
    assert plan.env["CODEX_SANDBOX_NETWORK_DISABLED"] == "1"
    assert plan.env["TMPDIR"] == plan.env["TMP"] == "/private/tmp/cordon-sandbox.e" == plan.tmpdir


def test_environment_policy_inherit_core_and_set():
    policy = resolved(env=EnvironmentPolicy(inherit="core", set={"FOO": "bar"}))
    plan = build_plan(policy, ["true"], {**ENV, "RANDOM_VAR": "x"}, tmpdir="/tmp/t")
    assert "RANDOM_VAR" not in plan.env and plan.env["FOO"] == "bar" and plan.env["PATH"] == ENV["PATH"]


def test_network_on_has_no_disabled_marker_and_proxy_sets_proxy_vars():
    on = build_plan(resolved(network=NetworkPolicy(mode=NetworkMode.ON)), ["true"], ENV, tmpdir="/tmp/t")
    assert "CODEX_SANDBOX_NETWORK_DISABLED" not in on.env
    px = build_plan(
        resolved(network=NetworkPolicy(mode=NetworkMode.PROXY)),
        ["true"],
        ENV,
        proxy_port=4000,
        tmpdir="/tmp/t",
    )
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        assert px.env[var] == "http://127.0.0.1:4000"
    assert px.proxy_ports == [4000]


def test_plan_without_tmpdir_shows_placeholder_and_is_json_serialisable():
    plan = build_plan(resolved(), ["true"], ENV)
    assert plan.tmpdir == TMPDIR_PLACEHOLDER == plan.params["PRIVATE_TMP"]
    d = json.loads(json.dumps(plan.as_data()))
    assert set(d) >= {"argv", "profile"} and d["argv"][0] == SANDBOX_EXEC


def test_cwd_uses_private_alias():
    policy = resolved(workspace="/tmp/work")
    assert build_plan(policy, ["true"], ENV, tmpdir="/tmp/t").cwd == "/private/tmp/work"


def test_package_level_names_exist_for_the_plan_command():
    import cordon.sandbox.macos
    import cordon.sandbox.windows

    assert callable(cordon.sandbox.macos.build_plan) and callable(cordon.sandbox.windows.build_plan)


def test_base_profile_ships_as_package_data():
    from importlib import resources

    text = resources.files("cordon.sandbox.macos").joinpath("base.sbpl").read_text()
    assert text.count("(deny default)") == 1


@pytest.mark.parametrize("platform", ["macos", "windows"])
def test_sandbox_plan_cli_prints_the_plan_for_another_platform(platform, tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cordon.sandbox",
            "plan",
            "--platform",
            platform,
            "--json",
            "--",
            "make",
            "-j2",
        ],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(repo), "HOME": str(tmp_path), "API_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["platform"] == platform and "API_KEY" not in d["env"]
    if platform == "macos":
        assert d["argv"][:3] == [SANDBOX_EXEC, "-p", d["profile"]] and d["argv"][-3:] == ["--", "make", "-j2"]
        from cordon.sandbox.macos.profile import darwin_path

        assert f"WRITABLE_ROOT_0={darwin_path(tmp_path.resolve())}" in d["argv"]
    else:
        assert {"token", "job", "acl", "network"} <= set(d) and d["argv"] == ["make", "-j2"]
        assert d["acl"][0] == {**d["acl"][0], "access": "grant", "path": str(tmp_path.resolve())}


def test_plan_command_shows_the_proxy_only_rule_run_enforces(tmp_path, monkeypatch, capsys):
    """`sandbox plan --platform macos --allow-domain X`: the profile allows only the proxy's port
    (a placeholder: run picks a free one), never "no network"."""
    from cordon.sandbox.commands.plan import main_plan
    from cordon.sandbox.macos.plan import PROXY_PORT_PLACEHOLDER

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main_plan(["--allow-domain", "pypi.org", "--", "pip", "download", "x"], "macos", True) == 0
    plan = json.loads(capsys.readouterr().out)
    rule = f'(allow network-outbound (remote ip "localhost:{PROXY_PORT_PLACEHOLDER}"))'
    assert rule in plan["profile"] and "fail closed" not in plan["profile"]
    assert plan["proxy_ports"] == [PROXY_PORT_PLACEHOLDER]
    assert plan["env"]["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT_PLACEHOLDER}"
    assert any("placeholder" in n for n in plan["notes"])
    # The same rule, with a real port, is what the launcher builds once its proxy listens.
    pol = resolved(network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["pypi.org"]))
    real = build_plan(pol, ["true"], ENV, proxy_port=53111)
    assert '(allow network-outbound (remote ip "localhost:53111"))' in real.profile
    assert not real.notes or all("placeholder" not in n for n in real.notes)


@pytest.mark.parametrize(
    ("allow", "user_set", "expected"),
    [
        (["pypi.org"], {}, "localhost,127.0.0.1,::1"),
        (["pypi.org"], {"NO_PROXY": "corp.example"}, "corp.example,localhost,127.0.0.1,::1"),
        # A host service allowed by address: only the proxy reaches it (the profile passes no
        # other loopback port), so loopback must not bypass the proxy.
        (["127.0.0.1:8080"], {}, ""),
        (["localhost"], {"no_proxy": "corp.example"}, "corp.example"),
    ],
)  # fmt: skip
def test_proxy_mode_no_proxy_is_linuxs_list_merged_with_the_users(allow, user_set, expected):
    from cordon.sandbox.noproxy import no_proxy_for_domains

    policy = resolved(
        network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=allow),
        env=EnvironmentPolicy(inherit="core", set=user_set),
    )
    plan = build_plan(policy, ["true"], ENV, proxy_port=4000, tmpdir="/tmp/t")
    assert plan.env["NO_PROXY"] == plan.env["no_proxy"] == expected
    assert expected == no_proxy_for_domains(allow, user_set)  # the one rule every platform uses
    assert plan.proxy_ports == [4000]  # the profile still passes only the proxy's port
