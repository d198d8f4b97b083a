"""HTTP/1.x detection: the probe table, the signatures and the registration."""

from __future__ import annotations

import pytest

from tests.protocols.helpers import ORIG, RESP
from wiresift.detect.signatures import Verdict
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Direction
from wiresift.protocols.http1 import METHODS, SPEC, HttpParser, probe
from wiresift.protocols.http1.detect import SIGNATURES

MATCH = Verdict.MATCH
NEED_MORE = Verdict.NEED_MORE
NO_MATCH = Verdict.NO_MATCH


@pytest.mark.parametrize(
    ("direction", "data", "verdict"),
    [
        (ORIG, b"GET / HTTP/1.1\r\n", MATCH),
        (ORIG, b"GET / HTTP/1.1\nHost: x\n", MATCH),
        (ORIG, b"POST /api?q=1 HTTP/1.0\r\nContent-Length: 0\r\n", MATCH),
        (ORIG, b"CONNECT example.com:443 HTTP/1.1\r\n", MATCH),
        (ORIG, b"M-SEARCH * HTTP/1.1\r\n", MATCH),
        (ORIG, b"PROPFIND /dav/ HTTP/1.1\r\n", MATCH),
        (ORIG, b"", NEED_MORE),
        (ORIG, b"GE", NEED_MORE),
        (ORIG, b"GET", NEED_MORE),
        (ORIG, b"GET ", NEED_MORE),
        (ORIG, b"GET /index", NEED_MORE),
        (ORIG, b"GET /index.html HTT", NEED_MORE),
        (ORIG, b"GET / HTTP/1.", NEED_MORE),
        (ORIG, b"GET / HTTP/1.1\r", NEED_MORE),
        (ORIG, b"get / HTTP/1.1\r\n", NO_MATCH),
        (ORIG, b"BREW /pot HTTP/1.1\r\n", NO_MATCH),
        (ORIG, b"GET / HTTP/2.0\r\n", NO_MATCH),
        (ORIG, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NO_MATCH),
        (ORIG, b"GET /\r\n", NO_MATCH),
        (ORIG, b"GET  / HTTP/1.1\r\n", NO_MATCH),
        (ORIG, b"GET / HTTP/1.1 \r\n", NO_MATCH),
        (ORIG, b"GETX", NO_MATCH),
        (ORIG, b"\x16\x03\x01\x02\x00", NO_MATCH),
        (ORIG, b"EHLO mail.example.com\r\n", NO_MATCH),
        (ORIG, b"HTTP/1.1 200 OK\r\n", NO_MATCH),
        (ORIG, b"GET /" + b"a" * 9000, NO_MATCH),
        (RESP, b"HTTP/1.1 200 OK\r\n", MATCH),
        (RESP, b"HTTP/1.0 404 Not Found\nServer: x\n", MATCH),
        (RESP, b"HTTP/1.1 200\r\n", MATCH),
        (RESP, b"", NEED_MORE),
        (RESP, b"HT", NEED_MORE),
        (RESP, b"HTTP/1.", NEED_MORE),
        (RESP, b"HTTP/1.1 20", NEED_MORE),
        (RESP, b"HTTP/1.1 200 Moved Perm", NEED_MORE),
        (RESP, b"HTTP/2 200\r\n", NO_MATCH),
        (RESP, b"HTTP/1.1 20x OK\r\n", NO_MATCH),
        (RESP, b"http/1.1 200 OK\r\n", NO_MATCH),
        (RESP, b"SSH-2.0-OpenSSH_9.6\r\n", NO_MATCH),
        (RESP, b"220 mail.example.com ESMTP\r\n", NO_MATCH),
        (RESP, b"GET / HTTP/1.1\r\n", NO_MATCH),
    ],
)
def test_probe(direction: Direction, data: bytes, verdict: Verdict) -> None:
    """The probe matches whole start lines, waits on their prefixes and rejects the rest."""
    assert probe(direction, data) is verdict


def test_signatures_match_each_direction() -> None:
    """The request signature needs a known method and a space; the status one HTTP/1.x."""
    request_sig, status_sig = SIGNATURES
    assert request_sig.direction is ORIG
    assert status_sig.direction is RESP
    assert request_sig.pattern.match(b"OPTIONS * HTTP/1.1\r\n") is not None
    assert request_sig.pattern.match(b"GETS / HTTP/1.1\r\n") is None
    assert request_sig.pattern.match(b"PRI * HTTP/2.0\r\n") is None
    assert status_sig.pattern.match(b"HTTP/1.0 200 OK\r\n") is not None
    assert status_sig.pattern.match(b"HTTP/2 200\r\n") is None
    assert all(request_sig.pattern.match(method + b" /") for method in METHODS)
    assert request_sig.depth == max(len(method) for method in METHODS) + 1


def test_spec_registers_http() -> None:
    """SPEC carries the parser, ports, probe and the mid-stream and gap capabilities."""
    assert SPEC.name == "http"
    assert SPEC.transport == "tcp"
    assert SPEC.ports == frozenset({80, 8080, 8000, 3128, 8008, 8888})
    assert SPEC.parser is HttpParser
    assert HttpParser.name == "http"
    assert SPEC.signatures == SIGNATURES
    assert SPEC.probe is probe
    assert SPEC.mid_stream is True
    assert SPEC.accepts_gaps is True


def test_registry_order() -> None:
    """REGISTRY is a static tuple in order of preference: ICAP before HTTP/1 (ICAP messages
    embed HTTP ones), FTP before POP3 (both take USER), the weakest heuristics last."""
    assert SPEC in REGISTRY
    assert [spec.name for spec in REGISTRY] == [
        "icap",
        "http",
        "http2",
        "smtp",
        "ftp",
        "ftp-data",
        "pop3",
        "imap",
        "irc",
        "irc-dcc",
        "xmpp",
        "xmpp-s5b",
        "tls",
        "dtls",
        "socks",
        "websocket",
        "nmdc",
        "adc",
        "oscar",
        "oscar-oft",
        "mrim",
        "mrim-ft",
        "msn",
        "msnftp",
        "msnp2p",
        "ymsg",
        "bittorrent",
        "bittorrent-dht",
        "bittorrent-tracker-udp",
        "utp",
        "bittorrent-lsd",
        "notes",
        "stun",
        "skype",
    ]


def test_registry_module_has_no_other_attributes() -> None:
    """Names other than REGISTRY are not invented by the lazy module attribute."""
    import wiresift.protocols  # noqa: PLC0415

    with pytest.raises(AttributeError, match="REGISTRIES"):
        _ = wiresift.protocols.REGISTRIES
