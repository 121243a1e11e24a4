"""Locate (and on request install) the peers Cordon is measured against.

Peers live in a git-ignored cache (``.cache/peers``) and are never dependencies:
``npm install @openai/codex @anthropic-ai/sandbox-runtime`` gives the real Codex Rust
binary and ``srt``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "peers"
PACKAGES = ("@openai/codex", "@anthropic-ai/sandbox-runtime")


# srt shells out to these on Linux; without them it refuses to start.
SRT_SYSTEM_TOOLS = {"socat": "socat", "rg": "ripgrep", "bwrap": "bubblewrap"}


def install(quiet: bool = True) -> None:
    """npm-install the peers into the cache, and srt's system tools, if missing."""
    missing = [pkg for tool, pkg in SRT_SYSTEM_TOOLS.items() if not shutil.which(tool)]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], check=True, capture_output=quiet)
    if codex() and srt():
        return
    if not shutil.which("npm"):
        raise SystemExit("bench: npm is needed to install the peers (apt-get install npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), *PACKAGES],
        check=True,
        capture_output=quiet,
    )


def codex() -> Path | None:
    """The Codex Rust binary (not the node shim, which adds node's start-up)."""
    hits = sorted(glob.glob(str(CACHE / "node_modules/@openai/codex-linux-*/vendor/*/bin/codex")))
    return Path(hits[0]) if hits else None


def srt() -> Path | None:
    p = CACHE / "node_modules/.bin/srt"
    return p if p.exists() else None


def cordon_install(quiet: bool = True) -> Path:
    """A non-editable install of this checkout in .cache/bench-venv; returns its bin folder.

    Users install Cordon as a wheel (scripts/install.sh); a developer's editable install adds an
    import hook that costs ~20 ms at every start-up, so start-up is measured on the real thing.
    """
    venv = CACHE.parent / "bench-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(REPO)], check=True, capture_output=quiet)
    # Always refresh Cordon itself (not its dependencies) from the working tree.
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
        check=True,
        capture_output=quiet,
    )
    return venv / "bin"


def sandlock_python(install: bool = False) -> Path | None:
    """The interpreter of a venv in the cache that has sandlock (a Landlock+seccomp sandbox
    without namespaces, from PyPI), made on request. A separate venv: never a dependency."""
    venv = CACHE / "sandlock-venv"
    py = venv / "bin" / "python"
    if not py.exists() and install:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "sandlock"], check=True, capture_output=True)
    return py if py.exists() else None


def firejail() -> str | None:
    """firejail from the system (apt-get install firejail), when present."""
    return shutil.which("firejail")
