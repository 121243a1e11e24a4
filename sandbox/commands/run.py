"""``sandbox run [flags] -- CMD...``: run one command confined.

The ``sandbox`` program routes ``run`` here before typer is imported, and its arguments are
parsed on the fast path (sandbox/fastpath.py, ``parse_run_args``); the typer command below
declares the same flags for ``--help`` and for callers of ``sandbox.cli.app``.

Exit status: the command's own; 128+N if it died of signal N; 125 if the sandbox could
not be set up (the command was not run); 2 for a usage error.
"""

import os
import sys

from cordon.sandbox.fastpath import UsageError, all_flags, parse_run_args

EXIT_USAGE = 2


USAGE = """usage: sandbox run [flags] [--] CMD [ARGS...]

Run CMD confined (Linux: bubblewrap + Landlock + seccomp). Defaults: the current
directory is writable, everything else read-only, secrets hidden, /tmp private,
no network. Exit status: CMD's own; 128+N on signal N; 125 if the sandbox could not
be set up (CMD did not run).

flags:
  --mode read-only|workspace-write|danger-full-access
  --workspace DIR           writable workspace (default: current directory)
  --writable-root DIR       another writable root (repeatable)
  --read-only PATH          read-only carve-out inside a writable root (repeatable)
  --deny-read PATH          hide PATH (repeatable; added to the default secrets list)
  --no-default-deny-read    do not hide the default secrets list
  --allow-git-write         audited git mode: git commit works; hooks/config stay read-only
  --share-tmp               share the host's /tmp and /dev/shm (writable)
  --allow-agent ssh|gpg|docker|dbus  let that agent's socket (named by SSH_AUTH_SOCK, the gpg
                            agent, DOCKER_HOST/CONTAINER_HOST, DBUS_SESSION_BUS_ADDRESS) and its
                            variables through; by default they are masked and dropped (repeatable)
  --network off|on|proxy    default off
  --allow-domain D / --deny-domain D / --resolve HOST=ADDR / --net-log FILE  (proxy mode)
  --rules NAME_OR_FILE      take network_rule entries from a rules file
  --limit KEY=VALUE         a resource limit (repeatable): memory=512M (the whole tree),
                            pids=100, cpu=60 (seconds of CPU), wall=10m (then TERM, KILL),
                            file-size=1G, tmp=1G (the private /tmp and /dev/shm; default:
                            a quarter of RAM, at most 4G). --explain shows how each is enforced
  --allow-unenforced G      accept that this platform cannot enforce G (network | deny-read |
                            limits); without it Cordon refuses instead (exit 125)
  --fallback none|landlock  landlock: Landlock+seccomp only when bubblewrap cannot work
  --env-inherit all|core|none, --env-exclude PAT, --env-set NAME=VALUE,
  --env-include-only PAT, --env-ignore-default-excludes
  --config FILE             read a config file (ours, Codex config.toml, srt settings JSON)
  --denials FILE            append what the sandbox blocked to FILE (JSON Lines: layer, operation,
                            target, rule, allow_with), reads of hidden files included; a short
                            summary (writes, refused calls, network) goes to stderr either way
  --explain                 print what is writable, hidden and reachable before running

Examples:
  sandbox run -- make test
  sandbox run --explain --mode read-only -- ls -la
  sandbox run --allow-domain pypi.org -- pip index versions requests
  sandbox run --writable-root ~/.npm --network on --limit memory=2G -- npm ci
"""

# The examples at the end of USAGE, for the typer command's --help (same text, same order).
EXAMPLES = USAGE[USAGE.index("Examples:") :]


def resolve_for_cli(flags: dict, configs: list[str], cwd: str | None = None):
    """Flags + config files -> (merged options, the ResolvedPolicy: sandbox.resolve.resolve)."""
    from cordon.sandbox.config import load_layers, merge, to_inputs
    from cordon.sandbox.resolve import resolve

    cwd = cwd or os.getcwd()
    opts = merge([load_layers(cwd, configs), flags])
    return opts, resolve(**to_inputs(opts), cwd=cwd)


