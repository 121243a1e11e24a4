"""Config files: precedence, our TOML, Codex's config.toml, srt's settings JSON, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cordon.sandbox.config import KEYS, load_file, load_layers, merge, to_inputs, to_policy
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.fastpath import UsageError, all_flags, parse_run_args

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> dict:
    h = tmp_path / "home"
    (h / ".config" / "cordon").mkdir(parents=True)
    return {"HOME": str(h), "XDG_CONFIG_HOME": str(h / ".config")}


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_our_toml_keys_map_to_flags(tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.toml",
        'mode = "read-only"\nwritable_roots = ["/a"]\nshare_tmp = true\n'
        'network = "proxy"\nallow_domains = ["pypi.org"]\n[env]\ninherit = "core"\nset = {A = "1"}\n',
    )
    opts = load_file(str(f))
    assert opts == {
        "mode": "read-only",
        "writable_roots": ["/a"],
        "share_tmp": True,
        "network": "proxy",
        "allow_domains": ["pypi.org"],
        "env.inherit": "core",
        "env.set": ["A=1"],
    }
    for key in opts:
        assert key in KEYS  # every config key is a flag


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('mode = "sideways"', "mode"),
        ("share_tmp = 1", "share_tmp"),
        ('writable_roots = "/a"\nbogus = 1', "bogus"),
        ("deny_read = [1]", "deny_read"),
        ('resolve = ["nohost"]', "resolve"),
        ("[env]\ninherit = 3", "env.inherit"),
    ],
)
def test_errors_name_the_field_and_file(tmp_path: Path, text: str, field: str) -> None:
    f = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as e:
        load_file(str(f))
    assert e.value.field == field and e.value.source == str(f)
    assert str(f) in str(e.value) and field in str(e.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.toml", "mode = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_file(str(f))


def test_codex_config_is_understood(tmp_path: Path) -> None:
    f = write(
        tmp_path / "config.toml",
        'model = "o3"\nsandbox_mode = "workspace-write"\n'
        '[sandbox_workspace_write]\nwritable_roots = ["/data"]\nnetwork_access = true\n'
        'exclude_slash_tmp = true\n[shell_environment_policy]\ninherit = "core"\n'
        'exclude = ["AWS_*"]\n',
    )
    assert load_file(str(f)) == {
        "mode": "workspace-write",
        "writable_roots": ["/data"],
        "network": "on",
        "env.inherit": "core",
        "env.exclude": ["AWS_*"],
    }


def test_codex_config_errors_name_codex_field(tmp_path: Path) -> None:
    f = write(tmp_path / "config.toml", '[sandbox_workspace_write]\nnetwork_access = "yes"\n')
    with pytest.raises(ConfigError) as e:
        load_file(str(f))
    assert e.value.field == "sandbox_workspace_write.network_access"


def test_srt_settings_json(tmp_path: Path) -> None:
    f = write(
        tmp_path / "srt-settings.json",
        json.dumps(
            {
                "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": [".", "/tmp/x"], "denyWrite": [".env"]},
                "network": {"allowedDomains": ["github.com"], "deniedDomains": ["evil.com"]},
            }
        ),
    )
    opts = load_file(str(f))
    assert opts == {
        "deny_read": ["~/.ssh"],
        "writable_roots": [".", "/tmp/x"],
        "read_only": [".env"],
        "allow_domains": ["github.com"],
        "deny_domains": ["evil.com"],
        "network": "proxy",
    }
    with pytest.raises(ConfigError) as e:
        load_file(str(write(tmp_path / "bad.json", json.dumps({"network": {"allowedDomains": [1]}}))))
    assert e.value.field == "network.allowedDomains"
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_file(str(write(tmp_path / "broken.json", "{")))


def test_precedence_user_project_explicit_flags(tmp_path: Path, home: dict) -> None:
    proj = tmp_path / "proj"
    sub = proj / "sub"
    sub.mkdir(parents=True)
    write(
        Path(home["XDG_CONFIG_HOME"]) / "cordon" / "config.toml",
        f'network = "on"\ndeny_read = ["/u"]\ntrusted_projects = ["{proj}"]\n',
    )
    write(proj / ".cordon.toml", 'network = "off"\ndeny_read = ["/p"]\n')
    explicit = write(tmp_path / "x.toml", 'deny_read = ["/x"]\nshare_tmp = true\n')
    opts = load_layers(str(sub), [str(explicit)], environ=home)  # project file found from a subdir
    assert opts["network"] == "off"  # project over user
    assert opts["deny_read"] == ["/u", "/p", "/x"]  # lists extend in order
    assert opts["share_tmp"] is True
    flags, _, _, _ = parse_run_args(["--network", "on", "--", "true"])
    assert merge([opts, flags])["network"] == "on"  # flags last


def test_untrusted_project_file_may_only_tighten(tmp_path: Path, home: dict) -> None:
    proj = tmp_path / "proj"
    write(proj / ".cordon.toml", 'deny_read = ["/p"]\nmode = "read-only"\nnetwork = "off"\n')
    assert load_layers(str(proj), environ=home)["mode"] == "read-only"
    write(proj / ".cordon.toml", 'network = "on"\n')
    with pytest.raises(ConfigError) as e:
        load_layers(str(proj), environ=home)
    assert e.value.field == "network" and "trusted_projects" in str(e.value)
    write(proj / ".cordon.toml", 'mode = "danger-full-access"\n')
    with pytest.raises(ConfigError, match="widen"):
        load_layers(str(proj), environ=home)
    write(proj / ".cordon.toml", 'trusted_projects = ["/"]\n')
    with pytest.raises(ConfigError, match="only allowed in the user file"):
        load_layers(str(proj), environ=home)


def test_to_inputs_and_policy() -> None:
    opts = {
        "allow_domains": ["pypi.org"],
        "env.set": ["A=1=2"],
        "default_deny_read": False,
        "deny_read": ["/s"],
        "resolve": ["h:1.2.3.4"],
    }
    kw = to_inputs(opts)
    assert kw["network"]["mode"] == "proxy" and kw["network"]["resolve"] == {"h": "1.2.3.4"}
    assert kw["env"]["set"] == {"A": "1=2"} and kw["deny_read"] == ["/s"]
    pol = to_policy(opts)
    assert pol.network.mode == "proxy" and pol.deny_read == ["/s"]
    with pytest.raises(ConfigError, match="proxy"):
        to_inputs({"allow_domains": ["x"], "network": "on"})


def test_hand_parser_matches_typer_command() -> None:
    """`sandbox run` is parsed by hand on the hot path; typer must declare exactly the same flags."""
    import typer
    from cordon.sandbox.cli import app

    cmd = typer.main.get_command(app).commands["run"]
    typer_flags = {o for p in cmd.params if p.param_type_name == "option" for o in p.opts}
    typer_flags.discard("--help")
    assert typer_flags == all_flags()


def test_hand_parser_forms() -> None:
    opts, configs, cmd, _ = parse_run_args(
        [
            "--mode=read-only",
            "--writable-root",
            "/a",
            "--writable-root=/b",
            "--allow-git-write",
            "--config",
            "c.toml",
            "ls",
            "-l",
        ]
    )
    assert opts == {"mode": "read-only", "writable_roots": ["/a", "/b"], "allow_git_write": True}
    assert configs == ["c.toml"] and cmd == ["ls", "-l"]
    assert parse_run_args(["--no-default-deny-read", "--", "--weird"])[0] == {"default_deny_read": False}
    assert parse_run_args(["--", "--weird"])[2] == ["--weird"]
    for bad in (["--mode"], ["--mode", "x", "--", "t"], ["--share-tmp=1", "t"], ["--nope", "t"]):
        with pytest.raises(UsageError):
            parse_run_args(bad)


def test_typer_entry_runs_the_same(tmp_path: Path) -> None:
    from cordon.sandbox.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["run", "--network", "sideways", "--", "true"])
    assert r.exit_code == 2


def test_cli_reports_config_error_with_field(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", 'share_tmp = "yes"\n')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "run", "--config", str(bad), "--", "/bin/echo", "RAN"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "RAN" not in r.stdout  # a configuration error, not a confinement failure
    assert "share_tmp" in r.stderr and str(bad) in r.stderr


def test_rules_network_entries_become_proxy_lists(tmp_path: Path) -> None:
    f = write(
        tmp_path / "net.rules",
        'network_rule(host = "pypi.org", protocol = "https", decision = "allow")\n'
        'network_rule(host = "evil.example", protocol = "http", decision = "forbidden")\n',
    )
    net = to_inputs({"rules": [str(f)]})["network"]
    assert net["mode"] == "proxy"
    assert net["allow_domains"] == ["pypi.org:443"] and net["deny_domains"] == ["evil.example"]
    net = to_inputs({"rules": ["net-pypi"]})["network"]  # a shipped rule set by name
    assert "files.pythonhosted.org:443" in net["allow_domains"]
    with pytest.raises(ConfigError) as e:
        to_inputs({"rules": [str(write(tmp_path / "bad.rules", "network_rule(host = 1)\n"))]})
    assert e.value.field == "rules"


@pytest.mark.sandbox
def test_run_hot_path_imports_no_framework(tmp_path: Path) -> None:
    """`sandbox run` must not pay for typer, pydantic or lark (~50 ms of imports each)."""
    code = (
        "import sys\n"
        "from cordon.sandbox.commands.run import main_run\n"
        "rc = main_run(['--', 'true'])\n"
        "print(sorted(m for m in ('pydantic', 'typer', 'lark', 'click') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(tmp_path))
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "item,expected",
    [
        ("api.test=127.0.0.1", {"api.test": "127.0.0.1"}),  # the (and curl's) spelling
        ("api.test:127.0.0.1", {"api.test": "127.0.0.1"}),
        ("six.test=::1", {"six.test": "::1"}),
        ("six.test:::1", {"six.test": "::1"}),
    ],
)
def test_resolve_pins_take_host_equals_addr_and_host_colon_addr(item, expected) -> None:
    from cordon.sandbox.config import split_pin

    assert dict([split_pin(item)]) == expected
    assert to_inputs({"allow_domains": ["api.test"], "resolve": [item]})["network"]["resolve"] == expected


def test_resolve_pin_without_an_address_names_the_field(tmp_path) -> None:
    from cordon.sandbox.config import load_file

    f = tmp_path / "c.toml"
    f.write_text('allow_domains = ["x.test"]\nresolve = ["x.test="]\n')
    with pytest.raises(ConfigError) as e:
        load_file(str(f))
    assert e.value.field == "resolve"


def test_allow_unenforced_reaches_the_resolved_policy_and_rejects_unknown_names(tmp_path) -> None:
    from cordon.sandbox.config import load_file

    assert to_inputs({"allow_unenforced": ["network"]})["allow_unenforced"] == ["network"]
    assert to_policy({"allow_unenforced": ["deny-read"]}).allow_unenforced == ["deny-read"]
    f = tmp_path / "c.toml"
    f.write_text('allow_unenforced = ["filesystem"]\n')
    with pytest.raises(ConfigError) as e:
        load_file(str(f))
    assert e.value.field == "allow_unenforced" and "network" in str(e.value)


def test_allow_unenforced_flag_plans_the_windows_fallback(tmp_path) -> None:
    """Without the opt-out the Windows plan lists what it cannot enforce; with it, it is accepted."""
    import json

    base = [sys.executable, "-m", "cordon.sandbox", "plan", "--platform", "windows", "--json"]
    r = subprocess.run(
        [*base, "--allow-unenforced", "network", "--", "cmd"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr
    bad = subprocess.run(
        [*base, "--allow-unenforced", "nonsense", "--", "cmd"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert bad.returncode != 0 and "unknown guarantee 'nonsense'" in bad.stderr + bad.stdout
    json.loads(r.stdout)


def test_project_files_merge_monotone_and_resolve_paths_against_their_folder(
    tmp_path: Path, home: dict
) -> None:
    proj = tmp_path / "proj"
    sub = proj / "sub"
    sub.mkdir(parents=True)
    write(
        Path(home["XDG_CONFIG_HOME"]) / "cordon" / "config.toml",
        f'trusted_projects = ["{sub}"]\n',
    )
    write(proj / ".cordon.toml", 'mode = "read-only"\ndeny_read = ["secret.env"]\nnetwork = "off"\n')
    write(
        sub / ".cordon.toml",
        'mode = "workspace-write"\nnetwork = "on"\ndeny_read = ["../b", "/abs", "~/x"]\n',
    )
    opts = load_layers(str(sub), environ=home)
    assert opts["mode"] == "read-only" and opts["network"] == "off"  # the nearer (trusted) file cannot loosen
    assert opts["deny_read"] == [str(proj / "secret.env"), str(sub / "../b"), "/abs", "~/x"]
    # the same from the project root: only the root file
    assert load_layers(str(proj), environ=home)["deny_read"] == [str(proj / "secret.env")]
