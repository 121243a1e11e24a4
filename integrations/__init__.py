"""Adapters that plug Cordon into agent frameworks and schedulers, one module per framework,
each behind its own optional extra of the ``cordon-sandbox`` distribution.

Must not touch: confinement or policy logic (that is ``cordon.sandbox`` and ``cordon.policy``);
an adapter only translates a framework's interface into Cordon's public API.
"""