def _harden() -> None:
    from cordon.sandbox.fastpath import collector_on
    from cordon.sandbox.hardening import harden_process

    harden_process()
    collector_on()  # the sandbox is starting: the launcher may now wait for hours


def main_run(args: list[str]) -> int:
    """The whole of ``sandbox run``; returns the exit status."""
    from cordon.sandbox.errors import SandboxError

    try:
        flags, configs, cmd, want_help = parse_run_args(args)
    except UsageError as e:
        print(f"sandbox run: {e}", file=sys.stderr)
        return EXIT_USAGE
    if want_help:
        print(USAGE, end="")
        return 0
    if not cmd:
        print(
            "sandbox run: no command given; put it after `--`, e.g. sandbox run -- make test", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        recorder = denials_recorder(flags.pop("denials", None))
    except UsageError as e:
        print(f"sandbox run: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        opts, policy = resolve_for_cli(flags, configs)
        from cordon.sandbox import _platform

        level = observation_level(recorder.path)
        # Hardening this process (no core dumps, not ptrace-able) overlaps with the sandbox start.
        return _platform.backend().run_cli(
            policy,
            cmd,
            opts,
            recorder=None if level == "off" else recorder,
            watch=level,
            explain_failure=_why_setup_failed,
            after_start=_harden,
        )
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        hint = next_step(e)
        if hint:
            print(f"sandbox: hint: {hint}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"sandbox: cannot start the sandbox: {e}", file=sys.stderr)
        print(f"sandbox: hint: {_DOCTOR}", file=sys.stderr)
        return 125
    except Exception as e:  # a bug must not look like the command's own exit status
        import traceback

        traceback.print_exc()
        print(f"sandbox: internal error, the command was not run: {e!r}", file=sys.stderr)
        return 125


_DOCTOR = "`sandbox doctor` shows what this host supports"


def observation_level(denials_path: str | None) -> str:
    """How much to observe: with ``--denials FILE`` everything ("all": reads of hidden secrets
    too, which costs on read-heavy work), else writes and refused calls ("writes"; cheap).
    CORDON_DENIALS=all|writes|syscalls|off overrides (off only without --denials)."""
    level = os.environ.get("CORDON_DENIALS") or ("all" if denials_path else "writes")
    if level not in ("all", "writes", "syscalls", "off") or (level == "off" and denials_path):
        level = "all" if denials_path else "writes"
    return level


def denials_recorder(path: str | None):
    """Where this run's denials go (sandbox.denials); a JSON Lines file that cannot be opened is
    a usage error, found before anything runs."""
    from cordon.sandbox.denials import Recorder

    try:
        return Recorder(jsonl=path)
    except OSError as e:
        raise UsageError(f"--denials: cannot write {path}: {e.strerror}") from None


def next_step(e: Exception) -> str | None:
    """What to do about a SandboxError, when its message does not already say it."""
    hint = getattr(e, "hint", None)
    if hint is not None:  # the raiser knew the context ("" = the message says it all)
        return hint or None
    field = getattr(e, "field", None) or ""
    source = getattr(e, "source", None)
    text = str(e)
    if "invalid network pattern" in text:
        from cordon.sandbox.config import PATTERN_HINT

        return PATTERN_HINT
    if source and field:
        return f"fix that entry in {source}; its keys are the `sandbox run` flags without the dashes"
    if field:  # a flag's value: the message names it and what it expects
        if "does not exist or is not a directory" in text:
            return "create the directory, or point --workspace/--writable-root at an existing one"
        return None
    import shutil

    if shutil.which("bwrap") is None:
        return (
            "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap "
            "(Fedora), apk add bubblewrap (Alpine); then check with `sandbox doctor`"
        )
    return _DOCTOR


def userns_next_step(reason: str, *, doctor: bool = True) -> str:
    """The concrete fix for a host where bubblewrap cannot build a sandbox, then the explicit
    Landlock + seccomp mode with what it cannot enforce (sandbox/linux/diagnose.py)."""
    from cordon.sandbox.linux import diagnose, probe

    fix = diagnose.fix(reason, diagnose.facts(probe.find_bwrap()))
    return f"{fix}. Or: {diagnose.fallback_offer()}" + (f"; {_DOCTOR}" if doctor else "")


def _why_setup_failed() -> str | None:
    from cordon.sandbox.linux import probe

    us = probe.userns_status()
    if not us.available:
        return f"{us.reason}. Next: {userns_next_step(us.reason or '')}"
    from cordon.sandbox.linux import diagnose

    bwrap = probe.find_bwrap()
    f = diagnose.facts(bwrap)
    # Blame the host (AppArmor, the container) only when a minimal sandbox fails too; else the
    # cause is this launch's own (bubblewrap's message names it, e.g. a path that went away).
    suspect = f["apparmor_restrict"] == 1 or f["container"] or f["user_namespace"]
    if suspect and bwrap and not probe.bwrap_works(bwrap)[0]:
        return f"see bubblewrap's message above. Next: {userns_next_step('')}"
    return f"see bubblewrap's message above; {_DOCTOR}"


def register(app) -> None:
    import typer

    rep = list[str]

    @app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
        help="Run a command confined. Exit: the command's status, 128+N on signal N, 125 if the "
        "sandbox could not be set up.",
        epilog="\n" + EXAMPLES,
    )
    def run(
        ctx: typer.Context,
        mode: str = typer.Option(None, "--mode", help="read-only | workspace-write | danger-full-access"),
        workspace: str = typer.Option(None, "--workspace"),
        writable_root: rep = typer.Option(None, "--writable-root"),
        read_only: rep = typer.Option(None, "--read-only"),
        deny_read: rep = typer.Option(None, "--deny-read"),
        no_default_deny_read: bool = typer.Option(False, "--no-default-deny-read"),
        allow_git_write: bool = typer.Option(False, "--allow-git-write"),
        share_tmp: bool = typer.Option(False, "--share-tmp"),
        network: str = typer.Option(None, "--network", help="off | on | proxy"),
        allow_domain: rep = typer.Option(None, "--allow-domain"),
        deny_domain: rep = typer.Option(None, "--deny-domain"),
        resolve: rep = typer.Option(None, "--resolve"),
        net_log: str = typer.Option(None, "--net-log"),
        fallback: str = typer.Option(None, "--fallback", help="none | landlock"),
        rules: rep = typer.Option(None, "--rules"),
        allow_unenforced: rep = typer.Option(
            None,
            "--allow-unenforced",
            help="accept that this platform cannot enforce: network | deny-read | limits",
        ),
        limit: rep = typer.Option(
            None, "--limit", help="KEY=VALUE: memory, pids, cpu, wall, file-size, tmp (repeatable)"
        ),
        allow_agent: rep = typer.Option(None, "--allow-agent", help="ssh | gpg | docker | dbus"),
        explain: bool = typer.Option(False, "--explain"),
        env_inherit: str = typer.Option(None, "--env-inherit"),
        env_ignore_default_excludes: bool = typer.Option(False, "--env-ignore-default-excludes"),
        env_exclude: rep = typer.Option(None, "--env-exclude"),
        env_set: rep = typer.Option(None, "--env-set"),
        env_include_only: rep = typer.Option(None, "--env-include-only"),
        config: rep = typer.Option(None, "--config"),
        denials: str = typer.Option(None, "--denials", help="append what the sandbox blocked (JSON Lines)"),
    ) -> None:
        values = dict(locals())
        argv = [*rebuild_argv(values), "--", *ctx.args]
        raise typer.Exit(main_run(argv))


def rebuild_argv(values: dict) -> list[str]:
    """typer's parsed values -> the equivalent hand-parser argv."""
    out: list[str] = []
    for flag in sorted(all_flags()):
        pname = flag[2:].replace("-", "_")
        v = values.get(pname)
        if v is None or v is False or v == []:
            continue
        if v is True:
            out.append(flag)
        elif isinstance(v, list):
            for item in v:
                out += [flag, item]
        else:
            out += [flag, v]
    return out
