"""HTTP/2 passive parser (RFC 9113 framing, RFC 7541 HPACK).

Theory of operation: each direction reads frames from its own buffer; a stream table maps
stream ids to the state of their request and response. Header blocks (HEADERS or
PUSH_PROMISE plus CONTINUATION frames) are gathered and decoded with one ``hpack.Decoder``
per direction, in wire order, so the dynamic table stays in step with the sender. Every
stream becomes the same events the HTTP/1 parser emits, with ``tx`` = the stream id: a
request head, body pieces, a message end per direction (trailers on it). A PUSH_PROMISE
gives the promised stream's request; its response follows on that stream. DATA payloads
stream out as they arrive and are never held whole, whatever length a frame claims.

This is not an endpoint: flow control, stream state errors and SETTINGS limits are not
enforced (an endpoint state machine fails on passive traffic). SETTINGS_HEADER_TABLE_SIZE
is applied to the peer's decoder when the peer acknowledges it (RFC 7541 s4.2).

Where the HPACK context is missing (the capture started mid-connection, a gap, a header
block lost to a limit) header blocks are decoded with an empty table: blocks made of
static references and literals still decode; the others give a head without fields and
the anomaly ``http2_hpack_context_missing``. Without a preface the reader resynchronises
on a frame header that is plausible and followed by another plausible one.

h2c upgrade (RFC 7540 s3.2): the HTTP/1 parser switches here with ``flow.context`` holding
the request that asked for the upgrade (``{"upgrade": "h2c", "method", "target",
"headers"}``). That request is stream 1's request ("assigned a stream identifier of 1"),
emitted before anything else; its response comes as HTTP/2 on stream 1. The HTTP/1
exchange that ended with the 101 stays an object of its own. Its HTTP2-Settings header
(the client's SETTINGS, acknowledged by the 101) is applied.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from typing import Final

from hpack import Decoder, HPACKError

from wiresift.config import Limits
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    Violation,
)
from wiresift.protocols.http1.events import (
    BodyGap,
    Headers,
    MessageEnd,
    RequestHead,
    ResponseHead,
)
from wiresift.protocols.http1.parser import body_data
from wiresift.protocols.http2 import frames as f

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP
VERSION: Final = b"2"

# Payload kept for frames other than DATA and header blocks (SETTINGS, GOAWAY debug data,
# PING...): the default SETTINGS_MAX_FRAME_SIZE (RFC 9113 s4.2); longer ones are skipped.
MAX_CONTROL_PAYLOAD: Final = f.DEFAULT_MAX_FRAME_SIZE
# CONTINUATION frames per header block: h2's and nghttp2's answer to the CONTINUATION
# flood (CVE-2024-27316 family) is a small count; 64 is far above what real peers send.
MAX_CONTINUATION_FRAMES: Final = 64
# Largest HPACK dynamic table honoured from SETTINGS_HEADER_TABLE_SIZE: 64 KiB, the
# largest value common servers advertise; a bigger claim would let a peer make us keep
# more header bytes than any real one does.
MAX_HEADER_TABLE_SIZE: Final = 64 * 1024
# SETTINGS frames awaiting their ACK that are remembered per direction.
MAX_PENDING_SETTINGS: Final = 16

_NONE: Final = 0  # message state of a stream direction: nothing seen yet
_OPEN: Final = 1  # head emitted, no end yet
_ENDED: Final = 2


class _State(enum.IntEnum):
    PREFACE = enum.auto()  # client: waiting for the preface (or the h2c upgrade request)
    FRAME_HEADER = enum.auto()  # 9 bytes of frame header
    PAYLOAD = enum.auto()  # a whole control or header-block payload
    DATA_PAD_LENGTH = enum.auto()  # the Pad Length byte of a padded DATA frame
    DATA_BODY = enum.auto()  # DATA payload streaming out, then its padding skipped
    SKIP = enum.auto()  # ``skip`` bytes to pass over without storing
    RESYNC = enum.auto()  # frame boundary unknown: scanning for a plausible header
    DONE = enum.auto()


class _Stream:
    """Message state of one stream, per direction."""

    __slots__ = ("states",)

    def __init__(self) -> None:
        self.states = [_NONE, _NONE]


class _Side:
    """Reading state of one direction."""

    __slots__ = (
        "block",
        "block_end_stream",
        "block_frames",
        "block_kind",
        "block_promised",
        "block_skipping",
        "block_stream",
        "buf",
        "closed",
        "data_end_stream",
        "data_left",
        "data_stream",
        "decoder",
        "direction",
        "frame",
        "hpack_lost",
        "max_frame_size",
        "pad_left",
        "sent_table_sizes",
        "skip",
        "skipped",
        "state",
    )

    def __init__(self, direction: Direction, state: _State, max_header_list: int) -> None:
        self.direction = direction
        self.buf = bytearray()
        self.state = state
        self.closed = False
        self.frame = f.FrameHeader(0, 0, 0, 0, False)
        self.decoder = Decoder(max_header_list_size=max_header_list)
        self.hpack_lost = False  # the dynamic table is not known (mid-stream, gap, limit)
        self.max_frame_size = f.DEFAULT_MAX_FRAME_SIZE  # what the peer allows this side
        self.sent_table_sizes: list[int] = []  # this side's SETTINGS awaiting the peer's ACK
        self.block: bytearray | None = None  # header block being gathered
        self.block_kind = 0
        self.block_stream = 0
        self.block_promised = 0
        self.block_end_stream = False
        self.block_frames = 0
        self.block_skipping = False  # gathering stopped at a limit; frames still tracked
        self.data_stream = 0
        self.data_left = 0
        self.pad_left = 0
        self.data_end_stream = False
        self.skip = 0
        self.skipped = 0  # bytes passed over while resynchronising


class Http2Parser(Parser):
    """Passive HTTP/2 parser for one connection; sees both directions."""

    name = "http2"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._max_block = limits.max_header_block
        self._max_streams = limits.max_pending_tx
        mid = flow.mid_stream
        self._sides = (
            _Side(ORIG, _State.RESYNC if mid else _State.PREFACE, self._max_block),
            _Side(RESP, _State.RESYNC if mid else _State.FRAME_HEADER, self._max_block),
        )
        if mid:
            for side in self._sides:
                side.hpack_lost = True
        self._streams: dict[int, _Stream] = {}
        self._confirmed = False
        # Stream 1's request after an h2c upgrade, emitted before the first bytes.
        self._upgrade = flow.context if isinstance(flow.context, Mapping) else None

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        side = self._sides[direction]
        if (
            side.state is _State.DATA_BODY
            and not side.buf
            and 0 < len(data) < side.data_left
            and self._streams.get(side.data_stream) is not None
        ):
            # Hot path: a segment inside a DATA payload passes through without a copy.
            side.data_left -= len(data)
            return [body_data(direction, ts, side.data_stream, data)]
        out: list[Event] = []
        if self._upgrade is not None:
            self._upgraded_request(ts, out)
        if not data or side.closed or side.state is _State.DONE:
            return out
        side.buf += data
        self._run(side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole: inside a DATA payload it is a ``BodyGap``; elsewhere the reader resyncs."""
        side = self._sides[direction]
        out: list[Event] = []
        if size <= 0 or side.closed or side.state is _State.DONE:
            return out
        out.append(
            Anomaly(direction=direction, ts=ts, name="http2_content_gap", detail=f"{size} bytes")
        )
        if side.state is _State.DATA_BODY and not side.buf and size <= side.data_left:
            if side.data_stream in self._streams:
                out.append(BodyGap(direction=direction, ts=ts, tx=side.data_stream, size=size))
            side.data_left -= size
            self._run(side, ts, out)
            return out
        side.buf.clear()
        side.hpack_lost = True
        side.block = None
        side.state = _State.RESYNC
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` is closed: its open messages end incomplete."""
        side = self._sides[direction]
        out: list[Event] = []
        if side.closed:
            return out
        if self._upgrade is not None:
            self._upgraded_request(ts, out)
        side.closed = True
        if side.block is not None:
            out.append(Anomaly(direction=direction, ts=ts, name="http2_truncated_header_block"))
            side.block = None
        if side.state is _State.RESYNC and side.skipped + len(side.buf):
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="http2_resync",
                    detail=f"{side.skipped + len(side.buf)} bytes skipped, no frame before end",
                )
            )
        elif (side.state is not _State.FRAME_HEADER or side.buf) and (
            side.state is not _State.DONE and (side.buf or side.state is not _State.PREFACE)
        ):
            out.append(Anomaly(direction=direction, ts=ts, name="http2_truncated_frame"))
        side.buf.clear()
        side.state = _State.DONE
        for stream_id in sorted(self._streams):
            self._end_message(stream_id, direction, ts, out, complete=False, reason="eof")
        return out

    def buffered_bytes(self) -> int:
        """Bytes held in both directions' buffers, header blocks and held server bytes."""
        total = 0
        for side in self._sides:
            total += len(side.buf) + (len(side.block) if side.block is not None else 0)
        return total

    # -- the read loop -------------------------------------------------------------------

    def _run(self, side: _Side, ts: int, out: list[Event]) -> None:
        """Read what the buffer holds, frame by frame."""
        buf = side.buf
        while True:
            state = side.state
            if state is _State.FRAME_HEADER:
                if len(buf) < f.FRAME_HEADER_SIZE:
                    return
                header = f.parse_frame_header(buf)
                del buf[: f.FRAME_HEADER_SIZE]
                self._begin_frame(side, header, ts, out)
            elif state is _State.PAYLOAD:
                length = side.frame.length
                if len(buf) < length:
                    return
                payload = bytes(buf[:length])
                del buf[:length]
                side.state = _State.FRAME_HEADER
                self._frame(side, payload, ts, out)
            elif state is _State.DATA_BODY:
                if not self._read_data(side, ts, out):
                    return
            elif state is _State.DATA_PAD_LENGTH:
                if not buf:
                    return
                pad = buf[0]
                del buf[:1]
                self._start_data(side, side.frame.length - 1 - pad, pad, ts, out)
            elif state is _State.SKIP:
                taken = min(len(buf), side.skip)
                del buf[:taken]
                side.skip -= taken
                if side.skip:
                    return
                side.state = _State.FRAME_HEADER
            elif state is _State.PREFACE:
                if not self._read_preface(side, ts, out):
                    return
            elif state is _State.RESYNC:
                if not self._read_resync(side, ts, out):
                    return
            else:
                buf.clear()
                return

    def _read_preface(self, side: _Side, ts: int, out: list[Event]) -> bool:
        """The client preface (RFC 9113 s3.4), or first the h2c upgrade request."""
        buf = side.buf
        size = len(f.PREFACE)
        if buf[:size] == f.PREFACE:
            del buf[:size]
            side.state = _State.FRAME_HEADER
            self._confirm(side, ts, out)
            return True
        if len(buf) < size and f.PREFACE.startswith(buf):
            return False
        if not self._confirmed:
            out.append(Violation(direction=side.direction, ts=ts, reason="http2_bad_preface"))
        out.append(Anomaly(direction=side.direction, ts=ts, name="http2_bad_preface"))
        side.hpack_lost = True
        side.state = _State.RESYNC
        return True

    def _upgraded_request(self, ts: int, out: list[Event]) -> None:
        """Stream 1's request: the HTTP/1.1 request that asked for h2c (RFC 7540 s3.2)."""
        context = self._upgrade
        self._upgrade = None
        assert context is not None
        method = context.get("method")
        target = context.get("target")
        headers = context.get("headers")
        if context.get("upgrade") != "h2c" or not isinstance(method, bytes):
            return
        fields: Headers = headers if isinstance(headers, tuple) else ()
        self._confirm(self._sides[ORIG], ts, out)
        settings = next((v for k, v in fields if k.lower() == b"http2-settings"), None)
        if settings is not None:
            self._apply_upgrade_settings(settings, ts, out)
        stream = self._stream(1, ts, out)
        stream.states[ORIG] = _OPEN
        out.append(
            RequestHead(
                direction=ORIG,
                ts=ts,
                tx=1,
                method=method,
                target=target if isinstance(target, bytes) else b"",
                version=b"1.1",
                headers=fields,
            )
        )
        self._end_message(1, ORIG, ts, out)

    def _apply_upgrade_settings(self, value: bytes, ts: int, out: list[Event]) -> None:
        """HTTP2-Settings (RFC 7540 s3.2.1): the client's SETTINGS, acknowledged by the 101."""
        try:
            payload = base64.urlsafe_b64decode(value.strip() + b"=" * (-len(value.strip()) % 4))
        except (binascii.Error, ValueError):
            out.append(Anomaly(direction=ORIG, ts=ts, name="http2_bad_upgrade_settings"))
            return
        for identifier, setting in f.parse_settings(payload):
            self._apply_setting(self._sides[ORIG], identifier, setting, acked=True)

    def _confirm(self, side: _Side, ts: int, out: list[Event]) -> None:
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=side.direction, ts=ts))

    def _read_resync(self, side: _Side, ts: int, out: list[Event]) -> bool:
        """Find a plausible frame header followed by another plausible one."""
        buf = side.buf
        size = f.FRAME_HEADER_SIZE
        start = 0
        while start + size <= len(buf):
            header = f.parse_frame_header(buf, start)
            if f.plausible_header(header):
                following = start + size + header.length
                if following + size > len(buf):
                    break  # wait for the next header to check this one
                if f.plausible_header(f.parse_frame_header(buf, following)):
                    side.skipped += start
                    del buf[:start]
                    if side.skipped:
                        out.append(
                            Anomaly(
                                direction=side.direction,
                                ts=ts,
                                name="http2_resync",
                                detail=f"{side.skipped} bytes skipped",
                            )
                        )
                    side.skipped = 0
                    side.state = _State.FRAME_HEADER
                    return True
            start += 1
        side.skipped += start
        del buf[:start]
        return False

    # -- frames --------------------------------------------------------------------------

    def _begin_frame(self, side: _Side, header: f.FrameHeader, ts: int, out: list[Event]) -> None:
        """A frame header was read: decide how its payload is taken."""
        side.frame = header
        frame_type = header.type
        length = header.length
        direction = side.direction
        if side.block is not None and not (
            frame_type == f.CONTINUATION and header.stream_id == side.block_stream
        ):
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="http2_continuation_missing",
                    detail=f"stream {side.block_stream}",
                )
            )
            self._lose_block(side, ts, out)
        if length > side.max_frame_size:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="http2_frame_too_large",
                    detail=f"type {frame_type} claims {length} bytes",
                )
            )
        if frame_type == f.DATA:
            if header.flags & f.FLAG_PADDED:
                if not length:
                    out.append(Anomaly(direction=direction, ts=ts, name="http2_bad_padding"))
                    side.state = _State.FRAME_HEADER
                    return
                side.state = _State.DATA_PAD_LENGTH
            else:
                self._start_data(side, length, 0, ts, out)
            return
        if frame_type in (f.HEADERS, f.PUSH_PROMISE, f.CONTINUATION):
            if frame_type == f.CONTINUATION and side.block is None:
                if not side.block_skipping or header.stream_id != side.block_stream:
                    out.append(
                        Anomaly(direction=direction, ts=ts, name="http2_unexpected_continuation")
                    )
                elif header.flags & f.FLAG_END_HEADERS:
                    side.block_skipping = False
                self._skip(side, length)
                return
            gathered = len(side.block) if side.block is not None else 0
            if gathered + length > self._max_block:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="http2_header_too_long",
                        detail=f"stream {header.stream_id}: more than {self._max_block} bytes",
                    )
                )
                if side.block is not None:
                    self._lose_block(side, ts, out)
                else:
                    side.block_stream = header.stream_id
                    self._head_lost(side, header.stream_id, ts, out)
                side.block_skipping = not header.flags & f.FLAG_END_HEADERS
                self._skip(side, length)
                return
            side.state = _State.PAYLOAD
            return
        if frame_type > f.CONTINUATION or length > MAX_CONTROL_PAYLOAD:
            self._skip(side, length)  # unknown types are ignored (RFC 9113 s5.5)
            return
        side.state = _State.PAYLOAD

    def _skip(self, side: _Side, length: int) -> None:
        if length:
            side.skip = length
            side.state = _State.SKIP
        else:
            side.state = _State.FRAME_HEADER

    def _frame(self, side: _Side, payload: bytes, ts: int, out: list[Event]) -> None:
        """A whole frame other than DATA."""
        header = side.frame
        frame_type = header.type
        self._confirm(side, ts, out)
        if frame_type in (f.HEADERS, f.PUSH_PROMISE):
            self._start_block(side, header, payload, ts, out)
        elif frame_type == f.CONTINUATION:
            block = side.block
            assert block is not None  # _begin_frame skips a CONTINUATION without a block
            side.block_frames += 1
            if side.block_frames > MAX_CONTINUATION_FRAMES:
                out.append(
                    Anomaly(
                        direction=side.direction,
                        ts=ts,
                        name="http2_continuation_flood",
                        detail=f"stream {side.block_stream}: over {MAX_CONTINUATION_FRAMES} "
                        "CONTINUATION frames",
                    )
                )
                self._lose_block(side, ts, out)
                side.block_skipping = not header.flags & f.FLAG_END_HEADERS
                return
            block += payload
            if header.flags & f.FLAG_END_HEADERS:
                self._decode_block(side, ts, out)
        elif frame_type == f.SETTINGS:
            self._settings(side, header, payload, ts, out)
        elif frame_type == f.RST_STREAM:
            if len(payload) == 4 and header.stream_id:
                reason = f"stream_reset: error {f.uint32(payload)}"
                for direction in (ORIG, RESP):
                    self._end_message(
                        header.stream_id, direction, ts, out, complete=False, reason=reason
                    )
        elif frame_type == f.GOAWAY and len(payload) >= 8:
            self._goaway(side, f.uint31(payload), f.uint32(payload, 4), ts, out)
        # PRIORITY, PING and WINDOW_UPDATE carry nothing an object needs.

    def _start_block(
        self, side: _Side, header: f.FrameHeader, payload: bytes, ts: int, out: list[Event]
    ) -> None:
        """HEADERS or PUSH_PROMISE: padding and priority off, the first fragment kept."""
        fragment = f.unpad(payload, header.flags)
        promised = 0
        if fragment is not None and header.type == f.HEADERS and header.flags & f.FLAG_PRIORITY:
            fragment = fragment[5:] if len(fragment) >= 5 else None
        elif fragment is not None and header.type == f.PUSH_PROMISE:
            if len(fragment) >= 4:
                promised = f.uint31(fragment)
                fragment = fragment[4:]
            else:
                fragment = None
        if fragment is None or not header.stream_id:
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http2_bad_header_frame",
                    detail=f"stream {header.stream_id}",
                )
            )
            side.block_stream = header.stream_id
            side.block_skipping = not header.flags & f.FLAG_END_HEADERS
            self._head_lost(side, header.stream_id, ts, out)
            return
        side.block = bytearray(fragment)
        side.block_kind = header.type
        side.block_stream = header.stream_id
        side.block_promised = promised
        side.block_end_stream = bool(header.flags & f.FLAG_END_STREAM)
        side.block_frames = 0
        side.block_skipping = False
        if header.flags & f.FLAG_END_HEADERS:
            self._decode_block(side, ts, out)

    def _lose_block(self, side: _Side, ts: int, out: list[Event]) -> None:
        """The block being gathered is dropped: its head is lost, and the HPACK context."""
        side.block = None
        self._head_lost(side, side.block_stream, ts, out)

    def _head_lost(self, side: _Side, stream_id: int, ts: int, out: list[Event]) -> None:
        """A header block was not decoded: later blocks of ``side`` lack the context."""
        side.hpack_lost = True
        if stream_id and side.direction is ORIG:
            self._ensure_head(stream_id, ORIG, ts, out, anomaly=False)

    def _decode_block(self, side: _Side, ts: int, out: list[Event]) -> None:
        """Decode the whole header block and turn it into events (RFC 9113 s4.3)."""
        block = side.block
        assert block is not None
        side.block = None
        direction = side.direction
        decoder = side.decoder if not side.hpack_lost else Decoder(self._max_block)
        try:
            decoded = decoder.decode(bytes(block), raw=True)
        except HPACKError as exc:
            name = type(exc).__name__
            if name == "OversizedHeaderListError":
                anomaly = "http2_header_list_too_long"
            elif side.hpack_lost:
                anomaly = "http2_hpack_context_missing"
            else:
                anomaly = "http2_hpack_error"
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name=anomaly,
                    detail=f"stream {side.block_stream}: {name}",
                )
            )
            side.hpack_lost = True
            headers: Headers = ()
        else:
            headers = tuple((bytes(name), bytes(value)) for name, value in decoded)
        stream_id = side.block_stream
        if side.block_kind == f.PUSH_PROMISE:
            self._promise(side.block_promised, headers, ts, out)
        elif direction is ORIG:
            self._request_headers(stream_id, headers, side.block_end_stream, ts, out)
        else:
            self._response_headers(stream_id, headers, side.block_end_stream, ts, out)

    # -- streams -------------------------------------------------------------------------

    def _stream(self, stream_id: int, ts: int, out: list[Event]) -> _Stream:
        """The stream ``stream_id``; a new one may push out the oldest (max_pending_tx)."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            return stream
        if len(self._streams) >= self._max_streams:
            oldest = min(self._streams)
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="http2_too_many_streams",
                    detail=f"stream {oldest} given up: {len(self._streams)} streams open",
                )
            )
            for direction in (ORIG, RESP):
                self._end_message(oldest, direction, ts, out, complete=False, reason="stream_limit")
            self._streams.pop(oldest, None)
        stream = self._streams[stream_id] = _Stream()
        return stream

    def _request_headers(
        self, stream_id: int, headers: Headers, end_stream: bool, ts: int, out: list[Event]
    ) -> None:
        stream = self._stream(stream_id, ts, out)
        state = stream.states[ORIG]
        if state == _OPEN:
            self._end_message(stream_id, ORIG, ts, out, trailers=headers)
            return
        if state == _ENDED:
            out.append(
                Anomaly(
                    direction=ORIG, ts=ts, name="http2_headers_after_end", detail=f"{stream_id}"
                )
            )
            return
        stream.states[ORIG] = _OPEN
        out.append(_request_head(stream_id, headers, ts))
        if end_stream:
            self._end_message(stream_id, ORIG, ts, out)

    def _response_headers(
        self, stream_id: int, headers: Headers, end_stream: bool, ts: int, out: list[Event]
    ) -> None:
        stream = self._stream(stream_id, ts, out)
        state = stream.states[RESP]
        if state == _OPEN:
            self._end_message(stream_id, RESP, ts, out, trailers=headers)
            return
        if state == _ENDED:
            out.append(
                Anomaly(
                    direction=RESP, ts=ts, name="http2_headers_after_end", detail=f"{stream_id}"
                )
            )
            return
        status_text = _pseudo(headers, b":status")
        status = int(status_text) if status_text.isdigit() and len(status_text) == 3 else 0
        if not status and headers:
            out.append(Anomaly(direction=RESP, ts=ts, name="http2_bad_status"))
        interim = 100 <= status < 200
        out.append(
            ResponseHead(
                direction=RESP,
                ts=ts,
                tx=stream_id,
                status=status,
                reason=b"",
                version=VERSION,
                headers=headers,
                interim=interim,
            )
        )
        if interim:
            # An informational head is a message of its own (RFC 9113 s8.1).
            out.append(MessageEnd(direction=RESP, ts=ts, tx=stream_id))
            return
        stream.states[RESP] = _OPEN
        if end_stream:
            self._end_message(stream_id, RESP, ts, out)

    def _promise(self, promised: int, headers: Headers, ts: int, out: list[Event]) -> None:
        """PUSH_PROMISE (RFC 9113 s8.4): the promised stream's request, already complete."""
        if not promised:
            out.append(Anomaly(direction=RESP, ts=ts, name="http2_bad_push_promise"))
            return
        stream = self._stream(promised, ts, out)
        if stream.states[ORIG] != _NONE:
            out.append(
                Anomaly(direction=RESP, ts=ts, name="http2_bad_push_promise", detail=f"{promised}")
            )
            return
        stream.states[ORIG] = _OPEN
        out.append(_request_head(promised, headers, ts))
        self._end_message(promised, ORIG, ts, out)

    def _ensure_head(
        self, stream_id: int, direction: Direction, ts: int, out: list[Event], *, anomaly: bool
    ) -> _Stream:
        """A stream direction that needs a head it never got (lost or before the capture)."""
        stream = self._stream(stream_id, ts, out)
        if stream.states[direction] != _NONE:
            return stream
        if anomaly:
            lost = self._sides[direction].hpack_lost
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="http2_hpack_context_missing" if lost else "http2_data_without_headers",
                    detail=f"stream {stream_id}",
                )
            )
        stream.states[direction] = _OPEN
        if direction is ORIG:
            out.append(_request_head(stream_id, (), ts))
        else:
            out.append(
                ResponseHead(
                    direction=RESP, ts=ts, tx=stream_id, status=0, reason=b"", version=VERSION,
                    headers=(),
                )
            )  # fmt: skip
        return stream

    def _end_message(
        self,
        stream_id: int,
        direction: Direction,
        ts: int,
        out: list[Event],
        *,
        complete: bool = True,
        reason: str = "",
        trailers: Headers = (),
    ) -> None:
        """End the open message of ``direction`` on a stream; forget the stream when done."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        states = stream.states
        if states[direction] == _OPEN:
            out.append(
                MessageEnd(
                    direction=direction,
                    ts=ts,
                    tx=stream_id,
                    complete=complete,
                    reason=reason,
                    trailers=trailers,
                )
            )
        elif complete:
            return  # an END_STREAM on a stream direction with no message: nothing to end
        states[direction] = _ENDED
        if states[ORIG] == _ENDED and states[RESP] == _ENDED:
            del self._streams[stream_id]

    def _goaway(self, side: _Side, last_stream: int, error: int, ts: int, out: list[Event]) -> None:
        """GOAWAY (RFC 9113 s6.8): streams the sender will not process end incomplete."""
        # The sender processed none of the peer's streams above ``last_stream``.
        peer_parity = 1 if side.direction is RESP else 0  # clients open odd streams
        for stream_id in sorted(self._streams):
            if stream_id > last_stream and stream_id % 2 == peer_parity:
                for direction in (ORIG, RESP):
                    self._end_message(
                        stream_id, direction, ts, out, complete=False, reason=f"goaway {error}"
                    )

    # -- DATA ----------------------------------------------------------------------------

    def _start_data(
        self, side: _Side, data_length: int, pad: int, ts: int, out: list[Event]
    ) -> None:
        header = side.frame
        if data_length < 0:
            out.append(Anomaly(direction=side.direction, ts=ts, name="http2_bad_padding"))
            self._skip(side, header.length - (1 if header.flags & f.FLAG_PADDED else 0))
            return
        stream_id = header.stream_id
        side.data_stream = stream_id
        side.data_left = data_length
        side.pad_left = pad
        side.data_end_stream = bool(header.flags & f.FLAG_END_STREAM)
        if stream_id and (data_length or side.data_end_stream):
            self._ensure_head(stream_id, side.direction, ts, out, anomaly=True)
        side.state = _State.DATA_BODY
        self._confirm(side, ts, out)

    def _read_data(self, side: _Side, ts: int, out: list[Event]) -> bool:
        """Stream DATA out, skip its padding, then end the message on END_STREAM."""
        buf = side.buf
        if side.data_left:
            if not buf:
                return False
            taken = min(len(buf), side.data_left)
            piece = bytes(buf[:taken])
            del buf[:taken]
            side.data_left -= taken
            if side.data_stream in self._streams:
                out.append(body_data(side.direction, ts, side.data_stream, piece))
            if side.data_left:
                return False
        if side.pad_left:
            taken = min(len(buf), side.pad_left)
            del buf[:taken]
            side.pad_left -= taken
            if side.pad_left:
                return False
        side.state = _State.FRAME_HEADER
        if side.data_end_stream:
            self._end_message(side.data_stream, side.direction, ts, out)
        return True

    # -- SETTINGS ------------------------------------------------------------------------

    def _settings(
        self, side: _Side, header: f.FrameHeader, payload: bytes, ts: int, out: list[Event]
    ) -> None:
        """SETTINGS (RFC 9113 s6.5): table sizes apply to the peer's encoder on its ACK."""
        peer = self._sides[1 - side.direction]
        if header.flags & f.FLAG_ACK:
            if peer.sent_table_sizes:
                size = peer.sent_table_sizes.pop(0)
                if size >= 0:
                    side.decoder.max_allowed_table_size = size
            return
        if len(payload) % 6:
            out.append(Anomaly(direction=side.direction, ts=ts, name="http2_bad_settings"))
        table_size = -1
        for identifier, value in f.parse_settings(payload):
            if identifier == f.SETTINGS_HEADER_TABLE_SIZE:
                table_size = min(value, MAX_HEADER_TABLE_SIZE)
            else:
                self._apply_setting(side, identifier, value, acked=False)
        if len(side.sent_table_sizes) >= MAX_PENDING_SETTINGS:
            side.sent_table_sizes.pop(0)
        side.sent_table_sizes.append(table_size)

    def _apply_setting(self, side: _Side, identifier: int, value: int, *, acked: bool) -> None:
        """A setting ``side`` sent: it bounds what the peer sends."""
        peer = self._sides[1 - side.direction]
        if identifier == f.SETTINGS_MAX_FRAME_SIZE:
            peer.max_frame_size = max(f.DEFAULT_MAX_FRAME_SIZE, min(value, f.LARGEST_FRAME_SIZE))
        elif identifier == f.SETTINGS_HEADER_TABLE_SIZE and acked:
            peer.decoder.max_allowed_table_size = min(value, MAX_HEADER_TABLE_SIZE)


def _pseudo(headers: Headers, name: bytes) -> bytes:
    """The value of a pseudo-header (RFC 9113 s8.3), b"" when absent."""
    for key, value in headers:
        if key == name:
            return value
        if key[:1] != b":":
            break
    return b""


def _request_head(stream_id: int, headers: Headers, ts: int) -> RequestHead:
    """The request head of a stream (RFC 9113 s8.3.1); CONNECT's target is :authority."""
    method = _pseudo(headers, b":method")
    target = _pseudo(headers, b":authority") if method == b"CONNECT" else _pseudo(headers, b":path")
    return RequestHead(
        direction=ORIG,
        ts=ts,
        tx=stream_id,
        method=method,
        target=target,
        version=VERSION,
        headers=headers,
    )
