"""Cordon's exec-policy engine: a pure library (no OS calls, no subprocesses).

Owns: the `.rules` language (Codex-compatible Starlark), matching, command assessment,
apply_patch parsing/safety, and the environment policy. Must not touch: the sandbox,
the network, or any process state. The `execpolicy` CLI is a thin shell over it.
"""
