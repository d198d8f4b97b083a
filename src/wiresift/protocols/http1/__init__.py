"""HTTP/1.0 and HTTP/1.1 (RFC 9112, RFC 9110): registration and public names.

Detection rules live in ``detect.py`` next to the parser (Zeek's ``dpd.sig`` habit); the
parser in ``parser.py``; the events it emits in ``events.py``.
"""

from __future__ import annotations

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.http1.detect import METHODS, SIGNATURES, probe
from wiresift.protocols.http1.events import (
    BodyData,
    BodyGap,
    Headers,
    MessageEnd,
    RequestHead,
    ResponseHead,
)
from wiresift.protocols.http1.parser import HttpParser

__all__ = [
    "METHODS",
    "SPEC",
    "BodyData",
    "BodyGap",
    "Headers",
    "HttpParser",
    "MessageEnd",
    "RequestHead",
    "ResponseHead",
    "probe",
]

SPEC = ProtocolSpec(
    name="http",
    transport="tcp",
    # 80 (RFC 9110 s4.2.1); 8080, 8000, 8008, 8888: common alternates; 3128: Squid proxy.
    ports=frozenset({80, 8080, 8000, 3128, 8008, 8888}),
    parser=HttpParser,
    description="HTTP/1.0 and HTTP/1.1 (RFC 9112)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)
