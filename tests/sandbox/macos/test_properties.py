"""Property tests: any path survives the trip into the profile, and verdicts stay right."""

from __future__ import annotations

from cordon.sandbox.macos import build_plan
from cordon.sandbox.macos.profile import sbpl_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox.macos.policies import resolved
from tests.sandbox.macos.sbpl import Profile, read

component = st.text(min_size=1, max_size=12).filter(
    lambda s: "/" not in s and "\0" not in s and s not in (".", "..")
)


@given(st.text())
def test_any_string_round_trips_as_an_sbpl_literal(s):
    assert read(sbpl_string(s)) == [s]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=component, b=component, secret=component)
def test_any_workspace_path_keeps_its_meaning(a, b, secret):
    root = f"/Users/{a}/{b}"
    denied = f"{root}/{secret}.d"
    plan = build_plan(
        resolved(workspace=root, deny_read=[denied], deny_sockets=[]), ["true"], {}, tmpdir="/tmp/t"
    )
    assert plan.params["WRITABLE_ROOT_0"] == root and plan.params["DENY_READ_0"] == denied
    p = Profile(plan.profile, plan.params)
    w = "file-write-create"
    assert p.verdict(w, root + "/file") == "allow"
    assert p.verdict(w, root + "/.git/config") == "deny"
    assert p.verdict(w, root + "/.GIT/config") == "deny"
    assert p.verdict(w, root + "/.codex") == "deny"
    assert p.verdict(w, root + "x/file") == "deny"  # a sibling whose name extends the root's
    assert p.verdict(w, f"/Users/{a}/file") == "deny"
    assert p.verdict("file-read-data", denied + "/k") == "deny"
    assert p.verdict(w, denied) == "deny"
    assert p.verdict("file-read-data", root + "/file") == "allow"
