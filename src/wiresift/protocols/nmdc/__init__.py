"""Direct Connect, NMDC dialect (direct-connect/protocols ``nmdc/nmdc.md``): registration.

``SPEC`` covers hub connections and client-to-client connections alike, found by content;
``$ConnectToMe`` also announces the client-to-client connection as an ``ExpectConnection``
to this same protocol, with a ``DcPeerContext``.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.nmdc.detect import SIGNATURES
from wiresift.protocols.nmdc.parser import NmdcParser, unescape
from wiresift.protocols.nmdc.stream import DcPeerContext, DcStreamParser, GuardedInflater

__all__ = [
    "SPEC",
    "DcPeerContext",
    "DcStreamParser",
    "GuardedInflater",
    "NmdcParser",
    "unescape",
]

SPEC = ProtocolSpec(
    name="nmdc",
    transport="tcp",
    ports=frozenset({411}),  # nmdc.md: hubs listen on 411 by convention (412, 413...)
    parser=NmdcParser,
    description="Direct Connect NMDC hub and client-to-client connections (nmdc.md)",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)
