"""HTTP/1.x parser: bytes in, events out, every scenario fed whole, byte by byte and cut."""

from __future__ import annotations

import dataclasses

from tests.protocols.helpers import MID_STREAM_FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Limits
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    SwitchProtocol,
    Violation,
)
from wiresift.protocols.http1 import (
    BodyData,
    BodyGap,
    Headers,
    HttpParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
)
from wiresift.protocols.http1.parser import body_data


def request(
    ts: int,
    tx: int,
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: Headers = (),
    version: bytes = b"1.1",
) -> RequestHead:
    """Expected RequestHead."""
    return RequestHead(
        direction=ORIG,
        ts=ts,
        tx=tx,
        method=method,
        target=target,
        version=version,
        headers=headers,
    )


def response(
    ts: int,
    tx: int,
    status: int = 200,
    reason: bytes = b"OK",
    headers: Headers = (),
    version: bytes = b"1.1",
    interim: bool = False,
) -> ResponseHead:
    """Expected ResponseHead."""
    return ResponseHead(
        direction=RESP,
        ts=ts,
        tx=tx,
        status=status,
        reason=reason,
        version=version,
        headers=headers,
        interim=interim,
    )


def data(direction: Direction, ts: int, tx: int, payload: bytes) -> BodyData:
    """Expected BodyData."""
    return BodyData(direction=direction, ts=ts, tx=tx, data=payload)


def done(
    direction: Direction,
    ts: int,
    tx: int,
    complete: bool = True,
    reason: str = "",
    trailers: Headers = (),
) -> MessageEnd:
    """Expected MessageEnd."""
    return MessageEnd(
        direction=direction, ts=ts, tx=tx, complete=complete, reason=reason, trailers=trailers
    )


def weird(direction: Direction, ts: int, name: str, detail: str = "") -> Anomaly:
    """Expected Anomaly."""
    return Anomaly(direction=direction, ts=ts, name=name, detail=detail)


def confirmed(direction: Direction, ts: int) -> Confirmed:
    """Expected Confirmed."""
    return Confirmed(direction=direction, ts=ts)


def anomaly_names(events: list[Event]) -> list[str]:
    """Names of the anomalies among ``events``, in order."""
    return [event.name for event in events if isinstance(event, Anomaly)]


GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
HOST: Headers = ((b"Host", b"example.com"),)
OK_HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
LENGTH_5: Headers = ((b"Content-Length", b"5"),)


# -- messages and keep-alive -------------------------------------------------------------------


def test_keep_alive_runs_two_transactions(split_feed: SplitFeed) -> None:
    """Two request/response pairs on one connection get tx 0 and 1."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, OK_HELLO),
            (ORIG, b"GET /two HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            (RESP, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, headers=HOST),
        done(ORIG, 0, 0),
        response(1, 0, headers=LENGTH_5),
        data(RESP, 1, 0, b"hello"),
        done(RESP, 1, 0),
        request(2, 1, target=b"/two", headers=HOST),
        done(ORIG, 2, 1),
        response(3, 1, status=404, reason=b"Not Found", headers=((b"Content-Length", b"0"),)),
        done(RESP, 3, 1),
    ]


def test_three_pipelined_requests_pair_with_their_responses(split_feed: SplitFeed) -> None:
    """Requests sent back to back are answered in order (RFC 9112 s9.3.2)."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
            (
                RESP,
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB"
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC",
            ),
        ],
        strict=True,
    )
    one: Headers = ((b"Content-Length", b"1"),)
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, target=b"/a"),
        done(ORIG, 0, 0),
        request(0, 1, target=b"/b"),
        done(ORIG, 0, 1),
        request(0, 2, target=b"/c"),
        done(ORIG, 0, 2),
        response(1, 0, headers=one),
        data(RESP, 1, 0, b"A"),
        done(RESP, 1, 0),
        response(1, 1, headers=one),
        data(RESP, 1, 1, b"B"),
        done(RESP, 1, 1),
        response(1, 2, headers=one),
        data(RESP, 1, 2, b"C"),
        done(RESP, 1, 2),
    ]


def test_request_body_by_content_length(split_feed: SplitFeed) -> None:
    """A POST body is exactly Content-Length bytes; the next request follows it."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"POST /form HTTP/1.1\r\nContent-Length: 7\r\n\r\na=1&b=2"
                b"GET /next HTTP/1.1\r\n\r\n",
            ),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"POST", target=b"/form", headers=((b"Content-Length", b"7"),)),
        data(ORIG, 0, 0, b"a=1&b=2"),
        done(ORIG, 0, 0),
        request(0, 1, target=b"/next"),
        done(ORIG, 0, 1),
    ]


def test_request_without_length_has_no_body(split_feed: SplitFeed) -> None:
    """A request with neither Content-Length nor chunked has no body (RFC 9112 s6.3 p7)."""
    events = split_feed(
        HttpParser, [(ORIG, b"POST /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n")], strict=True
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"POST", target=b"/x"),
        done(ORIG, 0, 0),
        request(0, 1, target=b"/y"),
        done(ORIG, 0, 1),
    ]


def test_chunked_body_with_extensions_and_trailers(split_feed: SplitFeed) -> None:
    """Chunk extensions are skipped, data is de-chunked and trailers end the message."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'4;name=value\r\nWiki\r\n5 ; quoted="a;b"\r\npedia\r\nA\r\n in chunks\r\n'
                b"0\r\nExpires: never\r\nX-Sum: 42\r\n\r\n" + OK_HELLO,
            ),
        ],
        strict=True,
    )
    assert events[5:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        data(RESP, 1, 0, b"Wikipedia in chunks"),
        done(RESP, 1, 0, trailers=((b"Expires", b"never"), (b"X-Sum", b"42"))),
        response(1, 1, headers=LENGTH_5),
        data(RESP, 1, 1, b"hello"),
        done(RESP, 1, 1),
    ]


