"""Pydantic models of what the engine serialises (imported lazily: pydantic is slow to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cordon.vocabulary import DecisionKind


class PrefixRuleMatch(BaseModel):
    """One matched rule, with Codex's JSON field names."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    matched_prefix: list[str] = Field(alias="matchedPrefix")
    decision: DecisionKind
    resolved_program: str | None = Field(default=None, alias="resolvedProgram")
    justification: str | None = None
    match: Literal["exact", "anywhere"] | None = None  # Cordon's command_rule only


class RuleMatch(BaseModel):
    """``{"prefixRuleMatch": ...}`` (Codex) or ``{"commandRuleMatch": ...}`` (Cordon extension)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    prefix_rule_match: PrefixRuleMatch | None = Field(default=None, alias="prefixRuleMatch")
    command_rule_match: PrefixRuleMatch | None = Field(default=None, alias="commandRuleMatch")

    @property
    def match(self) -> PrefixRuleMatch:
        return self.prefix_rule_match or self.command_rule_match  # type: ignore[return-value]


class EvaluationModel(BaseModel):
    """The whole ``execpolicy check`` output."""

    matched_rules: list[RuleMatch] = Field(alias="matchedRules")
    decision: DecisionKind | None = None


class NetworkRule(BaseModel):
    """A ``network_rule(...)`` declaration after validation and host normalisation."""

    model_config = ConfigDict(frozen=True)

    host: str
    protocol: Literal["http", "https", "socks5_tcp", "socks5_udp"]
    decision: DecisionKind
    justification: str | None = None
    # Where it was declared: (file as given, or the name of inline text; line; column), 1-based.
    source: tuple[str, int, int] | None = None

    @property
    def location(self) -> str | None:
        """``FILE:LINE:COL`` of the declaration (what denials and the proxy's log name)."""
        return ":".join(str(x) for x in self.source) if self.source else None


class Diagnostic(BaseModel):
    """One ``execpolicy lint`` finding."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    column: int | None = None
    severity: Literal["error", "warning"]
    code: str
    message: str

    def __str__(self) -> str:
        where = ":".join(str(x) for x in (self.file, self.line, self.column) if x is not None)
        return f"{where}: {self.severity}[{self.code}]: {self.message}"
