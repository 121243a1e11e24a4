"""``sandbox doctor [--json]``: what this host supports and which engine ``run`` will use.

Every answer comes from probing (running bwrap, calling unshare/landlock/seccomp), never
from matching error text.
"""

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
It reads the configuration `sandbox run` would read here (~/.config/cordon/config.toml,
the project's .cordon.toml, --config files): its mode and fallback decide the engine, and an
invalid file is reported (exit 2, as run).

Examples:
  sandbox doctor
  sandbox doctor --json
  sandbox run --fallback landlock -- make test
"""


def register(app) -> None:
    import typer

    @app.command(
        "doctor",
        help="Show what this host supports (bwrap, user namespaces, Landlock, seccomp).",
        epilog=EXAMPLES,
    )
    def doctor(
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        config: list[str] = typer.Option(
            None, "--config", help="Also read this config file, as `sandbox run --config` does."
        ),
    ) -> None:
        raise typer.Exit(main_doctor(as_json, list(config or [])))


def _run_config(cwd: str, configs: list[str]) -> tuple[list[str], object, object]:
    """What ``sandbox run`` would read here: (config files, resolved policy or None, ConfigError or None)."""
    import os

    from cordon.sandbox.config import find_project_config, load_layers, to_inputs, user_config_path
    from cordon.sandbox.errors import ConfigError
    from cordon.sandbox.resolve import resolve

    upath = user_config_path()
    files = [f for f in (upath if os.path.isfile(upath) else None, find_project_config(cwd)) if f]
    files += configs
    try:
        return files, resolve(**to_inputs(load_layers(cwd, configs)), cwd=cwd), None
    except ConfigError as e:
        return files, None, e


def diagnose(cwd: str | None = None, configs: list[str] = ()) -> dict:
    """The doctor's findings as data, for the configuration ``sandbox run`` would use in ``cwd``
    (the user file, the project's ``.cordon.toml``, then ``configs``)."""
    import os
    import sys

    from cordon.sandbox._platform import current

    out: dict = {"platform": current(), "uid": os.geteuid() if hasattr(os, "geteuid") else None}
    cwd = os.path.realpath(cwd or os.getcwd())
    files, policy, config_error = _run_config(cwd, list(configs))
    out["config_files"] = files
    out["config_error"] = str(config_error) if config_error else None
    if out["platform"] != "linux":
        out["run_engine"] = "error" if config_error else out["platform"]
        return out
    from cordon.sandbox.linux import diagnose as _diagnose
    from cordon.sandbox.linux import probe
    from cordon.sandbox.linux.assemble import locate_bwrap

    # The same bwrap `run` would take: none from inside a writable root (the command could swap it).
    path, not_found = locate_bwrap(policy if policy is not None else _default_policy(cwd), os.environ)
    info = probe.bwrap_info(path) if path else None
    us = probe.userns_status()
    works, err = probe.bwrap_works(path) if path else (False, "")
    abi = probe.landlock_abi()
    sec = probe.seccomp_available()
    from cordon.sandbox.linux import inner

    native, why_python = inner.native_status()
    if os.environ.get("CORDON_INNER") == "python":
        native, why_python = None, "CORDON_INNER=python asks for it"
    out["bwrap"] = {
        "path": path,
        "version": info.version if info else None,
        "options": info.options if info else [],
        "works": works,
        "error": None if works else (err or not_found),
    }
    out["user_namespaces"] = {"available": us.available, "reason": us.reason}
    facts = _diagnose.facts(path)
    out["container"] = facts["container"] or ("user namespace" if facts["user_namespace"] else None)
    out["apparmor_restrict_unprivileged_userns"] = facts["apparmor_restrict"]
    out["landlock_abi"] = abi
    out["seccomp"] = sec
    out["inner_stage"] = True  # it ships with Cordon; the key stays for --json readers
    # Which program applies Landlock + seccomp inside: the same steps either way; the native
    # one saves a second Python interpreter's start-up (~10 ms) per launch.
    out["inner_executor"] = (
        {"kind": "native", "path": native}
        if native
        else {"kind": "python", "path": os.path.realpath(sys.executable), "why": why_python}
    )
    mode = policy.mode if policy else None
    fallback = policy.fallback if policy else "none"
    proxy = policy is not None and policy.network.mode == "proxy"
    if config_error:
        engine = "error"
        why = f"the configuration is invalid, `sandbox run` exits 2: {config_error}"
    elif mode == "danger-full-access":
        engine = "none"
        why = "the configuration says mode = danger-full-access: commands run UNCONFINED"
    elif works:
        engine = "bwrap"
        why = "bubblewrap works: namespaces + masks outside, Landlock + seccomp inside"
    elif fallback == "landlock" and abi and sec and not proxy:
        engine = "landlock"
        why = (
            "bubblewrap cannot run here and the configuration says fallback = landlock: Landlock + "
            "seccomp only (no namespaces, deny-read masks or private /tmp)"
        )
    else:
        engine = "refuse"
        why = "bubblewrap cannot run here: `sandbox run` exits 125; " + (
            us.reason if not us.available else (out["bwrap"]["error"] or "see the bwrap error")
        )
        if path:
            out["fix"] = _diagnose.fix(us.reason if not us.available else None, facts)
        if fallback == "landlock" and proxy:
            why += "; the proxied network needs bubblewrap, so fallback = landlock does not apply"
        elif abi and sec:
            why += "; " + _diagnose.fallback_offer()
    out["run_engine"] = engine
    out["explanation"] = why
    out["limits"] = limit_mechanisms(info, engine)
    return out


def limit_mechanisms(info, engine: str) -> dict:
    """For each resource limit, what would enforce it for this user on this host."""
    from cordon.sandbox.limits import Limits
    from cordon.sandbox.linux import limits

    sample = Limits(memory=1 << 30, pids=100, cpu=60.0, wall=60.0, file_size=1 << 30, tmp=None)
    lp = limits.plan(
        sample,
        bwrap_size=info is not None and info.has("--size"),
        under_bwrap=engine == "bwrap",
        private_tmp=engine == "bwrap",
    )
    return {
        e.key: {k: v for k, v in limits.as_data(e).items() if k not in ("key", "value", "shown")}
        for e in lp.entries
    }


def _default_policy(cwd: str):
    """The built-in defaults in ``cwd``, when the configuration cannot be read (its error is
    reported on its own): which bubblewrap `run` may use depends on the writable roots."""
    from cordon.sandbox.resolve import resolve

    return resolve(cwd=cwd)


def main_doctor(as_json: bool, configs: list[str] = ()) -> int:
    """Exit 0, or 2 when the configuration `sandbox run` would read is invalid (as run exits)."""
    import json

    from cordon.sandbox.errors import EXIT_USAGE
    from cordon.sandbox.status import status

    with status("probing this host for bubblewrap, user namespaces, Landlock, seccomp"):
        d = diagnose(configs=configs)
    code = EXIT_USAGE if d["config_error"] else 0
    if as_json:
        print(json.dumps(d, indent=2))
        return code
    print(f"platform: {d['platform']} (uid {d['uid']})")
    print(f"config: {', '.join(d['config_files']) or 'none (built-in defaults)'}")
    if d["config_error"]:
        print(f"  INVALID: {d['config_error']}")
    if "bwrap" in d:
        b = d["bwrap"]
        print(f"bubblewrap: {b['path'] or 'NOT FOUND'}" + (f" {b['version']}" if b["version"] else ""))
        print(f"  works: {'yes' if b['works'] else 'NO'}" + (f" ({b['error']})" if b["error"] else ""))
        print(f"  options: {', '.join(b['options'])}")
        u = d["user_namespaces"]
        print(f"user namespaces: {'yes' if u['available'] else 'NO: ' + u['reason']}")
        if d.get("container"):
            print(f"container: {d['container']}")
        if d.get("apparmor_restrict_unprivileged_userns") == 1:
            print(
                "AppArmor: restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)"
            )
        print(f"landlock ABI: {d['landlock_abi'] or 'none'}")
        print(f"seccomp: {'yes' if d['seccomp'] else 'no'}")
        ex = d["inner_executor"]
        print(
            f"inner stage: {'installed' if d['inner_stage'] else 'missing'}, "
            + (f"native ({ex['path']})" if ex["kind"] == "native" else f"Python ({ex['why']})")
        )
    for key, e in d.get("limits", {}).items():
        how = f"{e['mechanism']} ({e['scope']})" if e["enforced"] else f"NOT ENFORCEABLE: {e['why']}"
        print(f"limit {key}: {how}")
    print(f"sandbox run will use: {d['run_engine']} -- {d.get('explanation', '')}")
    if d["run_engine"] == "refuse":
        print(f"next: {_next_step(d)}")
    return code


def _next_step(d: dict) -> str:
    """The one thing to change when `sandbox run` would refuse (human output only)."""
    if not d["bwrap"]["path"]:
        if d["bwrap"]["error"] and "writable root" in d["bwrap"]["error"]:
            return d["bwrap"]["error"]
        return (
            "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)"
        )
    return d.get("fix") or "run `bwrap --ro-bind / / true` to see bubblewrap's own error"
