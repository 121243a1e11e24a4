"""Resource limits on macOS: rlimits (cpu, file-size) set in the child before exec and the
launcher's wall timer, run for real through the stand-in for sandbox-exec; memory, pids and
tmp have no macOS mechanism and are refused (125) unless the loss is accepted."""

from __future__ import annotations

import os

from cordon.sandbox.limits import resolve as resolve_limits
from cordon.sandbox.macos import execute
from cordon.sandbox.macos.plan import build_plan

from tests.sandbox.macos.policies import resolved
from tests.sandbox.macos.test_execute import stand_in, tmp_path  # noqa: F401 (fixtures)


def limited(workspace=None, allow=(), **limits):
    kw = {"workspace": str(workspace)} if workspace else {}
    return resolved(**kw).replace(limits=resolve_limits(limits), allow_unenforced=tuple(allow))


def test_plan_carries_rlimits_wall_and_what_is_not_enforced():
    p = build_plan(limited(cpu=1.5, wall="2m", memory="1G", **{"file-size": "1M"}), ["true"], {}, tmpdir="/x")
    assert p.rlimits == {"RLIMIT_CPU": [2, 3], "RLIMIT_FSIZE": [1 << 20, 1 << 20]}
    assert p.wall == 120.0
    assert p.unenforced == ["memory"]
    assert {e["key"]: e["enforced"] for e in p.resource_limits} == {
        "memory": False,
        "cpu": True,
        "wall": True,
        "file-size": True,
    }


def run(tmp_path, stand_in, argv, **limits):  # noqa: F811
    pol = limited(tmp_path, **limits)
    plan = execute.prepare(pol, argv, {"PATH": os.environ["PATH"], "RECORD": str(stand_in)})
    return execute.run(plan, platform="darwin")


def test_file_size_limit_stops_a_large_write(tmp_path, stand_in):  # noqa: F811
    """The write stops at 1M (the stand-in is a Python script, so the command inherits
    SIGXFSZ ignored and gets EFBIG; under the real sandbox-exec it dies of SIGXFSZ)."""
    big = tmp_path / "big"
    code = run(tmp_path, stand_in, ["sh", "-c", f"head -c 5000000 /dev/zero > {big}"], **{"file-size": "1M"})
    assert code != 0 and big.stat().st_size == 1 << 20
    assert (
        run(tmp_path, stand_in, ["sh", "-c", f"head -c 5000 /dev/zero > {big}"], **{"file-size": "1M"}) == 0
    )
    assert big.stat().st_size == 5000


def test_wall_limit_ends_the_command(tmp_path, stand_in, capsys):  # noqa: F811
    assert run(tmp_path, stand_in, ["sleep", "30"], wall=1) == 143
    assert "sandbox: wall limit 1s reached; the sandbox was ended" in capsys.readouterr().err
    assert run(tmp_path, stand_in, ["true"], wall=30) == 0


def test_unenforceable_limit_is_refused(tmp_path, stand_in, capsys):  # noqa: F811
    code = execute.main(limited(tmp_path, memory="1G"), ["true"], {}, platform="darwin")
    assert code == 125
    assert "memory=1G: macOS does not enforce" in capsys.readouterr().err
    pol = limited(tmp_path, allow=["limits"], memory="1G")
    assert (
        execute.main(pol, ["true"], {"PATH": os.environ["PATH"], "RECORD": str(stand_in)}, platform="darwin")
        == 0
    )


def test_plan_says_how_each_reached_limit_is_recognised():
    """As data: the signal the kernel sends at each rlimit (macOS numbers: SIGXCPU 24, SIGXFSZ
    25) and the exit status it shows as, the wall timer, and nothing for unenforced limits."""
    p = build_plan(
        limited(allow=["limits"], cpu=1, wall=5, memory="1G", **{"file-size": "1M"}),
        ["true"],
        {},
        tmpdir="/x",
    )
    got = {e["key"]: (e["reached_by"], e["signal"], e["exit_code"]) for e in p.resource_limits}
    assert got == {
        "memory": (None, None, None),
        "cpu": ("signal SIGXCPU (exit status 152)", "SIGXCPU", 152),
        "wall": ("the launcher's own timer", None, 143),
        "file-size": ("signal SIGXFSZ (exit status 153)", "SIGXFSZ", 153),
    }


def test_limit_reached_needs_evidence():
    from cordon.sandbox.macos.plan import limit_reached

    p = build_plan(limited(cpu=1, wall=5, **{"file-size": "1M"}), ["true"], {}, tmpdir="/x")
    assert limit_reached(p, 1) is None and limit_reached(p, 137) is None
    assert limit_reached(p, 152)["key"] == "cpu" and limit_reached(p, 153)["key"] == "file-size"
    assert limit_reached(p, 143) is None and limit_reached(p, 143, wall_ended=True)["key"] == "wall"
    # SIGXFSZ without a file-size limit is not this launcher's doing.
    assert limit_reached(build_plan(limited(cpu=1), ["true"], {}, tmpdir="/x"), 153) is None


def test_cpu_limit_is_reported_by_its_signal(tmp_path, stand_in, capsys):  # noqa: F811
    """For real, through the stand-in (rlimits work the same on this Linux host): a busy loop
    under cpu=1 gets SIGXCPU and the launcher names the limit; a short job is not named."""
    code = run(tmp_path, stand_in, ["python3", "-I", "-S", "-c", "while True: pass"], cpu=1)
    assert code == 152
    assert "sandbox: cpu limit 1s reached; the command was killed" in capsys.readouterr().err
    assert run(tmp_path, stand_in, ["python3", "-I", "-S", "-c", "sum(range(10**5))"], cpu=1) == 0
    assert "limit" not in capsys.readouterr().err