def test_chunk_data_streams_before_the_chunk_is_complete(split_feed: SplitFeed) -> None:
    """Each feed emits the chunk bytes it got, even when the size line and CRLF are split."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1"),
            (ORIG, b"0\r"),
            (ORIG, b"\n0123456789"),
            (ORIG, b"abcdef\r"),
            (ORIG, b"\n0\r\n"),
            (ORIG, b"\r\n"),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"POST", target=b"/up", headers=((b"Transfer-Encoding", b"chunked"),)),
        data(ORIG, 2, 0, b"0123456789abcdef"),
        done(ORIG, 5, 0),
    ]


def test_chunked_request_body_then_next_request(split_feed: SplitFeed) -> None:
    """A chunked request body without trailers is followed by the next request."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"PUT /f HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                + GET,
            )
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(
            0, 0, method=b"PUT", target=b"/f", headers=((b"Transfer-Encoding", b"gzip, chunked"),)
        ),
        data(ORIG, 0, 0, b"abc"),
        done(ORIG, 0, 0),
        request(0, 1, headers=HOST),
        done(ORIG, 0, 1),
    ]


def test_close_delimited_body_ends_when_the_server_closes(split_feed: SplitFeed) -> None:
    """A response without length runs until end(RESP) and is then complete (RFC 9112 s6.3 p8)."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst "),
            (RESP, b"second"),
            End(ORIG),
            End(RESP),
        ],
        strict=True,
    )
    assert events[3:] == [
        response(1, 0, version=b"1.0", headers=((b"Content-Type", b"text/plain"),)),
        data(RESP, 1, 0, b"first second"),
        done(RESP, 4, 0),
    ]


def test_response_to_head_has_no_body(split_feed: SplitFeed) -> None:
    """Content-Length in a response to HEAD describes the GET body, which is not sent."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"HEAD /big HTTP/1.1\r\n\r\n" + GET),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" + OK_HELLO),
        ],
        strict=True,
    )
    assert events[5:] == [
        response(1, 0, headers=((b"Content-Length", b"1234"),)),
        done(RESP, 1, 0),
        response(1, 1, headers=LENGTH_5),
        data(RESP, 1, 1, b"hello"),
        done(RESP, 1, 1),
    ]


def test_204_and_304_have_no_body(split_feed: SplitFeed) -> None:
    """204 and 304 end at their header section whatever their headers say."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
        ],
        strict=True,
    )
    assert events[5:] == [
        response(1, 0, status=204, reason=b"No Content", headers=((b"Content-Length", b"10"),)),
        done(RESP, 1, 0),
        response(
            1, 1, status=304, reason=b"Not Modified", headers=((b"Transfer-Encoding", b"chunked"),)
        ),
        done(RESP, 1, 1),
    ]


def test_100_continue_is_interim_then_the_final_response(split_feed: SplitFeed) -> None:
    """A 100 is an interim message of the same tx; the 200 that follows is final."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            (RESP, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (ORIG, b"hi"),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(
            0,
            0,
            method=b"POST",
            target=b"/up",
            headers=((b"Expect", b"100-continue"), (b"Content-Length", b"2")),
        ),
        response(1, 0, status=100, reason=b"Continue", interim=True),
        done(RESP, 1, 0),
        data(ORIG, 2, 0, b"hi"),
        done(ORIG, 2, 0),
        response(3, 0, headers=((b"Content-Length", b"0"),)),
        done(RESP, 3, 0),
    ]


def test_interim_without_request_shares_tx_with_its_final(split_feed: SplitFeed) -> None:
    """An unrequested 103 and the final response after it get the same fresh tx."""
    events = split_feed(
        HttpParser,
        [(RESP, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK_HELLO)],
    )
    assert events == [
        confirmed(RESP, 0),
        weird(RESP, 0, "http_response_without_request", "tx 0"),
        response(
            0, 0, status=103, reason=b"Early Hints", headers=((b"Link", b"</s.css>"),), interim=True
        ),
        done(RESP, 0, 0),
        response(0, 0, headers=LENGTH_5),
        data(RESP, 0, 0, b"hello"),
        done(RESP, 0, 0),
    ]


# -- switching protocols ------------------------------------------------------------------------


CONNECT = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
CONNECT_HOST: Headers = ((b"Host", b"example.com:443"),)


def test_connect_200_hands_the_tunnel_over_with_leftover(split_feed: SplitFeed) -> None:
    """After a 2xx to CONNECT the bytes of both sides go to detection again.

    (The harness appends bytes fed after the switch to the leftovers, as the engine would.)
    """
    events = split_feed(
        HttpParser,
        [
            (ORIG, CONNECT + b"\x16\x03\x01client-hello"),
            (RESP, b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03server"),
            (ORIG, b"more tunnel bytes"),
            End(ORIG),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"CONNECT", target=b"example.com:443", headers=CONNECT_HOST),
        done(ORIG, 0, 0),
        response(1, 0, reason=b"Connection established"),
        done(RESP, 1, 0),
        SwitchProtocol(
            direction=RESP,
            ts=1,
            to=None,
            leftover=b"\x16\x03\x03server",
            leftover_other=b"\x16\x03\x01client-hello" + b"more tunnel bytes",
            tunnel=("http-connect", "example.com", 443),
        ),
    ]


def test_refused_connect_reads_the_held_requests_as_http(split_feed: SplitFeed) -> None:
    """A 407 to CONNECT keeps HTTP going; requests held while waiting are parsed then."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, CONNECT + GET),
            (RESP, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny"),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"CONNECT", target=b"example.com:443", headers=CONNECT_HOST),
        done(ORIG, 0, 0),
        response(
            1,
            0,
            status=407,
            reason=b"Proxy Authentication Required",
            headers=((b"Content-Length", b"4"),),
        ),
        request(1, 1, headers=HOST),
        done(ORIG, 1, 1),
        data(RESP, 1, 0, b"deny"),
        done(RESP, 1, 0),
    ]


UPGRADE_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
UPGRADE_HEADERS: Headers = (
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"Sec-WebSocket-Version", b"13"),
)


def test_101_switches_to_websocket_with_leftover(split_feed: SplitFeed) -> None:
    """101 names the Upgrade token, lower-cased; frames after the head are handed over."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, UPGRADE_REQUEST + b"\x81\x85masked"),
            (
                RESP,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                b"Connection: Upgrade\r\n\r\n\x81\x05hello",
            ),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, target=b"/chat", headers=UPGRADE_HEADERS),
        done(ORIG, 0, 0),
        response(
            1,
            0,
            status=101,
            reason=b"Switching Protocols",
            headers=((b"Upgrade", b"WebSocket"), (b"Connection", b"Upgrade")),
        ),
        done(RESP, 1, 0),
        SwitchProtocol(
            direction=RESP,
            ts=1,
            to="websocket",
            leftover=b"\x81\x05hello",
            leftover_other=b"\x81\x85masked",
            context={
                "url": "ws://example.com/chat",
                "origin": None,
                "subprotocol": None,
                "extensions": None,
            },
        ),
    ]


