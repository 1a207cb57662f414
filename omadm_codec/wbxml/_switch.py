"""The point where compiled loops over a large input let other threads run (issue 13).

``switch_point`` is Python code that does nothing. The compiled twins call it every few
thousand elements (``_ext/omadm_codec/wbxml/_handoff.pxd``): entering Python code is where the
interpreter honours a request for its lock from a thread that has waited a switch interval
(``sys.getswitchinterval()``, 5 ms by default), so a long compiled call gives way as Python
code would, and costs one function call (about 50 ns) when no thread waits.
"""

from __future__ import annotations


def switch_point() -> None:
    """Nothing: see the module docstring."""
