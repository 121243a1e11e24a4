"""Driving Cordon's command-line tools from tests: a clean environment, a subprocess runner,
every command path of a typer app, and the example lines of a ``--help`` text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def cli_env(**extra: str) -> dict[str, str]:
    """This environment with the checkout importable, its scripts first on PATH, no forced width."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH", "LINES")}
    env.update(PYTHONPATH=str(REPO), PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}")
    env.update(extra)
    return env


def run_module(module: str, *args: str, cwd: Path | str = REPO, timeout: int = 120, **env: str):
    """``python -m MODULE ARGS`` (the console scripts' entry points), output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def command_paths(app) -> list[tuple[str, ...]]:
    """Every command path of a typer app: (), ("run",), ("rules", "list"), ..."""
    import typer.main

    out: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def examples(help_text: str) -> list[str]:
    """The example command lines after the last ``Examples:`` (``\\`` continuations joined)."""
    lines = [ln.strip() for ln in help_text.splitlines()]
    assert "Examples:" in lines, help_text
    tail = lines[len(lines) - lines[::-1].index("Examples:") :]
    out: list[str] = []
    pending = ""
    for ln in tail:
        if not ln:
            continue
        if pending:
            ln, pending = pending + " " + ln, ""
        if ln.endswith("\\"):
            pending = ln[:-1].rstrip()
            continue
        out.append(ln)
    return out
