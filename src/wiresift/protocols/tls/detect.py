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


# Records after the handshake, for a capture that starts inside a connection: content type
# 20-23, version 3.0-3.4, a length within the limit (RFC 8446 s5.1, s5.2).
_RECORD_TYPES: Final = frozenset({20, 21, 22, 23})
_MAX_RECORD: Final = 16384 + 2048
# Consecutive well-formed records that make a stream TLS when no hello was seen.
_MID_STREAM_RECORDS: Final = 2


def _record_at(data: bytes, offset: int) -> int | None:
    """The length of the record whose header is at ``offset``, or None if it is no header."""
    head = data[offset : offset + 5]
    if len(head) < 5 or head[0] not in _RECORD_TYPES or head[1] != 3 or head[2] > 4:
        return None
    length = (head[3] << 8) | head[4]
    return length if 0 < length <= _MAX_RECORD else None


def mid_stream(data: bytes) -> Verdict:
    """MATCH when the bytes are consecutive TLS records (a connection whose handshake was
    not captured); NEED_MORE while the first records are still arriving."""
    offset = 0
    for _ in range(_MID_STREAM_RECORDS):
        length = _record_at(data, offset)
        if length is None:
            if len(data) - offset < 5 and (offset or data[:1] in (b"\x14", b"\x15", b"\x17")):
                return Verdict.NEED_MORE
            return Verdict.NO_MATCH
        offset += 5 + length
        if offset == len(data):
            # The bytes so far are whole records, the last ending exactly where they end:
            # a chance of one in 2^16 for random bytes on top of the header's own odds.
            return Verdict.MATCH
        if offset > len(data):
            # One big record that the detection buffer cannot hold whole: its header alone
            # is taken when it is application data of a plausible size.
            return Verdict.MATCH if data[0] == 23 and offset > 4096 else Verdict.NEED_MORE
    return Verdict.MATCH


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for an SSLv2-format CLIENT-HELLO (ORIG) or for consecutive records of a
    connection picked up after its handshake; NEED_MORE on a short record prefix."""
    if data[:1] in (b"\x14", b"\x15", b"\x17"):
        return mid_stream(data)
    if len(data) < 6:
        if data[:2] in _HEADER_PREFIX or (len(data) < 5 and data[:1] >= b"\x80"):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    if direction is Direction.ORIG and _SSLV2_CLIENT_HELLO.match(data):
        length = ((data[0] & 0x7F) << 8) | data[1]
        if length >= 9:
            return Verdict.MATCH
    return Verdict.NO_MATCH