def test_101_without_upgrade_header_uses_the_request_token(split_feed: SplitFeed) -> None:
    """A 101 that omits Upgrade switches to what the request asked for (h2c: HTTP/2 here)."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"GET / HTTP/1.1\r\nUpgrade: h2c, TLS/1.2\r\n"
                b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
            ),
            (RESP, b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x00\x00\x00\x04\x00"),
        ],
        strict=True,
    )
    assert events[-1] == SwitchProtocol(
        direction=RESP,
        ts=1,
        to="http2",
        leftover=b"\x00\x00\x00\x04\x00",
        leftover_other=b"",
        context={
            "upgrade": "h2c",
            "method": b"GET",
            "target": b"/",
            "headers": (
                (b"Upgrade", b"h2c, TLS/1.2"),
                (b"HTTP2-Settings", b"AAMAAABkAAQAAP__"),
            ),
        },
    )


def test_declined_upgrade_reads_on_as_http(split_feed: SplitFeed) -> None:
    """A 200 to an Upgrade request is an ordinary response; HTTP goes on."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, UPGRADE_REQUEST + GET),
            (RESP, OK_HELLO),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, target=b"/chat", headers=UPGRADE_HEADERS),
        done(ORIG, 0, 0),
        response(1, 0, headers=LENGTH_5),
        request(1, 1, headers=HOST),
        done(ORIG, 1, 1),
        data(RESP, 1, 0, b"hello"),
        done(RESP, 1, 0),
    ]


def test_bytes_after_a_switch_are_not_parsed(split_feed: SplitFeed) -> None:
    """Once switched, the parser emits nothing more and holds nothing."""
    parser = HttpParser(MID_STREAM_FLOW, Limits())
    parser.feed(ORIG, CONNECT, 0)
    parser.feed(RESP, b"HTTP/1.1 200 OK\r\n\r\n", 1)
    assert parser.feed(ORIG, b"GET / HTTP/1.1\r\n\r\n", 2) == []
    assert parser.feed(RESP, b"HTTP/1.1 200 OK\r\n\r\n", 3) == []
    assert parser.end(RESP, 4) == []
    assert parser.buffered_bytes() == 0


def test_client_that_does_not_wait_is_read_as_http(split_feed: SplitFeed) -> None:
    """More than detect_buffer_bytes held after an Upgrade request: read on as HTTP."""
    limits = Limits(detect_buffer_bytes=20)
    events = split_feed(
        HttpParser,
        [(ORIG, b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n" + GET)],
        limits=limits,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, headers=((b"Upgrade", b"h2c"),)),
        done(ORIG, 0, 0),
        weird(
            ORIG,
            0,
            "http_switch_wait_overflow",
            "more than 20 bytes before the response to tx 0",
        ),
        request(0, 1, headers=HOST),
        done(ORIG, 0, 1),
    ]


# -- losing and finding the message boundary -----------------------------------------------------


def test_mid_stream_start_in_a_response_body_resyncs(split_feed: SplitFeed) -> None:
    """A capture that starts inside a body skips to the next status line."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (
                RESP,
                b"\x89PNG\r\n\x1a\nrest of an image</html>"
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            ),
        ],
        flow=MID_STREAM_FLOW,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, headers=HOST),
        done(ORIG, 0, 0),
        weird(RESP, 1, "http_resync", "31 bytes skipped"),
        response(1, 0, headers=LENGTH_5),
        data(RESP, 1, 0, b"hello"),
        done(RESP, 1, 0),
    ]


def test_mid_stream_start_in_a_request_body_resyncs(split_feed: SplitFeed) -> None:
    """On the client side the scan looks for a known method, space, target and version."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"x=1&y=GETTING / HTTP/1.1\r\nGET /a b HTTP/1.1\r\nname=JOEPUT /f HTTP/1.0\r\n\r\n",
            )
        ],
        flow=MID_STREAM_FLOW,
    )
    assert events == [
        weird(ORIG, 0, "http_resync", "53 bytes skipped"),
        confirmed(ORIG, 0),
        request(0, 0, method=b"PUT", target=b"/f", version=b"1.0"),
        done(ORIG, 0, 0),
    ]


