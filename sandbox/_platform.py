"""The platform, chosen once (psutil's ``_psplatform`` pattern): which backend confines here.

``NAME`` is this host's backend ("linux", "macos", "windows", or None where Cordon has none),
decided from ``sys.platform`` at import and nowhere else (tests/sandbox/test_platform_seam.py
forbids ``sys.platform`` in every other module of the sandbox). ``backend(name)`` returns the
backend package; each exposes the same functions over the same inputs:

* ``build_plan(policy, argv, environ, ...)``: the launch as data (a ``ResolvedPolicy`` in;
  reads the host, writes nothing, takes no lock);
* ``start(plan, ...)``: carry out a plan (every write and lock a launch needs is here);
* ``run_cli(policy, argv, environ, opts)``: ``sandbox run`` in the foreground (exit status);
* ``spawn(policy, argv, environ, fds, ...)``: the library's ``spawn`` (Linux only today).

Standard library only, nothing else imported: ``sandbox run`` goes through here.
"""

from __future__ import annotations

import sys

PLATFORMS = ("linux", "macos", "windows")

if sys.platform.startswith("linux"):
    NAME: str | None = "linux"
elif sys.platform == "darwin":
    NAME = "macos"
elif sys.platform.startswith("win"):
    NAME = "windows"
else:
    NAME = None


def current() -> str:
    """This host's backend name; SandboxError where Cordon has none."""
    if NAME is None:
        from cordon.sandbox.errors import SandboxError

        raise SandboxError(f"no sandbox backend for platform {sys.platform!r}")
    return NAME


def backend(name: str | None = None):
    """The backend package for ``name`` (default: this host's); ConfigError for an unknown name."""
    name = name or current()
    if name not in PLATFORMS:
        from cordon.sandbox.errors import ConfigError

        raise ConfigError(
            f"unknown platform {name!r} (expected one of {', '.join(PLATFORMS)})", field="platform"
        )
    import importlib

    return importlib.import_module(f"cordon.sandbox.{name}")


# ---- shared by the backends whose only launcher runs in the foreground (macOS, Windows) ----


def run_own_launcher(name: str, run, policy, argv, opts) -> int:
    """``run_cli`` of such a backend: ``--explain``'s one line, then ``run(policy, argv, env)``."""
    import os

    if opts.get("explain"):
        print(
            f"sandbox: engine {name}; writable: {', '.join(policy.writable_roots) or 'nothing'}",
            file=sys.stderr,
        )
    return run(policy, list(argv), dict(os.environ))


def no_spawn(name: str):
    """``spawn`` of such a backend: not offered (SandboxError)."""
    from cordon.sandbox.errors import SandboxError

    raise SandboxError(
        f"sandbox.spawn is implemented for Linux only; on {name} use the CLI (sandbox run) or "
        f"cordon.sandbox.{name}.run"
    )
