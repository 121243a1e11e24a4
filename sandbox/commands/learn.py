"""``sandbox learn --output FILE [--check] [run flags] -- CMD...``: the smallest config that lets
CMD run, learned from what the sandbox denied it.

The command runs confined (the same walls as ``sandbox run`` with the given flags and config
files); each denial's ``allow_with`` (sandbox.denials) is a candidate grant. Grants are applied
and the command is run again until no new grant appears (at most ``MAX_ROUNDS`` runs: a
command often stops at its first failure). The result is a TOML file in the ``--config``
format, one comment per entry saying which denial needed it, plus the flags given here.

Never proposed, and listed as refused: ``danger-full-access``, ``/`` as a writable root, a
writable root that is a secret or holds one (a parent of a deny-read path or control socket),
un-hiding a secret, ``--network on`` (the host's whole network, unix sockets included), removing
an entry the user set (``--deny-read``, ``--deny-domain``, ``--read-only``), and anything
nothing may allow. ``--check`` runs the command once more under the learned file and fails
(exit 1) if a denial remains that learn did not knowingly refuse.

Exit status: 0 (file written; with --check, and no denial left), 1 (--check found one),
2 usage error, 125 the sandbox could not be set up.
"""

import os
import sys

from cordon.paths import within

MAX_ROUNDS = 4

EXAMPLES = """
Examples:
  sandbox learn --output cordon.toml -- make test
  sandbox learn --output cordon.toml --check -- make test
"""


def register(app) -> None:
    import typer

    @app.command(
        "learn",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Run a command confined, collect what the sandbox denied, and write the smallest "
        "config (TOML, for --config) that lets it run. Takes the same flags as `sandbox run`.",
        epilog=EXAMPLES,
    )
    def learn(
        ctx: typer.Context,
        output: str = typer.Option(..., "--output", "-o", help="where to write the learned TOML config"),
        check: bool = typer.Option(
            False, "--check", help="replay under the learned config; exit 1 if a denial remains"
        ),
    ) -> None:
        raise typer.Exit(main_learn(list(ctx.args), output, check))


class Proposal:
    """The grants learned so far, each with the denial that needed it; and what was refused."""

    def __init__(self) -> None:
        self.scalars: dict[str, tuple[object, str]] = {}  # key -> (value, why)
        self.lists: dict[str, dict[str, str]] = {}  # key -> {item: why}
        self.refused: dict[tuple, str] = {}  # denial key -> "what: why not"

    def add(self, key: str, value, why: str) -> bool:
        """Record a grant; False when it was already there."""
        if isinstance(value, list):
            items = self.lists.setdefault(key, {})
            new = [v for v in value if v not in items]
            for v in new:
                items[v] = why
            return bool(new)
        if key in self.scalars and self.scalars[key][0] == value:
            return False
        self.scalars[key] = (value, why)
        return True

    def options(self) -> dict:
        out = {k: v for k, (v, _) in self.scalars.items()}
        out.update({k: list(items) for k, items in self.lists.items()})
        return out