def test_mid_stream_first_line_needs_a_known_method(split_feed: SplitFeed) -> None:
    """At a mid-stream start an unknown token is no request line; in sync it would be."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"T /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n")],
        flow=MID_STREAM_FLOW,
    )
    assert events == [
        weird(ORIG, 0, "http_resync", "17 bytes skipped"),
        confirmed(ORIG, 0),
        request(0, 0, target=b"/y"),
        done(ORIG, 0, 0),
    ]


def test_garbage_before_the_first_request_is_a_violation(split_feed: SplitFeed) -> None:
    """A stream that does not start with HTTP reports a violation, then resyncs."""
    events = split_feed(HttpParser, [(ORIG, b"\x16\x03\x01\x00\x05hello\r\n" + GET)])
    assert events == [
        Violation(direction=ORIG, ts=0, reason="http_bad_start_line"),
        weird(ORIG, 0, "http_resync", "12 bytes skipped"),
        confirmed(ORIG, 0),
        request(0, 0, headers=HOST),
        done(ORIG, 0, 0),
    ]


def test_nothing_found_before_end_reports_the_skipped_bytes(split_feed: SplitFeed) -> None:
    """A direction that never shows a start line reports what it skipped at the end."""
    events = split_feed(HttpParser, [(RESP, b"no http here\r\n" * 10), End(RESP)])
    assert events == [
        Violation(direction=RESP, ts=0, reason="http_bad_start_line"),
        weird(RESP, 1, "http_resync", "140 bytes skipped, no message before end"),
    ]


def test_gap_inside_content_length_body_keeps_sync(split_feed: SplitFeed) -> None:
    """A hole in a body of known length counts against it and parsing goes on."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            Gap(RESP, 4),
            (RESP, b"xyz" + OK_HELLO),
        ],
    )
    assert events[5:] == [
        response(1, 0, headers=((b"Content-Length", b"10"),)),
        data(RESP, 1, 0, b"abc"),
        weird(RESP, 2, "http_content_gap", "4 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=4),
        data(RESP, 3, 0, b"xyz"),
        done(RESP, 3, 0),
        response(3, 1, headers=LENGTH_5),
        data(RESP, 3, 1, b"hello"),
        done(RESP, 3, 1),
    ]


def test_gap_running_past_the_body_resyncs(split_feed: SplitFeed) -> None:
    """A hole longer than the rest of the body ends it, then the next head is searched."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET + GET),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc"),
            Gap(RESP, 20),
            (RESP, b"Length: 5\r\n\r\nhello" + OK_HELLO),
        ],
    )
    assert events[7:] == [
        response(1, 0, headers=((b"Content-Length", b"6"),)),
        data(RESP, 1, 0, b"abc"),
        weird(RESP, 2, "http_content_gap", "20 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=3),
        done(RESP, 2, 0),
        weird(RESP, 3, "http_resync", "18 bytes skipped"),
        weird(RESP, 3, "http_response_lost", "tx 1"),
        response(3, 2, headers=LENGTH_5),
        data(RESP, 3, 2, b"hello"),
        done(RESP, 3, 2),
    ]


def test_gap_inside_a_chunk_keeps_sync(split_feed: SplitFeed) -> None:
    """A hole that fits in the current chunk is a BodyGap; the chunk framing goes on."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01"),
            Gap(RESP, 5),
            (RESP, b"789\r\n0\r\n\r\n"),
        ],
    )
    assert events[3:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        data(RESP, 1, 0, b"01"),
        weird(RESP, 2, "http_content_gap", "5 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=5),
        data(RESP, 3, 0, b"789"),
        done(RESP, 3, 0),
    ]


def test_gap_beyond_the_chunk_desyncs(split_feed: SplitFeed) -> None:
    """A hole past the end of the chunk loses the framing: the message ends incomplete."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab"),
            Gap(RESP, 30),
            (RESP, b"ked\r\n\r\n" + OK_HELLO),
        ],
    )
    assert events[5:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        data(RESP, 1, 0, b"ab"),
        weird(RESP, 2, "http_content_gap", "30 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=2),
        done(RESP, 2, 0, complete=False, reason="gap"),
        weird(RESP, 3, "http_resync", "7 bytes skipped"),
        response(3, 1, headers=LENGTH_5),
        data(RESP, 3, 1, b"hello"),
        done(RESP, 3, 1),
    ]


def test_gap_in_close_delimited_body_is_a_body_gap(split_feed: SplitFeed) -> None:
    """A hole in a body that runs to the close cannot desync it."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.0 200 OK\r\n\r\nab"),
            Gap(RESP, 1000),
            (RESP, b"yz"),
            End(RESP),
        ],
    )
    assert events[3:] == [
        response(1, 0, version=b"1.0"),
        data(RESP, 1, 0, b"ab"),
        weird(RESP, 2, "http_content_gap", "1000 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=1000),
        data(RESP, 3, 0, b"yz"),
        done(RESP, 4, 0),
    ]


def test_gap_in_the_request_side_keeps_the_pairing(split_feed: SplitFeed) -> None:
    """Requests before a client-side hole keep their responses; a lost one gets a fresh tx."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /a HTTP/1.1\r\n\r\n"),
            Gap(ORIG, 50),
            (RESP, OK_HELLO),
            (RESP, OK_HELLO),
            (ORIG, b"GET /c HTTP/1.1\r\n\r\n"),
            (RESP, OK_HELLO),
        ],
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, target=b"/a"),
        done(ORIG, 0, 0),
        weird(ORIG, 1, "http_content_gap", "50 bytes"),
        response(2, 0, headers=LENGTH_5),
        data(RESP, 2, 0, b"hello"),
        done(RESP, 2, 0),
        weird(RESP, 3, "http_response_without_request", "tx 1"),
        response(3, 1, headers=LENGTH_5),
        data(RESP, 3, 1, b"hello"),
        done(RESP, 3, 1),
        weird(ORIG, 4, "http_resync", "0 bytes skipped"),
        request(4, 2, target=b"/c"),
        done(ORIG, 4, 2),
        response(5, 2, headers=LENGTH_5),
        data(RESP, 5, 2, b"hello"),
        done(RESP, 5, 2),
    ]


def test_gap_in_a_request_head_emits_what_was_read(split_feed: SplitFeed) -> None:
    """A hole inside a request head keeps its start line, so its response still pairs."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /a HTTP/1.1\r\nHost: example.com\r\nCook"),
            Gap(ORIG, 100),
            (RESP, OK_HELLO),
        ],
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 1, "http_content_gap", "100 bytes"),
        request(1, 0, target=b"/a", headers=HOST),
        done(ORIG, 1, 0, complete=False, reason="gap"),
        response(2, 0, headers=LENGTH_5),
        data(RESP, 2, 0, b"hello"),
        done(RESP, 2, 0),
    ]


def test_server_side_desync_drops_requests_answered_in_the_gap(split_feed: SplitFeed) -> None:
    """After a server-side hole, a response newer than the waiting requests skips them."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /a HTTP/1.1\r\n\r\n"),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-"),
            Gap(RESP, 10),
            (ORIG, b"GET /b HTTP/1.1\r\n\r\n"),
            (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ],
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, target=b"/a"),
        done(ORIG, 0, 0),
        weird(RESP, 2, "http_content_gap", "10 bytes"),
        response(2, 0, headers=()),
        done(RESP, 2, 0, complete=False, reason="gap"),
        request(3, 1, target=b"/b"),
        done(ORIG, 3, 1),
        weird(RESP, 4, "http_resync", "8 bytes skipped"),
        response(4, 1, headers=((b"Content-Length", b"2"),)),
        data(RESP, 4, 1, b"ok"),
        done(RESP, 4, 1),
    ]


def test_bad_chunk_size_desyncs_and_resyncs(split_feed: SplitFeed) -> None:
    """A chunk-size line that is not hex ends the message incomplete; the next one is found."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nfoo\r\n" + OK_HELLO,
            ),
        ],
    )
    assert events[5:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        weird(RESP, 1, "http_bad_chunk_size", "b'zz'"),
        done(RESP, 1, 0, complete=False, reason="bad_chunk_size"),
        weird(RESP, 1, "http_resync", "5 bytes skipped"),
        response(1, 1, headers=LENGTH_5),
        data(RESP, 1, 1, b"hello"),
        done(RESP, 1, 1),
    ]


