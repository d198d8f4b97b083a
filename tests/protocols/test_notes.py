"""Lotus Notes NRPC: detection from the documented hello bytes, the server's name, the
encryption guess and the best-effort carving of cleartext sessions."""

from __future__ import annotations

import dataclasses
import random

from tests.pcapgen import TcpSession
from tests.protocols.helpers import FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Config
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Anomaly
from wiresift.protocols.notes import NotesParser, probe
from wiresift.protocols.notes.parser import entropy
from wiresift.protocols.usage_events import UsageInfo

NOTES_FLOW = dataclasses.replace(FLOW, resp_port=1352)
# nmap's NotesRPC probe starts so (60 bytes: a 16-bit LE count of the 58 that follow);
# bytes 6-13 are nDPI's client pattern.
CLIENT_HELLO = bytes.fromhex("3a0000002f00000002000040020f0001003d05") + bytes(41)
# nmap's lotusnotes match: byte 8 = 0x03, then 00 00 40 02 0F, and the server's name.
SERVER_HELLO = (
    bytes.fromhex("4c0000004100000003000040020f0000") + b"CN=Mail01/OU=Sales/O=Acme\x00" + bytes(36)
)
TEXT_LINE = b"The quarterly figures are attached; please review them before Friday.\r\n"
CLIENT_REQUEST = b"\x10\x00OpenNote\x00CN=Jane Doe/O=Acme\x00" + TEXT_LINE * 5
MAIL_ITEM = (
    b"\x20\x00From\x00CN=John Smith/OU=Sales/O=Acme\x00SendTo\x00jane.doe@acme.example\x00"
    b"INetFrom\x00john.smith@acme.example\x00"
    b"Subject: Quarterly figures\r\n" + TEXT_LINE * 5
)


