"""How ``execpolicy`` starts fast: every start-up shortcut of the command, in one place.

An agent frontend runs ``execpolicy check`` (or ``decide``, ``assess``, ``patch apply``) once per
command, so such a process is nearly all start-up: the interpreter alone takes ~9 ms, Codex's
whole check ~10 ms. Everything else in cordon.policy is ordinary Python (the typer CLI in
policy/cli.py, each subcommand in policy/commands/); only this module knows the shortcuts, and
``bench/`` measures what they buy (tests/sandbox/test_startup_imports.py and the policy tests
keep them honest):

* the hot subcommands run straight from their argument lists, without building the typer app
  (typer + click cost ~50 ms): policy/__main__.py routes them, their parsers are here, and the
  typer commands hand their untouched arguments to the same ``run`` functions
  (policy/commands/_raw.py), so both routes behave identically.
* :func:`exit_now`: leave without the interpreter's finalization (~1.5 ms of module teardown
  after the answer is out) when nothing is registered to run at exit.
* :data:`sha256` and :func:`json_dumps`: the bare C modules (``hashlib`` loads OpenSSL,
  ``json`` imports ``re``), and JSON written exactly as serde_json prints it.

The parsed-policy stores (policy/cache.py) and the parser tables built at install time
(policy/starlark/syntax.py) are not shortcuts in this sense: they are data, believed under the
state-trust rules, and a library call uses them as the CLI does.
"""

from __future__ import annotations

import os
import sys

from cordon.errors import ArgumentError

try:  # the bare C module: `hashlib` would load OpenSSL (milliseconds) on the hot path
    from _sha256 import sha256
except ImportError:  # pragma: no cover - Python >= 3.12 names it _sha2
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256  # noqa: F401

_CHECK = "execpolicy check"


class Usage(ArgumentError):
    """A command-line mistake (exit 2); the message is what to print."""


# --------------------------------------------------------------------------- exit


def exit_now(code: int) -> None:
    """End the process with ``code``, skipping the interpreter's finalization when nothing is
    registered to run at exit and no other thread runs (else an ordinary ``sys.exit``)."""
    import atexit

    threading = sys.modules.get("threading")
    if atexit._ncallbacks() or (threading is not None and threading.active_count() > 1):
        sys.exit(code)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)  # let the normal exit report it
    os._exit(code)


# --------------------------------------------------------------------------- argument parsers


def _check_usage_missing(missing: list[str], used: list[str]) -> str:
    lines = "".join(f"  {m}\n" for m in missing)
    usage = " ".join(["--rules <PATH>", *used, "<COMMAND>..."])
    return (
        f"error: the following required arguments were not provided:\n{lines}\n"
        f"Usage: {_CHECK} {usage}\n\nFor more information, try '--help'.\n"
    )


def check_args(args: list[str]) -> dict:
    """``execpolicy check`` with clap's rules (what Codex's CLI accepts): options only before the
    first command token, which may start with ``-``; a first ``--`` is the separator. Raises
    :class:`Usage` with clap's text; ``{"help": True}`` for ``-h``/``--help``."""
    rules: list[str] = []
    flags = {"pretty": False, "resolve": False, "compat": False, "cache": True}
    used: list[str] = []
    command: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        if a == "--":
            command = args[i + 1 :]
            break
        if a in ("-r", "--rules") or a.startswith("--rules="):
            # clap: `-rX` is not `-r X` here; it starts the command (hyphen values allowed).
            if a.startswith("--rules="):
                if a == "--rules=":
                    raise Usage(
                        "error: a value is required for '--rules <PATH>' but none was supplied\n\n"
                        "For more information, try '--help'.\n"
                    )
                rules.append(a[len("--rules=") :])
            else:
                if i + 1 >= n:
                    raise Usage(
                        "error: a value is required for '--rules <PATH>' but none was supplied\n\n"
                        "For more information, try '--help'.\n"
                    )
                rules.append(args[i + 1])
                i += 1
        elif a in ("--pretty", "--resolve-host-executables"):
            key = "pretty" if a == "--pretty" else "resolve"
            if flags[key]:
                raise Usage(
                    f"error: the argument '{a}' cannot be used multiple times\n\n"
                    f"Usage: {_CHECK} [OPTIONS] --rules <PATH> <COMMAND>...\n\n"
                    "For more information, try '--help'.\n"
                )
            flags[key] = True
            used.append(a)
        elif a.startswith(("--pretty=", "--resolve-host-executables=")):
            flag, value = a.split("=", 1)
            usage = " ".join(["--rules <PATH>", *used, flag, "<COMMAND>..."])
            raise Usage(
                f"error: unexpected value '{value}' for '{flag}' found; no more were expected\n\n"
                f"Usage: {_CHECK} {usage}\n\nFor more information, try '--help'.\n"
            )
        elif a == "--codex-compat":
            flags["compat"] = True
        elif a == "--no-cache":
            flags["cache"] = False
        elif a in ("-h", "--help"):
            return {"help": True}
        elif a in ("-c", "--config", "--enable", "--disable"):
            i += 1  # Codex's global options; accepted and ignored
        elif a.startswith(("--config=", "--enable=", "--disable=")):
            pass
        else:
            command = args[i:]
            break
        i += 1
    missing = []
    if not rules:
        missing.append("--rules <PATH>")
    if not command:
        missing.append("<COMMAND>...")
    if missing:
        raise Usage(_check_usage_missing(missing, used))
    return {"rules": rules, "command": command, "help": False, **flags}


