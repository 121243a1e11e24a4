"""How ``sandbox run`` starts fast: every start-up shortcut of the command, in one place.

``sandbox run -- true`` is measured against ``codex sandbox`` (bench/bench_launch.py), and a
Python interpreter alone takes ~9 ms of that, so the launcher imports as little as it can.
Everything else in cordon.sandbox is ordinary Python (the typer CLI in sandbox/cli.py, each
subcommand in sandbox/commands/); only this module knows the shortcuts, and
tests/sandbox/test_startup_imports.py keeps them honest (what ``sandbox run`` may import, and
that no other module reaches for a private CPython module):

* ``sandbox run`` is routed by sandbox/__main__.py before typer is imported (typer, pydantic
  and lark cost ~50 ms each); its arguments are parsed here, :func:`parse_run_args`, over the
  flag table in sandbox/config.py (KEYS). The typer command declares the same flags for
  ``--help`` and for callers of ``sandbox.cli.app``, and hands them back as argv (a test checks
  both accept exactly the same flags).
* the program leaves without the interpreter's finalization (policy/fastpath.py,
  ``exit_now``, shared with ``execpolicy``).
* no cyclic garbage collection while the program starts (:func:`collector_off`, from
  sandbox/__main__.py): the imports and the plan make tens of thousands of objects and no
  garbage worth a pass; the ~15 passes cost 2-3 ms. It is back on, with everything made so
  far frozen out of its passes (:func:`collector_on`), once bubblewrap is running: the
  launcher may then wait for hours while its supervisor answers the command's calls.
* the bare C modules instead of their Python wrappers, each imported on first use:
  :data:`thread` (``_thread``: ``threading`` imports ``collections``, ~3 ms), :data:`socket`
  (``_socket``: ``socket`` builds enums, ~30 ms), :data:`signal` (``_signal``: ``signal``
  imports ``enum``, ~5 ms), :data:`ctypes` (``_ctypes``, for ``get_errno``: ``ctypes`` builds
  its classes, ~5-10 ms); ``sha256`` comes from policy/fastpath.py (``hashlib`` loads OpenSSL).

Not shortcuts of this command but programs of their own, each with its own start-up budget:
the Python inner stage (sandbox/linux/inner.py, with sandbox/linux/landlock.py's small
``_ctypes`` binding and sandbox/linux/seccomp.py's loader, which run inside the sandbox before
exec, where only those modules are loaded) and the proxy forwarder
(sandbox/linux/proxy_forwarder.py).
"""

from __future__ import annotations

from cordon.sandbox.config import KEYS

from cordon.errors import ArgumentError

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs milliseconds here
if TYPE_CHECKING:  # pragma: no cover
    import _ctypes as ctypes  # noqa: F401
    import _signal as signal  # noqa: F401
    import _socket as socket  # noqa: F401
    import _thread as thread  # noqa: F401

# name here -> the C module it stands for (imported on first use: see __getattr__)
_C_MODULES = {"thread": "_thread", "socket": "_socket", "signal": "_signal", "ctypes": "_ctypes"}


def __getattr__(name: str):
    module = _C_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'cordon.sandbox.fastpath' has no attribute {name!r}")
    value = globals()[name] = __import__(module)
    return value


_collector_paused: list[bool] = []


def collector_off() -> None:
    """Pause the cyclic garbage collector (the ``sandbox`` program only, never an embedding
    process: see the module docstring)."""
    import gc

    if gc.isenabled():
        gc.disable()
        _collector_paused.append(True)


def collector_on() -> None:
    """Undo :func:`collector_off` (nothing if it did nothing): what was made during start-up is
    frozen (never scanned again), later objects are collected as usual."""
    if _collector_paused:
        import gc

        _collector_paused.clear()
        gc.freeze()
        gc.enable()


# --------------------------------------------------------------------------- `sandbox run` argv

# Flags that are not policy keys.
EXTRA_FLAGS = {"--config": "path", "--denials": "path"}
BOOL_FLAGS = {flag: key for key, (flag, kind) in KEYS.items() if kind == "bool"}
VALUE_FLAGS = {flag: key for key, (flag, kind) in KEYS.items() if kind != "bool"}


class UsageError(ArgumentError):
    """A mistake on the ``sandbox run`` command line (exit 2); the message says what to do."""


def all_flags() -> set[str]:
    """Every flag the parser accepts (the typer command must declare the same)."""
    return set(BOOL_FLAGS) | set(VALUE_FLAGS) | set(EXTRA_FLAGS)


def parse_run_args(args: list[str]) -> tuple[dict, list[str], list[str], bool]:
    """argv after ``run`` -> (flag options keyed like config, --config files, command, help)."""
    from cordon.sandbox.config import check_value

    opts: dict = {}
    configs: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return opts, configs, args[i + 1 :], False
        if a in ("-h", "--help"):
            return opts, configs, [], True
        if not a.startswith("-") or a == "-":
            return opts, configs, args[i:], False
        name, eq, inline = a.partition("=")
        if name in BOOL_FLAGS:
            if eq:
                raise UsageError(f"{name} takes no value (write {name} alone; see `sandbox run --help`)")
            key = BOOL_FLAGS[name]
            opts[key] = name != "--no-default-deny-read"
            i += 1
            continue
        if name in VALUE_FLAGS or name in EXTRA_FLAGS:
            if eq:
                value = inline
                i += 1
            elif i + 1 < len(args):
                value = args[i + 1]
                i += 2
            else:
                raise UsageError(f"{name} needs a value, e.g. {name} {_EXAMPLE_VALUE.get(name, 'VALUE')}")
            if name == "--config":
                configs.append(value)
                continue
            if name == "--denials":
                opts["denials"] = value  # not a policy key: main_run takes it out
                continue
            key = VALUE_FLAGS[name]
            from cordon.sandbox.errors import ConfigError

            try:
                if KEYS[key][1] == "list":
                    opts[key] = opts.get(key, []) + check_value(key, [value], name)
                elif KEYS[key][1] == "limits":
                    opts[key] = {**opts.get(key, {}), **check_value(key, [value], name)}
                else:
                    opts[key] = check_value(key, value, name)
            except ConfigError as e:
                # A limit's own key is named: `--limit memory: expected a size...`.
                what = f"{name} {e.field[7:]}" if (e.field or "").startswith("limits.") else name
                raise UsageError(f"{what}: {e.message} (see `sandbox run --help`)") from None
            continue
        raise UsageError(f"unknown option {name} (see `sandbox run --help`)")
    return opts, configs, [], False


# Shown when a value flag is given without its value.
_EXAMPLE_VALUE = {
    "--mode": "read-only",
    "--network": "proxy",
    "--allow-domain": "pypi.org",
    "--deny-domain": "evil.example",
    "--resolve": "api.test=127.0.0.1",
    "--fallback": "landlock",
    "--rules": "default",
    "--allow-unenforced": "network",
    "--allow-agent": "ssh",
    "--limit": "memory=512M",
    "--env-inherit": "core",
    "--env-set": "NAME=VALUE",
    "--config": "cordon.toml",
}
