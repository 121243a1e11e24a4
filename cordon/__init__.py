"""Cordon: decide whether a command or a patch may run (``cordon.policy``), then run it
confined (``cordon.sandbox``), with a domain-filtering proxy for its network (``cordon.netproxy``)
and adapters for agent frameworks (``cordon.integrations``).

This module is only the namespace root: it imports nothing, because ``sandbox run`` passes
through it on every launch.
"""

import os as _os

__version__ = "0.2.0"

# In a wheel, setup.py maps the repository's top-level folders (policy/, sandbox/, netproxy/,
# integrations/, rules/) under cordon/. A source checkout keeps them beside this folder; let
# the same ``cordon.X`` names import there too, so tests and tools see one set of names. The
# marker files make sure this never fires in an installed site-packages.
_here = _os.path.dirname(_os.path.abspath(__file__))
_checkout = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "sandbox")) and _os.path.isfile(
    _os.path.join(_checkout, "sandbox", "linux", "__init__.py")
):
    __path__.append(_checkout)
