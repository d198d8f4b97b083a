"""HTTP/2 frame layout (RFC 9113 s4.1, s6): constants and small pure helpers.

Every frame starts with a 9-byte header: a 24-bit payload length, an 8-bit type, 8 bits of
flags and a reserved bit with a 31-bit stream identifier. Nothing here allocates by a
length a peer claims: callers check lengths against their limits first.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

# RFC 9113 s3.4: the client connection preface.
PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER_SIZE: Final = 9
_FRAME_HEADER: Final = struct.Struct(">BHBBL")  # length (24 bits as 8 + 16), type, flags, id
_UINT32: Final = struct.Struct(">L")
_SETTING: Final = struct.Struct(">HL")
STREAM_ID_MASK: Final = 0x7FFFFFFF

# Frame types (RFC 9113 s6).
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9

# Flags (RFC 9113 s6.1 to s6.10).
FLAG_END_STREAM: Final = 0x1
FLAG_ACK: Final = 0x1
FLAG_END_HEADERS: Final = 0x4
FLAG_PADDED: Final = 0x8
FLAG_PRIORITY: Final = 0x20

# SETTINGS identifiers (RFC 9113 s6.5.2).
SETTINGS_HEADER_TABLE_SIZE: Final = 0x1
SETTINGS_MAX_FRAME_SIZE: Final = 0x5
# RFC 9113 s4.2: SETTINGS_MAX_FRAME_SIZE starts at 2**14 and may not pass 2**24 - 1.
DEFAULT_MAX_FRAME_SIZE: Final = 1 << 14
LARGEST_FRAME_SIZE: Final = (1 << 24) - 1

# Flags each type defines; a resync candidate with other flags set is not taken.
_KNOWN_FLAGS: Final = (
    FLAG_END_STREAM | FLAG_PADDED,
    FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY,
    0,
    0,
    FLAG_ACK,
    FLAG_END_HEADERS | FLAG_PADDED,
    FLAG_ACK,
    0,
    0,
    FLAG_END_HEADERS,
)
_ON_STREAM: Final = frozenset({DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION})


class FrameHeader(NamedTuple):
    """The 9-byte frame header (RFC 9113 s4.1)."""

    length: int
    type: int
    flags: int
    stream_id: int
    reserved: bool


def parse_frame_header(data: bytes | bytearray, offset: int = 0) -> FrameHeader:
    """Decode the frame header at ``offset``; ``data`` must hold 9 bytes there."""
    high, low, frame_type, flags, stream = _FRAME_HEADER.unpack_from(data, offset)
    return FrameHeader(
        (high << 16) | low, frame_type, flags, stream & STREAM_ID_MASK, stream > STREAM_ID_MASK
    )


def build_frame(frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    """A whole frame (used to re-create frames in tests and by the h2c upgrade)."""
    length = len(payload)
    return _FRAME_HEADER.pack(length >> 16, length & 0xFFFF, frame_type, flags, stream_id) + payload


def plausible_header(header: FrameHeader) -> bool:
    """Whether a frame header found by scanning could be a real one (resynchronisation)."""
    frame_type = header.type
    if header.reserved or frame_type > CONTINUATION or header.length > DEFAULT_MAX_FRAME_SIZE:
        return False
    if header.flags & ~_KNOWN_FLAGS[frame_type]:
        return False
    if frame_type != WINDOW_UPDATE and (header.stream_id != 0) != (frame_type in _ON_STREAM):
        return False
    length = header.length
    if frame_type in (RST_STREAM, WINDOW_UPDATE):
        return length == 4
    if frame_type == PRIORITY:
        return length == 5
    if frame_type == PING:
        return length == 8
    if frame_type == SETTINGS:
        return length % 6 == 0 and not (header.flags & FLAG_ACK and length)
    if frame_type == GOAWAY:
        return length >= 8
    return True


def unpad(payload: bytes, flags: int) -> bytes | None:
    """The payload without its Pad Length byte and padding (RFC 9113 s6.1), None if bad."""
    if not flags & FLAG_PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        return None
    return payload[1 : len(payload) - payload[0]]


def uint31(payload: bytes, offset: int = 0) -> int:
    """A stream identifier in a payload, the reserved bit cleared."""
    value: int = _UINT32.unpack_from(payload, offset)[0]
    return value & STREAM_ID_MASK


def uint32(payload: bytes, offset: int = 0) -> int:
    """A 32-bit field (error codes, RFC 9113 s7)."""
    value: int = _UINT32.unpack_from(payload, offset)[0]
    return value


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """(identifier, value) pairs of a SETTINGS payload (RFC 9113 s6.5.1); a tail is ignored."""
    return [_SETTING.unpack_from(payload, offset) for offset in range(0, len(payload) - 5, 6)]
