"""WebSocket parser (RFC 6455, RFC 7692): frames, masks, fragments, control frames,
permessage-deflate, caps; and WebSocket after an HTTP 101 through the engine."""

from __future__ import annotations

import dataclasses
import hashlib
import zlib

from tests.engine.helpers import run_frames
from tests.pcapgen import TcpSession
from tests.protocols.helpers import FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Config, Limits, OutputConfig
from wiresift.protocols.base import Anomaly, Confirmed, Event, FlowInfo
from wiresift.protocols.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WebSocketParser,
    WsControl,
    WsMessage,
    parse_extensions,
)

MASK = b"\x37\xfa\x21\x3d"


def frame(
    payload: bytes,
    opcode: int = OP_TEXT,
    *,
    fin: bool = True,
    mask: bytes = b"",
    rsv1: bool = False,
    claim: int | None = None,
) -> bytes:
    """One frame (RFC 6455 s5.2); ``claim`` overrides the length field."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload) if claim is None else claim
    bit = 0x80 if mask else 0
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 65536:
        head = bytes([first, bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + size.to_bytes(8, "big")
    if mask:
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + payload


def ws_flow(extensions: str | None = None) -> FlowInfo:
    """A flow whose handshake negotiated ``extensions``."""
    context: dict[str, object] = {
        "url": "ws://ws.test/chat",
        "origin": None,
        "subprotocol": None,
        "extensions": extensions,
    }
    return dataclasses.replace(FLOW, context=context)


def message(
    direction: int,
    ts: int,
    payload: bytes,
    *,
    opcode: int = OP_TEXT,
    wire: int | None = None,
    compressed: bool = False,
    fragments: int = 1,
    ts_first: int | None = None,
    truncated: str | None = None,
    complete: bool = True,
    size: int | None = None,
) -> WsMessage:
    """The WsMessage the parser should emit."""
    return WsMessage(
        direction=ORIG if direction == 0 else RESP,
        ts=ts,
        opcode=opcode,
        payload=payload,
        size=len(payload) if size is None else size,
        wire_size=len(payload) if wire is None else wire,
        compressed=compressed,
        fragments=fragments,
        ts_first=ts if ts_first is None else ts_first,
        truncated=truncated,
        complete=complete,
    )


def anomaly_names(events: list[Event]) -> list[str]:
    """Names of the anomalies among ``events``."""
    return [e.name for e in events if isinstance(e, Anomaly)]


def deflate_messages(*messages: bytes, takeover: bool = True) -> list[bytes]:
    """Each message compressed as RFC 7692 s7.2.1 says, without the 00 00 ff ff tail."""
    out: list[bytes] = []
    compressor = zlib.compressobj(wbits=-15)
    for data in messages:
        if not takeover:
            compressor = zlib.compressobj(wbits=-15)
        block = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert block.endswith(b"\x00\x00\xff\xff")
        out.append(block[:-4])
    return out


def test_masked_client_and_plain_server_messages(split_feed: SplitFeed) -> None:
    """Client frames are unmasked; both directions give one message each."""
    events = split_feed(
        WebSocketParser,
        [(ORIG, frame(b"Hello", mask=MASK)), (RESP, frame(b"\x00\x01\xff", OP_BINARY))],
        flow=ws_flow(),
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        message(0, 0, b"Hello"),
        message(1, 1, b"\x00\x01\xff", opcode=OP_BINARY),
    ]


def test_extended_lengths_16_and_64_bit(split_feed: SplitFeed) -> None:
    """Payloads of 200 and 70000 bytes use the 16- and 64-bit length forms (s5.2)."""
    mid = bytes(range(200))
    big = b"x" * 70000
    events = split_feed(
        WebSocketParser,
        [(RESP, frame(mid, OP_BINARY) + frame(big, OP_BINARY))],
        flow=ws_flow(),
        strict=True,
    )
    assert events[1:] == [
        message(1, 0, mid, opcode=OP_BINARY),
        message(1, 0, big, opcode=OP_BINARY),
    ]


def test_fragments_joined_with_ping_between(split_feed: SplitFeed) -> None:
    """A fragmented message is joined; a ping between fragments is its own event (s5.4)."""
    events = split_feed(
        WebSocketParser,
        [
            (ORIG, frame(b"Hel", fin=False, mask=MASK)),
            (ORIG, frame(b"ping!", OP_PING, mask=MASK)),
            (ORIG, frame(b"lo ", 0, fin=False, mask=MASK)),
            (ORIG, frame(b"world", 0, mask=MASK)),
            (RESP, frame(b"ping!", OP_PONG)),
        ],
        flow=ws_flow(),
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        WsControl(direction=ORIG, ts=1, opcode=OP_PING, payload=b"ping!"),
        message(0, 3, b"Hello world", fragments=3, ts_first=0),
        WsControl(direction=RESP, ts=4, opcode=OP_PONG, payload=b"ping!"),
    ]


def test_close_code_and_reason(split_feed: SplitFeed) -> None:
    """Close frames carry a status code and a UTF-8 reason (s5.5.1)."""
    events = split_feed(
        WebSocketParser,
        [
            (ORIG, frame(b"\x03\xe8bye \xc3\xa9", OP_CLOSE, mask=MASK)),
            (RESP, frame(b"\x03\xe8", OP_CLOSE)),
        ],
        flow=ws_flow(),
        strict=True,
    )
    assert events[1:] == [
        WsControl(
            direction=ORIG,
            ts=0,
            opcode=OP_CLOSE,
            payload=b"\x03\xe8bye \xc3\xa9",
            close_code=1000,
            close_reason="bye é",
        ),
        WsControl(
            direction=RESP,
            ts=1,
            opcode=OP_CLOSE,
            payload=b"\x03\xe8",
            close_code=1000,
            close_reason="",
        ),
    ]


def test_deflate_with_context_takeover(split_feed: SplitFeed) -> None:
    """The second message refers back to the first: one inflater per direction (s7.2.3)."""
    first, second = deflate_messages(b"the same words " * 4, b"the same words again")
    assert len(second) < 15
    events = split_feed(
        WebSocketParser,
        [(RESP, frame(first, rsv1=True) + frame(second, rsv1=True))],
        flow=ws_flow("permessage-deflate; client_max_window_bits"),
        strict=True,
    )
    assert events[1:] == [
        message(1, 0, b"the same words " * 4, wire=len(first), compressed=True),
        message(1, 0, b"the same words again", wire=len(second), compressed=True),
    ]


def test_deflate_without_context_takeover_fragmented(split_feed: SplitFeed) -> None:
    """Without takeover each message inflates alone; RSV1 is on the first fragment only."""
    first, second = deflate_messages(b"alpha " * 10, b"beta " * 10, takeover=False)
    extensions = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
    events = split_feed(
        WebSocketParser,
        [
            (ORIG, frame(first[:3], fin=False, mask=MASK, rsv1=True)),
            (ORIG, frame(first[3:], 0, mask=MASK)),
            (ORIG, frame(second, mask=MASK, rsv1=True)),
        ],
        flow=ws_flow(extensions),
        strict=True,
    )
    assert events[1:] == [
        message(0, 1, b"alpha " * 10, wire=len(first), compressed=True, fragments=2, ts_first=0),
        message(0, 2, b"beta " * 10, wire=len(second), compressed=True),
    ]


def test_parse_extensions() -> None:
    """The negotiated permessage-deflate parameters are read (RFC 7692 s7.1)."""
    assert parse_extensions(None) == (False, False, False)
    assert parse_extensions("x-webkit-deflate-frame") == (False, False, False)
    assert parse_extensions("permessage-deflate") == (True, False, False)
    assert parse_extensions("foo, permessage-deflate; server_no_context_takeover") == (
        True,
        False,
        True,
    )


def test_frame_claiming_2_to_63_bytes_streams_without_allocating(split_feed: SplitFeed) -> None:
    """A length of 2**63 - 1 is an anomaly; the bytes that come are capped, not the claim."""
    claim = (1 << 63) - 1
    events = split_feed(
        WebSocketParser,
        [(RESP, frame(b"", OP_BINARY, claim=claim) + b"A" * 40), End(RESP)],
        flow=ws_flow(),
        limits=Limits(max_stored_body=16),
    )
    assert anomaly_names(events) == [
        "websocket_frame_too_long",
        "websocket_message_too_long",
        "websocket_frame_cut_short",
    ]
    assert events[-1] == message(
        1,
        1,
        b"A" * 16,
        opcode=OP_BINARY,
        size=40,
        wire=40,
        truncated="size_limit",
        complete=False,
        ts_first=0,
    )


def test_length_with_top_bit_set() -> None:
    """The 64-bit length's top bit must be 0 (s5.2): an anomaly, and parsing goes on."""
    parser = WebSocketParser(ws_flow(), Limits(max_stored_body=8))
    events = parser.feed(RESP, frame(b"", OP_BINARY, claim=(1 << 64) - 1), 0)
    assert anomaly_names(events) == ["websocket_bad_length", "websocket_frame_too_long"]
    assert parser.buffered_bytes() == 0


