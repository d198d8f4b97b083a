"""Differential test: on valid traffic the HTTP/1 parser agrees with h11 (used as an oracle).

Each exchange is parsed by h11 on its own (a server connection for the request, a client
connection for the response) and by our parser as one keep-alive connection; heads,
bodies and trailers must be the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.helpers import ORIG, RESP, Scenario, SplitFeed, split_feed
from wiresift.protocols.base import Event
from wiresift.protocols.http1 import (
    BodyData,
    Headers,
    HttpParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
)

# Headers the generator does not pick at random: they change framing or h11's state.
_RESERVED: frozenset[bytes] = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"expect"}
)
_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105 (RFC 9110 tchar, no secret)
_VISIBLE = "".join(chr(code) for code in range(0x21, 0x7F))


@dataclass(frozen=True)
class Message:
    """One side of an exchange as the parser should see it."""

    head: tuple[bytes, ...]  # (method, target, version) or (status, reason, version)
    headers: Headers
    body: bytes
    trailers: Headers


@dataclass(frozen=True)
class Exchange:
    """A request and its response on the wire."""

    request: bytes
    response: bytes
    method: bytes
    request_headers: Headers
    request_body: bytes


names = st.text(_TOKEN_CHARS, min_size=1, max_size=12).map(str.encode)
values = st.text(_VISIBLE + " ", max_size=30).map(lambda text: text.strip().encode())
header_lists = st.lists(
    st.tuples(names, values).filter(lambda pair: pair[0].lower() not in _RESERVED), max_size=6
)
bodies = st.binary(max_size=300)


@st.composite
def framed_body(
    draw: st.DrawFn, headers: Headers, *, chunked: bool
) -> tuple[Headers, bytes, bytes]:
    """Headers, wire body and payload for a Content-Length or chunked body."""
    if not chunked:
        body = draw(bodies)
        return (*headers, (b"Content-Length", str(len(body)).encode())), body, body
    chunks = draw(st.lists(st.binary(min_size=1, max_size=80), max_size=5))
    wire = b""
    for chunk in chunks:
        extension = draw(st.sampled_from([b"", b";ext=1", b';name="v"']))
        wire += b"%x%s\r\n%s\r\n" % (len(chunk), extension, chunk)
    trailers = draw(header_lists)
    wire += b"0\r\n" + b"".join(name + b": " + value + b"\r\n" for name, value in trailers)
    wire += b"\r\n"
    return (*headers, (b"Transfer-Encoding", b"chunked")), wire, b"".join(chunks)


def _head(start_line: bytes, headers: Headers) -> bytes:
    return start_line + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    """A valid request and response pair."""
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH"]))
    target = b"/" + draw(st.text(_VISIBLE.replace("/", ""), max_size=20)).encode()
    headers: Headers = ((b"Host", b"example.com"), *draw(header_lists))
    body = b""
    wire_body = b""
    if method in (b"POST", b"PUT", b"PATCH"):
        headers, wire_body, body = draw(framed_body(headers, chunked=draw(st.booleans())))
    request = _head(method + b" " + target + b" HTTP/1.1", headers) + wire_body
    status = draw(st.sampled_from([200, 201, 204, 301, 304, 404, 500]))
    reason = draw(st.sampled_from([b"OK", b"", b"Something Else"]))
    response_headers: Headers = tuple(draw(header_lists))
    response_wire = b""
    if status not in (204, 304):
        response_headers, response_wire, _ = draw(
            framed_body(response_headers, chunked=draw(st.booleans()))
        )
    if method == b"HEAD":
        response_wire = b""
    if draw(st.booleans()):
        response_wire = (
            _head(b"HTTP/1.1 100 Continue", ())
            + _head(b"HTTP/1.1 %d %s" % (status, reason), response_headers)
            + response_wire
        )
    else:
        response_wire = (
            _head(b"HTTP/1.1 %d %s" % (status, reason), response_headers) + response_wire
        )
    return Exchange(request, response_wire, method, headers, body)


def _h11_messages(exchange: Exchange) -> list[Message]:
    """What h11 makes of the request and the response(s) of ``exchange``."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(exchange.request)
    client = h11.Connection(h11.CLIENT)
    client.send(
        h11.Request(
            method=exchange.method,
            target=b"/",
            headers=list(exchange.request_headers),
        )
    )
    if exchange.request_body:
        client.send(h11.Data(data=exchange.request_body))
    client.send(h11.EndOfMessage())
    client.receive_data(exchange.response)
    return _collect(server) + _collect(client)


