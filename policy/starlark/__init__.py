"""A small, bounded Starlark: grammar (starlark.lark), parser (syntax) and evaluator (interp).

Owns the language only; it knows nothing about rules. The policy builtins are injected by
policy.builtins. Must not touch the OS beyond reading the grammar and its Lark cache.
"""