def propose(denials, policy, prop: Proposal) -> bool:
    """Fold ``denials`` into ``prop``; True when a new grant appeared."""
    import shlex

    secrets = [os.fspath(p) for p in (*policy.deny_read, *policy.deny_sockets)]
    grew = False
    for d in denials:
        why = f"{d.operation} {d.target} ({d.layer}: {d.rule})"
        allow = d.allow_with
        if d.layer == "env":
            continue  # withheld on purpose, not something the command asked for
        if allow is None:
            prop.refused[d.key] = f"{d.operation} {d.target}: nothing may allow it ({d.rule})"
            continue
        words = shlex.split(allow)
        if allow.startswith("remove "):
            prop.refused[d.key] = f"{d.operation} {d.target}: you set {allow[7:]} yourself"
        elif words == ["--no-default-deny-read"]:
            prop.refused[d.key] = (
                f"{d.operation} {d.target}: a hidden secret ({d.rule}); learn never un-hides one"
            )
        elif words[:1] == ["--writable-root"] or words[:2] == ["--mode", "workspace-write"]:
            grew |= _grant_root(d, words, secrets, prop, why)
        elif words == ["--share-tmp"]:
            parent = os.path.dirname(d.target)
            if parent not in ("/tmp", "/"):
                grew |= _grant_root(d, ["--writable-root", parent], secrets, prop, why)
            else:
                grew |= prop.add("share_tmp", True, why)
        elif words[:1] == ["--allow-domain"] and len(words) == 2:
            grew |= prop.add("network", "proxy", why)
            grew |= prop.add("allow_domains", [words[1]], why)
        elif words[:2] == ["--network", "proxy"]:
            grew |= prop.add("network", "proxy", why)  # the next round learns the hosts
        elif words == ["--network", "on"]:
            prop.refused[d.key] = (
                f"{d.operation} {d.target}: --network on gives the host's whole network and its unix "
                "sockets; Cordon does not propose it"
            )
        elif words == ["--allow-git-write"]:
            grew |= prop.add("allow_git_write", True, why)
        else:
            prop.refused[d.key] = f"{d.operation} {d.target}: no config entry proposed for {allow}"
    return grew


def _grant_root(d, words: list[str], secrets: list[str], prop: Proposal, why: str) -> bool:
    grew = False
    if words[:2] == ["--mode", "workspace-write"]:
        grew |= prop.add("mode", "workspace-write", why)
        words = words[2:]
    if not words:
        return grew
    root = os.path.normpath(words[1])
    bad = None
    if root == "/":
        bad = "/ as a writable root is no sandbox at all"
    else:
        hit = next((s for s in secrets if within(s, root) or within(root, s)), None)
        if hit is not None:
            bad = f"{root} is or holds a secret ({hit})"
    if bad:
        prop.refused[d.key] = f"{d.operation} {d.target}: {bad}"
        return grew
    roots = prop.lists.get("writable_roots", {})
    if any(within(root, r) for r in roots):
        return grew  # already covered by a broader learned root
    for r in [r for r in roots if within(r, root)]:
        del roots[r]  # a narrower one the new root covers
    return prop.add("writable_roots", [root], why) or grew


