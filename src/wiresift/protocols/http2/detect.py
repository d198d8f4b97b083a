"""How HTTP/2 is recognised in the first bytes of a stream (RFC 9113 s3.4).

The client starts with the fixed connection preface, on any port (prior knowledge, RFC 9113
s3.3). The server's preface is a SETTINGS frame on stream 0 that is not an ACK; it is taken
as a probe match when a capture shows the server side first.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction
from wiresift.protocols.http2.frames import (
    FRAME_HEADER_SIZE,
    PREFACE,
    SETTINGS,
    parse_frame_header,
)

# The server preface SETTINGS carries a handful of settings: 6 bytes each, 6 identifiers
# defined by RFC 9113 s6.5.2 plus a few from extensions; more than 16 is not a preface.
_MAX_PREFACE_SETTINGS_LENGTH: Final = 16 * 6

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(re.escape(PREFACE)),
        depth=len(PREFACE),
        description="HTTP/2 client connection preface (RFC 9113 s3.4)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for the client preface (ORIG) or a server preface SETTINGS frame (RESP)."""
    if direction is Direction.ORIG:
        if data.startswith(PREFACE):
            return Verdict.MATCH
        return Verdict.NEED_MORE if data and PREFACE.startswith(data) else Verdict.NO_MATCH
    if len(data) < FRAME_HEADER_SIZE:
        # A preface SETTINGS header: two zero length bytes (it is short), type 4, flags 0.
        fits = (
            not any(data[:2])
            and data[3:4] in (b"", bytes([SETTINGS]))
            and data[4:5] in (b"", b"\x00")
        )
        return Verdict.NEED_MORE if fits else Verdict.NO_MATCH
    header = parse_frame_header(data)
    if (
        header.type == SETTINGS
        and header.flags == 0
        and header.stream_id == 0
        and not header.reserved
        and header.length % 6 == 0
        and header.length <= _MAX_PREFACE_SETTINGS_LENGTH
    ):
        return Verdict.MATCH
    return Verdict.NO_MATCH