def test_chunk_longer_than_its_size_is_reported(split_feed: SplitFeed) -> None:
    """Chunk data not followed by CRLF is an anomaly; a size line right there still parses."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab0\r\n\r\n"),
        ],
    )
    assert events[3:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        data(RESP, 1, 0, b"ab"),
        weird(RESP, 1, "http_bad_chunk_end"),
        done(RESP, 1, 0),
    ]


# -- limits -------------------------------------------------------------------------------------


def test_head_longer_than_the_limit_is_cut_and_resynced(split_feed: SplitFeed) -> None:
    """Past max_header_block the fields read so far are emitted and the rest skipped."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"GET /a HTTP/1.1\r\nHost: example.com\r\nCookie: " + b"c" * 200 + b"\r\n\r\n"
                b"GET /b HTTP/1.1\r\n\r\n",
            ),
            (RESP, OK_HELLO + OK_HELLO),
        ],
        limits=Limits(max_header_block=100),
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_header_too_long", "head longer than 100 bytes"),
        request(0, 0, target=b"/a", headers=HOST),
        done(ORIG, 0, 0, complete=False, reason="header_too_long"),
        weird(ORIG, 0, "http_resync", "212 bytes skipped"),
        request(0, 1, target=b"/b"),
        done(ORIG, 0, 1),
        response(1, 0, headers=LENGTH_5),
        data(RESP, 1, 0, b"hello"),
        done(RESP, 1, 0),
        response(1, 1, headers=LENGTH_5),
        data(RESP, 1, 1, b"hello"),
        done(RESP, 1, 1),
    ]


def test_start_line_longer_than_the_limit_resyncs(split_feed: SplitFeed) -> None:
    """A start line past max_line is skipped like garbage."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")],
        limits=Limits(max_line=64),
    )
    assert events == [
        weird(ORIG, 0, "http_line_too_long", "start line longer than 64 bytes"),
        weird(ORIG, 0, "http_resync", "118 bytes skipped"),
        confirmed(ORIG, 0),
        request(0, 0, target=b"/b"),
        done(ORIG, 0, 0),
    ]


def test_pending_requests_are_capped(split_feed: SplitFeed) -> None:
    """Past max_pending_tx a request is not queued; its response is one without request."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /0 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
            (RESP, OK_HELLO * 3),
        ],
        limits=Limits(max_pending_tx=2),
    )
    assert [
        (type(event).__name__, getattr(event, "tx", None), getattr(event, "detail", None))
        for event in events
        if isinstance(event, (RequestHead, ResponseHead, Anomaly))
    ] == [
        ("RequestHead", 0, None),
        ("RequestHead", 1, None),
        ("RequestHead", 2, None),
        ("Anomaly", None, "tx 2 not queued: 2 requests await a response"),
        ("ResponseHead", 0, None),
        ("ResponseHead", 1, None),
        ("Anomaly", None, "tx 3"),
        ("ResponseHead", 3, None),
    ]
    assert anomaly_names(events) == ["http_pending_overflow", "http_response_without_request"]


def test_response_without_request_gets_a_fresh_tx(split_feed: SplitFeed) -> None:
    """A response with no request waiting is numbered anew and reported."""
    events = split_feed(HttpParser, [(RESP, OK_HELLO)])
    assert events == [
        confirmed(RESP, 0),
        weird(RESP, 0, "http_response_without_request", "tx 0"),
        response(0, 0, headers=LENGTH_5),
        data(RESP, 0, 0, b"hello"),
        done(RESP, 0, 0),
    ]


# -- lenient parsing ----------------------------------------------------------------------------


def test_bare_lf_is_reported_once_per_direction(split_feed: SplitFeed) -> None:
    """Bare LF line endings parse like CRLF; the anomaly comes once per direction."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\nHost: y\r\n\n"),
            (RESP, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok" + OK_HELLO),
        ],
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_bare_lf"),
        request(0, 0, target=b"/a", headers=((b"Host", b"x"),)),
        done(ORIG, 0, 0),
        request(0, 1, target=b"/b", headers=((b"Host", b"y"),)),
        done(ORIG, 0, 1),
        weird(RESP, 1, "http_bare_lf"),
        response(1, 0, headers=((b"Content-Length", b"2"),)),
        data(RESP, 1, 0, b"ok"),
        done(RESP, 1, 0),
        response(1, 1, headers=LENGTH_5),
        data(RESP, 1, 1, b"hello"),
        done(RESP, 1, 1),
    ]


def test_bare_lf_in_chunk_framing(split_feed: SplitFeed) -> None:
    """Chunk-size lines and chunk ends may end in a bare LF too."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"),
        ],
    )
    assert events[3:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        weird(RESP, 1, "http_bare_lf"),
        data(RESP, 1, 0, b"abc"),
        done(RESP, 1, 0),
    ]


