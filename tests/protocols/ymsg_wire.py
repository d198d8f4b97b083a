"""YMSG wire builders for tests (../shared/protocols.md s3, from libpurple ``yahoo/``)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

# Header: YMSG, version, vendor id, body length, service, status, session id (big-endian,
# 20 bytes; libpurple yahoo_packet.h YAHOO_PACKET_HDRLEN).
HEADER: Final = struct.Struct(">4sHHHHII")
SEPARATOR: Final = b"\xc0\x80"  # libpurple yahoo_packet.c
VERSION_16: Final = 0x10  # protocols.md s3.1: 0x0010 = v16

# Services (libpurple yahoo_packet.h).
MESSAGE: Final = 0x06
NOTIFY: Final = 0x4B
CONFMSG: Final = 0x1D
COMMENT: Final = 0xA8
LIST: Final = 0x55
LIST_15: Final = 0xF1
ADDBUDDY: Final = 0x83
REMBUDDY: Final = 0x84
AUTH: Final = 0x57
AUTHRESP: Final = 0x54
FILETRANS_15: Final = 0xDC
FILETRANS_INFO_15: Final = 0xDD
FILETRANS_ACC_15: Final = 0xDE
STATUS_OFFLINE: Final = 0x5A55AA56  # offline messages delivered (protocols.md s3.1)

Pair = tuple[int | str, str | bytes]


def body(pairs: Sequence[Pair]) -> bytes:
    """``key C0 80 value C0 80`` for each pair."""
    out = bytearray()
    for key, value in pairs:
        raw = value.encode() if isinstance(value, str) else value
        out += str(key).encode() + SEPARATOR + raw + SEPARATOR
    return bytes(out)


def packet(
    service: int,
    pairs: Sequence[Pair],
    *,
    status: int = 0,
    session: int = 0x11223344,
    version: int = VERSION_16,
    vendor: int = 0,
) -> bytes:
    """One YMSG packet."""
    data = body(pairs)
    return HEADER.pack(b"YMSG", version, vendor, len(data), service, status, session) + data
