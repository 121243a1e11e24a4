"""The words Cordon's parts share, defined once: decisions, sandbox modes, approval policies
and the protected names. ``cordon.policy``, ``cordon.sandbox`` and ``cordon.netproxy`` import
them from here and define none of their own.

Standard library only, and nothing heavy: ``sandbox run`` imports this on every launch. A word
it does not know raises ``cordon.errors.ArgumentError`` (a ``ValueError``).
"""

from __future__ import annotations

from cordon.errors import ArgumentError

TYPE_CHECKING = False  # not typing's: ``sandbox run`` must not import typing (see __getattr__)

# A command's verdict, mildest first: combining verdicts keeps the strictest (Codex's order).
DECISIONS = ("allow", "prompt", "forbidden")
DECISION_RANK = {d: i for i, d in enumerate(DECISIONS)}  # 0 = mildest
# A patch's verdict (apply_patch safety), mildest first.
PATCH_DECISIONS = ("auto-approve", "ask", "reject")

if TYPE_CHECKING:  # the static view of the aliases __getattr__ builds from the tuples above
    from typing import Literal

    DecisionKind = Literal["allow", "prompt", "forbidden"]
    PatchDecisionKind = Literal["auto-approve", "ask", "reject"]
    ConfinementMode = Literal["read-only", "workspace-write", "danger-full-access"]
    NetworkMode = Literal["off", "on", "proxy"]


def _kind_aliases() -> dict:
    return {
        "DecisionKind": DECISIONS,
        "PatchDecisionKind": PATCH_DECISIONS,
        "ConfinementMode": CONFINEMENT_MODES,
        "NetworkMode": NETWORK_MODES,
    }


def __getattr__(name: str):
    """``DecisionKind`` / ``PatchDecisionKind`` / ``ConfinementMode`` / ``NetworkMode``: ``Literal`` types of the tuples above, built on
    first use (for pydantic models and annotations) so that importing this module stays free."""
    words = _kind_aliases().get(name)
    if words is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from typing import Literal

    value = Literal[words]
    globals()[name] = value
    return value


def strictest(decisions) -> str:
    """The strictest of ``decisions`` (an iterable of DECISIONS; ValueError when empty)."""
    return max(decisions, key=DECISION_RANK.__getitem__)


# Codex's sandbox modes. "external" means: another sandbox (not Codex's) confines the command.
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access", "external")
_SANDBOX_ALIASES = {"external-sandbox": "external"}
# The modes Cordon's own sandbox runs a command in (Codex's, less "external").
CONFINEMENT_MODES = SANDBOX_MODES[:3]
# What a sandboxed command may reach: nothing but its own loopback, the host's network, or
# only what the domain-filtering proxy allows.
NETWORK_MODES = ("off", "on", "proxy")


def parse_sandbox_mode(text: str) -> str:
    """A sandbox mode from its name (Codex's ``external-sandbox`` spelling is accepted)."""
    mode = _SANDBOX_ALIASES.get(text, text)
    if mode not in SANDBOX_MODES:
        raise ArgumentError(f"unknown sandbox mode {text!r}; expected one of {', '.join(SANDBOX_MODES)}")
    return mode


# Codex's AskForApproval values; ``granular`` takes options (see Approval.parse).
APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never", "granular")
# Older spellings Codex still reads.
_APPROVAL_ALIASES = {"unless-trusted": "untrusted", "onrequest": "on-request"}


class Approval:
    """An approval policy. ``granular`` carries Codex's ``rules`` and ``sandbox_approval`` switches
    (both true unless the text turns one off). Immutable and comparable."""

    __slots__ = ("kind", "rules", "sandbox_approval")

    def __init__(self, kind: str, rules: bool = True, sandbox_approval: bool = True):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "sandbox_approval", sandbox_approval)

    def __setattr__(self, name, value):
        raise AttributeError("Approval is immutable")

    def __eq__(self, other) -> bool:
        if not isinstance(other, Approval):
            return NotImplemented
        return (self.kind, self.rules, self.sandbox_approval) == (
            other.kind,
            other.rules,
            other.sandbox_approval,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.rules, self.sandbox_approval))

    def __repr__(self) -> str:
        return f"Approval({self.kind!r}, rules={self.rules}, sandbox_approval={self.sandbox_approval})"

    @classmethod
    def parse(cls, text: str | Approval) -> Approval:
        """``untrusted``, ``on-request``, ``on-failure``, ``never``, ``granular``, or
        ``granular:rules=false,sandbox_approval=true`` (``unless-trusted`` = ``untrusted``,
        ``onrequest`` = ``on-request``). The one parser every entry point uses."""
        if isinstance(text, Approval):
            return text
        kind, _, options = text.strip().partition(":")
        kind = _APPROVAL_ALIASES.get(kind, kind)
        if kind not in APPROVAL_POLICIES:
            raise ArgumentError(
                f"unknown approval policy {text!r}; expected one of {', '.join(APPROVAL_POLICIES)}"
            )
        values = {"rules": True, "sandbox_approval": True}
        if options:
            if kind != "granular":
                raise ArgumentError(f"approval policy {kind!r} takes no options (got {options!r})")
            for item in options.split(","):
                key, eq, value = (part.strip() for part in item.partition("="))
                key = key.replace("-", "_")
                if key not in values or not eq or value.lower() not in ("true", "false"):
                    raise ArgumentError(
                        f"bad granular option {item.strip()!r}; expected rules=true|false or "
                        "sandbox_approval=true|false"
                    )
                values[key] = value.lower() == "true"
        return cls(kind, values["rules"], values["sandbox_approval"])


# Names that stay read-only wherever they appear under a writable root (also when absent:
# the sandbox may not create them). They hold what later runs or steers the host's tools.
PROTECTED_NAMES = (".git", ".codex", ".agents")