# --- the TOML file ----------------------------------------------------------------------------
def _toml_value(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    raise TypeError(v)


def _comment(text: str) -> str:
    from cordon.sandbox.denials import escape

    return escape(text).replace("\n", " ")


def render(given: dict, prop: Proposal, cmd: list[str]) -> str:
    import shlex

    lines = [
        "# Learned by `sandbox learn` for: " + _comment(shlex.join(cmd)),
        "# Use it with: sandbox run --config THIS_FILE -- " + _comment(shlex.join(cmd)),
    ]
    learned = prop.options()
    keys = list(dict.fromkeys([*given, *learned]))
    for key in keys:
        if key in prop.lists or isinstance(given.get(key), list):
            items = {v: "given on the command line" for v in given.get(key, [])}
            for v, why in prop.lists.get(key, {}).items():
                items.setdefault(v, why)
            lines.append(f"{key} = [")
            for v, why in items.items():
                lines.append(f"  {_toml_value(v)},  # {_comment(why)}")
            lines.append("]")
        else:
            value, why = prop.scalars.get(key, (given.get(key), "given on the command line"))
            lines.append(f"{key} = {_toml_value(value)}  # {_comment(why)}")
    if prop.refused:
        lines.append("# Not granted (learn never proposes these):")
        lines += [f"#   {_comment(r)}" for r in prop.refused.values()]
    return "\n".join(lines) + "\n"


# --- running --------------------------------------------------------------------------------
def _run_once(opts: dict, cmd: list[str]):
    """Run ``cmd`` confined under merged ``opts``; (exit status, denials)."""
    from cordon.sandbox.config import to_inputs
    from cordon.sandbox.denials import Recorder
    from cordon.sandbox.linux.assemble import assemble
    from cordon.sandbox.linux.launch import run_foreground
    from cordon.sandbox.resolve import resolve

    policy = resolve(**to_inputs(opts), cwd=os.getcwd())
    if policy.mode == "danger-full-access":
        from cordon.sandbox.errors import SandboxError

        raise SandboxError("learn runs the command confined; --mode danger-full-access has nothing to learn")
    recorder = Recorder()
    asm = assemble(policy, cmd, denials=recorder, watch="all")
    rc = run_foreground(asm.launch)
    return rc, recorder.denials, policy


def main_learn(args: list[str], output: str, check: bool) -> int:
    from cordon.sandbox.commands.run import next_step
    from cordon.sandbox.config import load_file, load_layers, merge
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.fastpath import UsageError, parse_run_args

    try:
        flags, configs, cmd, want_help = parse_run_args(args)
        if flags.pop("denials", None):
            raise UsageError("--denials is for `sandbox run`; learn writes its findings to --output")
    except UsageError as e:
        print(
            f"sandbox learn: {str(e).replace('sandbox run --help', 'sandbox learn --help')}", file=sys.stderr
        )
        return 2
    if want_help or not cmd:
        print(
            "sandbox learn: no command given; e.g. sandbox learn --output cordon.toml -- make test",
            file=sys.stderr,
        )
        return 2
    from cordon.sandbox import _platform

    if _platform.NAME != "linux":
        print("sandbox learn: needs Linux (the denial observer is a seccomp supervisor)", file=sys.stderr)
        return 2
    try:
        with open(output, "a", encoding="utf-8"):
            pass
    except OSError as e:
        print(f"sandbox learn: --output: cannot write {output}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        base = merge([load_layers(os.getcwd(), configs), flags])
        given = merge([*(load_file(c) for c in configs), flags])  # what the learned file must repeat
        prop = Proposal()
        rc = None
        for n in range(1, MAX_ROUNDS + 1):
            opts = merge([base, prop.options()])
            print(f"sandbox learn: run {n}: {' '.join(cmd)}", file=sys.stderr)
            rc, denials, policy = _run_once(opts, cmd)
            if not propose(denials, policy, prop):
                break
        with open(output, "w", encoding="utf-8") as f:
            f.write(render(given, prop, cmd))
        _report(output, prop, rc)
        if not check:
            return 0
        print(f"sandbox learn: --check: replaying under {output}", file=sys.stderr)
        replay = merge([load_layers(os.getcwd(), [output])])
        rc, denials, _ = _run_once(replay, cmd)
        left = [d for d in denials if d.layer != "env" and d.key not in prop.refused]
        if left:
            print(
                f"sandbox learn: --check FAILED: {len(left)} denial(s) remain under {output}:",
                file=sys.stderr,
            )
            for d in left:
                print(f"sandbox learn:   {d.describe()}", file=sys.stderr)
            return 1
        kept = len([d for d in denials if d.key in prop.refused])
        note = f" but the {kept} learn refused" if kept else ""
        print(
            f"sandbox learn: --check passed: no denial remains{note} (the command exited {rc})",
            file=sys.stderr,
        )
        return 0
    except SandboxError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        hint = next_step(e)
        if hint:
            print(f"sandbox: hint: {hint}", file=sys.stderr)
        return 2 if getattr(e, "source", None) or getattr(e, "field", None) else e.exit_code


def _report(output: str, prop: Proposal, rc) -> None:
    from cordon.sandbox.denials import escape

    learned = prop.options()
    if learned:
        print(f"sandbox learn: wrote {output}:", file=sys.stderr)
        for key, value in learned.items():
            print(f"sandbox learn:   {key} = {escape(repr(value))}", file=sys.stderr)
    else:
        print(
            f"sandbox learn: wrote {output}: nothing needed granting (the command exited {rc})",
            file=sys.stderr,
        )
    for r in prop.refused.values():
        print(f"sandbox learn:   refused: {escape(r)}", file=sys.stderr)
