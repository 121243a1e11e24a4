"""What environment reaches bwrap, the inner stage and the command."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sandbox

PRELOAD = "/nonexistent-cordon-preload.so"


def _names(stdout: str) -> set[str]:
    return {line.split("=", 1)[0] for line in stdout.splitlines() if "=" in line}


def test_loader_variables_reach_neither_bwrap_nor_the_inner_stage_nor_the_command(identity):
    env = identity.env(
        LD_PRELOAD=PRELOAD,
        LD_AUDIT="/nonexistent-cordon-audit.so",
        GLIBC_TUNABLES="glibc.malloc.check=3",
        MY_API_TOKEN="secret-value",
    )
    r = identity.run(identity.sandbox_argv("run", "--", "env"), env=env)
    assert r.returncode == 0, r.stderr
    assert not _names(r.stdout) & {"LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES", "MY_API_TOKEN"}
    assert "secret-value" not in r.stdout
    # ld.so reports a missing preload once per process it starts: only the launcher itself (whose
    # environment the caller chose) may do so; bwrap, the inner stage and the command must not.
    assert r.stderr.count(PRELOAD) <= 1, r.stderr


def test_an_explicit_env_set_passes_a_loader_variable(identity):
    r = identity.run(
        identity.sandbox_argv("run", "--env-set", "LD_LIBRARY_PATH=/opt/cordon-test", "--", "env")
    )
    assert r.returncode == 0, r.stderr
    assert "LD_LIBRARY_PATH=/opt/cordon-test" in r.stdout.splitlines()
