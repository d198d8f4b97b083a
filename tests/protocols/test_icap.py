"""ICAP parser (RFC 3507): bytes in, ICAP and HTTP events out, fed whole, byte by byte, cut."""

from __future__ import annotations

import dataclasses

from tests.protocols.helpers import FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event
from wiresift.protocols.http1 import BodyData, BodyGap, MessageEnd, RequestHead, ResponseHead
from wiresift.protocols.icap import (
    SPEC,
    IcapMessageEnd,
    IcapParser,
    IcapRequestHead,
    IcapResponseHead,
    parse_encapsulated,
    probe,
)
from wiresift.protocols.icap.detect import SIGNATURES

ICAP_FLOW = dataclasses.replace(FLOW, resp_port=1344)
BODY = b"0123456789" * 3
HTTP_POST = (
    b"POST /upload HTTP/1.1\r\nHost: www.example.test\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 30\r\n\r\n"
)
POST_HEADERS = (
    (b"Host", b"www.example.test"),
    (b"Content-Type", b"application/octet-stream"),
    (b"Content-Length", b"30"),
)
HTTP_GET = b"GET /file.bin HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\n"
OK_HEADERS = ((b"Content-Type", b"text/plain"), (b"Content-Length", b"30"))


def icap_request(
    method: bytes, encapsulated: bytes, *extra: bytes, service: bytes = b"svc"
) -> bytes:
    """An ICAP request head."""
    lines = [method + b" icap://icap.example.test/" + service + b" ICAP/1.0"]
    lines += [b"Host: icap.example.test", *extra, b"Encapsulated: " + encapsulated]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def icap_response(status: bytes, *headers: bytes) -> bytes:
    """An ICAP response head."""
    return b"\r\n".join([b"ICAP/1.0 " + status, *headers]) + b"\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of an encapsulated body."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def only(events: list[Event], *types: type[Event]) -> list[Event]:
    """The events of the given types, in order."""
    return [event for event in events if isinstance(event, types)]


def icap_ends(events: list[Event]) -> list[IcapMessageEnd]:
    """The IcapMessageEnd events, in order."""
    return [event for event in events if isinstance(event, IcapMessageEnd)]


def anomaly_names(events: list[Event]) -> list[str]:
    """Names of the anomalies, in order."""
    return [event.name for event in events if isinstance(event, Anomaly)]


