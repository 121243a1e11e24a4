"""Command heuristics: "known safe" (read-only tools) and "might be dangerous" (forced ``rm``).

The lists are Codex's (``shell-command/src/command_safety``) and live in ``safety_data.json``
because Codex changes them between versions. Where Cordon is stricter than Codex it says so in a
comment and in docs/decisions.md. Pure functions; nothing here runs a process or reads a file
other than the packaged data.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence

from cordon.policy.programs import data, program_name
from cordon.policy.shell import SHELLS, literal_commands, split_plain, stdin_scripts

MAX_UNWRAP_DEPTH = 8  # Codex: deeper wrapper nesting counts as dangerous


# ---------------------------------------------------------------------------------------------
# Known safe


def _abbreviates(arg: str, long_option: str) -> bool:
    # GNU getopt_long (and git's parse-options) accept unique prefixes: `--outp` is `--output`.
    name = arg.split("=", 1)[0]
    return name.startswith("--") and len(name) >= 4 and long_option.startswith(name)


def is_known_safe_command(argv: Sequence[str]) -> bool:
    """Codex's ``is_known_safe_command``: a read-only tool, or a plain script of read-only tools."""
    argv = ["bash" if a == "zsh" else a for a in argv]  # Codex rewrites every `zsh` to `bash`
    if not argv:
        return False
    if is_safe_single_command(argv):
        return True
    commands = split_plain(argv)
    return bool(commands) and all(is_safe_single_command(c) for c in commands)


def is_safe_single_command(argv: Sequence[str]) -> bool:
    """The per-command check (argument-level rules for base64, find, rg, git, sed)."""
    if not argv:
        return False
    name = program_name(argv[0])
    if name is None:
        return False
    lists = data()
    if name in lists["always_safe"]:
        return True
    if name in lists["linux_only_safe"]:
        return sys.platform.startswith("linux")
    args = list(argv[1:])
    if name == "base64":
        return not any(_base64_writes(a) for a in args)
    if name == "find":
        return not any(a in lists["find_unsafe_args"] for a in args)
    if name == "rg":
        return not any(_rg_unsafe(a) for a in args)
    if name == "git":
        return _git_safe(args)
    if name == "sed":
        return len(argv) <= 4 and len(args) >= 2 and args[0] == "-n" and bool(_SED_PRINT.match(args[1]))
    return False


_SED_PRINT = re.compile(r"^(\d+,)?\d+p$")


def _base64_writes(arg: str) -> bool:
    if arg in ("-o", "--output") or arg.startswith("--output="):
        return True
    if arg.startswith("-o") and len(arg) > 2:
        return True
    # Beyond Codex: `-do out` (clustered) and `--outp=x` (abbreviated) also name an output file.
    if arg.startswith("-") and not arg.startswith("--") and "o" in arg[1:]:
        return True
    return _abbreviates(arg, "--output")


_RG_SHORT_WITH_VALUE = set("efgtTmABCEMjr")


def _rg_unsafe(arg: str) -> bool:
    lists = data()
    if arg in lists["rg_unsafe_flags"]:
        return True
    for option in lists["rg_unsafe_value_options"]:
        if arg == option or arg.startswith(option + "="):
            return True
    if arg.startswith("-") and not arg.startswith("--"):
        # Beyond Codex: a short-flag cluster such as `-iz` also turns on --search-zip.
        for ch in arg[1:]:
            if ch == "z":
                return True
            if ch in _RG_SHORT_WITH_VALUE:
                break
    return False


def _git_safe(args: list[str]) -> bool:
    lists = data()
    for a in args:
        if (
            a in ("-c", "--config-env")
            or (a.startswith("-c") and len(a) > 2)
            or a.startswith("--config-env=")
        ):
            return False
        # Beyond Codex: a global pager (`-p`) or a replaced exec path is not read-only either.
        if a in ("-p", "--paginate") or a == "--exec-path" or a.startswith("--exec-path="):
            return False
    with_value = lists["git_global_options_with_value"]
    i = 0
    subcommand = None
    while i < len(args):
        a = args[i]
        if a in with_value:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        subcommand = a
        break
    if subcommand not in lists["git_safe_subcommands"]:
        return False
    rest = args[i + 1 :]
    for a in rest:
        if a in lists["git_unsafe_args"] or any(a.startswith(p) for p in lists["git_unsafe_value_args"]):
            return False
        if any(_abbreviates(a, opt) for opt in lists["git_unsafe_args"]):
            return False
    if subcommand == "branch" and rest:
        flags = lists["git_branch_read_only_flags"]
        return all(a in flags or a.startswith("--format=") for a in rest)
    return True


