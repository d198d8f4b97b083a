"""How DTLS is recognised in a flow's datagrams, on any port.

A datagram qualifies when its first record is a clear handshake record (type 22, version
0xFEFF, 0xFEFD or 0xFEFC, epoch 0; RFC 6347 s4.1) that fits in the datagram, and the
handshake fragment header inside it (RFC 6347 s4.2.2) is consistent with the record and the
message length and starts a message whose body opens with a DTLS version: a ClientHello
from the initiator, a ServerHello or HelloVerifyRequest (s4.2.1) from the responder.
Twenty-odd fixed or cross-checked bytes make the rule strict enough for every datagram.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Direction

# Record header (RFC 6347 s4.1): type, version, epoch, 48-bit sequence number, length.
RECORD_HEADER: Final = struct.Struct("!BBBHHIH")
# Handshake header (RFC 6347 s4.2.2): type, length, message_seq, fragment_offset and
# fragment_length, the 24-bit fields split as an 8-bit and a 16-bit part.
HANDSHAKE_HEADER: Final = struct.Struct("!BBHHBHBH")
RECORD_HEADER_SIZE: Final = 13
HANDSHAKE_HEADER_SIZE: Final = 12

CONTENT_HANDSHAKE: Final = 22
VERSION_MAJOR: Final = 0xFE
# Minor version bytes of DTLS 1.0 (RFC 4347), 1.2 (RFC 6347) and 1.3 (RFC 9147).
VERSION_MINORS: Final = frozenset({0xFF, 0xFD, 0xFC})

HS_CLIENT_HELLO: Final = 1
HS_SERVER_HELLO: Final = 2
HS_HELLO_VERIFY_REQUEST: Final = 3
_OPENERS: Final = (
    frozenset({HS_CLIENT_HELLO}),  # Direction.ORIG
    frozenset({HS_SERVER_HELLO, HS_HELLO_VERIFY_REQUEST}),  # Direction.RESP
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a datagram opening with a hello of ``direction``; a datagram comes whole."""
    if len(data) < RECORD_HEADER_SIZE + HANDSHAKE_HEADER_SIZE + 2:
        return Verdict.NO_MATCH
    content_type, major, minor, epoch, _, _, length = RECORD_HEADER.unpack_from(data)
    if (
        content_type != CONTENT_HANDSHAKE
        or major != VERSION_MAJOR
        or minor not in VERSION_MINORS
        or epoch != 0
        or not HANDSHAKE_HEADER_SIZE + 2 <= length <= len(data) - RECORD_HEADER_SIZE
    ):
        return Verdict.NO_MATCH
    msg_type, len_hi, len_lo, _, off_hi, off_lo, frag_hi, frag_lo = HANDSHAKE_HEADER.unpack_from(
        data, RECORD_HEADER_SIZE
    )
    message_length = (len_hi << 16) | len_lo
    fragment_length = (frag_hi << 16) | frag_lo
    if (
        msg_type not in _OPENERS[direction]
        or (off_hi << 16) | off_lo
        or not 2 <= fragment_length <= message_length
        or HANDSHAKE_HEADER_SIZE + fragment_length > length
        or data[RECORD_HEADER_SIZE + HANDSHAKE_HEADER_SIZE] != VERSION_MAJOR
    ):
        return Verdict.NO_MATCH
    return Verdict.MATCH
