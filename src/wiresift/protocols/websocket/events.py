"""Events of the WebSocket parser (RFC 6455 s5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wiresift.protocols.base import Event

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA


@dataclass(frozen=True, slots=True, kw_only=True)
class WsMessage(Event):
    """One data message, its fragments joined, unmasked and inflated (RFC 6455 s5.4, s6.2)."""

    opcode: int  # OP_TEXT, OP_BINARY, or a reserved data opcode 3-7
    payload: bytes  # at most Limits.max_stored_body bytes
    size: int  # payload bytes after inflating, including any not stored
    wire_size: int  # payload bytes on the wire (still compressed, when compressed)
    compressed: bool  # permessage-deflate applied (RSV1 on the first frame, RFC 7692 s6)
    fragments: int
    ts_first: int  # time of the first frame
    truncated: str | None = None  # "size_limit", "decompression_limit" or "inflate_error"
    complete: bool = True  # False when the stream ended or broke inside the message


@dataclass(frozen=True, slots=True, kw_only=True)
class WsControl(Event):
    """A ping, pong or close frame (RFC 6455 s5.5); close carries code and reason (s5.5.1)."""

    opcode: int
    payload: bytes
    close_code: int | None = None
    close_reason: str | None = None