# ---------------------------------------------------------------------------------------------
# Dangerous


def is_forced_rm(argv: Sequence[str]) -> bool:
    """``rm`` with ``--force`` (or an abbreviation) or a short-flag cluster holding ``f``, before ``--``.

    Also ``--no-preserve-root`` (beyond Codex): nobody needs it by accident.
    """
    if not argv or os.path.basename(argv[0]) != "rm":
        return False
    for a in argv[1:]:
        if a == "--":
            return False
        if a.startswith("--"):
            if _abbreviates(a, "--force") or a == "--no-preserve-root":
                return True
        elif a.startswith("-") and "f" in a[1:]:
            return True
    return False


def command_might_be_dangerous(argv: Sequence[str]) -> bool:
    """Codex's ``command_might_be_dangerous``: forced ``rm``, also through wrappers and scripts."""
    return _dangerous(list(argv), 0)


def _dangerous(argv: list[str], depth: int) -> bool:
    if depth > MAX_UNWRAP_DEPTH:
        return True
    if not argv:
        return False
    if is_forced_rm(argv):
        return True
    script = _script_of(argv)
    if script is not None:
        if any(_dangerous(cmd, depth + 1) for cmd in literal_commands(script)):
            return True
        return any(_dangerous(["sh", "-c", body], depth + 1) for body in stdin_scripts(script))
    return any(_dangerous(inner, depth + 1) for inner in unwrap_once(argv))


def _script_of(argv: list[str]) -> str | None:
    """The script of ``sh [-opts]c SCRIPT`` for any option cluster holding ``c``."""
    if os.path.basename(argv[0]) not in SHELLS | {"dash", "ksh", "ash", "busybox"}:
        return None
    args = argv[1:]
    if os.path.basename(argv[0]) == "busybox":
        if not args or args[0] not in SHELLS | {"ash"}:
            return None
        args = args[1:]
    seen_c = False
    for a in args:
        if a.startswith(("-", "+")) and a not in ("-", "--") and not a.startswith("--"):
            seen_c = seen_c or "c" in a[1:]
            continue
        if a.startswith("--"):
            continue
        return a if seen_c else None
    return None


