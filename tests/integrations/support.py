"""Helpers for the integration tests: run a framework program as an identity, and targets.

The programs run OUTSIDE any sandbox, as the host application would (root or the unprivileged
test account), with this venv's interpreter and the checkout on PYTHONPATH; they print JSON.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

from tests.support.identities import Identity


def run_program(identity: Identity, source: str, *args: str, scratch: Path, timeout: float = 240) -> object:
    """Run ``source`` as ``identity`` with ``args``; its last stdout line, parsed as JSON."""
    program = scratch / f"prog-{uuid.uuid4().hex[:8]}.py"
    program.write_text(source)
    program.chmod(0o644)
    cache = scratch / f"xdg-{identity.name}"
    cache.mkdir(exist_ok=True)
    os.chown(cache, identity.uid, identity.gid)
    env = identity.env(XDG_CACHE_HOME=str(cache / "cache"), XDG_CONFIG_HOME=str(cache / "config"))
    r = identity.run([sys.executable, str(program), *args], env=env, timeout=timeout)
    assert r.returncode == 0, f"program failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def outside_targets(identity: Identity) -> dict[str, Path]:
    """Files outside the workspace that the identity could write without a sandbox (home),
    or that only root could (/etc). Unique names; the caller removes them."""
    tag = uuid.uuid4().hex[:8]
    return {"etc": Path(f"/etc/cordon-probe-{tag}"), "home": identity.home / f"cordon-probe-{tag}"}


def remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
