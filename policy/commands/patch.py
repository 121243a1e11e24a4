"""``execpolicy patch apply|check``: apply a patch like Codex's applier, or assess whether it may run.

``run_apply`` is the typer-free core of ``patch apply`` (a hot path: one call per patch an agent
makes; policy/fastpath.py parses its arguments). Importing this module does not import typer.
"""

# No ``from __future__ import annotations`` here: typer reads the annotations of the commands
# defined inside register(), which name the locally imported typer.
import json
import sys
from pathlib import Path


class _Fail(Exception):
    def __init__(self, kind: str, line: int | None, message: str):
        super().__init__(message)
        self.kind, self.line, self.message = kind, line, message


def _read_patch(file: Path | None) -> str:
    data = file.read_bytes() if file is not None else sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Fail("invalid_patch", None, f"the patch is not valid UTF-8 (byte {e.start})") from None


def run_apply(cwd: str | Path | None, file: str | Path | None, confine: list[str] | None = None) -> int:
    """Apply the patch from ``file`` (or stdin) under ``cwd``; print Codex's texts; return the exit code.

    ``confine`` (a list, possibly empty, of extra writable roots) turns on Cordon's path checks."""
    from cordon.policy.patch import apply_patch

    try:
        text = _read_patch(Path(file) if file is not None else None)
    except _Fail as e:
        sys.stderr.write(f"Invalid patch: {e.message}\n")
        return 1
    except OSError as e:
        sys.stderr.write(
            f"cannot read {file}: {e.strerror} (pass a readable --file, or the patch on stdin)\n"
        )
        return 1
    result = apply_patch(text, cwd=cwd, confine=confine)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    return result.exit_code


def run_check(
    *,
    cwd: str,
    sandbox: str,
    approval: str,
    writable_roots: list[str],
    platform_sandbox: bool,
    verify: bool,
    command: list[str] | None,
) -> tuple[int, str]:
    """``patch check`` as data: (exit code, the JSON line to print). ValueError for bad policy names."""
    from cordon.policy.errors import PatchError
    from cordon.policy.patch import assess_patch, detect_patch

    def error(kind: str, line: int | None, message: str) -> tuple[int, str]:
        return 1, json.dumps({"error": {"kind": kind, "line": line, "message": message}})

    effective = cwd
    try:
        if command:
            found = detect_patch(command)
            if found.status != "patch" or found.patch is None:
                if found.error is None:
                    return error("not_patch", None, "the command is not an apply_patch invocation")
                return error(found.error.kind, found.error.line, found.error.message)
            patch = found.patch
            effective = found.effective_cwd(cwd)
            result = assess_patch(
                patch,
                cwd=effective,
                writable_roots=writable_roots,
                sandbox=sandbox,
                approval=approval,
                platform_sandbox=platform_sandbox,
                verify=verify,
                session_cwd=cwd,  # `cd DIR &&` moves where paths land, not what is writable
            )
        else:
            result = assess_patch(
                _read_patch(None),
                cwd=effective,
                writable_roots=writable_roots,
                sandbox=sandbox,
                approval=approval,
                platform_sandbox=platform_sandbox,
                verify=verify,
            )
    except (_Fail, PatchError) as e:
        return error(e.kind, e.line, e.message)
    return 0, json.dumps(result.to_dict())


# The leading newline keeps the indentation through typer's dedent of help texts.
APPLY_EXAMPLES = """
Examples:
  execpolicy patch apply --cwd . --file change.patch
  execpolicy patch apply --confine --cwd . < change.patch
"""
CHECK_EXAMPLES = """
Examples:
  execpolicy patch check --cwd . --sandbox workspace-write \\
      --approval on-request < change.patch
  execpolicy patch check --cwd . --sandbox read-only --approval never \\
      -- apply_patch "$(cat change.patch)"
"""
PATCH_EXAMPLES = """
Examples:
  execpolicy patch apply --cwd . --file change.patch
  execpolicy patch check --cwd . --sandbox workspace-write \\
      --approval on-request < change.patch
"""


def register(app) -> None:
    from typing import Annotated

    import typer

    patch_app = typer.Typer(
        name="patch",
        help="Apply an apply_patch text (Codex-compatible, all-or-nothing) or assess its safety.",
        no_args_is_help=True,
        epilog=PATCH_EXAMPLES,
    )

    @patch_app.command("apply", epilog=APPLY_EXAMPLES)
    def apply_cmd(
        cwd: Annotated[
            Path | None, typer.Option("--cwd", help="Directory the patch paths are relative to")
        ] = None,
        file: Annotated[
            Path | None, typer.Option("--file", "-f", help="Read the patch from F, not stdin")
        ] = None,
        confine: Annotated[
            bool,
            typer.Option(
                "--confine",
                help="Refuse paths outside --cwd and --writable-root, in .git/.codex/.agents, reached "
                "through symlinks out of them, or with several hard links (beyond Codex)",
            ),
        ] = False,
        writable_root: Annotated[
            list[str] | None, typer.Option("--writable-root", help="Extra writable root for --confine")
        ] = None,
    ) -> None:
        """Apply a patch (stdin or --file): Codex's output texts and exit codes; nothing changes on failure."""
        if writable_root and not confine:
            typer.echo("Error: --writable-root only makes sense with --confine", err=True)
            raise typer.Exit(2)
        raise typer.Exit(run_apply(cwd, file, (writable_root or []) if confine else None))

    @patch_app.command("check", context_settings={"allow_interspersed_args": False}, epilog=CHECK_EXAMPLES)
    def check_cmd(
        cwd: Annotated[Path, typer.Option("--cwd", help="Session working directory")],
        sandbox: Annotated[
            str, typer.Option("--sandbox", help="read-only | workspace-write | danger-full-access | external")
        ],
        approval: Annotated[
            str,
            typer.Option(
                "--approval",
                help="untrusted | on-request | on-failure | never | granular[:sandbox_approval=false]",
            ),
        ],
        writable_root: Annotated[
            list[str] | None, typer.Option("--writable-root", help="Extra writable root (repeatable)")
        ] = None,
        no_platform_sandbox: Annotated[
            bool, typer.Option("--no-platform-sandbox", help="No OS sandbox can contain the write")
        ] = False,
        no_verify: Annotated[
            bool, typer.Option("--no-verify", help="Do not require that the patch applies to the tree")
        ] = False,
        command: Annotated[
            list[str] | None,
            typer.Argument(
                help="A command to look for a patch in (apply_patch argv, bash -lc '...'); else stdin"
            ),
        ] = None,
    ) -> None:
        """Assess a patch (stdin, or found in COMMAND) -> JSON {decision, sandboxed, reason, changes}."""
        try:
            code, line = run_check(
                cwd=str(cwd),
                sandbox=sandbox,
                approval=approval,
                writable_roots=writable_root or [],
                platform_sandbox=not no_platform_sandbox,
                verify=not no_verify,
                command=command,
            )
        except ValueError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(2) from None
        typer.echo(line)
        raise typer.Exit(code)

    app.add_typer(patch_app, name="patch")
