"""``execpolicy patch apply|check``: apply a patch like Codex's applier, or assess whether it may run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

patch_app = typer.Typer(
    name="patch",
    help="Apply an apply_patch text (Codex-compatible, all-or-nothing) or assess its safety.",
    no_args_is_help=True,
)


def _read_patch(file: Path | None) -> str:
    data = file.read_bytes() if file is not None else sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Fail("invalid_patch", None, f"the patch is not valid UTF-8 (byte {e.start})") from None


class _Fail(Exception):
    def __init__(self, kind: str, line: int | None, message: str):
        super().__init__(message)
        self.kind, self.line, self.message = kind, line, message


def _emit_error(kind: str, line: int | None, message: str) -> None:
    typer.echo(json.dumps({"error": {"kind": kind, "line": line, "message": message}}))
    raise typer.Exit(1)


@patch_app.command("apply")
def apply_cmd(
    cwd: Annotated[
        Path | None, typer.Option("--cwd", help="Directory the patch paths are relative to")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the patch from F, not stdin")
    ] = None,
) -> None:
    """Apply a patch (stdin or --file): Codex's output texts and exit codes; nothing changes on failure."""
    from policy.patch import apply_patch

    try:
        text = _read_patch(file)
    except _Fail as e:
        sys.stderr.write(f"Invalid patch: {e.message}\n")
        raise typer.Exit(1) from None
    except OSError as e:
        sys.stderr.write(f"cannot read {file}: {e.strerror}\n")
        raise typer.Exit(1) from None
    result = apply_patch(text, cwd=cwd)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.stdout.flush()
    raise typer.Exit(result.exit_code)


@patch_app.command("check", context_settings={"allow_interspersed_args": False})
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
    from policy.errors import PatchError
    from policy.patch import assess_patch, detect_patch

    effective = str(cwd)
    try:
        if command:
            found = detect_patch(command)
            if found.status != "patch":
                err = found.error
                if err is None:
                    _emit_error("not_patch", None, "the command is not an apply_patch invocation")
                    return
                _emit_error(err.kind, err.line, err.message)
                return
            patch = found.patch
            effective = found.effective_cwd(cwd)
        else:
            patch = _read_patch(None)
        result = assess_patch(
            patch,  # type: ignore[arg-type]
            cwd=effective,
            writable_roots=writable_root or (),
            sandbox=sandbox,
            approval=approval,
            platform_sandbox=not no_platform_sandbox,
            verify=not no_verify,
        )
    except _Fail as e:
        _emit_error(e.kind, e.line, e.message)
        return
    except PatchError as e:
        _emit_error(e.kind, e.line, e.message)
        return
    except ValueError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result.to_dict()))


def register(app: typer.Typer) -> None:
    app.add_typer(patch_app, name="patch")
