"""SOCKS captures of the shared corpus: every negotiation gives the request Zeek's
socks.log and Arkime's SPI data record (version, target, status, user), and the HTTP
carried inside gives the bodies TShark exports, each object naming the SOCKS target as its
server and ``socks`` in its encapsulation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, corpus_captures, corpus_path
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Direction, Event
from wiresift.protocols.socks import SocksAuth, SocksParser, SocksReply, SocksRequest

SHA256 = re.compile(r"\b[0-9a-f]{64}\b")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# capture -> (version, host, port, status, user) of each negotiation, in order. Sources:
# Zeek socks.log (version, request host/name, port, status, user), Arkime SPI data (host,
# port, user; "-" host for an IPv4 target), TShark socks PDU versions (MANIFEST.tsv).
NEGOTIATIONS: dict[str, list[tuple[int, str, int, str, str]]] = {
    "socks/arkime-socks-http-example.pcap": [
        (4, "93.184.216.119", 80, "succeeded", ""),
        (4, "www.example.com", 80, "succeeded", ""),
        (5, "93.184.216.119", 80, "succeeded", ""),
    ],
    # Two sessions log in as testuser (Arkime user=testuser); one goes on to a request.
    "socks/arkime-socks-http-pass.pcap": [(5, "93.184.216.119", 80, "succeeded", "testuser")],
    "socks/arkime-socks4-https.pcap": [(4, "login.live.com", 443, "succeeded", "fd7bcf7b5c9e1d")],
    "socks/arkime-socks5-http-302-frag.pcap": [(5, "www.google.com", 80, "succeeded", "")],
    # Arkime host=010.000.00.003: the client sent that text as a domain name.
    "socks/arkime-socks5-smtp-503.pcap": [(5, "010.000.00.003", 25, "succeeded", "")],
    "socks/ndpi-socks.pcapng": [
        (5, "www.google.com", 80, "succeeded", ""),
        (4, "93.184.216.119", 80, "succeeded", ""),
        (4, "www.example.com", 80, "succeeded", ""),
        (5, "93.184.216.119", 80, "succeeded", ""),
    ],
    "socks/zeek-socks-auth.pcap": [(5, "192.168.0.2", 22, "succeeded", "bob")],
    "socks/zeek-socks-with-ssl.pcap": [(5, "www.google.com", 443, "succeeded", "")],
    "socks/zeek-socks.pcap": [(5, "www.osnews.com", 80, "succeeded", "")],
    "socks/zeek-tunnels-socks.pcap": [(4, "192.150.187.12", 80, "succeeded", "")],
}
# HTTP exchanges inside the tunnels (TShark "http: N requests", MANIFEST.tsv).
HTTP_EXCHANGES = {
    "socks/arkime-socks-http-example.pcap": 3,
    "socks/arkime-socks-http-pass.pcap": 1,
    "socks/arkime-socks5-http-302-frag.pcap": 1,
    "socks/ndpi-socks.pcapng": 4,
    "socks/zeek-socks.pcap": 7,
    "socks/zeek-tunnels-socks.pcap": 1,
}
# Users seen in RFC 1929 sub-negotiations (Arkime user=, Zeek user).
LOGINS = {"socks/arkime-socks-http-pass.pcap": [b"testuser", b"testuser"]}


class _RecordingParser(SocksParser):
    """A SOCKS parser that keeps its events for the test to read."""

    seen: list[Event] = []  # noqa: RUF012 (reset per capture by the test)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        events = super().feed(direction, data, ts)
        self.seen.extend(events)
        return events


def run(name: str) -> tuple[list[Event], list[dict[str, Any]]]:
    """SOCKS events and passports of one corpus capture."""
    _RecordingParser.seen = []
    registry = tuple(
        dataclasses.replace(spec, parser=_RecordingParser) if spec.name == "socks" else spec
        for spec in REGISTRY
    )
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=registry)
    source = open_source(corpus_path("pcaps", *name.split("/")))
    try:
        engine.run(source)
    finally:
        source.close()
    engine.finish()
    return _RecordingParser.seen, [r.to_json() for r in sink.records]


def negotiations(events: list[Event]) -> list[tuple[int, str, int, str, str]]:
    """(version, host, port, reply status, user) per request, users from SOCKS 4 USERID or
    the RFC 1929 login before it."""
    found: list[tuple[int, str, int, str, str]] = []
    user = ""
    request: SocksRequest | None = None
    for event in events:
        if isinstance(event, SocksAuth):
            user = event.username.decode()
        elif isinstance(event, SocksRequest):
            request = event
        elif isinstance(event, SocksReply) and request is not None:
            who = request.user_id.decode() if request.version == 4 else user
            found.append((request.version, request.host, request.port, event.status, who))
            request = None
            user = ""
    return found


def tshark_hashes(name: str) -> set[str]:
    """sha256 of every HTTP object TShark exports from the capture (our own TShark run)."""
    stem = name.split("/")[1].rsplit(".", 1)[0]
    path = CORPUS / "expected" / f"{stem}__tshark-export-objects.tsv"
    return set(SHA256.findall(path.read_text())) - {EMPTY_SHA256} if path.exists() else set()


@pytest.mark.corpus
def test_every_capture_is_covered(corpus: Path) -> None:
    """The table above names every capture of the socks folder."""
    assert set(corpus_captures("socks")) == set(NEGOTIATIONS)


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(NEGOTIATIONS))
def test_socks_capture(name: str) -> None:
    """Negotiations match Zeek/Arkime; tunnelled HTTP matches TShark and names the target."""
    events, passports = run(name)
    assert negotiations(events) == NEGOTIATIONS[name]
    if name in LOGINS:
        assert [e.username for e in events if isinstance(e, SocksAuth)] == LOGINS[name]
    targets = {(host, port) for _, host, port, _, _ in NEGOTIATIONS[name]}
    http = [p for p in passports if p["kind"] == "http"]
    assert len(http) == HTTP_EXCHANGES.get(name, 0)
    for passport in http:
        flow = passport["flow"]
        assert flow["encapsulation"][-1] == "socks"
        assert (flow["server"]["addr"], flow["server"]["port"]) in targets
        assert flow["via"]["addr"] != flow["server"]["addr"]
    produced = {c["sha256"] for p in http for c in p["contents"]}
    assert tshark_hashes(name) <= produced
