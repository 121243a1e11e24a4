"""SandboxPolicy resolution and the lean (pydantic-free) resolution behind it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cordon.policy.envpolicy import EnvironmentPolicy, apply_env_policy
from cordon.sandbox.frozen import Record
from cordon.sandbox.model import DEFAULT_DENY_READ, ResolvedPolicy, SandboxMode, SandboxPolicy
from cordon.sandbox.resolve import apply_env, resolve
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
    assert r.workspace == tmp_path.resolve()
    assert r.writable_roots == [tmp_path.resolve(), real.resolve()]
    assert r.read_only_paths == [real.resolve() / "vendor"]  # missing tail kept literally


def test_home_expansion_covers_root_home_when_root(tmp_path: Path) -> None:
    r = SandboxPolicy(deny_read=["~/.ssh"]).resolve(cwd=tmp_path, home=str(tmp_path / "h"))
    assert Path(tmp_path / "h" / ".ssh").resolve() in r.deny_read
    if os.geteuid() == 0:
        assert Path("/root/.ssh") in r.deny_read


def test_read_only_mode_has_no_writable_root(tmp_path: Path) -> None:
    r = SandboxPolicy(mode="read-only", writable_roots=[str(tmp_path)]).resolve(cwd=tmp_path)
    assert r.writable_roots == [] and r.workspace is None


def test_explicit_workspace(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    r = SandboxPolicy(workspace="ws").resolve(cwd=tmp_path)
    assert r.workspace == (tmp_path / "ws").resolve() and r.cwd == tmp_path.resolve()


def test_unknown_fields_and_bad_values_rejected() -> None:
    with pytest.raises(ValueError):
        SandboxPolicy(mode="sideways")
    with pytest.raises(ValueError):
        SandboxPolicy(writeable_roots=["/x"])  # typo: extra="forbid"


def test_lean_resolution_matches_the_model(tmp_path: Path) -> None:
    kw = dict(
        writable_roots=[str(tmp_path)],
        read_only_paths=["a/b"],
        deny_read=["~/.x", "/etc/shadow"],
        allow_git_write=True,
        share_tmp=True,
        limits={"memory": "512M", "file-size": 1024, "wall": "2m"},
    )
    full = SandboxPolicy(**kw).resolve(cwd=tmp_path, home="/home/nobody")
    lean = resolve(**kw, cwd=tmp_path, home="/home/nobody")
    for field in ResolvedPolicy.model_fields:
        if field in ("network", "env", "mode") or not hasattr(lean, field):
            continue  # backend-specific extras (e.g. Windows' allow_unenforced) live on the model only
        value = getattr(full, field)
        if field == "limits":  # a record of numbers on the hot path, the pydantic model here
            assert vars(getattr(lean, field)) == value.model_dump(), field
            continue
        expected = (
            [str(v) for v in value]
            if isinstance(value, list)
            else (str(value) if isinstance(value, Path) else value)
        )
        assert getattr(lean, field) == expected, field
    assert lean.mode == full.mode.value


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
    lean = Record(
        inherit=inherit,
        ignore_default_excludes=ignore,
        exclude=exclude,
        include_only=include_only,
        set=setvars,
        filters={},
    )
    assert apply_env(lean, environ) == apply_env_policy(full, environ)


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