def _collect(connection: h11.Connection) -> list[Message]:
    messages: list[Message] = []
    head: tuple[bytes, ...] = ()
    headers: Headers = ()
    body = b""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return messages
        if isinstance(event, h11.Request):
            head = (event.method, event.target, event.http_version)
            headers, body = tuple(event.headers.raw_items()), b""
        elif isinstance(event, h11.Response | h11.InformationalResponse):
            head = (str(event.status_code).encode(), event.reason, event.http_version)
            headers, body = tuple(event.headers.raw_items()), b""
            if isinstance(event, h11.InformationalResponse):
                messages.append(Message(head, headers, b"", ()))
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            messages.append(Message(head, headers, body, tuple(event.headers.raw_items())))


def _our_messages(events: list[Event]) -> list[Message]:
    """Our events grouped into messages, per direction in order of their heads."""
    requests: list[Message] = []
    responses: list[Message] = []
    open_heads: dict[tuple[int, int], tuple[tuple[bytes, ...], Headers, bytes]] = {}
    for event in events:
        key = (event.direction, getattr(event, "tx", -1))
        if isinstance(event, RequestHead):
            open_heads[key] = ((event.method, event.target, event.version), event.headers, b"")
        elif isinstance(event, ResponseHead):
            status_line = (str(event.status).encode(), event.reason, event.version)
            open_heads[key] = (status_line, event.headers, b"")
        elif isinstance(event, BodyData):
            head, headers, body = open_heads[key]
            open_heads[key] = (head, headers, body + event.data)
        elif isinstance(event, MessageEnd):
            assert event.complete
            head, headers, body = open_heads.pop(key)
            side = requests if event.direction is ORIG else responses
            side.append(Message(head, headers, body, event.trailers))
    assert not open_heads
    return requests + responses


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(exchanges(), min_size=1, max_size=3))
def test_agrees_with_h11_on_valid_traffic(connection: list[Exchange]) -> None:
    """Heads, bodies and trailers equal h11's for every exchange of a keep-alive connection."""
    scenario: Scenario = [
        step
        for exchange in connection
        for step in ((ORIG, exchange.request), (RESP, exchange.response))
    ]
    events = split_feed(HttpParser, scenario, strict=True)
    expected_requests: list[Message] = []
    expected_responses: list[Message] = []
    for exchange in connection:
        request, *responses = _h11_messages(exchange)
        expected_requests.append(request)
        expected_responses += responses
    assert _our_messages(events) == expected_requests + expected_responses


def test_oracle_sees_a_known_exchange(split_feed: SplitFeed) -> None:
    """The h11 harness itself reads a fixed exchange as expected."""
    exchange = Exchange(
        request=b"POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi",
        response=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\nT: 1\r\n\r\n",
        method=b"POST",
        request_headers=((b"Host", b"example.com"), (b"Content-Length", b"2")),
        request_body=b"hi",
    )
    assert _h11_messages(exchange) == [
        Message((b"POST", b"/x", b"1.1"), exchange.request_headers, b"hi", ()),
        Message(
            (b"200", b"OK", b"1.1"), ((b"Transfer-Encoding", b"chunked"),), b"ok", ((b"T", b"1"),)
        ),
    ]
    events = split_feed(
        HttpParser, [(ORIG, exchange.request), (RESP, exchange.response)], strict=True
    )
    assert _our_messages(events) == _h11_messages(exchange)