def test_message_cap_truncates(split_feed: SplitFeed) -> None:
    """A message past max_stored_body keeps its first bytes and counts the rest."""
    events = split_feed(
        WebSocketParser,
        [(RESP, frame(b"0123456789abcdefghij") + frame(b"ok"))],
        flow=ws_flow(),
        limits=Limits(max_stored_body=10),
    )
    assert events[1:] == [
        Anomaly(direction=RESP, ts=0, name="websocket_frame_too_long", detail="20 bytes"),
        Anomaly(direction=RESP, ts=0, name="websocket_message_too_long", detail="over 10 bytes"),
        message(1, 0, b"0123456789", size=20, wire=20, truncated="size_limit", complete=False),
        message(1, 0, b"ok"),
    ]


def test_deflate_bomb_stops_inflating() -> None:
    """A message inflating past max_decompression_ratio is cut as a bomb; the next
    (uncompressed) message still parses."""
    (bomb,) = deflate_messages(bytes(4 * 1024 * 1024))
    parser = WebSocketParser(ws_flow("permessage-deflate"), Limits(max_decompression_ratio=100))
    events = parser.feed(RESP, frame(bomb, OP_BINARY, rsv1=True) + frame(b"after"), 0)
    assert anomaly_names(events) == ["websocket_decompression_bomb"]
    bombed, after = [e for e in events if isinstance(e, WsMessage)]
    assert bombed.truncated == "decompression_limit"
    assert bombed.complete is False
    assert bombed.size <= 100 * len(bomb) + 64 * 1024
    assert after.payload == b"after"


