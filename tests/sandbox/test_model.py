"""SandboxPolicy (the pydantic edge) and ResolvedPolicy (the one form every backend takes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cordon.policy.envpolicy import EnvironmentPolicy, apply_env_policy
from cordon.sandbox.config import merge, to_inputs
from cordon.sandbox.model import DEFAULT_DENY_READ, SandboxMode, SandboxPolicy
from cordon.sandbox.resolve import (
    EnvRules,
    Limits,
    ResolvedPolicy,
    apply_env,
    env_rules,
    resolve,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def test_defaults_are_the_safe_choice() -> None:
    p = SandboxPolicy()
    assert p.mode == SandboxMode.WORKSPACE_WRITE
    assert p.network.mode == "off" and not p.share_tmp and not p.allow_git_write
    assert "/etc/shadow" in p.deny_read and "~/.ssh" in p.deny_read
    assert p.fallback == "none"


def test_resolve_makes_paths_absolute_and_canonical(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    r = SandboxPolicy(writable_roots=["link"], read_only_paths=["real/vendor"]).resolve(cwd=tmp_path)
    assert isinstance(r, ResolvedPolicy)
    top = str(tmp_path.resolve())
    assert r.workspace == top
    assert r.writable_roots == (top, str(real.resolve()))
    assert r.read_only_paths == (str(real.resolve() / "vendor"),)  # missing tail kept literally


def test_home_expansion_covers_root_home_when_root(tmp_path: Path) -> None:
    r = SandboxPolicy(deny_read=["~/.ssh"]).resolve(cwd=tmp_path, home=str(tmp_path / "h"))
    assert str(Path(tmp_path / "h" / ".ssh").resolve()) in r.deny_read
    if os.geteuid() == 0:
        assert "/root/.ssh" in r.deny_read


def test_read_only_mode_has_no_writable_root(tmp_path: Path) -> None:
    r = SandboxPolicy(mode="read-only", writable_roots=[str(tmp_path)]).resolve(cwd=tmp_path)
    assert r.writable_roots == () and r.workspace is None


def test_explicit_workspace(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    r = SandboxPolicy(workspace="ws").resolve(cwd=tmp_path)
    assert r.workspace == str((tmp_path / "ws").resolve()) and r.cwd == str(tmp_path.resolve())


def test_resolved_policy_is_immutable_and_plain(tmp_path: Path) -> None:
    """Frozen all the way down: no assignment, tuples for sequences, read-only mappings; equal
    and hashable by value; no pydantic object anywhere inside."""
    r = SandboxPolicy(
        network={"mode": "proxy", "allow_domains": ["pypi.org"], "resolve": {"a.test": "127.0.0.1"}},
        env={"set": {"A": "1"}, "filters": {"X_*": "exclude"}},
        limits={"memory": "1G"},
    ).resolve(cwd=tmp_path)
    with pytest.raises(AttributeError):
        r.mode = "danger-full-access"
    with pytest.raises(AttributeError):
        r.network.mode = "on"
    with pytest.raises(TypeError):
        r.env.set["B"] = "2"
    with pytest.raises(TypeError):
        r.network.resolve["evil.test"] = "1.2.3.4"
    assert isinstance(r.writable_roots, tuple) and isinstance(r.network.allow_domains, tuple)
    assert r.env.exclude == ("X_*",)  # Codex's filters table, folded in
    assert r.limits == Limits(memory=1 << 30)
    assert r == r.replace() and hash(r) == hash(r.replace()) and r != r.replace(share_tmp=True)
    assert {type(v).__module__.split(".")[0] for v in vars(r).values()} <= {"builtins", "cordon"}
    assert type(r.mode) is str and type(r.network.mode) is str  # the vocabulary's words, not enums


def test_the_cli_and_the_library_reach_the_same_policy(tmp_path: Path) -> None:
    """One route: flags (sandbox run, sandbox plan) and the pydantic model (library, Pool, MCP
    server) both end in ``resolve``; the same request gives the same ResolvedPolicy."""
    flags = {
        "mode": "workspace-write",
        "writable_roots": [str(tmp_path / "extra")],
        "read_only": ["vendor"],
        "deny_read": ["secret.txt"],
        "allow_git_write": True,
        "network": "proxy",
        "allow_domains": ["pypi.org"],
        "deny_domains": ["evil.test"],
        "resolve": ["api.test=127.0.0.1"],
        "env.inherit": "core",
        "env.set": ["A=1"],
        "env.exclude": ["X_*"],
        "limits": {"memory": 1 << 28, "wall": 30.0},
        "allow_agents": ["ssh"],
    }
    cli = resolve(**to_inputs(merge([flags])), cwd=tmp_path)
    lib = SandboxPolicy(
        writable_roots=[str(tmp_path / "extra")],
        read_only_paths=["vendor"],
        deny_read=[*DEFAULT_DENY_READ, "secret.txt"],
        allow_git_write=True,
        network={
            "mode": "proxy",
            "allow_domains": ["pypi.org"],
            "deny_domains": ["evil.test"],
            "resolve": {"api.test": "127.0.0.1"},
        },
        env=EnvironmentPolicy(inherit="core", set={"A": "1"}, exclude=["X_*"]),
        limits={"memory": "256M", "wall": "30s"},
        allow_agents=["ssh"],
    ).resolve(cwd=tmp_path)
    assert cli == lib


def test_unknown_fields_and_bad_values_rejected() -> None:
    with pytest.raises(ValueError):
        SandboxPolicy(mode="sideways")
    with pytest.raises(ValueError):
        SandboxPolicy(writeable_roots=["/x"])  # typo: extra="forbid"


def test_default_deny_list_is_exported() -> None:
    assert (
        SandboxPolicy().deny_read == DEFAULT_DENY_READ or list(DEFAULT_DENY_READ) == SandboxPolicy().deny_read
    )


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_abkey", min_size=1, max_size=12)
patterns = st.lists(st.sampled_from(["*KEY*", "A*", "*_B", "PATH", "x?y", "*SECRET*", "[AB]*"]), max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    environ=st.dictionaries(names, st.text(max_size=5), max_size=8),
    inherit=st.sampled_from(["all", "core", "none"]),
    ignore=st.booleans(),
    exclude=patterns,
    include_only=patterns,
    setvars=st.dictionaries(names, st.text(max_size=3), max_size=2),
)
def test_lean_env_policy_equals_policy_envpolicy(
    environ, inherit, ignore, exclude, include_only, setvars
) -> None:
    full = EnvironmentPolicy(
        inherit=inherit,
        ignore_default_excludes=ignore,
        exclude=exclude,
        include_only=include_only,
        set=setvars,
    )
    lean = env_rules(full.model_dump(mode="json"))
    assert isinstance(lean, EnvRules)
    assert apply_env(lean, environ) == apply_env_policy(full, environ)


def test_one_policy_form_no_duck_typing() -> None:
    """The backends take one ResolvedPolicy: nothing tells a pydantic twin from a plain one by its
    attributes any more (``getattr(x, "value", x)``, ``hasattr(x, "model_dump")``)."""
    import re

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"""getattr\([^()]*,\s*["']value["']|hasattr\([^()]*,\s*["']model_dump["']""")
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for package in ("sandbox", "policy", "netproxy", "integrations", "cordon")
        for path in sorted((root / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_realpath_all_answers_what_realpath_does_path_by_path(tmp_path):
    """The folder-sharing resolver must equal os.path.realpath for every kind of path: through
    symlinked folders, a symlinked last part, a dangling link, a missing tail, a file in the
    middle, "." / ".." (after a symlink, where lexical and physical differ) and "/"."""
    from cordon.sandbox.resolve import realpath_all

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "file").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "to-elsewhere").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "real" / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    t = str(tmp_path)
    paths = [
        f"{t}/link/sub",
        f"{t}/link/file",
        f"{t}/link/to-elsewhere",
        f"{t}/link/dangling",
        f"{t}/link/missing/deeper",
        f"{t}/link/file/below-a-file",
        f"{t}/link/to-elsewhere/../sub",
        f"{t}/link/./sub",
        f"{t}//link/sub",
        f"{t}/link/sub/",
        "/",
        "relative/path",
    ]
    assert realpath_all(paths) == [os.path.realpath(p) for p in paths]
