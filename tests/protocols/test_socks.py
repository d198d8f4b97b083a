"""SOCKS 4, 4a and 5 parser (RFC 1928, RFC 1929), its probe, and tunnelled HTTP through
the engine (SOCKS and HTTP CONNECT): the inner objects name the proxy's target."""

from __future__ import annotations

import pytest

from tests.engine.helpers import run_frames
from tests.pcapgen import TcpSession
from tests.protocols.helpers import ORIG, RESP, SplitFeed
from wiresift.config import Config, Limits, OutputConfig
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Confirmed, FlowInfo, SwitchProtocol, Violation
from wiresift.protocols.socks import (
    SocksAuth,
    SocksAuthResult,
    SocksGreeting,
    SocksMethod,
    SocksParser,
    SocksReply,
    SocksRequest,
    probe,
)

GREETING = b"\x05\x01\x00"
CHOICE = b"\x05\x00"
REQUEST_DOMAIN = b"\x05\x01\x00\x03\x0bexample.com\x00\x50"
REPLY_OK = b"\x05\x00\x00\x01\x0a\x00\x00\x09\x04\x38"
HTTP_GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
UNSPECIFIED = "0.0.0.0"  # noqa: S104 (an address in a reply, not a bind)


def secret_parser(flow: FlowInfo, limits: Limits) -> SocksParser:
    """A parser that keeps RFC 1929 passwords (the engine sets this when asked)."""
    parser = SocksParser(flow, limits)
    parser.keep_secrets = True
    return parser


def reply(ts: int, code: int, status: str, host: str, port: int, version: int = 5) -> SocksReply:
    """A server reply event."""
    return SocksReply(
        direction=RESP,
        ts=ts,
        version=version,
        code=code,
        status=status,
        succeeded=status == "succeeded",
        bound_host=host,
        bound_port=port,
    )


def test_socks5_connect_by_name_hands_the_tunnel_over(split_feed: SplitFeed) -> None:
    """Greeting, choice, request and reply; then the tunnelled bytes go back to detection."""
    events = split_feed(
        SocksParser,
        [
            (ORIG, GREETING),
            (RESP, CHOICE),
            (ORIG, REQUEST_DOMAIN + HTTP_GET),
            (RESP, REPLY_OK + b"HTTP/1.1"),
        ],
        strict=True,
    )
    assert events == [
        SocksGreeting(direction=ORIG, ts=0, methods=(0,)),
        Confirmed(direction=RESP, ts=1),
        SocksMethod(direction=RESP, ts=1, method=0),
        SocksRequest(
            direction=ORIG,
            ts=2,
            version=5,
            command="connect",
            address_type="domain",
            host="example.com",
            port=80,
        ),
        reply(3, 0, "succeeded", "10.0.0.9", 1080),
        SwitchProtocol(
            direction=RESP,
            ts=3,
            to=None,
            leftover=b"HTTP/1.1",
            leftover_other=HTTP_GET,
            tunnel=("socks", "example.com", 80),
        ),
    ]


