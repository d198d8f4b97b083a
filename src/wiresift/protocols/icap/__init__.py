"""ICAP (RFC 3507): registration and public names.

Detection rules live in ``detect.py``, the parser in ``parser.py``, the ICAP events in
``events.py``; the encapsulated HTTP comes out as HTTP/1 events (``protocols.http1``).
"""

from __future__ import annotations

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.icap.detect import SIGNATURES, probe
from wiresift.protocols.icap.events import (
    Encapsulated,
    IcapMessageEnd,
    IcapRequestHead,
    IcapResponseHead,
)
from wiresift.protocols.icap.parser import IcapParser, parse_encapsulated

__all__ = [
    "SPEC",
    "Encapsulated",
    "IcapMessageEnd",
    "IcapParser",
    "IcapRequestHead",
    "IcapResponseHead",
    "parse_encapsulated",
    "probe",
]

SPEC = ProtocolSpec(
    name="icap",
    transport="tcp",
    # 1344: the default ICAP port (RFC 3507 s4.2).
    ports=frozenset({1344}),
    parser=IcapParser,
    description="ICAP (RFC 3507): HTTP adaptation (REQMOD, RESPMOD, OPTIONS)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)
