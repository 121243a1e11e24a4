"""``sandbox schema``: JSON Schemas of Cordon's public data models, for non-Python callers.

A frontend in another language validates what it sends (a ``SandboxPolicy``) and what it
receives (an ``execpolicy check`` evaluation, a decision) against these. Only models that
exist in this install are printed; the list is data, not code, so a model that lands
later appears without a change here.
"""

from __future__ import annotations

import json

import typer

# Public name -> "module:attribute". The first that imports wins for each name.
MODELS: dict[str, tuple[str, ...]] = {
    "SandboxPolicy": ("sandbox.model:SandboxPolicy",),
    "NetworkPolicy": ("sandbox.model:NetworkPolicy",),
    "ResolvedPolicy": ("sandbox.model:ResolvedPolicy",),
    "EnvironmentPolicy": ("policy.envpolicy:EnvironmentPolicy",),
    "Evaluation": ("policy.models:EvaluationModel", "policy.engine:Evaluation"),
    "RuleMatch": ("policy.models:RuleMatch",),
    "NetworkRule": ("policy.models:NetworkRule",),
    "Decision": ("sandbox.commands.schema:DecisionWire",),
    "PatchAssessment": ("policy.patch:PatchAssessmentModel", "sandbox.commands.schema:PatchAssessmentWire"),
    "McpShellResult": ("sandbox.mcp_server:ShellResult",),
}


# policy.decision.Decision and policy.patch.PatchAssessment are dataclasses with a to_dict();
# these describe that JSON (the tests validate real outputs against them, so drift shows).
# Built on first use: this module is imported whenever the CLI is, and pydantic is not cheap.
_WIRE: dict[str, type] = {}


def _wire_models() -> dict[str, type]:
    if _WIRE:
        return _WIRE
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field

    class _Wire(BaseModel):
        model_config = ConfigDict(extra="allow")

    class CommandWire(_Wire):
        command: list[str]
        decision: Literal["allow", "prompt", "forbidden"]
        source: str = Field(description="'rule' or 'heuristic'")

    class DecisionWire(_Wire):
        """``policy.decide(...).to_dict()`` / ``execpolicy decide --json``."""

        decision: Literal["allow", "prompt", "forbidden"]
        bypassSandbox: bool
        reason: str | None
        proposedAmendment: list[str] | None
        outcome: Literal["allow-sandboxed", "allow-unsandboxed", "ask", "reject"]
        split: str
        commands: list[CommandWire]

    class PatchChangeWire(_Wire):
        path: str
        kind: Literal["add", "delete", "update"]
        movePath: str | None

    class PathProblemWire(_Wire):
        path: str
        problem: str

    class PatchAssessmentWire(_Wire):
        """``policy.assess_patch(...).to_dict()``."""

        decision: Literal["auto-approve", "ask", "reject"]
        sandboxed: bool
        reason: str | None
        changes: list[PatchChangeWire]
        problems: list[PathProblemWire]

    _WIRE.update(
        DecisionWire=DecisionWire,
        PatchAssessmentWire=PatchAssessmentWire,
        CommandWire=CommandWire,
        PatchChangeWire=PatchChangeWire,
        PathProblemWire=PathProblemWire,
    )
    return _WIRE


def __getattr__(name: str):
    models = _wire_models()
    if name in models:
        return models[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_of(name: str) -> dict | None:
    """The JSON Schema of public model ``name`` (wire names, i.e. aliases), or None if absent."""
    import importlib

    from pydantic import BaseModel

    for target in MODELS[name]:
        mod_name, _, attr = target.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError):
            continue
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            schema = obj.model_json_schema(by_alias=True)
        elif callable(getattr(obj, "json_schema", None)):
            schema = obj.json_schema()
        else:
            continue  # not a schema-bearing model (e.g. a plain dataclass): try the next target
        schema["title"] = name
        return schema
    return None


def all_schemas() -> dict[str, dict]:
    return {n: s for n in MODELS if (s := schema_of(n)) is not None}


# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Examples:
  sandbox schema --list
  sandbox schema SandboxPolicy > sandbox-policy.schema.json
  sandbox schema Decision Evaluation
"""


def register(app: typer.Typer) -> None:
    @app.command("schema", epilog=EXAMPLES)
    def schema(
        names: list[str] = typer.Argument(None, help="Model names (default: all). See --list."),
        list_only: bool = typer.Option(False, "--list", help="Only list the model names available."),
    ) -> None:
        """Print JSON Schemas of the public models (SandboxPolicy, NetworkPolicy, Evaluation...)."""
        if list_only:
            for n in MODELS:
                typer.echo(f"{n}{'' if schema_of(n) is not None else '  (not available in this install)'}")
            return
        wanted = names or list(MODELS)
        unknown = [n for n in wanted if n not in MODELS]
        if unknown:
            typer.echo(
                f"error: unknown model {unknown[0]!r}; known: {', '.join(MODELS)} (`sandbox schema --list`)",
                err=True,
            )
            raise typer.Exit(2)
        out = {n: s for n in wanted if (s := schema_of(n)) is not None}
        if names and len(names) == 1:
            if not out:
                typer.echo(f"error: {names[0]} is not available in this install", err=True)
                raise typer.Exit(1)
            typer.echo(json.dumps(out[names[0]], indent=2))
            return
        typer.echo(json.dumps(out, indent=2))
