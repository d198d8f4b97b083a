"""HTTP/2 parser: frames built by hand (header blocks from an hpack Encoder), fed whole,
byte by byte and cut at random, with the same events every time."""

from __future__ import annotations

import dataclasses

from hpack import Encoder

from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, SplitFeed
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Confirmed, Event
from wiresift.protocols.http1.events import (
    BodyData,
    MessageEnd,
    RequestHead,
    ResponseHead,
)
from wiresift.protocols.http2 import Http2Parser, probe
from wiresift.protocols.http2 import frames as f

PREFACE = f.PREFACE
REQUEST = [(":method", "GET"), (":path", "/a.txt"), (":scheme", "http"), (":authority", "ex")]
RESPONSE = [(":status", "200"), ("content-type", "text/plain")]


class Peer:
    """One side's HPACK encoder."""

    def __init__(self) -> None:
        self.encoder = Encoder()

    def block(self, headers: list[tuple[str, str]]) -> bytes:
        """The header block of ``headers``."""
        return bytes(self.encoder.encode(headers))


def frame(frame_type: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One frame."""
    return f.build_frame(frame_type, flags, stream, payload)


def settings() -> bytes:
    """An empty SETTINGS frame (a server preface)."""
    return frame(f.SETTINGS, 0, 0)


def wire(headers: list[tuple[str, str]]) -> tuple[tuple[bytes, bytes], ...]:
    """Headers as the parser reports them."""
    return tuple((k.encode(), v.encode()) for k, v in headers)


def heads(events: list[Event]) -> list[Event]:
    """Events without their time, confirmations dropped."""
    return [dataclasses.replace(e, ts=0) for e in events if not isinstance(e, Confirmed)]


def names(events: list[Event]) -> list[str]:
    """The anomaly names among ``events``."""
    return [e.name for e in events if isinstance(e, Anomaly)]


def test_simple_exchange(split_feed: SplitFeed) -> None:
    """A GET and its 200 with a body become one exchange on tx 1."""
    client, server = Peer(), Peer()
    events = split_feed(
        Http2Parser,
        [
            (ORIG, PREFACE + settings() + frame(f.HEADERS, 5, 1, client.block(REQUEST))),
            (RESP, settings() + frame(f.HEADERS, 4, 1, server.block(RESPONSE))),
            (RESP, frame(f.DATA, 0, 1, b"hello ") + frame(f.DATA, 1, 1, b"world")),
        ],
        strict=True,
    )
    assert heads(events) == [
        RequestHead(
            direction=ORIG, ts=0, tx=1, method=b"GET", target=b"/a.txt", version=b"2",
            headers=wire(REQUEST),
        ),
        MessageEnd(direction=ORIG, ts=0, tx=1),
        ResponseHead(
            direction=RESP, ts=0, tx=1, status=200, reason=b"", version=b"2",
            headers=wire(RESPONSE),
        ),
        BodyData(direction=RESP, ts=0, tx=1, data=b"hello world"),
        MessageEnd(direction=RESP, ts=0, tx=1),
    ]  # fmt: skip


def test_interleaved_streams_continuation_padding_trailers(split_feed: SplitFeed) -> None:
    """Two streams interleave; CONTINUATION, padding, priority and trailers are handled."""
    client, server = Peer(), Peer()
    second = [(":method", "POST"), (":path", "/up"), (":scheme", "http"), (":authority", "ex")]
    first = client.block(REQUEST)
    block = client.block(second)
    padded = bytes([3]) + b"\x00\x00\x00\x01\x10" + block[:2] + b"\x00" * 3
    trailer = client.block([("x-sum", "9")])
    events = split_feed(
        Http2Parser,
        [
            (ORIG, PREFACE + frame(f.HEADERS, 5, 1, first)),
            (ORIG, frame(f.HEADERS, f.FLAG_PADDED | f.FLAG_PRIORITY, 3, padded)),
            (ORIG, frame(f.CONTINUATION, 4, 3, block[2:])),
            (RESP, frame(f.HEADERS, 4, 1, server.block(RESPONSE))),
            (ORIG, frame(f.DATA, f.FLAG_PADDED, 3, b"\x02up" + b"\x00\x00")),
            (RESP, frame(f.DATA, 0, 1, b"one")),
            (ORIG, frame(f.HEADERS, 5, 3, trailer)),
            (RESP, frame(f.HEADERS, 4, 3, server.block([(":status", "201")]))),
            (RESP, frame(f.DATA, 1, 1, b"") + frame(f.DATA, 1, 3, b"ok")),
        ],
        strict=True,
    )
    summary = [
        (type(e).__name__, e.direction, getattr(e, "tx", None))
        for e in events
        if not isinstance(e, Confirmed)
    ]
    assert summary == [
        ("RequestHead", ORIG, 1), ("MessageEnd", ORIG, 1), ("RequestHead", ORIG, 3),
        ("ResponseHead", RESP, 1), ("BodyData", ORIG, 3), ("BodyData", RESP, 1),
        ("MessageEnd", ORIG, 3), ("ResponseHead", RESP, 3), ("MessageEnd", RESP, 1),
        ("BodyData", RESP, 3), ("MessageEnd", RESP, 3),
    ]  # fmt: skip
    request = [e for e in events if isinstance(e, RequestHead)][1]
    assert (request.method, request.target) == (b"POST", b"/up")
    bodies = [e.data for e in events if isinstance(e, BodyData)]
    assert bodies == [b"up", b"one", b"ok"]
    ends = [e for e in events if isinstance(e, MessageEnd) and e.direction is ORIG and e.tx == 3]
    assert ends[0].trailers == ((b"x-sum", b"9"),)


def test_rst_stream_and_goaway(split_feed: SplitFeed) -> None:
    """RST_STREAM and GOAWAY end the streams they cover incomplete."""
    client, server = Peer(), Peer()
    events = split_feed(
        Http2Parser,
        [
            (ORIG, PREFACE + frame(f.HEADERS, 5, 1, client.block(REQUEST))),
            (ORIG, frame(f.HEADERS, 5, 3, client.block(REQUEST))),
            (RESP, frame(f.HEADERS, 4, 1, server.block(RESPONSE))),
            (RESP, frame(f.HEADERS, 4, 3, server.block(RESPONSE))),
            (RESP, frame(f.RST_STREAM, 0, 1, b"\x00\x00\x00\x08")),
            (RESP, frame(f.GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00")),
        ],
        strict=True,
    )
    ends = [(e.tx, e.direction, e.complete, e.reason) for e in events if isinstance(e, MessageEnd)]
    assert ends == [
        (1, ORIG, True, ""),
        (3, ORIG, True, ""),
        (1, RESP, False, "stream_reset: error 8"),
        (3, RESP, False, "goaway 0"),
    ]


def test_push_promise(split_feed: SplitFeed) -> None:
    """A PUSH_PROMISE gives stream 2's request; its response comes on stream 2."""
    client, server = Peer(), Peer()
    pushed = [
        (":method", "GET"),
        (":path", "/style.css"),
        (":scheme", "http"),
        (":authority", "ex"),
    ]
    events = split_feed(
        Http2Parser,
        [
            (ORIG, PREFACE + frame(f.HEADERS, 5, 1, client.block(REQUEST))),
            (RESP, frame(f.PUSH_PROMISE, 4, 1, b"\x00\x00\x00\x02" + server.block(pushed))),
            (RESP, frame(f.HEADERS, 5, 1, server.block(RESPONSE))),
            (RESP, frame(f.HEADERS, 4, 2, server.block(RESPONSE)) + frame(f.DATA, 1, 2, b"b{}")),
        ],
        strict=True,
    )
    requests = [(e.tx, e.target) for e in events if isinstance(e, RequestHead)]
    assert requests == [(1, b"/a.txt"), (2, b"/style.css")]
    assert [(e.tx, e.data) for e in events if isinstance(e, BodyData)] == [(2, b"b{}")]
    assert [(e.tx, e.direction) for e in events if isinstance(e, MessageEnd)] == [
        (1, ORIG), (2, ORIG), (1, RESP), (2, RESP),
    ]  # fmt: skip


def test_settings_header_table_size_applied_on_ack(split_feed: SplitFeed) -> None:
    """A table size the client set applies to the server's blocks once the server acks."""
    client, server = Peer(), Peer()
    server.encoder.header_table_size = 8192
    events = split_feed(
        Http2Parser,
        [
            (ORIG, PREFACE + frame(f.SETTINGS, 0, 0, b"\x00\x01\x00\x00\x20\x00")),
            (ORIG, frame(f.HEADERS, 5, 1, client.block(REQUEST))),
            (RESP, frame(f.SETTINGS, 1, 0) + frame(f.HEADERS, 5, 1, server.block(RESPONSE))),
        ],
        strict=True,
    )
    assert [e.status for e in events if isinstance(e, ResponseHead)] == [200]


def test_mid_stream_static_blocks_and_data(split_feed: SplitFeed) -> None:
    """Without the preface, frames resync; static-only blocks decode, DATA still flows."""
    client, server = Peer(), Peer()
    client.block(REQUEST)  # fills the dynamic table the parser never sees
    indexed = client.block(REQUEST)
    events = split_feed(
        Http2Parser,
        [
            (
                ORIG,
                b"\x17garbage" + frame(f.HEADERS, 5, 5, indexed) + frame(f.PING, 0, 0, b"1" * 8),
            ),
            (RESP, frame(f.HEADERS, 4, 5, server.block([(":status", "404")]))),
            (RESP, frame(f.DATA, 1, 5, b"nope") + frame(f.DATA, 1, 7, b"x")),
        ],
        flow=MID_STREAM_FLOW,
    )
    assert names(events) == [
        "http2_resync", "http2_hpack_context_missing", "http2_hpack_context_missing",
    ]  # fmt: skip
    assert [(e.tx, e.method) for e in events if isinstance(e, RequestHead)] == [(5, b"")]
    assert [(e.tx, e.status) for e in events if isinstance(e, ResponseHead)] == [(5, 404), (7, 0)]
    assert [(e.tx, e.data) for e in events if isinstance(e, BodyData)] == [(5, b"nope"), (7, b"x")]


def test_hpack_bomb_is_an_anomaly(split_feed: SplitFeed) -> None:
    """A block that inflates past max_header_block is reported and the stream marked."""
    client = Peer()
    big = [("x-big", "a" * 3000)]
    first = client.block([(":method", "GET"), (":path", "/"), *big])
    bomb = client.block([(":method", "GET"), (":path", "/"), *(big * 40)])
    events = split_feed(
        Http2Parser,
        [(ORIG, PREFACE + frame(f.HEADERS, 5, 1, first) + frame(f.HEADERS, 5, 3, bomb))],
        limits=Limits(max_header_block=16 * 1024),
    )
    assert names(events) == ["http2_header_list_too_long"]
    request = [e for e in events if isinstance(e, RequestHead)]
    assert [(e.tx, e.method, e.headers) for e in request][1] == (3, b"", ())
    assert len(bomb) < 200


def test_continuation_flood_is_bounded(split_feed: SplitFeed) -> None:
    """Endless empty CONTINUATION frames are counted, reported once and skipped."""
    flood = frame(f.HEADERS, 0, 1, b"\x82") + frame(f.CONTINUATION, 0, 1) * 200
    parser = Http2Parser(FLOW, Limits())
    events = parser.feed(ORIG, PREFACE + flood + frame(f.CONTINUATION, 4, 1), 0)
    assert names(events) == ["http2_continuation_flood"]
    assert parser.buffered_bytes() == 0
    assert Anomaly(
        direction=ORIG, ts=0, name="http2_continuation_flood",
        detail="stream 1: over 64 CONTINUATION frames",
    ) in split_feed(Http2Parser, [(ORIG, PREFACE + flood)])  # fmt: skip


def test_huge_frame_claim_never_allocates() -> None:
    """A DATA frame claiming 16 MiB streams through; a HEADERS one is skipped unstored."""
    parser = Http2Parser(FLOW, Limits())
    events = parser.feed(ORIG, PREFACE + b"\xff\xff\xff\x01\x04\x00\x00\x00\x01" + b"x" * 1000, 0)
    assert names(events) == ["http2_frame_too_large", "http2_header_too_long"]
    assert parser.buffered_bytes() == 0
    parser = Http2Parser(FLOW, Limits())
    events = parser.feed(RESP, b"\xff\xff\xff\x00\x00\x00\x00\x00\x01" + b"y" * 100, 0)
    assert names(events) == ["http2_frame_too_large", "http2_data_without_headers"]
    assert [e.data for e in events if isinstance(e, BodyData)] == [b"y" * 100]
    assert parser.buffered_bytes() == 0


def test_garbage_never_raises() -> None:
    """Random bytes on both sides give anomalies, never exceptions, and bounded buffers."""
    seed = 12345
    for round_ in range(50):
        parser = Http2Parser(MID_STREAM_FLOW if round_ % 2 else FLOW, Limits())
        for step in range(20):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            chunk = seed.to_bytes(4, "big") * (seed % 50)
            parser.feed(ORIG if step % 2 else RESP, chunk, step)
            assert parser.buffered_bytes() <= 64 * 1024 + 64
        parser.end(ORIG, 99)
        parser.end(RESP, 99)


def test_bad_preface_is_a_violation() -> None:
    """A client that does not start with the preface is reported."""
    events = Http2Parser(FLOW, Limits()).feed(ORIG, b"GET / HTTP/1.1\r\n\r\n" + b"x" * 30, 0)
    assert [type(e).__name__ for e in events][:2] == ["Violation", "Anomaly"]
    assert names(events) == ["http2_bad_preface"]


def test_h2c_context_makes_stream_one() -> None:
    """After an h2c upgrade the HTTP/1.1 request is stream 1's request."""
    headers = ((b"Host", b"ex"), (b"Upgrade", b"h2c"), (b"HTTP2-Settings", b"AAEAABAA"))
    flow = dataclasses.replace(
        FLOW,
        context={"upgrade": "h2c", "method": b"GET", "target": b"/x", "headers": headers},
    )
    parser = Http2Parser(flow, Limits())
    server = Peer()
    events = parser.feed(RESP, settings() + frame(f.HEADERS, 5, 1, server.block(RESPONSE)), 7)
    assert heads(events) == [
        RequestHead(
            direction=ORIG, ts=0, tx=1, method=b"GET", target=b"/x", version=b"1.1",
            headers=headers,
        ),
        MessageEnd(direction=ORIG, ts=0, tx=1),
        ResponseHead(
            direction=RESP, ts=0, tx=1, status=200, reason=b"", version=b"2",
            headers=wire(RESPONSE),
        ),
        MessageEnd(direction=RESP, ts=0, tx=1),
    ]  # fmt: skip


def test_probe() -> None:
    """The probe takes the client preface and a server SETTINGS preface."""
    assert probe(ORIG, PREFACE) is Verdict.MATCH
    assert probe(ORIG, PREFACE[:10]) is Verdict.NEED_MORE
    assert probe(ORIG, b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH
    assert probe(RESP, settings()) is Verdict.MATCH
    assert probe(RESP, frame(f.SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00\x64")) is Verdict.MATCH
    assert probe(RESP, b"\x00\x00") is Verdict.NEED_MORE
    assert probe(RESP, b"HTTP/1.1 200 OK\r\n") is Verdict.NO_MATCH
    assert probe(RESP, frame(f.SETTINGS, 1, 0)) is Verdict.NO_MATCH