def test_socks5_username_password_kept_only_when_asked(split_feed: SplitFeed) -> None:
    """RFC 1929: the user name always, the password only with keep_secrets."""
    scenario = [
        (ORIG, b"\x05\x02\x00\x02"),
        (RESP, b"\x05\x02"),
        (ORIG, b"\x01\x03bob\x06s3cr3t"),
        (RESP, b"\x01\x00"),
        (ORIG, b"\x05\x01\x00\x01\xc0\xa8\x00\x02\x00\x16"),
        (RESP, b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
    ]
    events = split_feed(SocksParser, scenario, strict=True)
    assert events[3:5] == [
        SocksAuth(direction=ORIG, ts=2, username=b"bob", password=None),
        SocksAuthResult(direction=RESP, ts=3, status=0),
    ]
    assert events[5] == SocksRequest(
        direction=ORIG,
        ts=4,
        version=5,
        command="connect",
        address_type="ipv4",
        host="192.168.0.2",
        port=22,
    )
    assert events[-1] == SwitchProtocol(
        direction=RESP, ts=5, to=None, tunnel=("socks", "192.168.0.2", 22)
    )
    secret = split_feed(secret_parser, scenario, strict=True)
    assert secret[3] == SocksAuth(direction=ORIG, ts=2, username=b"bob", password=b"s3cr3t")


def test_socks5_client_sends_everything_before_the_server_answers(split_feed: SplitFeed) -> None:
    """Greeting, sub-negotiation and request in one segment are told apart by first byte."""
    events = split_feed(
        SocksParser,
        [
            (ORIG, b"\x05\x01\x02" + b"\x01\x01u\x01p" + REQUEST_DOMAIN),
            (RESP, b"\x05\x02" + b"\x01\x00" + REPLY_OK),
        ],
        strict=True,
    )
    assert [type(e).__name__ for e in events] == [
        "SocksGreeting",
        "SocksAuth",
        "SocksRequest",
        "Confirmed",
        "SocksMethod",
        "SocksAuthResult",
        "SocksReply",
        "SwitchProtocol",
    ]


def test_socks5_ipv6_target(split_feed: SplitFeed) -> None:
    """Address type 4 carries 16 bytes (RFC 1928 s5)."""
    target = bytes.fromhex("20010db8000000000000000000000001")
    events = split_feed(
        SocksParser,
        [
            (ORIG, GREETING + b"\x05\x01\x00\x04" + target + b"\x01\xbb"),
            (RESP, CHOICE + b"\x05\x00\x00\x04" + bytes(16) + b"\x00\x00"),
        ],
        strict=True,
    )
    assert events[1] == SocksRequest(
        direction=ORIG,
        ts=0,
        version=5,
        command="connect",
        address_type="ipv6",
        host="2001:db8::1",
        port=443,
    )
    assert events[-1] == SwitchProtocol(
        direction=RESP, ts=1, to=None, tunnel=("socks", "2001:db8::1", 443)
    )


def test_socks5_refused_reply_ends_without_switch(split_feed: SplitFeed) -> None:
    """A failure reply (RFC 1928 s6, X'05') is reported and nothing is tunnelled."""
    events = split_feed(
        SocksParser,
        [
            (ORIG, GREETING + REQUEST_DOMAIN),
            (RESP, CHOICE + b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00" + b"junk"),
            (ORIG, b"more"),
        ],
        strict=True,
    )
    assert events[-1] == reply(1, 5, "connection_refused", UNSPECIFIED, 0)


def test_socks5_udp_associate_and_bind() -> None:
    """UDP ASSOCIATE keeps the TCP stream for control; BIND switches after its 2nd reply."""
    udp = SocksParser(proxy_flow(), Limits())
    events = udp.feed(ORIG, GREETING + b"\x05\x03\x00\x01" + bytes(6), 0)
    events += udp.feed(RESP, CHOICE + REPLY_OK, 1)
    assert events[1].command == "udp_associate"  # type: ignore[attr-defined]
    assert not any(isinstance(e, SwitchProtocol) for e in events)
    bind = SocksParser(proxy_flow(), Limits())
    bind.feed(ORIG, GREETING + b"\x05\x02\x00\x01\x0a\x00\x00\x05\x1f\x90", 0)
    first = bind.feed(RESP, CHOICE + REPLY_OK, 1)
    assert not any(isinstance(e, SwitchProtocol) for e in first)
    second = bind.feed(RESP, REPLY_OK + b"data", 2)
    assert second[-1] == SwitchProtocol(
        direction=RESP, ts=2, to=None, leftover=b"data", tunnel=("socks", "10.0.0.5", 8080)
    )


def proxy_flow() -> FlowInfo:
    """The standard test flow on port 1080."""
    return FlowInfo(
        uid="C1",
        orig_addr="192.0.2.1",
        orig_port=49152,
        resp_addr="198.51.100.7",
        resp_port=1080,
        transport="tcp",
    )


def test_socks4_connect_with_user_id(split_feed: SplitFeed) -> None:
    """SOCKS 4: VN CD DSTPORT DSTIP USERID NUL; reply VN=0 CD=90."""
    events = split_feed(
        SocksParser,
        [
            (ORIG, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22alice\x00"),
            (RESP, b"\x00\x5a\x00\x00\x00\x00\x00\x00" + b"HTTP"),
        ],
        strict=True,
    )
    assert events == [
        SocksRequest(
            direction=ORIG,
            ts=0,
            version=4,
            command="connect",
            address_type="ipv4",
            host="93.184.216.34",
            port=80,
            user_id=b"alice",
        ),
        Confirmed(direction=RESP, ts=1),
        reply(1, 90, "succeeded", UNSPECIFIED, 0, version=4),
        SwitchProtocol(
            direction=RESP, ts=1, to=None, leftover=b"HTTP", tunnel=("socks", "93.184.216.34", 80)
        ),
    ]


def test_socks4a_domain_and_rejection(split_feed: SplitFeed) -> None:
    """SOCKS 4a: DSTIP 0.0.0.x then the name after the user id; CD 91 is a rejection."""
    events = split_feed(
        SocksParser,
        [
            (ORIG, b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00login.live.com\x00"),
            (RESP, b"\x00\x5b\x00\x00\x00\x00\x00\x00"),
        ],
        strict=True,
    )
    assert events[0] == SocksRequest(
        direction=ORIG,
        ts=0,
        version=4,
        command="connect",
        address_type="domain",
        host="login.live.com",
        port=443,
    )
    assert events[-1] == reply(1, 91, "rejected", UNSPECIFIED, 0, version=4)


def test_bad_address_type_is_an_anomaly(split_feed: SplitFeed) -> None:
    """An address type other than 1, 3 and 4 is reported and parsing stops."""
    events = split_feed(
        SocksParser,
        [(ORIG, GREETING), (RESP, CHOICE), (ORIG, b"\x05\x01\x00\x07abcdef"), (RESP, REPLY_OK)],
    )
    assert events[-1] == Anomaly(direction=ORIG, ts=2, name="socks_bad_address_type", detail="7")


def test_garbage_reply_is_an_anomaly(split_feed: SplitFeed) -> None:
    """A method reply that is not SOCKS 5 is reported as socks_bad_reply, with a violation."""
    events = split_feed(SocksParser, [(ORIG, GREETING), (RESP, b"HTTP/1.0 400 Bad\r\n")])
    assert events[1:] == [
        Anomaly(direction=RESP, ts=1, name="socks_bad_reply", detail="4854"),
        Violation(direction=RESP, ts=1, reason="socks_bad_reply"),
    ]


def test_overlong_user_id_is_capped() -> None:
    """A SOCKS 4 user id with no NUL within max_line is reported; nothing more is held."""
    parser = SocksParser(proxy_flow(), Limits(max_line=64))
    events = parser.feed(ORIG, b"\x04\x01\x00\x50\x01\x02\x03\x04" + b"u" * 100, 0)
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["socks_user_id_too_long"]
    assert parser.buffered_bytes() == 0


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"\x05\x01\x00", Verdict.MATCH),
        (b"\x05\x02\x00\x02", Verdict.MATCH),
        (b"\x05\x01\x00\x05\x01\x00\x03", Verdict.MATCH),
        (b"\x05\x02\x00", Verdict.NEED_MORE),
        (b"\x05", Verdict.NEED_MORE),
        (b"\x05\x00", Verdict.NO_MATCH),
        (b"\x05\x01\x40", Verdict.NO_MATCH),
        (b"\x05\x01\x00GET", Verdict.NO_MATCH),
        (b"\x04\x01\x00\x50\x01\x02\x03\x04\x00", Verdict.MATCH),
        (b"\x04\x01\x00\x50\x00\x00\x00\x01\x00a.b\x00", Verdict.MATCH),
        (b"\x04\x01\x00\x50\x00\x00\x00\x01\x00a.b", Verdict.NEED_MORE),
        (b"\x04\x01\x00\x50\x01\x02\x03\x04user", Verdict.NEED_MORE),
        (b"\x04\x07", Verdict.NO_MATCH),
        (b"GET / HTTP/1.1\r\n", Verdict.NO_MATCH),
    ],
)
def test_probe(data: bytes, verdict: Verdict) -> None:
    """The probe matches whole client openings only."""
    assert probe(ORIG, data) is verdict


def test_probe_ignores_the_server_side() -> None:
    """The server never speaks first in SOCKS."""
    assert probe(RESP, b"\x05\x01\x00") is Verdict.NO_MATCH


# -- through the engine --------------------------------------------------------------------


def proxied_session(opening: list[tuple[bool, bytes]], port: int = 1080) -> TcpSession:
    """A proxy negotiation, then one HTTP exchange inside it."""
    session = TcpSession(server=("10.0.0.9", port))
    session.handshake()
    for from_client, data in opening:
        session.send(from_client, data)
    session.send(True, HTTP_GET)
    session.send(False, HTTP_OK)
    session.fin(True)
    session.fin(False)
    return session


def test_engine_http_over_socks5_names_the_target() -> None:
    """The HTTP object's server is the SOCKS target; the proxy is in flow.via."""
    session = proxied_session(
        [(True, GREETING), (False, CHOICE), (True, REQUEST_DOMAIN), (False, REPLY_OK)]
    )
    run = run_frames(session.frames)
    (obj,) = run.http()
    assert obj["flow"]["server"] == {"addr": "example.com", "port": 80}
    assert obj["flow"]["via"] == {"addr": "10.0.0.9", "port": 1080}
    assert obj["flow"]["encapsulation"] == ["eth", "ipv4", "tcp", "socks"]
    assert obj["http"]["url"] == "http://example.com/"
    assert run.content(obj["contents"][0]) == b"hello"
    assert run.stats.protocols == {"socks": 1, "http": 1}


def test_engine_http_over_socks4_with_password_config() -> None:
    """SOCKS 4 on a non-standard port is found by content, with secrets kept or not."""
    session = proxied_session(
        [(True, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22\x00"), (False, b"\x00\x5a" + bytes(6))],
        port=9050,
    )
    run = run_frames(session.frames, Config(output=OutputConfig(keep_secrets=True)))
    (obj,) = run.http()
    assert obj["flow"]["server"] == {"addr": "93.184.216.34", "port": 80}
    assert obj["flow"]["encapsulation"][-1] == "socks"


def test_engine_http_connect_names_the_target() -> None:
    """Inside an HTTP CONNECT tunnel the objects name the CONNECT authority as server."""
    session = proxied_session(
        [
            (True, b"CONNECT example.com:8080 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
            (False, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        ],
        port=3128,
    )
    run = run_frames(session.frames)
    connect, inner = run.http()
    assert connect["flow"]["server"] == {"addr": "10.0.0.9", "port": 3128}
    assert "via" not in connect["flow"]
    assert inner["flow"]["server"] == {"addr": "example.com", "port": 8080}
    assert inner["flow"]["via"] == {"addr": "10.0.0.9", "port": 3128}
    assert inner["flow"]["encapsulation"] == ["eth", "ipv4", "tcp", "http-connect"]


def test_engine_garbage_socks_reply() -> None:
    """A garbage reply gives socks_bad_reply and no object; the flow is left alone."""
    session = TcpSession(server=("10.0.0.9", 1080))
    session.handshake()
    session.send(True, GREETING)
    session.send(False, b"\xde\xad\xbe\xef" * 4)
    session.fin(True)
    session.fin(False)
    run = run_frames(session.frames)
    assert run.passports == []
    assert run.stats.anomalies == {"socks_bad_reply": 1}
