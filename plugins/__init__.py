"""Escalation policies as pluggy plugins: hookspecs, the host, decision merge, built-ins.

Plugin authors need only ``from plugins import hookimpl``; see :mod:`plugins.hookspecs`.
"""

import pluggy

hookimpl = pluggy.HookimplMarker("tierlift")

__all__ = ["hookimpl"]
