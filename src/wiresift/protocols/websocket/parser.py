"""Passive WebSocket parser (RFC 6455) with permessage-deflate (RFC 7692).

Theory of operation: each direction is a sequence of frames (RFC 6455 s5.2): a 2-byte
header, a 16- or 64-bit extended length, a 4-byte masking key on client frames, then the
payload. Headers are collected in a small buffer; payloads are never buffered by their
claimed length: the bytes that arrive are unmasked (s5.3) and handed on at once, so a frame
claiming 2**63 bytes costs nothing until bytes come. Data frames are joined into messages
(s5.4); control frames (s5.5) may come between fragments and become ``WsControl`` events.
A message whose first frame has RSV1 set is compressed (RFC 7692 s6): its payload is
inflated as it arrives with a raw-deflate decompressor, with ``00 00 ff ff`` appended at
the end (s7.2.2). Without context takeover the decompressor is renewed per message; with
it, one decompressor lives as long as the direction (s7.1.1).

Caps: a message stores at most ``Limits.max_stored_body`` bytes (past it the message is
truncated, ``websocket_message_too_long``); inflating more than
``Limits.max_decompression_ratio`` times the compressed size is a deflate bomb
(``websocket_decompression_bomb``) and stops the message's inflation.
"""

from __future__ import annotations

import zlib
from typing import Final

from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.websocket.events import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    WsControl,
    WsMessage,
)

# Largest control frame payload (RFC 6455 s5.5).
MAX_CONTROL_PAYLOAD: Final = 125
# The empty stored block an RFC 7692 sender strips from each message (s7.2.2).
DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"
# Output taken from the decompressor per call, so a bomb is caught before it is expanded.
INFLATE_STEP: Final = 64 * 1024
# Compressed bytes below which the ratio guard does not judge yet: a few bytes of input may
# honestly expand a thousandfold (a run of one character).
RATIO_FLOOR: Final = 64
_HEADER_BASE: Final = 2


def _unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """XOR ``data`` with the masking key starting at key position ``offset`` (s5.3)."""
    size = len(data)
    shift = offset & 3
    key = mask[shift:] + mask[:shift]
    pad = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(size, "little")


def parse_extensions(value: str | None) -> tuple[bool, bool, bool]:
    """(deflate negotiated, client_no_context_takeover, server_no_context_takeover) from a
    server's Sec-WebSocket-Extensions (RFC 7692 s7.1)."""
    if not value:
        return False, False, False
    for offer in value.split(","):
        params = [p.strip().lower() for p in offer.split(";")]
        if params[0] == "permessage-deflate":
            return (
                True,
                "client_no_context_takeover" in params,
                "server_no_context_takeover" in params,
            )
    return False, False, False


class _Side:
    """Frame and message state of one direction."""

    __slots__ = (
        "closed",
        "control",
        "control_op",
        "dead",
        "fin",
        "head",
        "inflater",
        "mask",
        "mask_pos",
        "masked_reported",
        "msg_complete",
        "msg_compressed",
        "msg_fragments",
        "msg_opcode",
        "msg_open",
        "msg_size",
        "msg_truncated",
        "msg_ts",
        "msg_wire",
        "no_takeover",
        "payload",
        "remaining",
    )

    def __init__(self, no_takeover: bool) -> None:
        self.head = bytearray()
        self.remaining = 0  # payload bytes of the current frame still to come
        self.mask = b""
        self.mask_pos = 0
        self.fin = False
        self.control_op = -1  # opcode of the control frame being read, -1 for data
        self.control = bytearray()
        self.payload = bytearray()
        self.msg_open = False
        self.msg_opcode = OP_BINARY
        self.msg_compressed = False
        self.msg_size = 0
        self.msg_wire = 0
        self.msg_fragments = 0
        self.msg_ts = 0
        self.msg_truncated: str | None = None
        self.msg_complete = True
        self.inflater: zlib._Decompress | None = None
        self.no_takeover = no_takeover
        self.masked_reported = False
        self.closed = False  # a close frame was sent
        self.dead = False  # frame boundary lost: nothing more is parsed