def _skip_options(args: list[str], with_value: set[str], *, stop_at_assignment: bool = False) -> int:
    """Index of the first operand in ``args`` (options and their values skipped)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return i + 1
        if a.startswith("-") and len(a) > 1:
            if a in with_value:
                i += 2
                continue
            i += 1
            continue
        if stop_at_assignment and "=" in a and not a.startswith("="):
            i += 1  # VAR=value, skipped like an option
            continue
        return i
    return i


_SUDO_VALUE = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R", "--user", "--group"}
_ENV_VALUE = {"-u", "-C", "-P", "--unset", "--chdir"}
_TIMEOUT_VALUE = {"-s", "-k", "--signal", "--kill-after"}
_NICE_VALUE = {"-n", "--adjustment"}
_STDBUF_VALUE = {"-i", "-o", "-e", "--input", "--output", "--error"}
_IONICE_VALUE = {"-c", "-n", "--class", "--classdata"}
_TIME_VALUE = {"-o", "-f", "--output", "--format"}
_XARGS_VALUE = {"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter", "--max-args"}
_FLOCK_VALUE = {"-w", "-E", "--timeout", "--conflict-exit-code"}
_SIMPLE_WRAPPERS = {"nohup", "unbuffer", "setsid", "caffeinate", "command", "builtin", "exec", "doas"}


def unwrap_once(argv: Sequence[str]) -> list[list[str]]:
    """The command(s) a wrapper such as ``sudo``, ``env``, ``timeout`` or ``nice`` would run.

    Returns [] when ``argv`` is not a wrapper (or wraps nothing). Scripts handed to wrappers
    (``env -S``, ``trap``, ``eval``, ``watch``, ``flock -c``) come back as ``["sh", "-c", SCRIPT]``.
    """
    if not argv:
        return []
    name = os.path.basename(argv[0])
    args = list(argv[1:])
    if name == "sudo":
        rest = args[_skip_options(args, _SUDO_VALUE, stop_at_assignment=True) :]
        return [rest] if rest else []
    if name == "env":
        out: list[list[str]] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-S", "--split-string") and i + 1 < len(args):
                return [_split_words(args[i + 1]) + args[i + 2 :]]
            if a.startswith("--split-string=") or (a.startswith("-S") and len(a) > 2):
                value = a.split("=", 1)[1] if a.startswith("--") else a[2:]
                return [_split_words(value) + args[i + 1 :]]
            if a == "--":
                i += 1
                break
            if a in _ENV_VALUE:
                i += 2
            elif (a.startswith("-") and len(a) > 1) or ("=" in a and not a.startswith("=")):
                i += 1
            else:
                break
        rest = args[i:]
        if rest:
            out.append(rest)
        return out
    if name == "timeout":
        i = _skip_options(args, _TIMEOUT_VALUE)
        rest = args[i + 1 :]  # skip DURATION
        return [rest] if rest else []
    if name == "nice":
        i = _skip_options(args, _NICE_VALUE)
        return [args[i:]] if args[i:] else []
    if name in _SIMPLE_WRAPPERS:
        if name == "command" and any(a in ("-v", "-V") for a in args[:2]):
            return []
        value = {"-a"} if name == "exec" else set()
        i = _skip_options(args, value)
        return [args[i:]] if args[i:] else []
    if name == "stdbuf":
        i = _skip_options(args, _STDBUF_VALUE)
        return [args[i:]] if args[i:] else []
    if name == "ionice":
        if "-p" in args or "--pid" in args:
            return []
        i = _skip_options(args, _IONICE_VALUE)
        return [args[i:]] if args[i:] else []
    if name in ("chrt", "taskset"):
        if "-p" in args or "--pid" in args:
            return []
        i = _skip_options(args, set())
        rest = args[i + 1 :]  # skip the priority / CPU mask
        return [rest] if rest else []
    if name == "time":
        i = _skip_options(args, _TIME_VALUE)
        return [args[i:]] if args[i:] else []
    if name == "xargs":
        i = _skip_options(args, _XARGS_VALUE)
        return [args[i:]] if args[i:] else []
    if name == "busybox" and args:
        return [args]
    if name == "flock":
        for j, a in enumerate(args):
            if a in ("-c", "--command") and j + 1 < len(args):
                return [["sh", "-c", args[j + 1]]]
        i = _skip_options(args, _FLOCK_VALUE)
        rest = args[i + 1 :]  # skip the lock file
        return [rest] if rest else []
    if name == "watch":
        i = _skip_options(args, {"-n", "-d", "--interval", "--differences"})
        return [["sh", "-c", " ".join(args[i:])]] if args[i:] else []
    if name == "eval":
        return [["sh", "-c", " ".join(args)]] if args else []
    if name == "trap":
        return [["sh", "-c", args[0]]] if args and not args[0].startswith("-") else []
    if name == "find":
        return _find_exec_commands(args)
    return []


def _find_exec_commands(args: list[str]) -> list[list[str]]:
    out = []
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(args) and args[j] not in (";", "+"):
                j += 1
            if args[i + 1 : j]:
                out.append(args[i + 1 : j])
            i = j
        i += 1
    return out


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def unwrap_command(argv: Sequence[str]) -> list[str]:
    """Follow single-command wrappers (``sudo env A=1 timeout 5 nice rm ...`` -> ``rm ...``)."""
    current = list(argv)
    for _ in range(MAX_UNWRAP_DEPTH):
        inner = unwrap_once(current)
        if len(inner) != 1:
            break
        current = inner[0]
    return current
