"""The load and conformance harness: a fleet of simulated devices against any DM server URL.

Owns: the fleet mix (``mix``), the devices' identities (``fleet``), one device's session loop
with its faults (``device``), the lean session of an honest device (``lean``), the checks on
every server answer (``conformance``), how messages travel (``transport``, and the devices'
HTTP/1.1 client ``http1``), the figures (``stats``), the reports (``report``), the Locust
user and its events (``_locust``), the headless engine with its live
progress (``engine``), our own server to drive (``selfserver``) and the ``loadtest``
sub-command (``command``). May import: ``tools`` and every layer below it. Nothing imports
this package but the command-line entry (``omadm_codec.__main__``).

The one idea: a device is a ``ClientSession`` on a simulator tree (an honest one on the lean
path, which sends the same bytes and hands anything unusual to a ``ClientSession``), driven by
a transport; on
Locust it is a ``FastHttpUser`` (``_locust.user_class()``), so one machine or many generate the
load. Locust, and with it gevent, which monkey-patches the process, is imported only when a
run starts: importing any module of this package does not.
"""

from __future__ import annotations

from .conformance import KINDS, Violation
from .device import SessionResult, SimulatedDevice
from .fleet import DeviceSpec, Fleet
from .mix import FAULT_KINDS, FleetMix, MixError
from .transport import HttpxTransport, Reply, Transport, TransportError

__all__ = [
    "FAULT_KINDS", "KINDS", "DeviceSpec", "Fleet", "FleetMix", "HttpxTransport", "MixError",
    "Reply", "SessionResult", "SimulatedDevice", "Transport", "TransportError", "Violation",
]