def test_obs_fold_lines_are_joined(split_feed: SplitFeed) -> None:
    """A continuation line is joined to the field before it with one space (RFC 9112 s5.2)."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"GET / HTTP/1.1\r\nX-Long: first\r\n  second\r\n\tthird\r\nHost: h\r\n\r\n")],
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_obs_fold"),
        request(0, 0, headers=((b"X-Long", b"first second third"), (b"Host", b"h"))),
        done(ORIG, 0, 0),
    ]


def test_space_before_colon_is_kept_and_reported(split_feed: SplitFeed) -> None:
    """'Content-Length : 3' still frames the body, with an anomaly (RFC 9112 s5.1)."""
    events = split_feed(HttpParser, [(ORIG, b"POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc")])
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_header_name_space"),
        request(0, 0, method=b"POST", headers=((b"Content-Length", b"3"),)),
        data(ORIG, 0, 0, b"abc"),
        done(ORIG, 0, 0),
    ]


def test_line_without_colon_is_dropped(split_feed: SplitFeed) -> None:
    """A field line without a colon is skipped and reported."""
    events = split_feed(HttpParser, [(ORIG, b"GET / HTTP/1.1\r\nnonsense\r\nHost: h\r\n\r\n")])
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_bad_header_line"),
        request(0, 0, headers=((b"Host", b"h"),)),
        done(ORIG, 0, 0),
    ]


def test_lower_case_versions_are_accepted(split_feed: SplitFeed) -> None:
    """'http/1.1' reads as version 1.1 on both sides."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET / http/1.1\r\n\r\n"),
            (RESP, b"http/1.0 200 ok\r\nContent-Length: 0\r\n\r\n"),
        ],
        strict=True,
    )
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0),
        done(ORIG, 0, 0),
        response(1, 0, reason=b"ok", version=b"1.0", headers=((b"Content-Length", b"0"),)),
        done(RESP, 1, 0),
    ]


def test_status_line_without_reason(split_feed: SplitFeed) -> None:
    """'HTTP/1.1 200' and 'HTTP/1.1 404 ' have an empty reason."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
                b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
            ),
        ],
        strict=True,
    )
    zero: Headers = ((b"Content-Length", b"0"),)
    assert events[5:] == [
        response(1, 0, reason=b"", headers=zero),
        done(RESP, 1, 0),
        response(1, 1, status=404, reason=b"", headers=zero),
        done(RESP, 1, 1),
    ]


def test_malformed_status_line_is_not_taken(split_feed: SplitFeed) -> None:
    """'HTTP/1.1 2000' is no status line: the scan goes on to the next one."""
    events = split_feed(HttpParser, [(RESP, b"HTTP/1.1 2000 OK\r\n" + OK_HELLO)])
    assert events[:3] == [
        Violation(direction=RESP, ts=0, reason="http_bad_start_line"),
        weird(RESP, 0, "http_resync", "18 bytes skipped"),
        confirmed(RESP, 0),
    ]


def test_http09_request_and_its_bare_response(split_feed: SplitFeed) -> None:
    """'GET /' is an HTTP/0.9 request without headers; its answer is a body until close."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"GET /old.html\r\n"), (RESP, b"<html>old</html>"), End(RESP)],
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_09_request"),
        request(0, 0, target=b"/old.html", version=b"0.9"),
        done(ORIG, 0, 0),
        response(1, 0, reason=b"", version=b"0.9"),
        data(RESP, 1, 0, b"<html>old</html>"),
        done(RESP, 2, 0),
    ]


def test_http09_request_answered_with_a_status_line(split_feed: SplitFeed) -> None:
    """A server that answers 'GET /' with a full response is parsed normally."""
    events = split_feed(HttpParser, [(ORIG, b"GET /\r\n"), (RESP, OK_HELLO)])
    assert events[4:] == [
        response(1, 0, headers=LENGTH_5),
        data(RESP, 1, 0, b"hello"),
        done(RESP, 1, 0),
    ]


def test_empty_lines_between_messages_are_skipped(split_feed: SplitFeed) -> None:
    """CRLFs before a request line are ignored without an anomaly (RFC 9112 s2.2)."""
    events = split_feed(HttpParser, [(ORIG, b"\r\n\r\n" + GET + b"\r\n" + GET)], strict=True)
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, headers=HOST),
        done(ORIG, 0, 0),
        request(0, 1, headers=HOST),
        done(ORIG, 0, 1),
    ]


def test_unknown_method_in_sync_is_accepted(split_feed: SplitFeed) -> None:
    """An unknown token method is taken once the stream is known to be HTTP."""
    events = split_feed(HttpParser, [(ORIG, b"BREW /pot HTTP/1.1\r\n\r\n")])
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_unknown_method"),
        request(0, 0, method=b"BREW", target=b"/pot"),
        done(ORIG, 0, 0),
    ]


def test_spaces_in_the_target_are_tolerated(split_feed: SplitFeed) -> None:
    """'GET /a b.html HTTP/1.1' keeps the target with its space, with an anomaly."""
    events = split_feed(HttpParser, [(ORIG, b"GET /a b.html HTTP/1.1\r\n\r\n")])
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_space_in_target"),
        request(0, 0, target=b"/a b.html"),
        done(ORIG, 0, 0),
    ]


# -- framing headers ----------------------------------------------------------------------------


def test_equal_duplicate_content_lengths_are_fine(split_feed: SplitFeed) -> None:
    """Repeated equal Content-Length values frame the body without an anomaly."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 03\r\n\r\nabc")],
        strict=True,
    )
    assert events[2:] == [data(ORIG, 0, 0, b"abc"), done(ORIG, 0, 0)]


def test_different_content_lengths_take_the_first(split_feed: SplitFeed) -> None:
    """Conflicting Content-Length values are reported and the first one is used."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\n"
                b"abGET / HTTP/1.1\r\n\r\n",
            )
        ],
    )
    assert events[1:] == [
        request(
            0, 0, method=b"POST", headers=((b"Content-Length", b"2"), (b"Content-Length", b"4"))
        ),
        weird(ORIG, 0, "http_duplicate_content_length"),
        data(ORIG, 0, 0, b"ab"),
        done(ORIG, 0, 0),
        request(0, 1),
        done(ORIG, 0, 1),
    ]


def test_chunked_wins_over_content_length(split_feed: SplitFeed) -> None:
    """With both, Transfer-Encoding: chunked frames the body (RFC 9112 s6.3 p3)."""
    events = split_feed(
        HttpParser,
        [
            (
                ORIG,
                b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\nok\r\n0\r\n\r\n",
            )
        ],
    )
    assert events[1:] == [
        request(
            0,
            0,
            method=b"POST",
            headers=((b"Content-Length", b"100"), (b"Transfer-Encoding", b"chunked")),
        ),
        weird(ORIG, 0, "http_te_and_content_length"),
        data(ORIG, 0, 0, b"ok"),
        done(ORIG, 0, 0),
    ]


