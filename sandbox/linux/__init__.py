"""Linux backend: bubblewrap outside, Landlock + seccomp inside.

Modules: ``probe`` (what the host supports, found by probing), ``bwrap`` (the bubblewrap
argv), ``assemble`` (policy + command -> a Launch; picks bwrap / landlock fallback /
danger), ``launch`` (runs it: signals, exit status, cleanup), ``plan`` (``build_plan``), the
inner stage (``inner``, ``landlock``, ``seccomp``) and the network bridge for proxy mode
(``proxy_bridge`` starts ``proxy_daemon``, Cordon's proxy for one sandbox, and puts
``proxy_forwarder`` inside the namespace).
Importable on any platform: nothing here touches the OS at import. Must not touch: the
policy model (sandbox.model) or other backends.
"""
