"""How TLS is recognised in the first bytes of a stream, on any port.

A client opens with a handshake record (type 22, version 3.x, RFC 8446 s5.1) holding a
ClientHello (type 1), or with an SSLv2-format CLIENT-HELLO (RFC 6101 E.2: a 2-byte header
with the top bit set, message type 1, version 2 or 3.x). A server answers with a handshake
record holding a ServerHello (type 2).
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# The record length must leave room for a handshake header (RFC 8446 s5.1, s4).
_CLIENT_HELLO: Final = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48][\x00-\xff]\x01", re.DOTALL)
_SERVER_HELLO: Final = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48][\x00-\xff]\x02", re.DOTALL)
_SSLV2_CLIENT_HELLO: Final = re.compile(
    rb"[\x80-\xff][\x00-\xff]\x01(?:\x00\x02|\x03[\x00-\x03])", re.DOTALL
)
_HEADER_PREFIX: Final = (b"\x16", b"\x16\x03")

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=_CLIENT_HELLO,
        depth=6,
        description="TLS handshake record holding a ClientHello (RFC 8446 s4.1.2)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=_SERVER_HELLO,
        depth=6,
        description="TLS handshake record holding a ServerHello (RFC 8446 s4.1.3)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for an SSLv2-format CLIENT-HELLO (ORIG); NEED_MORE on a short record prefix."""
    if len(data) < 6:
        if data[:2] in _HEADER_PREFIX or (len(data) < 5 and data[:1] >= b"\x80"):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    if direction is Direction.ORIG and _SSLV2_CLIENT_HELLO.match(data):
        length = ((data[0] & 0x7F) << 8) | data[1]
        if length >= 9:
            return Verdict.MATCH
    return Verdict.NO_MATCH