def test_bad_content_length_in_a_response_reads_to_close(split_feed: SplitFeed) -> None:
    """An unparsable Content-Length leaves the response delimited by the close."""
    events = split_feed(
        HttpParser,
        [(ORIG, GET), (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\nbody"), End(RESP)],
    )
    assert events[3:] == [
        response(1, 0, headers=((b"Content-Length", b"ten"),)),
        weird(RESP, 1, "http_bad_content_length"),
        data(RESP, 1, 0, b"body"),
        done(RESP, 2, 0),
    ]


def test_response_coding_other_than_chunked_reads_to_close(split_feed: SplitFeed) -> None:
    """A response whose last transfer coding is not chunked runs to the close (s6.3 p4)."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz"),
            End(RESP),
        ],
    )
    assert events[3:] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked, gzip"),)),
        weird(RESP, 1, "http_bad_transfer_encoding"),
        data(RESP, 1, 0, b"zz"),
        done(RESP, 2, 0),
    ]


# -- end of stream ------------------------------------------------------------------------------


def test_close_before_content_length_is_incomplete(split_feed: SplitFeed) -> None:
    """A body cut short by the close ends with complete=False."""
    events = split_feed(
        HttpParser,
        [(ORIG, GET), (RESP, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), End(RESP)],
    )
    assert events[-2:] == [
        data(RESP, 1, 0, b"abc"),
        done(RESP, 2, 0, complete=False, reason="eof_before_length"),
    ]


def test_close_inside_chunked_is_incomplete(split_feed: SplitFeed) -> None:
    """A chunked body without its last chunk ends with complete=False."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
            End(RESP),
        ],
    )
    assert events[-2:] == [
        data(RESP, 1, 0, b"abc"),
        done(RESP, 2, 0, complete=False, reason="eof_in_chunked"),
    ]


def test_close_inside_a_head_emits_the_partial_head(split_feed: SplitFeed) -> None:
    """A head cut by the close is reported with the fields that arrived whole."""
    events = split_feed(
        HttpParser,
        [(ORIG, GET), (RESP, b"HTTP/1.1 200 OK\r\nServer: x\r\nCont"), End(RESP)],
    )
    assert events[3:] == [
        weird(RESP, 2, "http_truncated_head"),
        response(2, 0, headers=((b"Server", b"x"),)),
        done(RESP, 2, 0, complete=False, reason="eof_in_head"),
    ]


def test_close_inside_a_start_line_is_reported(split_feed: SplitFeed) -> None:
    """Bytes of an unfinished start line at the close are reported."""
    events = split_feed(HttpParser, [(ORIG, b"GET /unfinis"), End(ORIG)])
    assert events == [weird(ORIG, 1, "http_truncated_head", "12 bytes")]


def test_every_head_gets_one_message_end_at_close(split_feed: SplitFeed) -> None:
    """Closing both sides mid-message ends each open message exactly once."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"),
            (RESP, b"HTTP/1.1 200 OK\r\n\r\npartial"),
            End(ORIG),
            End(RESP),
            End(RESP),
        ],
    )
    heads = [event.tx for event in events if isinstance(event, (RequestHead, ResponseHead))]
    ends = [event for event in events if isinstance(event, MessageEnd)]
    assert heads == [0, 0]
    assert ends == [
        done(ORIG, 2, 0, complete=False, reason="eof_before_length"),
        done(RESP, 3, 0),
    ]


# -- the parser object --------------------------------------------------------------------------


def test_buffered_bytes_counts_both_directions(split_feed: SplitFeed) -> None:
    """Partial lines held on each side are counted."""
    parser = HttpParser(MID_STREAM_FLOW, Limits())
    parser.feed(ORIG, b"GET / HT", 0)
    parser.feed(RESP, b"HTTP/1.1 2", 1)
    assert parser.buffered_bytes() == 18


def test_fast_body_data_equals_the_constructor() -> None:
    """body_data builds an event equal to, and hashing like, BodyData(...)."""
    fast = body_data(RESP, 7, 3, b"xyz")
    slow = BodyData(direction=RESP, ts=7, tx=3, data=b"xyz")
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == {"direction": RESP, "ts": 7, "tx": 3, "data": b"xyz"}


# -- less common paths --------------------------------------------------------------------------


def test_unknown_versions_and_status_codes_are_reported(split_feed: SplitFeed) -> None:
    """'HTTP/2.0' in a request line and a status below 100 parse, with anomalies."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"GET / HTTP/2.0\r\n\r\n"),
            (RESP, b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"),
        ],
    )
    assert events == [
        confirmed(ORIG, 0),
        weird(ORIG, 0, "http_bad_version"),
        request(0, 0, version=b"2.0"),
        done(ORIG, 0, 0),
        weird(RESP, 1, "http_bad_status_code"),
        response(1, 0, status=99, reason=b"Odd", headers=((b"Content-Length", b"0"),)),
        done(RESP, 1, 0),
    ]


def test_request_line_without_target_is_not_taken(split_feed: SplitFeed) -> None:
    """'GET  HTTP/1.1' has no target: it is skipped like garbage."""
    events = split_feed(HttpParser, [(ORIG, b"GET  HTTP/1.1\r\n" + GET)])
    assert events[:2] == [
        Violation(direction=ORIG, ts=0, reason="http_bad_start_line"),
        weird(ORIG, 0, "http_resync", "15 bytes skipped"),
    ]


def test_empty_bare_lf_line_before_a_request(split_feed: SplitFeed) -> None:
    """A bare LF empty line before a message is skipped and counts as bare LF."""
    events = split_feed(HttpParser, [(ORIG, b"\n" + GET)])
    assert events == [
        weird(ORIG, 0, "http_bare_lf"),
        confirmed(ORIG, 0),
        request(0, 0, headers=HOST),
        done(ORIG, 0, 0),
    ]