def test_probe_reads_the_client_and_server_patterns() -> None:
    """nDPI's client bytes 6-13 (more than 16 bytes) and nmap's server bytes 8-13."""
    assert probe(ORIG, CLIENT_HELLO) is Verdict.MATCH
    assert probe(ORIG, CLIENT_HELLO[:13]) is Verdict.NEED_MORE
    assert probe(ORIG, CLIENT_HELLO[:16]) is Verdict.NEED_MORE
    assert probe(ORIG, CLIENT_HELLO[:6]) is Verdict.NO_MATCH  # nothing of the pattern yet
    assert probe(RESP, SERVER_HELLO[:10]) is Verdict.NEED_MORE
    assert probe(RESP, b"\x02 binary") is Verdict.NO_MATCH
    assert probe(RESP, SERVER_HELLO) is Verdict.MATCH
    assert probe(ORIG, SERVER_HELLO) is Verdict.NO_MATCH
    assert probe(RESP, CLIENT_HELLO) is Verdict.NO_MATCH
    assert probe(ORIG, b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH


def test_cleartext_session_gives_server_name_and_carved_items(split_feed: SplitFeed) -> None:
    """Whole, byte by byte and cut at random: the same report of a cleartext session."""
    events = split_feed(
        NotesParser,
        [
            (ORIG, CLIENT_HELLO),
            (RESP, SERVER_HELLO),
            (ORIG, CLIENT_REQUEST),
            (RESP, MAIL_ITEM),
            End(ORIG),
            End(RESP),
        ],
        flow=NOTES_FLOW,
        strict=True,
    )
    assert len(events) == 1
    (usage,) = events
    assert isinstance(usage, UsageInfo)
    assert usage.protocol == "notes"
    metadata = dict(usage.metadata)
    assert metadata.pop("entropy_client") == round(entropy(CLIENT_REQUEST), 2)
    assert metadata.pop("entropy_server") == round(entropy(MAIL_ITEM), 2)  # hello: 0x4C + 2 bytes
    assert metadata == {
        "application": "lotus_notes",
        "client_hello": CLIENT_HELLO[:14].hex(),
        "server_hello": SERVER_HELLO[:14].hex(),
        "server_name": "CN=Mail01/OU=Sales/O=Acme",
        "encryption": "none",
        "client_names": ["CN=Jane Doe/O=Acme"],
        "carved_addresses": [
            "jane.doe@acme.example",
            "john.smith@acme.example",
            "CN=John Smith/OU=Sales/O=Acme",
        ],
        "carved_subjects": ["Quarterly figures"],
    }


def test_encrypted_session_is_flagged_and_not_carved(split_feed: SplitFeed) -> None:
    """High-entropy bytes after the hello: "encrypted_or_compressed", nothing carved."""
    rng = random.Random(7)
    noise_client = bytes(rng.randrange(256) for _ in range(2048))
    noise_server = bytes(rng.randrange(256) for _ in range(2048)) + b"\x00Subject: leaked\n"
    events = split_feed(
        NotesParser,
        [
            (ORIG, CLIENT_HELLO),
            (RESP, SERVER_HELLO),
            (ORIG, noise_client),
            (RESP, noise_server),
            End(ORIG),
            End(RESP),
        ],
        flow=NOTES_FLOW,
    )
    (usage,) = events
    assert isinstance(usage, UsageInfo)
    assert usage.metadata["encryption"] == "encrypted_or_compressed"
    assert usage.metadata["server_name"] == "CN=Mail01/OU=Sales/O=Acme"
    assert "carved_subjects" not in usage.metadata
    assert "carved_addresses" not in usage.metadata


def test_short_session_is_undetermined_and_bad_hello_is_an_anomaly(split_feed: SplitFeed) -> None:
    """Too few bytes for a guess; a hello without the pattern and a gap are named."""
    events = split_feed(
        NotesParser,
        [(ORIG, b"\x01" * 20), Gap(ORIG, 100), (RESP, SERVER_HELLO), End(ORIG), End(RESP)],
        flow=NOTES_FLOW,
    )
    assert [e.name for e in events if isinstance(e, Anomaly)] == [
        "notes_unexpected_hello",
        "notes_content_gap",
    ]
    usage = events[-1]
    assert isinstance(usage, UsageInfo)
    assert usage.metadata == {
        "application": "lotus_notes",
        "client_hello": "01" * 14,
        "server_hello": SERVER_HELLO[:14].hex(),
        "server_name": "CN=Mail01/OU=Sales/O=Acme",
        "encryption": "undetermined",
    }


def test_parser_buffers_stay_bounded() -> None:
    """A long session never holds more than a carving chunk plus the entropy sample."""
    parser = NotesParser(NOTES_FLOW, Config().limits)
    parser.feed(ORIG, CLIENT_HELLO, 0)
    for index in range(200):
        parser.feed(ORIG, b"x" * 999 + b"\n", index)
        assert parser.buffered_bytes() < 16 * 1024 + 4096 + 1000


def test_engine_detects_notes_on_any_port_and_reports_usage() -> None:
    """Through the engine, on port 8088: content decides, and one usage object comes out."""
    session = TcpSession(client=("10.1.0.5", 51000), server=("10.1.0.9", 8088))
    session.handshake()
    session.send(True, CLIENT_HELLO)
    session.send(False, SERVER_HELLO)
    session.send(True, CLIENT_REQUEST)
    session.send(False, MAIL_ITEM, segment_size=50)
    session.fin(True)
    session.fin(False)
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=REGISTRY)
    engine.keep_detections = True
    for ts, frame in session.frames:
        engine.process(ts, 1, frame)
    engine.finish()
    assert [(d.protocol, d.reason) for _, d in engine.detections] == [
        ("notes", "probe matched the initiator's first bytes")
    ]
    (usage,) = sink.records
    metadata = usage.meta["metadata"]
    assert isinstance(metadata, dict)
    assert (usage.kind, usage.protocol, metadata["server_name"]) == (
        "usage",
        "notes",
        "CN=Mail01/OU=Sales/O=Acme",
    )
    assert metadata["carved_subjects"] == ["Quarterly figures"]
