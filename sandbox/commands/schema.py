"""``sandbox schema``: JSON Schemas of Cordon's public data models, for non-Python callers.

A frontend in another language validates what it sends (a ``SandboxPolicy``) and what it
receives (an ``execpolicy check`` evaluation, a decision) against these.
"""

from __future__ import annotations

import json

import typer

# Public name -> "module:attribute" of the model that describes it.
MODELS: dict[str, str] = {
    "SandboxPolicy": "cordon.sandbox.model:SandboxPolicy",
    "NetworkPolicy": "cordon.sandbox.model:NetworkPolicy",
    "EnvironmentPolicy": "cordon.policy.envpolicy:EnvironmentPolicy",
    "Evaluation": "cordon.policy.models:EvaluationModel",
    "RuleMatch": "cordon.policy.models:RuleMatch",
    "NetworkRule": "cordon.policy.models:NetworkRule",
    "Decision": "cordon.sandbox.commands.schema:DecisionWire",
    "PatchAssessment": "cordon.sandbox.commands.schema:PatchAssessmentWire",
    "McpShellResult": "cordon.sandbox.mcp_server:ShellResult",
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

    from cordon.vocabulary import DecisionKind, PatchDecisionKind

    class _Wire(BaseModel):
        model_config = ConfigDict(extra="allow")

    class CommandWire(_Wire):
        command: list[str]
        decision: DecisionKind
        source: str = Field(description="'rule' or 'heuristic'")

    class DecisionWire(_Wire):
        """``policy.decide(...).to_dict()`` / ``execpolicy decide --json``."""

        decision: DecisionKind
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

        decision: PatchDecisionKind
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


def schema_of(name: str) -> dict:
    """The JSON Schema of public model ``name`` (wire names, i.e. aliases)."""
    import importlib

    from pydantic import BaseModel

    mod_name, _, attr = MODELS[name].partition(":")
    obj = getattr(importlib.import_module(mod_name), attr)
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        schema = obj.model_json_schema(by_alias=True)
    else:
        schema = obj.json_schema()  # a stdlib model that describes itself
    schema["title"] = name
    return schema


def all_schemas() -> dict[str, dict]:
    return {n: schema_of(n) for n in MODELS}


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
        list_only: bool = typer.Option(False, "--list", help="Only list the model names."),
    ) -> None:
        """Print JSON Schemas of the public models (SandboxPolicy, NetworkPolicy, Evaluation...)."""
        if list_only:
            for n in MODELS:
                typer.echo(n)
            return
        wanted = names or list(MODELS)
        unknown = [n for n in wanted if n not in MODELS]
        if unknown:
            typer.echo(
                f"error: unknown model {unknown[0]!r}; known: {', '.join(MODELS)} (`sandbox schema --list`)",
                err=True,
            )
            raise typer.Exit(2)
        if names and len(names) == 1:
            typer.echo(json.dumps(schema_of(names[0]), indent=2))
            return
        typer.echo(json.dumps({n: schema_of(n) for n in wanted}, indent=2))