class WebSocketParser(Parser):
    """Both directions of one WebSocket connection, after the HTTP handshake."""

    name = "websocket"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        context = flow.context if isinstance(flow.context, dict) else {}
        extensions = context.get("extensions")
        self.handshake_known = bool(context)
        deflate, client_reset, server_reset = parse_extensions(
            extensions if isinstance(extensions, str) else None
        )
        self.deflate = deflate
        self._sides = (_Side(client_reset), _Side(server_reset))
        self._cap = limits.max_stored_body
        self._ratio = limits.max_decompression_ratio
        self._confirmed = False

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        side = self._sides[direction]
        out: list[Event] = []
        pos = 0
        size = len(data)
        while pos < size and not side.dead:
            if side.remaining:
                take = min(side.remaining, size - pos)
                chunk = data[pos : pos + take]
                pos += take
                if side.mask:
                    chunk = _unmask(chunk, side.mask, side.mask_pos)
                    side.mask_pos += take
                side.remaining -= take
                self._payload(direction, side, chunk, ts, out)
                if not side.remaining:
                    self._frame_end(direction, side, ts, out)
                continue
            head = side.head
            if not head and size - pos >= _HEADER_BASE:
                # Fast path: the whole header is in this chunk; no copy into ``head``.
                second = data[pos + 1]
                length = second & 0x7F
                want = (
                    _HEADER_BASE
                    + (2 if length == 126 else 8 if length == 127 else 0)
                    + (4 if second & 0x80 else 0)
                )
                if size - pos >= want:
                    self._frame_start(direction, side, data[pos : pos + want], ts, out)
                    pos += want
                    if not side.remaining:
                        self._frame_end(direction, side, ts, out)
                    continue
            want = self._header_size(head)
            take = min(want - len(head), size - pos)
            head += data[pos : pos + take]
            pos += take
            if len(head) < want or self._header_size(head) > len(head):
                continue  # the first two bytes told of more header bytes
            self._frame_start(direction, side, bytes(head), ts, out)
            head.clear()
            if not side.remaining:
                self._frame_end(direction, side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole: inside a frame payload the message loses bytes but the framing holds;
        elsewhere the frame boundary is lost for the rest of the direction."""
        side = self._sides[direction]
        out: list[Event] = [
            Anomaly(
                direction=direction, ts=ts, name="websocket_content_gap", detail=f"{size} bytes"
            )
        ]
        if side.dead:
            return out
        if side.remaining and size <= side.remaining and not side.head:
            side.remaining -= size
            side.mask_pos += size
            if side.control_op < 0 and side.msg_open:
                side.msg_complete = False
                side.msg_wire += size
                if side.msg_truncated is None:
                    side.msg_truncated = "gap"
            if not side.remaining:
                self._frame_end(direction, side, ts, out)
            return out
        self._flush_message(direction, side, ts, out, complete=False)
        side.dead = True
        side.head.clear()
        out.append(Anomaly(direction=direction, ts=ts, name="websocket_sync_lost", detail="gap"))
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """The direction closed: a message still open ends incomplete."""
        side = self._sides[direction]
        out: list[Event] = []
        if side.remaining or side.head:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="websocket_frame_cut_short",
                    detail=f"{side.remaining} payload bytes missing",
                )
            )
            side.remaining = 0
            side.head.clear()
        self._flush_message(direction, side, ts, out, complete=False)
        side.dead = True
        return out

    def buffered_bytes(self) -> int:
        """Header, control and message bytes held in both directions."""
        return sum(len(s.head) + len(s.control) + len(s.payload) for s in self._sides)

    # -- frames ------------------------------------------------------------------------------

    @staticmethod
    def _header_size(head: bytearray) -> int:
        """Bytes of the frame header, as far as ``head`` tells (s5.2)."""
        if len(head) < _HEADER_BASE:
            return _HEADER_BASE
        length = head[1] & 0x7F
        extra = 2 if length == 126 else 8 if length == 127 else 0
        return _HEADER_BASE + extra + (4 if head[1] & 0x80 else 0)

    def _frame_start(
        self, direction: Direction, side: _Side, head: bytes, ts: int, out: list[Event]
    ) -> None:
        first, second = head[0], head[1]
        fin = bool(first & 0x80)
        rsv1 = bool(first & 0x40)
        opcode = first & 0x0F
        length = second & 0x7F
        pos = 2
        if length == 126:
            length = int.from_bytes(head[2:4], "big")
            pos = 4
        elif length == 127:
            length = int.from_bytes(head[2:10], "big")
            pos = 10
            if length >> 63:
                out.append(self._anomaly(direction, ts, "websocket_bad_length", f"{length}"))
                length &= (1 << 63) - 1
        side.mask = head[pos : pos + 4] if second & 0x80 else b""
        side.mask_pos = 0
        side.remaining = length
        side.fin = fin
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=direction, ts=ts))
        if first & 0x30:
            out.append(self._anomaly(direction, ts, "websocket_reserved_bits", f"{first:#04x}"))
        if not side.masked_reported and bool(side.mask) != (direction == Direction.ORIG):
            side.masked_reported = True
            name = (
                "websocket_unmasked_client_frame"
                if side.mask == b""
                else "websocket_masked_server_frame"
            )
            out.append(self._anomaly(direction, ts, name, ""))
        if side.closed:
            out.append(
                self._anomaly(direction, ts, "websocket_frame_after_close", f"opcode {opcode}")
            )
        if opcode >= 0x8:
            side.control_op = opcode
            side.control.clear()
            if not fin or length > MAX_CONTROL_PAYLOAD:
                out.append(
                    self._anomaly(
                        direction, ts, "websocket_bad_control_frame", f"fin={fin} length={length}"
                    )
                )
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                out.append(self._anomaly(direction, ts, "websocket_reserved_opcode", f"{opcode}"))
            return
        side.control_op = -1
        if length > self._cap:
            out.append(self._anomaly(direction, ts, "websocket_frame_too_long", f"{length} bytes"))
        if opcode == OP_CONTINUATION:
            if not side.msg_open:
                out.append(self._anomaly(direction, ts, "websocket_unexpected_continuation", ""))
                self._open_message(side, OP_BINARY, compressed=False, ts=ts)
                side.msg_complete = False
        else:
            if side.msg_open:
                out.append(
                    self._anomaly(direction, ts, "websocket_unexpected_data_frame", f"{opcode}")
                )
                self._flush_message(direction, side, ts, out, complete=False)
            compressed = rsv1
            if rsv1 and not self.deflate and self.handshake_known:
                out.append(self._anomaly(direction, ts, "websocket_unexpected_rsv1", ""))
            self._open_message(side, opcode, compressed=compressed, ts=ts)
            if opcode not in (1, 2):
                out.append(self._anomaly(direction, ts, "websocket_reserved_opcode", f"{opcode}"))
        if rsv1 and opcode == OP_CONTINUATION:
            out.append(
                self._anomaly(direction, ts, "websocket_reserved_bits", "rsv1 on continuation")
            )
        side.msg_fragments += 1

    @staticmethod
    def _open_message(side: _Side, opcode: int, *, compressed: bool, ts: int) -> None:
        side.msg_open = True
        side.msg_opcode = opcode
        side.msg_compressed = compressed
        side.msg_size = side.msg_wire = side.msg_fragments = 0
        side.msg_ts = ts
        side.msg_truncated = None
        side.msg_complete = True
        side.payload = bytearray()

    def _payload(
        self, direction: Direction, side: _Side, chunk: bytes, ts: int, out: list[Event]
    ) -> None:
        if side.control_op >= 0:
            room = MAX_CONTROL_PAYLOAD - len(side.control)
            if room > 0:
                side.control += chunk[:room]
            return
        side.msg_wire += len(chunk)
        if side.msg_compressed:
            self._inflate(direction, side, chunk, ts, out)
        else:
            self._store(direction, side, chunk, ts, out)

    def _store(
        self, direction: Direction, side: _Side, data: bytes, ts: int, out: list[Event]
    ) -> None:
        side.msg_size += len(data)
        room = self._cap - len(side.payload)
        if len(data) > room:
            data = data[: max(room, 0)]
            if side.msg_truncated is None:
                side.msg_truncated = "size_limit"
                out.append(
                    self._anomaly(
                        direction, ts, "websocket_message_too_long", f"over {self._cap} bytes"
                    )
                )
        if data:
            side.payload += data

    def _inflate(
        self, direction: Direction, side: _Side, data: bytes, ts: int, out: list[Event]
    ) -> None:
        """Inflate ``data`` in bounded steps (RFC 7692 s7.2.2), guarding the ratio."""
        if side.msg_truncated in ("decompression_limit", "inflate_error", "gap"):
            return
        inflater = side.inflater
        if inflater is None:
            inflater = side.inflater = zlib.decompressobj(-15)
        pending = data
        try:
            while True:
                piece = inflater.decompress(pending, INFLATE_STEP)
                pending = inflater.unconsumed_tail
                self._store(direction, side, piece, ts, out)
                if side.msg_size > self._ratio * max(side.msg_wire, RATIO_FLOOR):
                    side.msg_truncated = "decompression_limit"
                    side.inflater = None
                    out.append(
                        self._anomaly(
                            direction,
                            ts,
                            "websocket_decompression_bomb",
                            f"{side.msg_size} bytes from {side.msg_wire}",
                        )
                    )
                    return
                if not pending and len(piece) < INFLATE_STEP:
                    return
        except zlib.error as exc:
            side.inflater = None
            side.msg_truncated = "inflate_error"
            out.append(self._anomaly(direction, ts, "websocket_inflate_error", str(exc)))

    def _frame_end(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> None:
        opcode = side.control_op
        if opcode >= 0:
            side.control_op = -1
            self._control(direction, side, opcode, bytes(side.control), ts, out)
            side.control.clear()
            return
        if side.fin and side.msg_open:
            if side.msg_compressed:
                self._inflate(direction, side, DEFLATE_TAIL, ts, out)
                if side.no_takeover:
                    side.inflater = None
            self._flush_message(direction, side, ts, out, complete=side.msg_complete)

    def _control(
        self,
        direction: Direction,
        side: _Side,
        opcode: int,
        payload: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        code: int | None = None
        reason: str | None = None
        if opcode == OP_CLOSE:
            side.closed = True
            if len(payload) == 1:
                out.append(self._anomaly(direction, ts, "websocket_bad_close", "1-byte payload"))
            elif payload:
                code = int.from_bytes(payload[:2], "big")
                reason = payload[2:].decode("utf-8", "replace")
        out.append(
            WsControl(
                direction=direction,
                ts=ts,
                opcode=opcode,
                payload=payload,
                close_code=code,
                close_reason=reason,
            )
        )

    def _flush_message(
        self, direction: Direction, side: _Side, ts: int, out: list[Event], *, complete: bool
    ) -> None:
        if not side.msg_open:
            return
        side.msg_open = False
        out.append(
            WsMessage(
                direction=direction,
                ts=ts,
                opcode=side.msg_opcode,
                payload=bytes(side.payload),
                size=side.msg_size,
                wire_size=side.msg_wire,
                compressed=side.msg_compressed,
                fragments=side.msg_fragments,
                ts_first=side.msg_ts,
                truncated=side.msg_truncated,
                complete=complete and side.msg_truncated is None,
            )
        )
        side.payload = bytearray()
        if not complete and side.msg_compressed:
            side.inflater = None  # the shared window is no longer trustworthy

    @staticmethod
    def _anomaly(direction: Direction, ts: int, name: str, detail: str) -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=name, detail=detail)