def test_gap_that_ends_exactly_at_the_chunk_end(split_feed: SplitFeed) -> None:
    """A hole covering the rest of a chunk leaves the parser expecting the chunk's CRLF."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET),
            (RESP, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
            Gap(RESP, 3),
            (RESP, b"\r\n0\r\n\r\n"),
        ],
    )
    assert events[4:] == [
        data(RESP, 1, 0, b"ab"),
        weird(RESP, 2, "http_content_gap", "3 bytes"),
        BodyGap(direction=RESP, ts=2, tx=0, size=3),
        done(RESP, 3, 0),
    ]


def test_gap_while_waiting_on_connect_drops_the_held_bytes(split_feed: SplitFeed) -> None:
    """Held tunnel bytes that a hole follows cannot be handed over whole: they are dropped."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, CONNECT + b"early"),
            Gap(ORIG, 10),
            (ORIG, b"late"),
            (RESP, b"HTTP/1.1 200 OK\r\n\r\n"),
        ],
    )
    assert events[3:] == [
        weird(ORIG, 1, "http_content_gap", "10 bytes"),
        response(3, 0),
        done(RESP, 3, 0),
        SwitchProtocol(
            direction=RESP,
            ts=3,
            to=None,
            leftover=b"",
            leftover_other=b"late",
            tunnel=("http-connect", "example.com", 443),
        ),
    ]


def test_server_close_releases_a_waiting_client(split_feed: SplitFeed) -> None:
    """If the server closes without answering CONNECT, the held bytes are read as HTTP."""
    events = split_feed(HttpParser, [(ORIG, CONNECT + GET), End(RESP)])
    assert events == [
        confirmed(ORIG, 0),
        request(0, 0, method=b"CONNECT", target=b"example.com:443", headers=CONNECT_HOST),
        done(ORIG, 0, 0),
        request(1, 1, headers=HOST),
        done(ORIG, 1, 1),
    ]


def test_client_closed_while_waiting_is_flushed_after_the_answer(split_feed: SplitFeed) -> None:
    """Bytes held after CONNECT, then the client's close, are read once a 403 comes."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, CONNECT + b"GET /x HTTP/1.1\r\nHost: partial"),
            End(ORIG),
            (RESP, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        ],
    )
    assert events[3:] == [
        response(2, 0, status=403, reason=b"Forbidden", headers=((b"Content-Length", b"0"),)),
        weird(ORIG, 2, "http_truncated_head"),
        request(2, 1, target=b"/x"),
        done(ORIG, 2, 1, complete=False, reason="eof_in_head"),
        done(RESP, 2, 0),
    ]


def test_switch_ends_an_unfinished_request(split_feed: SplitFeed) -> None:
    """A 101 while the request body is still open ends that request incomplete."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"POST / HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 10\r\n\r\nabc"),
            (RESP, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
        ],
    )
    assert events[-3:] == [
        done(RESP, 1, 0),
        done(ORIG, 1, 0, complete=False, reason="protocol_switch"),
        SwitchProtocol(
            direction=RESP,
            ts=1,
            to="http2",
            leftover=b"",
            leftover_other=b"",
            context={
                "upgrade": "h2c",
                "method": b"POST",
                "target": b"/",
                "headers": ((b"Upgrade", b"h2c"), (b"Content-Length", b"10")),
            },
        ),
    ]


def test_chunk_size_line_longer_than_the_limit(split_feed: SplitFeed) -> None:
    """A chunk-size line past max_line ends the message and resyncs."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"
                + b"x" * 80
                + b"\r\n"
                + OK_HELLO,
            ),
        ],
        limits=Limits(max_line=64),
    )
    assert events[5:9] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        weird(RESP, 1, "http_line_too_long", "chunk-size line longer than 64 bytes"),
        done(RESP, 1, 0, complete=False, reason="line_too_long"),
        weird(RESP, 1, "http_resync", "84 bytes skipped"),
    ]


def test_trailer_section_longer_than_the_limit(split_feed: SplitFeed) -> None:
    """Trailers past max_header_block end the message incomplete and resync."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, GET + GET),
            (
                RESP,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
                + b"t" * 200
                + b"\r\n\r\n"
                + OK_HELLO,
            ),
        ],
        limits=Limits(max_header_block=128),
    )
    assert events[5:9] == [
        response(1, 0, headers=((b"Transfer-Encoding", b"chunked"),)),
        weird(RESP, 1, "http_header_too_long", "trailer section longer than 128 bytes"),
        done(RESP, 1, 0, complete=False, reason="header_too_long"),
        weird(RESP, 1, "http_resync", "207 bytes skipped"),
    ]


def test_gap_past_a_connect_body_does_not_wait(split_feed: SplitFeed) -> None:
    """A hole that runs past a CONNECT request's body loses the switch wait as well."""
    events = split_feed(
        HttpParser,
        [
            (ORIG, b"CONNECT h:443 HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"),
            Gap(ORIG, 10),
            (ORIG, b"xx" + GET),
        ],
    )
    assert events[2:] == [
        data(ORIG, 0, 0, b"ab"),
        weird(ORIG, 1, "http_content_gap", "10 bytes"),
        BodyGap(direction=ORIG, ts=1, tx=0, size=2),
        done(ORIG, 1, 0),
        weird(ORIG, 2, "http_resync", "2 bytes skipped"),
        request(2, 1, headers=HOST),
        done(ORIG, 2, 1),
    ]


def test_absurd_content_length_is_not_a_length(split_feed: SplitFeed) -> None:
    """A Content-Length of more than 18 digits is reported and not used."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n" + GET)],
    )
    assert events[2:] == [
        weird(ORIG, 0, "http_bad_content_length"),
        done(ORIG, 0, 0),
        request(0, 1, headers=HOST),
        done(ORIG, 0, 1),
    ]


def test_line_of_false_candidates_resyncs_on_the_real_one(split_feed: SplitFeed) -> None:
    """Among many 'GET ' that start no request line, the scan finds the one that does."""
    events = split_feed(
        HttpParser,
        [(ORIG, b"GET " * 500 + b"/ HTTP/1.1\r\n\r\n")],
        flow=MID_STREAM_FLOW,
    )
    assert events == [
        weird(ORIG, 0, "http_resync", "1996 bytes skipped"),
        confirmed(ORIG, 0),
        request(0, 0),
        done(ORIG, 0, 0),
    ]


def test_http2_preface_switches_to_http2(split_feed: SplitFeed) -> None:
    """HTTP/2 with prior knowledge hands the whole preface and what follows to http2."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    events = split_feed(HttpParser, [(ORIG, preface + settings), (RESP, settings)])
    assert events == [
        SwitchProtocol(
            direction=ORIG, ts=0, to="http2", leftover=preface + settings, leftover_other=settings
        ),
    ]
