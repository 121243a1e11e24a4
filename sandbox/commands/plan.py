"""``sandbox plan --platform linux|macos|windows --json [run flags] -- CMD...``.

Prints the exact plan as data (Linux: bwrap argv, Landlock and seccomp rules, the
environment) without running anything. Takes the same flags as ``sandbox run``.
"""

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  sandbox plan --json -- make test
  sandbox plan --platform macos --json --mode read-only -- ls
  sandbox plan --platform windows --allow-domain pypi.org -- pip --version
"""


def register(app) -> None:
    import typer

    @app.command(
        "plan",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Show what `sandbox run` would do (as data), without running anything. "
        "Takes the same flags as `sandbox run`.",
        epilog=EXAMPLES,
    )
    def plan(
        ctx: typer.Context,
        platform: str = typer.Option(None, "--platform", help="linux | macos | windows (default: this host)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        raise typer.Exit(main_plan(list(ctx.args), platform, as_json))


def main_plan(args: list[str], platform: str | None, as_json: bool) -> int:
    import json
    import os
    import sys

    from cordon.sandbox import _platform
    from cordon.sandbox.commands.run import USAGE, observation_level, resolve_for_cli
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.fastpath import UsageError, parse_run_args

    try:
        flags, configs, cmd, want_help = parse_run_args(args)
        # What `sandbox run` would observe changes the seccomp program: plan with the same level
        # (the --denials file itself is neither opened nor made: a plan writes nothing).
        denials_path = flags.pop("denials", None)
    except UsageError as e:
        print(f"sandbox plan: {str(e).replace('sandbox run --help', 'sandbox plan --help')}", file=sys.stderr)
        return 2
    if want_help:
        print(USAGE.replace("sandbox run", "sandbox plan --platform P --json"), end="")
        return 0
    if not cmd:
        print(
            "sandbox plan: no command given; put it after `--`, e.g. sandbox plan --json -- make",
            file=sys.stderr,
        )
        return 2
    try:
        backend = _platform.backend(platform)
        _, policy = resolve_for_cli(flags, configs)
        level = observation_level(denials_path)
        plan = backend.build_plan(
            policy, cmd, dict(os.environ), preview=True, watch=None if level == "off" else level
        )
    except SandboxError as e:
        from cordon.sandbox.commands.run import next_step

        print(f"sandbox: {e}", file=sys.stderr)
        hint = next_step(e)
        if hint:
            print(f"sandbox: hint: {hint}", file=sys.stderr)
        return e.exit_code
    data = plan.as_data()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for k, v in data.items():
            print(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}")
    return 0
