"""Resource limits: their overhead on `sandbox run -- true`, side by side with no limit.

* rlimits only (`--limit file-size=1G`: the inner stage sets one rlimit);
* every limit with a cgroup (as root here: a cgroup in three v1 hierarchies made and removed
  per launch, the launcher thread moved in and out, the watcher thread);
* the monitor: memory, pids and cpu with no cgroup to use (the cgroup filesystems remounted
  read-only in a mount namespace of the launcher's own, as in most containers), against no
  limit under the same wrapper: the ratio is the monitor's thread and its samples of the tree.

The /tmp report (one socketpair and two O_PATH descriptors per launch) is on for every launch
with a private /tmp (its default size is reported when full), so it is inside every variant.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from harness import Case

from tests.support.identities import READ_ONLY_CGROUPS  # the no-cgroup wrapper the tests use

LIMITS_ALL = ("memory=1G", "pids=256", "cpu=60", "wall=60", "file-size=1G", "tmp=1G")
LIMITS_MONITOR = ("memory=1G", "pids=256", "cpu=60")


def _limits(*kvs: str) -> list[str]:
    return [x for kv in kvs for x in ("--limit", kv)]


def cases(ctx) -> list[Case]:
    py = ctx["python"]
    installed = ctx.get("cordon_bin")
    cli = str(Path(installed) / "sandbox") if installed else str(Path(py).parent / "sandbox")
    ws = Path(tempfile.mkdtemp(prefix="cordon-bench-limits-"))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    variants = {
        "cordon, no --limit": [cli, "run", "--", "true"],
        "cordon --limit file-size=1G (rlimit)": [cli, "run", *_limits("file-size=1G"), "--", "true"],
        "cordon, every limit (cgroup where one can be made)": [
            cli,
            "run",
            *_limits(*LIMITS_ALL),
            "--",
            "true",
        ],
    }
    note = "every limit: " + " ".join(LIMITS_ALL)
    if os.geteuid() == 0 and shutil.which("unshare"):
        variants["no cgroup: cordon, no --limit"] = [*READ_ONLY_CGROUPS, cli, "run", "--", "true"]
        variants["no cgroup: cordon, memory+pids+cpu (the monitor)"] = [
            *READ_ONLY_CGROUPS,
            cli,
            "run",
            *_limits(*LIMITS_MONITOR),
            "--",
            "true",
        ]
        note += "; the monitor variants run under read-only cgroup filesystems (compare them with each other)"
    return [Case("sandbox run -- true with resource limits", variants, rounds=20, cwd=ws, env=env, note=note)]