def test_reqmod_post_with_preview_and_continue(split_feed: SplitFeed) -> None:
    """A POST sent with a 10-byte preview, 100 Continue, the rest, then a modified request."""
    modified = HTTP_POST.replace(b"\r\n\r\n", b"\r\nX-Scanned: yes\r\n\r\n")
    head = icap_request(
        b"REQMOD",
        b"req-hdr=0, req-body=%d" % len(HTTP_POST),
        b"X-Client-IP: 192.0.2.10",
        b"Preview: 10",
    )
    events = split_feed(
        IcapParser,
        [
            (ORIG, head + HTTP_POST + chunk(BODY[:10]) + b"0\r\n\r\n"),
            (RESP, icap_response(b"100 Continue")),
            (ORIG, chunk(BODY[10:]) + b"0\r\n\r\n"),
            (
                RESP,
                icap_response(
                    b"200 OK",
                    b'ISTag: "t1"',
                    b"Encapsulated: req-hdr=0, req-body=%d" % len(modified),
                )
                + modified
                + chunk(BODY)
                + b"0\r\n\r\n",
            ),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    original = RequestHead(
        direction=ORIG,
        ts=0,
        tx=0,
        method=b"POST",
        target=b"/upload",
        version=b"1.1",
        headers=POST_HEADERS,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        IcapRequestHead(
            direction=ORIG,
            ts=0,
            tx=0,
            method=b"REQMOD",
            uri=b"icap://icap.example.test/svc",
            version=b"1.0",
            headers=(
                (b"Host", b"icap.example.test"),
                (b"X-Client-IP", b"192.0.2.10"),
                (b"Preview", b"10"),
                (b"Encapsulated", b"req-hdr=0, req-body=%d" % len(HTTP_POST)),
            ),
            encapsulated=(("req-hdr", 0), ("req-body", len(HTTP_POST))),
            preview=10,
        ),
        original,
        BodyData(direction=ORIG, ts=0, tx=0, data=BODY[:10]),
        IcapResponseHead(
            direction=RESP,
            ts=1,
            tx=0,
            status=100,
            reason=b"Continue",
            version=b"1.0",
            headers=(),
            encapsulated=(),
            interim=True,
        ),
        BodyData(direction=ORIG, ts=2, tx=0, data=BODY[10:]),
        MessageEnd(direction=ORIG, ts=2, tx=0),
        IcapMessageEnd(direction=ORIG, ts=2, tx=0),
        IcapResponseHead(
            direction=RESP,
            ts=3,
            tx=0,
            status=200,
            reason=b"OK",
            version=b"1.0",
            headers=(
                (b"ISTag", b'"t1"'),
                (b"Encapsulated", b"req-hdr=0, req-body=%d" % len(modified)),
            ),
            encapsulated=(("req-hdr", 0), ("req-body", len(modified))),
        ),
        dataclasses.replace(original, ts=3, tx=1, headers=(*POST_HEADERS, (b"X-Scanned", b"yes"))),
        BodyData(direction=ORIG, ts=3, tx=1, data=BODY),
        MessageEnd(direction=ORIG, ts=3, tx=1),
        IcapMessageEnd(direction=RESP, ts=3, tx=0),
    ]


def test_respmod_with_ieof_and_adapted_response(split_feed: SplitFeed) -> None:
    """RESPMOD: request headers, a response whose whole body fits the preview (ieof), and
    a 200 whose adapted response is paired with a copy of the original request."""
    encapsulated = b"req-hdr=0, res-hdr=%d, res-body=%d" % (
        len(HTTP_GET),
        len(HTTP_GET) + len(HTTP_OK),
    )
    adapted = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\n"
    events = split_feed(
        IcapParser,
        [
            (
                ORIG,
                icap_request(b"RESPMOD", encapsulated, b"Preview: 1024")
                + HTTP_GET
                + HTTP_OK
                + chunk(BODY)
                + b"0; ieof\r\n\r\n",
            ),
            (
                RESP,
                icap_response(b"200 OK", b"Encapsulated: res-hdr=0, res-body=%d" % len(adapted))
                + adapted
                + chunk(b"blocked")
                + b"0\r\n\r\n",
            ),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    get = RequestHead(
        direction=ORIG,
        ts=0,
        tx=0,
        method=b"GET",
        target=b"/file.bin",
        version=b"1.1",
        headers=((b"Host", b"www.example.test"),),
    )
    http = only(events, RequestHead, ResponseHead, BodyData, MessageEnd, IcapMessageEnd)
    assert http == [
        get,
        ResponseHead(
            direction=RESP,
            ts=0,
            tx=0,
            status=200,
            reason=b"OK",
            version=b"1.1",
            headers=OK_HEADERS,
        ),
        MessageEnd(direction=ORIG, ts=0, tx=0),
        BodyData(direction=RESP, ts=0, tx=0, data=BODY),
        MessageEnd(direction=RESP, ts=0, tx=0),
        IcapMessageEnd(direction=ORIG, ts=0, tx=0),
        dataclasses.replace(get, ts=1, tx=1),
        MessageEnd(direction=ORIG, ts=1, tx=1),
        ResponseHead(
            direction=RESP,
            ts=1,
            tx=1,
            status=403,
            reason=b"Forbidden",
            version=b"1.1",
            headers=((b"Content-Length", b"7"),),
        ),
        BodyData(direction=RESP, ts=1, tx=1, data=b"blocked"),
        MessageEnd(direction=RESP, ts=1, tx=1),
        IcapMessageEnd(direction=RESP, ts=1, tx=0),
    ]
    (head,) = only(events, IcapRequestHead)
    assert isinstance(head, IcapRequestHead)
    assert (head.method, head.preview) == (b"RESPMOD", 1024)


def test_204_after_preview_ends_the_body_at_the_preview(split_feed: SplitFeed) -> None:
    """A 204 answering a preview ends the original body there, marked incomplete."""
    head = icap_request(
        b"REQMOD", b"req-hdr=0, req-body=%d" % len(HTTP_POST), b"Preview: 10", b"Allow: 204"
    )
    events = split_feed(
        IcapParser,
        [
            (ORIG, head + HTTP_POST + chunk(BODY[:10]) + b"0\r\n\r\n"),
            (RESP, icap_response(b"204 No Content", b"Encapsulated: null-body=0")),
            (ORIG, icap_request(b"OPTIONS", b"null-body=0")),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    assert only(events, BodyData, MessageEnd, IcapMessageEnd, IcapResponseHead) == [
        BodyData(direction=ORIG, ts=0, tx=0, data=BODY[:10]),
        IcapResponseHead(
            direction=RESP,
            ts=1,
            tx=0,
            status=204,
            reason=b"No Content",
            version=b"1.0",
            headers=((b"Encapsulated", b"null-body=0"),),
            encapsulated=(("null-body", 0),),
        ),
        MessageEnd(direction=ORIG, ts=1, tx=0, complete=False, reason="preview"),
        IcapMessageEnd(direction=ORIG, ts=1, tx=0),
        IcapMessageEnd(direction=RESP, ts=1, tx=0),
        IcapMessageEnd(direction=ORIG, ts=2, tx=1),
    ]


def test_next_request_after_an_unanswered_preview_ends_it(split_feed: SplitFeed) -> None:
    """A new request in place of the rest of a previewed body ends that body."""
    head = icap_request(b"REQMOD", b"req-hdr=0, req-body=%d" % len(HTTP_POST), b"Preview: 10")
    events = split_feed(
        IcapParser,
        [
            (ORIG, head + HTTP_POST + chunk(BODY[:10]) + b"0\r\n\r\n"),
            (ORIG, icap_request(b"OPTIONS", b"null-body=0")),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    assert only(events, MessageEnd, IcapMessageEnd, IcapRequestHead)[1:] == [
        MessageEnd(direction=ORIG, ts=1, tx=0, complete=False, reason="preview"),
        IcapMessageEnd(direction=ORIG, ts=1, tx=0),
        IcapRequestHead(
            direction=ORIG,
            ts=1,
            tx=1,
            method=b"OPTIONS",
            uri=b"icap://icap.example.test/svc",
            version=b"1.0",
            headers=((b"Host", b"icap.example.test"), (b"Encapsulated", b"null-body=0")),
            encapsulated=(("null-body", 0),),
        ),
        IcapMessageEnd(direction=ORIG, ts=1, tx=1),
    ]


def test_options_carries_no_http(split_feed: SplitFeed) -> None:
    """OPTIONS and its answer (with an opt-body) give ICAP events only."""
    events = split_feed(
        IcapParser,
        [
            (ORIG, icap_request(b"OPTIONS", b"null-body=0")),
            (
                RESP,
                icap_response(
                    b"200 OK",
                    b"Methods: REQMOD, RESPMOD",
                    b"Preview: 1024",
                    b"Encapsulated: opt-body=0",
                )
                + chunk(b"options body")
                + b"0\r\n\r\n",
            ),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    assert [type(event).__name__ for event in events] == [
        "Confirmed",
        "IcapRequestHead",
        "IcapMessageEnd",
        "IcapResponseHead",
        "IcapMessageEnd",
    ]
    response = events[3]
    assert isinstance(response, IcapResponseHead)
    assert (response.status, response.encapsulated) == (200, (("opt-body", 0),))


def test_reqmod_answered_by_a_response_pairs_with_the_original(split_feed: SplitFeed) -> None:
    """A REQMOD answered with an HTTP response (a block page) completes the original tx."""
    page = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\n"
    events = split_feed(
        IcapParser,
        [
            (ORIG, icap_request(b"REQMOD", b"req-hdr=0, null-body=%d" % len(HTTP_GET)) + HTTP_GET),
            (
                RESP,
                icap_response(b"200 OK", b"Encapsulated: res-hdr=0, res-body=%d" % len(page))
                + page
                + chunk(b"nope")
                + b"0\r\n\r\n",
            ),
        ],
        flow=ICAP_FLOW,
        strict=True,
    )
    assert [
        (type(e).__name__, e.direction, getattr(e, "tx", None))
        for e in only(events, RequestHead, ResponseHead, BodyData, MessageEnd)
    ] == [
        ("RequestHead", ORIG, 0),
        ("MessageEnd", ORIG, 0),
        ("ResponseHead", RESP, 0),
        ("BodyData", RESP, 0),
        ("MessageEnd", RESP, 0),
    ]


def test_offsets_past_the_headers_are_reported_and_parsing_goes_on(split_feed: SplitFeed) -> None:
    """req-body=412 where the headers end earlier: icap_bad_encapsulated, body still read."""
    events = split_feed(
        IcapParser,
        [(ORIG, icap_request(b"REQMOD", b"req-hdr=0, req-body=412") + HTTP_POST + chunk(BODY))],
        flow=ICAP_FLOW,
    )
    assert anomaly_names(events) == ["icap_bad_encapsulated"]
    (bad,) = only(events, Anomaly)
    assert isinstance(bad, Anomaly)
    assert bad.detail == f"req-body at offset {len(HTTP_POST)}, Encapsulated says 412"
    assert only(events, BodyData) == [BodyData(direction=ORIG, ts=0, tx=0, data=BODY)]


def test_negative_and_unknown_offsets(split_feed: SplitFeed) -> None:
    """A negative offset is reported and ignored; an unknown entity loses the message."""
    events = split_feed(
        IcapParser,
        [
            (ORIG, icap_request(b"REQMOD", b"req-hdr=0, req-body=-5") + HTTP_POST + chunk(BODY)),
            (ORIG, b"0\r\n\r\n" + icap_request(b"REQMOD", b"req-hdr=0, frob=9") + HTTP_GET),
            (ORIG, icap_request(b"OPTIONS", b"null-body=0")),
        ],
        flow=ICAP_FLOW,
    )
    assert anomaly_names(events) == [
        "icap_bad_encapsulated",
        "icap_bad_encapsulated",
        "icap_resync",
    ]
    details = [event.detail for event in events if isinstance(event, Anomaly)]
    assert details[:2] == ["bad offset b'-5' for req-body", "unknown entity b'frob=9'"]
    assert only(events, BodyData) == [BodyData(direction=ORIG, ts=0, tx=0, data=BODY)]
    assert [(e.tx, e.complete) for e in icap_ends(events)] == [(0, True), (1, False), (2, True)]


def test_garbage_then_a_request_resyncs(split_feed: SplitFeed) -> None:
    """Garbage first: icap_bad_start_line, the bytes are skipped up to the next request."""
    events = split_feed(
        IcapParser,
        [
            (
                ORIG,
                b"\x16\x03\x01 junk junk\r\nmore junk " + icap_request(b"OPTIONS", b"null-body=0"),
            )
        ],
        flow=ICAP_FLOW,
    )
    assert anomaly_names(events) == ["icap_bad_start_line", "icap_resync"]
    assert only(events, Anomaly)[1] == Anomaly(
        direction=ORIG, ts=0, name="icap_resync", detail="10 bytes skipped"
    )
    assert [type(e).__name__ for e in events[2:]] == [
        "Confirmed",
        "IcapRequestHead",
        "IcapMessageEnd",
    ]


def test_ten_megabyte_header_is_capped() -> None:
    """A 10 MB ICAP header section: icap_header_too_long, the buffer stays bounded, and the
    request after it is parsed."""
    limits = Limits()
    parser = IcapParser(ICAP_FLOW, limits)
    events = parser.feed(ORIG, b"REQMOD icap://x/svc ICAP/1.0\r\n", 0)
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    peak = 0
    for _ in range(10 * 1024):
        events += parser.feed(ORIG, line, 1)
        peak = max(peak, parser.buffered_bytes())
    events += parser.feed(ORIG, b"\r\n" + icap_request(b"OPTIONS", b"null-body=0"), 2)
    assert peak <= limits.max_header_block + len(line)
    assert anomaly_names(events) == ["icap_header_too_long", "icap_resync"]
    assert [type(e).__name__ for e in events[-2:]] == ["IcapRequestHead", "IcapMessageEnd"]


def test_huge_encapsulated_http_header_is_capped() -> None:
    """An encapsulated HTTP header section past the cap ends the message incomplete."""
    limits = Limits(max_header_block=1024)
    parser = IcapParser(ICAP_FLOW, limits)
    head = icap_request(b"REQMOD", b"req-hdr=0, null-body=5000")
    events = parser.feed(ORIG, head + b"GET / HTTP/1.1\r\n" + b"X: " + b"b" * 5000, 0)
    assert anomaly_names(events) == ["icap_header_too_long"]
    assert only(events, IcapMessageEnd) == [
        IcapMessageEnd(direction=ORIG, ts=0, tx=0, complete=False, reason="header_too_long")
    ]
    assert parser.buffered_bytes() < 1024


def test_gap_inside_chunk_data_stays_in_sync(split_feed: SplitFeed) -> None:
    """A hole inside chunk data becomes a BodyGap; the body goes on after it."""
    head = icap_request(b"REQMOD", b"req-hdr=0, req-body=%d" % len(HTTP_POST))
    events = split_feed(
        IcapParser,
        [
            (ORIG, head + HTTP_POST + b"1e\r\n" + BODY[:10]),
            Gap(ORIG, 10),
            (ORIG, BODY[20:] + b"\r\n0\r\n\r\n"),
        ],
        flow=ICAP_FLOW,
    )
    assert only(events, BodyData, BodyGap, MessageEnd) == [
        BodyData(direction=ORIG, ts=0, tx=0, data=BODY[:10]),
        BodyGap(direction=ORIG, ts=1, tx=0, size=10),
        BodyData(direction=ORIG, ts=2, tx=0, data=BODY[20:]),
        MessageEnd(direction=ORIG, ts=2, tx=0),
    ]
    assert anomaly_names(events) == ["icap_content_gap"]


def test_end_inside_a_body_ends_it_incomplete(split_feed: SplitFeed) -> None:
    """The stream closing inside chunk data ends the HTTP and ICAP messages incomplete."""
    head = icap_request(b"REQMOD", b"req-hdr=0, req-body=%d" % len(HTTP_POST))
    events = split_feed(
        IcapParser,
        [(ORIG, head + HTTP_POST + b"1e\r\n" + BODY[:5]), End(ORIG)],
        flow=ICAP_FLOW,
    )
    assert only(events, MessageEnd, IcapMessageEnd) == [
        MessageEnd(direction=ORIG, ts=1, tx=0, complete=False, reason="eof"),
        IcapMessageEnd(direction=ORIG, ts=1, tx=0, complete=False, reason="eof"),
    ]


def test_bad_chunk_size_resyncs(split_feed: SplitFeed) -> None:
    """A chunk-size line that is not hex: icap_bad_chunk_size, then the next request."""
    head = icap_request(b"REQMOD", b"req-hdr=0, req-body=%d" % len(HTTP_POST))
    events = split_feed(
        IcapParser,
        [(ORIG, head + HTTP_POST + b"zz\r\n" + icap_request(b"OPTIONS", b"null-body=0"))],
        flow=ICAP_FLOW,
    )
    assert anomaly_names(events) == ["icap_bad_chunk_size", "icap_resync"]
    assert [e.complete for e in icap_ends(events)] == [False, True]


def test_response_without_request_gets_its_own_tx(split_feed: SplitFeed) -> None:
    """A response with no request waiting (capture started late) is numbered and reported."""
    events = split_feed(IcapParser, [(RESP, icap_response(b"204 No Content"))], flow=ICAP_FLOW)
    assert anomaly_names(events) == ["icap_response_without_request"]
    assert only(events, IcapMessageEnd) == [IcapMessageEnd(direction=RESP, ts=0, tx=0)]


def test_parse_encapsulated() -> None:
    """Entities and offsets of the Encapsulated header, and what is wrong with them."""
    assert parse_encapsulated(b"req-hdr=0, res-hdr=45, res-body=100") == (
        (("req-hdr", 0), ("res-hdr", 45), ("res-body", 100)),
        "",
    )
    assert parse_encapsulated(b"REQ-HDR=0,null-body=10") == (
        (("req-hdr", 0), ("null-body", 10)),
        "",
    )
    assert parse_encapsulated(b"req-hdr=50, req-body=10") == (
        (("req-hdr", 50), ("req-body", 10)),
        "the first offset is not 0",
    )
    assert parse_encapsulated(b"req-hdr=0, res-hdr=50, req-body=10") == (
        (("req-hdr", 0), ("res-hdr", 50), ("req-body", 10)),
        "offsets decrease",
    )
    assert parse_encapsulated(b"req-body=0, req-hdr=10") == (
        (),
        "the last entity must be the only body entity",
    )
    assert parse_encapsulated(b"req-hdr=0, req-hdr=5, null-body=9") == (
        (),
        "an entity is repeated",
    )
    assert parse_encapsulated(b"") == ((), "unknown entity b''")


def test_detection() -> None:
    """Signatures and probe: ICAP start lines match, HTTP and partial lines do not."""
    request_sig, status_sig = SIGNATURES
    assert request_sig.pattern.match(b"RESPMOD icap://proxy/av ICAP/1.0\r\n") is not None
    assert request_sig.pattern.match(b"OPTIONS * HTTP/1.1\r\n") is None
    assert status_sig.pattern.match(b"ICAP/1.0 204 No Content\r\n") is not None
    assert probe(ORIG, b"OPTIONS icap://x/y ICAP/1.0\r\n") is Verdict.MATCH
    assert probe(ORIG, b"REQMOD ic") is Verdict.NEED_MORE
    assert probe(ORIG, b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH
    assert probe(RESP, b"ICAP/1.") is Verdict.NEED_MORE
    assert probe(RESP, b"HTTP/1.1 200 OK\r\n") is Verdict.NO_MATCH
    assert (SPEC.name, SPEC.ports, SPEC.parser) == ("icap", frozenset({1344}), IcapParser)


def test_events_keep_wire_direction_for_anomalies() -> None:
    """Anomalies carry the ICAP direction they were found in."""
    parser = IcapParser(ICAP_FLOW, Limits())
    events = parser.feed(RESP, b"garbage\r\n", 0)
    assert events == [
        Anomaly(direction=Direction.RESP, ts=0, name="icap_bad_start_line", detail="b'garbage'")
    ]


def test_status_line_without_reason(split_feed: SplitFeed) -> None:
    """ "ICAP/1.0 204" with no reason phrase is still a status line."""
    events = split_feed(
        IcapParser,
        [(ORIG, icap_request(b"OPTIONS", b"null-body=0")), (RESP, b"ICAP/1.0 204\r\n\r\n")],
        flow=ICAP_FLOW,
        strict=True,
    )
    (head,) = only(events, IcapResponseHead)
    assert isinstance(head, IcapResponseHead)
    assert (head.status, head.reason, head.tx) == (204, b"", 0)
