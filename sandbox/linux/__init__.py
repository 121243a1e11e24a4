"""Linux backend: bubblewrap outside, Landlock + seccomp inside.

Modules: ``probe`` (what the host supports, found by probing), ``bwrap`` (the bubblewrap
argv), ``assemble`` (policy + command -> a Launch; picks bwrap / landlock fallback /
danger), ``launch`` (runs it: signals, exit status, cleanup), ``plan`` (contract D,
``build_plan``), and the inner stage (``inner``, ``landlock``, ``seccomp``: contract E).
Importable on any platform: nothing here touches the OS at import. Must not touch: the
policy model (sandbox.model) or other backends.
"""
