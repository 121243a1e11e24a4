"""``sandbox version``: print Cordon's version (shared with ``execpolicy version``)."""

from cordon.policy.commands.version import register

__all__ = ["register"]
