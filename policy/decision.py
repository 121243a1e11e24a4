"""The command decision: may this argv run, sandboxed or not, or must the user be asked?

Combines, as Codex core does (``core/src/exec_policy.rs``): the shell split (policy.shell), the
``.rules`` verdict for every split command, the heuristics for commands no rule matched
(policy.safety), the approval policy and the sandbox mode. Result: allow (sandboxed or not),
prompt, or forbidden, with Codex's reason texts and the "approve and remember" prefix to offer.
Pure: no process is run and no file is written (amendments live in policy.amend).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cordon.policy.programs import data, program_name
from cordon.policy.safety import command_might_be_dangerous, is_known_safe_command
from cordon.policy.shell import CommandSplit, ParsedCommand, split_for_exec_policy

from cordon.errors import ArgumentError
from cordon.vocabulary import Approval, DecisionKind, parse_sandbox_mode, strictest

if TYPE_CHECKING:
    from cordon.policy.rules import Match


REASON_NEVER = "approval required by policy, but AskForApproval is set to Never"
REASON_GRANULAR_RULES = "approval required by policy rule, but AskForApproval::Granular.rules is false"
REASON_GRANULAR_SANDBOX = (
    "approval required by policy, but AskForApproval::Granular.sandbox_approval is false"
)
REASON_FORCED_RM = "rm -f style commands are not permitted. Use a safer approach"


@dataclass(frozen=True)
class Segment:
    """The verdict for one split command: from rules (``source="rule"``) or the heuristics."""

    command: ParsedCommand
    decision: DecisionKind
    source: Literal["rule", "heuristic"]
    matches: list[Match] = field(default_factory=list)  # the engine's matches of prefix rules
    why: str | None = None  # heuristic: "known-safe", "dangerous", "escalation", "untrusted", "sandboxed"
    # Every matched rule's program is the one the rules mean: a bare name, a declared host
    # executable, or a program in a system bin directory (``/tmp/git`` is not).
    trusted_programs: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": self.command.argv, "decision": self.decision, "source": self.source}
        if self.matches:
            out["matchedPrefixes"] = [m.matched_prefix for m in self.matches]
        if self.why:
            out["heuristic"] = self.why
        if self.command.redirects:
            out["redirects"] = True
        if self.command.assignments:
            out["assignments"] = self.command.assignments
        return out


@dataclass(frozen=True)
class Decision:
    """What a frontend should do with a command."""

    decision: DecisionKind
    bypass_sandbox: bool
    reason: str | None
    proposed_amendment: list[str] | None
    split: str = "whole"
    segments: list[Segment] = field(default_factory=list)

    @property
    def outcome(self) -> Literal["allow-sandboxed", "allow-unsandboxed", "ask", "reject"]:
        if self.decision == "forbidden":
            return "reject"
        if self.decision == "prompt":
            return "ask"
        return "allow-unsandboxed" if self.bypass_sandbox else "allow-sandboxed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "bypassSandbox": self.bypass_sandbox,
            "reason": self.reason,
            "proposedAmendment": self.proposed_amendment,
            "outcome": self.outcome,
            "split": self.split,
            "commands": [s.to_dict() for s in self.segments],
        }

    def to_json(self, pretty: bool = False) -> str:
        if pretty:
            return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


def _decide_patch(
    argv: list[str],
    approval: str | Approval,
    appr: Approval,
    sandbox: str,
    cwd: str | os.PathLike[str],
    writable_roots: Sequence[str | os.PathLike[str]],
) -> Decision | None:
    """The decision for an apply_patch invocation, or None when ``argv`` is not one."""
    from cordon.policy.errors import PatchError
    from cordon.policy.patch import assess_patch
    from cordon.policy.patch.detect import detect_patch

    found = detect_patch(argv)
    if found.status == "not_patch":
        return None
    if found.status != "patch":
        # A malformed or implicit patch never runs as a command: the model gets the error back.
        message = found.error.message if found.error else "invalid patch"
        return Decision("forbidden", False, message, None, split="patch")
    if isinstance(approval, Approval):
        approval = (
            appr.kind
            if appr.kind != "granular"
            else (
                f"granular:rules={str(appr.rules).lower()},sandbox_approval={str(appr.sandbox_approval).lower()}"
            )
        )
    try:
        verdict = assess_patch(
            found.patch,
            cwd=found.effective_cwd(cwd),
            writable_roots=writable_roots,
            sandbox=sandbox,
            approval=approval,
            session_cwd=cwd,
        )
    except PatchError as e:
        return Decision("forbidden", False, e.message, None, split="patch")
    kind = {"auto-approve": "allow", "ask": "prompt", "reject": "forbidden"}[verdict.decision]
    return Decision(kind, kind == "allow" and not verdict.sandboxed, verdict.reason, None, split="patch")


def rule_matches(policy: Any, argv: Sequence[str]) -> list[Match]:
    """The prefix rules of ``policy`` matching ``argv`` (host executables resolved, as core does)."""
    if policy is None:
        return []
    evaluation = policy.check(list(argv), resolve_host_executables=True)
    return [m for m in evaluation.matches if m.kind == "prefix"]


def _trusted_program(policy: Any, match: Match) -> bool:
    """Is the program ``match`` resolved to one the rule means (see ``Segment.trusted_programs``)?"""
    resolved = match.resolved_program
    if resolved is None:
        return True
    declared = getattr(policy, "host_executables", {}) or {}
    return resolved in declared.get(os.path.basename(resolved), ()) or program_name(resolved) is not None


def is_banned_prefix(prefix: Sequence[str]) -> bool:
    """True if ``prefix`` must never be offered as an "approve and remember" rule.

    Codex's banned list is exact (``["python3", "-c"]``); Cordon also compares the program's
    basename (``/usr/bin/python3``) and never proposes privilege/env wrappers or ``rm`` at all.
    """
    if not prefix:
        return True
    lists = data()
    candidates = {tuple(prefix), (os.path.basename(prefix[0]), *prefix[1:])}
    if any(tuple(b) in candidates for b in lists["banned_amendment_prefixes"]):
        return True
    return os.path.basename(prefix[0]) in lists["never_propose_programs"]


def _proposable(argv: list[str]) -> bool:
    return not is_banned_prefix(argv) and not command_might_be_dangerous(argv)


def decide(
    argv: Sequence[str],
    *,
    policy: Any = None,
    approval: str | Approval = "on-request",
    sandbox: str = "workspace-write",
    escalated: bool = False,
    additional_permissions: bool = False,
    requested_prefix: Sequence[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    writable_roots: Sequence[str | os.PathLike[str]] = (),
) -> Decision:
    """Decide whether ``argv`` may run.

    With ``cwd`` given, an apply_patch invocation (``apply_patch PATCH``, ``bash -lc 'apply_patch
    <<EOF ...'``, ``cd DIR && apply_patch <<EOF``) is judged as a patch, as Codex does: every path
    it touches is checked against ``cwd`` plus ``writable_roots`` (``policy.assess_patch``),
    instead of judging the words of the command.

    ``policy`` is a loaded ``policy.Policy`` (or None: heuristics only). ``escalated`` means the
    caller asks to run outside the sandbox (Codex's ``require_escalated``);
    ``additional_permissions`` that it asks for more than the sandbox grants.
    ``requested_prefix`` is the prefix the agent suggested remembering (Codex's ``prefix_rule``).
    """
    argv = list(argv)
    if not argv:
        raise ArgumentError("empty command")
    appr = Approval.parse(approval)
    sandbox = parse_sandbox_mode(sandbox)
    if cwd is not None:
        patch_decision = _decide_patch(argv, approval, appr, sandbox, cwd, writable_roots)
        if patch_decision is not None:
            return patch_decision
    restricted = sandbox in ("read-only", "workspace-write")
    split = split_for_exec_policy(argv)

    segments = []
    for command in split.commands:
        matches = rule_matches(policy, command.argv)
        if matches:
            worst = strictest(m.decision for m in matches)
            trusted = all(_trusted_program(policy, m) for m in matches)
            segments.append(Segment(command, worst, "rule", matches, trusted_programs=trusted))
        else:
            # A heredoc split keeps only the command's words; the body may be a script for a shell
            # (`bash <<EOF rm -rf x EOF`), so the dangerous check looks at the whole argv then.
            danger_argv = argv if split.complex else command.argv
            decision, why = _heuristic(
                command.argv,
                appr,
                restricted,
                escalated or additional_permissions,
                split.complex,
                danger_argv,
            )
            segments.append(Segment(command, decision, "heuristic", why=why))
    return _aggregate(argv, split, segments, appr, sandbox, restricted, escalated, requested_prefix)


def _heuristic(
    argv: list[str],
    appr: Approval,
    restricted: bool,
    wants_more: bool,
    complex_split: bool,
    danger_argv: list[str],
) -> tuple[DecisionKind, str]:
    """Codex's ``render_decision_for_unmatched_command`` (newest order)."""
    if wants_more and restricted:
        return ("forbidden" if appr.kind == "never" else "prompt"), "escalation"
    if appr.kind == "untrusted" and not complex_split and is_known_safe_command(argv):
        return "allow", "known-safe"
    if command_might_be_dangerous(danger_argv):
        return ("forbidden" if appr.kind == "never" else "prompt"), "dangerous"
    if appr.kind == "untrusted":
        return "prompt", "untrusted"
    return "allow", "sandboxed" if restricted else "unrestricted"


def _longest(matches: list[Match], decision: str) -> Match:
    return max((m for m in matches if m.decision == decision), key=lambda m: len(m.matched_prefix))


def _aggregate(
    argv: list[str],
    split: CommandSplit,
    segments: list[Segment],
    appr: Approval,
    sandbox: str,
    restricted: bool,
    escalated: bool,
    requested_prefix: Sequence[str] | None,
) -> Decision:
    cmd = shlex.join(argv)
    overall: DecisionKind = strictest(s.decision for s in segments)

    def result(decision: DecisionKind, bypass: bool, reason: str | None, amendment: list[str] | None):
        return Decision(decision, bypass, reason, amendment, split.kind, segments)

    if overall == "forbidden":
        by_rule = [m for s in segments if s.source == "rule" for m in s.matches if m.decision == "forbidden"]
        if by_rule:
            match = _longest(by_rule, "forbidden")
            if match.justification:
                return result("forbidden", False, f"`{cmd}` rejected: {match.justification}", None)
            prefix = shlex.join(match.matched_prefix)
            return result(
                "forbidden",
                False,
                f"`{cmd}` rejected: policy forbids commands starting with `{prefix}`",
                None,
            )
        heuristic = next(s for s in segments if s.decision == "forbidden")
        if heuristic.why == "dangerous":
            return result("forbidden", False, f"`{cmd}` rejected: {REASON_FORCED_RM}", None)
        return result("forbidden", False, f"`{cmd}` rejected: blocked by policy", None)

    bypass_if_approved = escalated or not restricted
    if overall == "prompt":
        rule_prompts = [
            m for s in segments if s.source == "rule" for m in s.matches if m.decision == "prompt"
        ]
        heuristic_prompts = [s for s in segments if s.source == "heuristic" and s.decision == "prompt"]
        if appr.kind == "never":
            return result("forbidden", False, REASON_NEVER, None)
        if appr.kind == "granular":
            if rule_prompts and not appr.rules:
                return result("forbidden", False, REASON_GRANULAR_RULES, None)
            if heuristic_prompts and not appr.sandbox_approval:
                return result("forbidden", False, REASON_GRANULAR_SANDBOX, None)
        if rule_prompts:
            match = _longest(rule_prompts, "prompt")
            reason = (
                f"`{cmd}` requires approval: {match.justification}"
                if match.justification
                else f"`{cmd}` requires approval by policy"
            )
        else:
            reason = _heuristic_reason(cmd, heuristic_prompts[0])
        amendment = _requested_amendment(requested_prefix, split, segments)
        if amendment is None and not rule_prompts and not split.complex:
            first = heuristic_prompts[0].command.argv
            amendment = first if _proposable(first) else None
        return result("prompt", bypass_if_approved, reason, amendment)

    # allow: unsandboxed only if every command matched an explicit allow rule (Codex), and
    # (beyond Codex) none of them had a redirection or VAR= prefix the rule never saw.
    # Beyond Codex: an allow rule for `git` reached through an undeclared path (`/tmp/git`) keeps
    # the command sandboxed; Codex would run that binary unsandboxed.
    all_rules = all(s.source == "rule" and s.trusted_programs for s in segments)
    plain = all(not s.command.redirects and not s.command.assignments for s in segments)
    bypass = (all_rules and plain) or not restricted
    if escalated and not bypass:
        # Only reached when every command is rule-allowed but kept sandboxed (above): the caller
        # asked to leave the sandbox and the rules do not cover that, so a human must.
        if appr.kind == "never":
            return result("forbidden", False, f"`{cmd}` rejected: blocked by policy", None)
        if appr.kind == "granular" and not appr.sandbox_approval:
            return result("forbidden", False, REASON_GRANULAR_SANDBOX, None)
        return result("prompt", True, f"`{cmd}` requires approval: it asks to run outside the sandbox", None)
    amendment = None
    if not bypass and not split.complex and appr.kind != "never":  # under never nobody is asked
        first = next((s.command.argv for s in segments if s.source == "heuristic"), None)
        if first is not None and _proposable(first):
            amendment = first  # offered in case the sandboxed run fails
    reason = None
    if all(s.source == "rule" for s in segments) and restricted and not bypass:
        reason = (
            "allowed by policy; kept in the sandbox because of a redirection or variable assignment"
            if not plain
            else "allowed by policy; kept in the sandbox because the program path is not a declared host executable"
        )
    return result("allow", bypass, reason, amendment)


def _heuristic_reason(cmd: str, segment: Segment) -> str:
    # Codex gives no reason text for heuristic prompts; Cordon explains which heuristic fired.
    part = shlex.join(segment.command.argv)
    return {
        "dangerous": f"`{cmd}` requires approval: `{part}` might be destructive (forced rm)",
        "escalation": f"`{cmd}` requires approval: it asks to run outside the sandbox",
        "untrusted": f"`{cmd}` requires approval: `{part}` is not a known-safe command",
    }.get(segment.why or "", f"`{cmd}` requires approval")


def _requested_amendment(
    requested: Sequence[str] | None, split: CommandSplit, segments: list[Segment]
) -> list[str] | None:
    """The agent's suggested prefix, if Codex would offer it (see execpolicy.md section 7)."""
    if not requested or split.complex:
        return None
    prefix = list(requested)
    if is_banned_prefix(prefix) or any(s.source == "rule" for s in segments):
        return None
    if not all(s.command.argv[: len(prefix)] == prefix for s in segments):
        return None
    return prefix