_DECIDE_VALUES = {"--rules": "rules", "-r": "rules", "--approval": "approval", "--sandbox": "sandbox"}
_DECIDE_VALUES["--prefix-rule"] = "prefix_rule"
_DECIDE_VALUES["--cwd"] = "cwd"
_DECIDE_VALUES["--writable-root"] = "writable_roots"
_DECIDE_FLAGS = {
    "--escalated": "escalated",
    "--additional-permissions": "additional_permissions",
    "--pretty": "pretty",
}


def decide_args(args: list[str]) -> dict:
    """``execpolicy decide``: options before the command; ``--`` ends them; the command may start with ``-``."""
    opts: dict = {
        "rules": [],
        "approval": "on-request",
        "sandbox": "workspace-write",
        "prefix_rule": None,
        "cwd": None,
        "writable_roots": [],
        "escalated": False,
        "additional_permissions": False,
        "pretty": False,
        "help": False,
    }
    i = 0
    command: list[str] = []
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if a == "--":
            command = args[i + 1 :]
            break
        if a in ("-h", "--help"):
            opts["help"] = True
            return opts
        if name in _DECIDE_VALUES and (eq or a in _DECIDE_VALUES):
            key = _DECIDE_VALUES[name]
            if eq:
                value = inline
            else:
                if i + 1 >= len(args):
                    raise Usage(f"error: a value is required for '{a}' but none was supplied")
                value = args[i + 1]
                i += 1
            if key in ("rules", "writable_roots"):
                opts[key].append(value)
            else:
                opts[key] = value
        elif a in _DECIDE_FLAGS:
            opts[_DECIDE_FLAGS[a]] = True
        elif a.startswith("--") and name not in _DECIDE_VALUES:
            raise Usage(f"error: unexpected argument '{a}' (put the command after `--`)")
        else:
            command = args[i:]
            break
        i += 1
    if not command:
        raise Usage("error: the following required arguments were not provided:\n  <COMMAND>...")
    opts["command"] = command
    return opts


def assess_args(args: list[str]) -> dict:
    """``execpolicy assess [--json] [--pretty] [--] CMD...``: options before the command."""
    opts = {"json": False, "pretty": False, "help": False, "command": []}
    for i, a in enumerate(args):
        if a == "--":
            opts["command"] = args[i + 1 :]
            break
        if a in ("-h", "--help"):
            opts["help"] = True
            return opts
        if a == "--json":
            opts["json"] = True
        elif a == "--pretty":
            opts["json"] = opts["pretty"] = True
        elif a.startswith("--"):
            raise Usage(
                f"error: unexpected argument '{a}' (put the command after `--`: "
                "execpolicy assess -- CMD...; see --help)"
            )
        else:
            opts["command"] = args[i:]
            break
    return opts


def patch_apply_args(args: list[str]) -> dict | None:
    """``patch apply [--cwd DIR] [--file F] [--confine] [--writable-root R]...``; None when the
    arguments need the typer command (``--help``, a typo, a repeated option...)."""
    opts: dict = {"cwd": None, "file": None}
    roots: list[str] = []
    confine = False
    i = 0
    while i < len(args):
        if args[i] == "--confine":
            confine, i = True, i + 1
            continue
        key = {"--cwd": "cwd", "--file": "file", "-f": "file", "--writable-root": "root"}.get(args[i])
        if key is None or i + 1 >= len(args) or (key != "root" and opts[key] is not None):
            return None
        if key == "root":
            roots.append(args[i + 1])
        else:
            opts[key] = args[i + 1]
        i += 2
    if roots and not confine:
        return None
    opts["confine"] = roots if confine else None
    return opts


# --------------------------------------------------------------------------- output


def json_dumps(obj, pretty: bool = False) -> str:
    """``obj`` (str, dict, list, tuple, None, bool, int) as serde_json prints it: compact, or
    pretty with 2 spaces. Strings use the C escaper ``json`` itself uses with
    ``ensure_ascii=False``, without importing ``json`` (imported here: the sandbox's fast path
    shares this module and prints no JSON)."""
    global _enc
    if _enc is None:
        try:
            from _json import encode_basestring as _enc
        except ImportError:  # pragma: no cover - CPython always has _json
            from json.encoder import py_encode_basestring as _enc
    out: list[str] = []
    _write(obj, out, 0 if pretty else None)
    return "".join(out)


_enc = None


def _write(o, out: list[str], indent: int | None) -> None:
    if isinstance(o, str):
        out.append(_enc(o))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        if indent is None:
            out.append("{")
            first = True
            for k, v in o.items():
                if not first:
                    out.append(",")
                first = False
                out.append(_enc(k))
                out.append(":")
                _write(v, out, None)
            out.append("}")
        else:
            pad = "  " * (indent + 1)
            out.append("{\n")
            first = True
            for k, v in o.items():
                if not first:
                    out.append(",\n")
                first = False
                out.append(pad + _enc(k) + ": ")
                _write(v, out, indent + 1)
            out.append("\n" + "  " * indent + "}")
    elif isinstance(o, list | tuple):
        if not o:
            out.append("[]")
            return
        if indent is None:
            out.append("[")
            for i, v in enumerate(o):
                if i:
                    out.append(",")
                _write(v, out, None)
            out.append("]")
        else:
            pad = "  " * (indent + 1)
            out.append("[\n")
            for i, v in enumerate(o):
                if i:
                    out.append(",\n")
                out.append(pad)
                _write(v, out, indent + 1)
            out.append("\n" + "  " * indent + "]")
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    else:
        out.append(repr(o))
