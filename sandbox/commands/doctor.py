"""``sandbox doctor [--json]``: what this host supports and which engine ``run`` will use.

Every answer comes from probing (running bwrap, calling unshare/landlock/seccomp), never
from matching error text.
"""

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
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
    def doctor(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        raise typer.Exit(main_doctor(as_json))


def diagnose(cwd: str | None = None) -> dict:
    """The doctor's findings as data."""
    import os
    import sys

    from cordon.sandbox.backend import current

    out: dict = {"platform": current(), "uid": os.geteuid() if hasattr(os, "geteuid") else None}
    if not sys.platform.startswith("linux"):
        out["run_engine"] = out["platform"]
        return out
    from cordon.sandbox.linux import probe

    cwd = os.path.realpath(cwd or os.getcwd())
    path = probe.find_bwrap([cwd])
    info = probe.bwrap_info(path) if path else None
    us = probe.userns_status()
    works, err = probe.bwrap_works(path) if path else (False, "")
    abi = probe.landlock_abi()
    sec = probe.seccomp_available()
    try:
        from cordon.sandbox.linux import inner

        inner_ok = True
        native, why_python = inner.native_status()
        if os.environ.get("CORDON_INNER") == "python":
            native, why_python = None, "CORDON_INNER=python asks for it"
    except ImportError:
        inner_ok, native, why_python = False, None, "the inner stage is missing"
    out["bwrap"] = {
        "path": path,
        "version": info.version if info else None,
        "options": info.options if info else [],
        "works": works,
        "error": None
        if works
        else (err or ("not found on PATH outside the workspace" if not path else None)),
    }
    out["user_namespaces"] = {"available": us.available, "reason": us.reason}
    out["landlock_abi"] = abi
    out["seccomp"] = sec
    out["inner_stage"] = inner_ok
    # Which program applies Landlock + seccomp inside: the same steps either way; the native
    # one saves a second Python interpreter's start-up (~10 ms) per launch.
    out["inner_executor"] = (
        {"kind": "native", "path": native}
        if native
        else {"kind": "python", "path": os.path.realpath(sys.executable), "why": why_python}
    )
    if works:
        engine = "bwrap"
        why = "bubblewrap works: namespaces + masks outside, " + (
            "Landlock + seccomp inside" if inner_ok else "no inner stage installed"
        )
    else:
        engine = "refuse"
        why = "bubblewrap cannot run here: `sandbox run` exits 125; " + (
            us.reason if not us.available else (out["bwrap"]["error"] or "see the bwrap error")
        )
        if abi and sec and inner_ok:
            why += "; --fallback=landlock would run with Landlock + seccomp only"
    out["run_engine"] = engine
    out["explanation"] = why
    return out


def main_doctor(as_json: bool) -> int:
    import json

    from cordon.sandbox.status import status

    with status("probing this host for bubblewrap, user namespaces, Landlock, seccomp"):
        d = diagnose()
    if as_json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"platform: {d['platform']} (uid {d['uid']})")
    if "bwrap" in d:
        b = d["bwrap"]
        print(f"bubblewrap: {b['path'] or 'NOT FOUND'}" + (f" {b['version']}" if b["version"] else ""))
        print(f"  works: {'yes' if b['works'] else 'NO'}" + (f" ({b['error']})" if b["error"] else ""))
        print(f"  options: {', '.join(b['options'])}")
        u = d["user_namespaces"]
        print(f"user namespaces: {'yes' if u['available'] else 'NO: ' + u['reason']}")
        print(f"landlock ABI: {d['landlock_abi'] or 'none'}")
        print(f"seccomp: {'yes' if d['seccomp'] else 'no'}")
        ex = d["inner_executor"]
        print(
            f"inner stage: {'installed' if d['inner_stage'] else 'missing'}, "
            + (f"native ({ex['path']})" if ex["kind"] == "native" else f"Python ({ex['why']})")
        )
    print(f"sandbox run will use: {d['run_engine']} -- {d.get('explanation', '')}")
    if d["run_engine"] == "refuse":
        print(f"next: {_next_step(d)}")
    return 0


def _next_step(d: dict) -> str:
    """The one thing to change when `sandbox run` would refuse (human output only)."""
    from cordon.sandbox.commands.run import userns_next_step

    if not d["bwrap"]["path"]:
        return (
            "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)"
        )
    us = d["user_namespaces"]
    if not us["available"]:
        return userns_next_step(us["reason"] or "", doctor=False)
    return "run `bwrap --ro-bind / / true` to see bubblewrap's own error; --fallback=landlock avoids it"