def test_corrupt_deflate_is_an_anomaly(split_feed: SplitFeed) -> None:
    """Bytes that do not inflate give websocket_inflate_error and a truncated message."""
    events = split_feed(
        WebSocketParser,
        [(RESP, frame(b"\xff\xff\xff\xff", rsv1=True) + frame(b"next"))],
        flow=ws_flow("permessage-deflate"),
    )
    assert anomaly_names(events) == ["websocket_inflate_error"]
    assert events[-2:] == [
        message(
            1, 0, b"", size=0, wire=4, compressed=True, truncated="inflate_error", complete=False
        ),
        message(1, 0, b"next"),
    ]


def test_protocol_errors_are_anomalies(split_feed: SplitFeed) -> None:
    """A continuation without a start, an unmasked client frame and RSV1 without
    negotiation are reported; parsing goes on."""
    (packed,) = deflate_messages(b"inflated anyway")
    events = split_feed(
        WebSocketParser,
        [(ORIG, frame(b"tail", 0)), (ORIG, frame(packed, rsv1=True, mask=MASK))],
        flow=ws_flow(),
    )
    assert anomaly_names(events) == [
        "websocket_unmasked_client_frame",
        "websocket_unexpected_continuation",
        "websocket_unexpected_rsv1",
    ]
    assert events[3] == message(0, 0, b"tail", opcode=OP_BINARY, complete=False)
    assert events[-1] == message(0, 1, b"inflated anyway", wire=len(packed), compressed=True)


def test_gap_inside_payload_keeps_framing(split_feed: SplitFeed) -> None:
    """A hole inside a payload marks the message; the next frame is read in sync."""
    data = frame(b"0123456789")
    events = split_feed(
        WebSocketParser,
        [(RESP, data[:5]), Gap(RESP, 4), (RESP, data[9:] + frame(b"ok"))],
        flow=ws_flow(),
    )
    assert anomaly_names(events) == ["websocket_content_gap"]
    assert events[-2:] == [
        message(
            1, 2, b"012" + b"789", size=6, wire=10, truncated="gap", complete=False, ts_first=0
        ),
        message(1, 2, b"ok"),
    ]


def test_arbitrary_bytes_never_raise() -> None:
    """Garbage in both directions yields events, never an exception, and little buffering."""
    parser = WebSocketParser(ws_flow("permessage-deflate"), Limits(max_stored_body=1024))
    noise = hashlib.sha256(b"seed").digest() * 200
    for start in range(0, len(noise), 97):
        parser.feed(ORIG, noise[start : start + 97], start)
        parser.feed(RESP, noise[start : start + 97], start)
    assert parser.buffered_bytes() <= 2 * (14 + 125 + 1024)
    parser.end(ORIG, 1)
    parser.end(RESP, 1)


# -- through the engine --------------------------------------------------------------------

UPGRADE_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nOrigin: http://ws.test\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
UPGRADE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)


def websocket_session(*frames: tuple[bool, bytes]) -> TcpSession:
    """An HTTP upgrade, then ``frames`` (from_client, bytes)."""
    session = TcpSession()
    session.handshake()
    session.send(True, UPGRADE_REQUEST)
    session.send(False, UPGRADE_RESPONSE)
    for from_client, data in frames:
        session.send(from_client, data)
    session.fin(True)
    session.fin(False)
    return session


def test_engine_websocket_after_101_compressed_and_plain() -> None:
    """After the 101 each message is one websocket object with the handshake facts."""
    (packed,) = deflate_messages(b'{"msg": "hello hello hello"}')
    session = websocket_session(
        (True, frame(b"plain text", mask=MASK)),
        (False, frame(packed, rsv1=True)),
        (True, frame(b"\x03\xe8", OP_CLOSE, mask=MASK)),
    )
    run = run_frames(session.frames)
    assert [p["kind"] for p in run.passports] == ["http", "websocket", "websocket"]
    first, second = run.passports[1:]
    assert first["websocket"] == {
        "url": "ws://ws.test/chat?room=1",
        "origin": "http://ws.test",
        "subprotocol": "chat",
        "extensions": "permessage-deflate",
        "index": 0,
        "opcode": "text",
        "sender": "client",
        "size": 10,
        "wire_size": 10,
        "compressed": False,
        "fragments": 1,
    }
    assert first["direction"] == "upload"
    assert second["direction"] == "download"
    assert second["websocket"]["compressed"] is True
    assert second["contents"][0]["encodings"] == ["permessage-deflate"]
    assert run.content(first["contents"][0]) == b"plain text"
    assert run.content(second["contents"][0]) == b'{"msg": "hello hello hello"}'
    assert run.stats.anomalies == {}


def test_engine_websocket_one_object_per_connection() -> None:
    """With per_connection the messages are ordered content items of one object."""
    session = websocket_session(
        (True, frame(b"one", mask=MASK)),
        (False, frame(b"two")),
        (False, frame(b"", OP_PING)),
        (True, frame(b"\x03\xe8", OP_CLOSE, mask=MASK)),
    )
    run = run_frames(session.frames, Config(output=OutputConfig(websocket_per_connection=True)))
    (obj,) = [p for p in run.passports if p["kind"] == "websocket"]
    assert [run.content(c) for c in obj["contents"]] == [b"one", b"two"]
    assert [m["sender"] for m in obj["websocket"]["messages"]] == ["client", "server"]
    assert obj["websocket"]["pings"] == 1
    assert obj["websocket"]["closes"] == [{"sender": "client", "code": 1000, "reason": ""}]
    assert obj["direction"] == "both"


def test_engine_websocket_bad_input() -> None:
    """A 2**63 frame and a deflate bomb through the engine: anomalies, bounded objects."""
    (bomb,) = deflate_messages(bytes(2 * 1024 * 1024))
    session = websocket_session(
        (False, frame(bomb, OP_BINARY, rsv1=True)),
        (True, frame(b"", OP_BINARY, claim=(1 << 63) - 1, mask=MASK) + b"Z" * 64),
    )
    config = Config(limits=Limits(max_stored_body=4096, max_decompression_ratio=50))
    run = run_frames(session.frames, config)
    objects = [p for p in run.passports if p["kind"] == "websocket"]
    assert sorted(o["websocket"]["sender"] for o in objects) == ["client", "server"]
    by_sender = {o["websocket"]["sender"]: o for o in objects}
    assert by_sender["server"]["contents"][0]["truncated"] == "decompression_limit"
    # The claimed frame never ended: its 64 bytes arrived, the message is incomplete.
    assert by_sender["client"]["websocket"]["size"] == 64
    assert by_sender["client"]["complete"] is False
    assert all(c["size"] <= 4096 for o in objects for c in o["contents"])
    assert run.stats.anomalies["websocket_decompression_bomb"] == 1
    assert run.stats.anomalies["websocket_frame_too_long"] == 1
