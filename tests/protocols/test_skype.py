"""Skype and Teams: STUN with Microsoft attributes, classic Skype's UDP shape, TLS names."""

from __future__ import annotations

import struct

from tests.pcapgen import udp_datagram
from tests.protocols.helpers import FLOW, ORIG, RESP
from wiresift.config import Config, Limits
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.model import JsonValue
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Anomaly, Event, FlowInfo
from wiresift.protocols.skype import (
    SkypeUdpParser,
    StunParser,
    classic,
    classify_tls,
    skype_name,
    stun,
)
from wiresift.protocols.usage_events import UsageInfo

COOKIE = struct.pack("!I", 0x2112A442)
TID = bytes(range(12))
UDP_FLOW = FlowInfo(
    uid="U1",
    orig_addr="192.168.2.20",
    orig_port=49282,
    resp_addr="104.46.40.49",
    resp_port=3478,
    transport="udp",
)


def attribute(kind: int, value: bytes) -> bytes:
    """One STUN attribute, padded to 4 bytes (RFC 8489 s14)."""
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def message(message_type: int, *attributes: bytes) -> bytes:
    """A STUN message with the RFC 8489 header."""
    body = b"".join(attributes)
    return struct.pack("!HH", message_type, len(body)) + COOKIE + TID + body


def xor_mapped(address: str, port: int) -> bytes:
    """XOR-MAPPED-ADDRESS of an IPv4 address (RFC 8489 s14.2)."""
    raw = bytes(int(part) for part in address.split("."))
    xored = bytes(a ^ b for a, b in zip(raw, COOKIE, strict=True))
    return attribute(0x0020, struct.pack("!BBH", 0, 1, port ^ 0x2112) + xored)


BINDING_REQUEST = message(
    0x0001,
    attribute(0x0006, b"ab:cd"),
    attribute(0x8054, b"\x00\x01\x02\x03"),
    attribute(0x8070, b"\x00\x00\x00\x02"),
)
BINDING_SUCCESS = message(0x0101, xor_mapped("203.0.113.9", 50012), attribute(0x8022, b"relay 1"))


def run_datagrams(parser: StunParser | SkypeUdpParser, datagrams: list[bytes]) -> list[Event]:
    """Feed one datagram per call, alternating client and server, then end both sides."""
    events: list[Event] = []
    for index, datagram in enumerate(datagrams):
        events += parser.feed(ORIG if index % 2 == 0 else RESP, datagram, index)
    events += parser.end(ORIG, 99)
    events += parser.end(RESP, 99)
    return events


def test_stun_probe_accepts_requests_and_reverses_responses() -> None:
    """A request matches as sent; a response seen from the initiator means roles swapped."""
    assert stun.probe(ORIG, BINDING_REQUEST) is Verdict.MATCH
    assert stun.probe(ORIG, BINDING_SUCCESS) is Verdict.NO_MATCH
    assert stun.probe(RESP, BINDING_SUCCESS) is Verdict.MATCH


def test_stun_probe_rejects_wrong_cookie_length_and_top_bits() -> None:
    """No cookie, a length that does not fit, or top bits set: not STUN."""
    assert stun.probe(ORIG, BINDING_REQUEST[:4] + b"\x00" * 4 + BINDING_REQUEST[8:]) is (
        Verdict.NO_MATCH
    )
    assert stun.probe(ORIG, BINDING_REQUEST + b"\x00\x00\x00\x00") is Verdict.NO_MATCH
    assert stun.probe(ORIG, b"\x80" + BINDING_REQUEST[1:]) is Verdict.NO_MATCH
    assert stun.probe(ORIG, BINDING_REQUEST[:19]) is Verdict.NO_MATCH


def test_stun_parser_reports_microsoft_attributes_and_mapped_address() -> None:
    """MS-ICE2 attributes name the application; XOR-MAPPED-ADDRESS and SOFTWARE are read."""
    media = b"\x90\x68\x5d\x33" + b"\x11" * 40
    events = run_datagrams(
        StunParser(UDP_FLOW, Limits()), [BINDING_REQUEST, BINDING_SUCCESS, media]
    )
    usage = [e for e in events if isinstance(e, UsageInfo)]
    assert [dict(e.metadata) for e in usage] == [
        {
            "message_types": ["binding_request"],
            "evidence": ["microsoft_stun_attributes", "stun_relay_port"],
            "application": "skype",
            "ms_attributes": ["candidate_identifier", "ms_implementation_version"],
        },
        {
            "message_types": ["binding_request", "binding_success"],
            "evidence": ["microsoft_stun_attributes", "stun_relay_port"],
            "application": "skype",
            "ms_attributes": ["candidate_identifier", "ms_implementation_version"],
            "mapped_addresses": ["203.0.113.9:50012"],
            "software": ["relay 1"],
        },
        {"stun_messages": 2, "media_datagrams": 1, "turn_channel_datagrams": 0},
    ]
    assert [e.protocol for e in usage] == ["stun", "stun", "stun"]


def test_stun_repeated_messages_add_no_events() -> None:
    """A message that teaches nothing new yields no event (no per-packet events)."""
    parser = StunParser(UDP_FLOW, Limits())
    assert len(parser.feed(ORIG, BINDING_REQUEST, 1)) == 1
    assert parser.feed(ORIG, BINDING_REQUEST, 2) == []
    assert parser.messages == 2


def test_stun_without_microsoft_attributes_names_no_application() -> None:
    """Plain RFC 8489 STUN on a non-relay port: no application, no evidence."""
    flow = FlowInfo(
        uid="U2",
        orig_addr="10.0.0.1",
        orig_port=4000,
        resp_addr="10.0.0.2",
        resp_port=19302,
        transport="udp",
    )
    events = StunParser(flow, Limits()).feed(ORIG, message(0x0001), 1)
    assert events == [
        UsageInfo(
            direction=ORIG,
            ts=1,
            protocol="stun",
            metadata={"message_types": ["binding_request"], "evidence": []},
        )
    ]


def test_stun_bad_input_becomes_anomalies() -> None:
    """An attribute overrunning its message and a cookie-bearing wrong length are named."""
    overrun = message(0x0001, struct.pack("!HH", 0x8022, 40) + b"abcd")
    wrong_length = BINDING_REQUEST[:2] + b"\x00\x08" + BINDING_REQUEST[4:]
    parser = StunParser(UDP_FLOW, Limits())
    names = [e.name for e in parser.feed(ORIG, overrun, 1) if isinstance(e, Anomaly)]
    names += [e.name for e in parser.feed(ORIG, wrong_length, 2) if isinstance(e, Anomaly)]
    assert names == ["stun_bad_attribute", "stun_bad_length"]
    assert parser.feed(ORIG, b"", 3) == []
    assert parser.feed(ORIG, b"\x40\x00\x00\x04abcd", 4) == []
    assert (parser.messages, parser.media, parser.channel_data) == (1, 1, 1)


CLASSIC = bytes.fromhex("169702aed10087792e012b1b34b94fb4a7cf2ec4a3ef4bd9e7d21f643db7bd")


def test_classic_probe_matches_the_payload_and_audio_shapes() -> None:
    """nDPI's shapes: byte 2 == 0x02 with at least 16 bytes, or 3 bytes of type 0x0D."""
    assert classic.probe(ORIG, CLASSIC) is Verdict.MATCH
    assert classic.probe(RESP, b"\x01\x02\x3d") is Verdict.MATCH
    assert classic.probe(ORIG, b"\x01\x02\x3c") is Verdict.NO_MATCH
    assert classic.probe(ORIG, CLASSIC[:15]) is Verdict.NO_MATCH
    assert classic.probe(ORIG, CLASSIC[:2] + b"\x03" + CLASSIC[3:]) is Verdict.NO_MATCH


def test_classic_probe_excludes_snmp_dnscrypt_and_stun() -> None:
    """SNMP's 0x30, DNSCrypt's padded query and resolver magic, and STUN never match."""
    dnscrypt_query = bytes.fromhex("d31b02042ac406f3") + b"\x5a" * 504
    assert len(dnscrypt_query) == 512
    assert classic.probe(ORIG, dnscrypt_query) is Verdict.NO_MATCH
    assert classic.probe(RESP, b"r6fnvWj8" + b"\x02" * 40) is Verdict.NO_MATCH
    assert classic.probe(ORIG, b"\x30\x82\x02" + b"\x00" * 30) is Verdict.NO_MATCH
    stun_with_long_body = message(0x0001, attribute(0x8022, b"x" * 508))
    assert stun_with_long_body[2] == 0x02  # the length field's high byte
    assert classic.probe(ORIG, stun_with_long_body) is Verdict.NO_MATCH


def test_classic_parser_labels_the_flow_once_and_counts() -> None:
    """The first datagram reports classic Skype; the end gives datagram counts."""
    events = run_datagrams(SkypeUdpParser(UDP_FLOW, Limits()), [CLASSIC, b"\x01\x02\x0d", b"x"])
    assert events == [
        UsageInfo(
            direction=ORIG,
            ts=0,
            protocol="skype",
            metadata={
                "application": "skype",
                "generation": "classic",
                "evidence": ["classic_udp_header"],
                "content": "encrypted",
            },
            complete=False,
        ),
        Anomaly(direction=ORIG, ts=2, name="skype_short_datagram", detail="1"),
        UsageInfo(
            direction=ORIG,
            ts=99,
            protocol="skype",
            metadata={"payload_datagrams": 1, "other_datagrams": 1},
            complete=False,
        ),
    ]


def test_skype_names_and_wildcards() -> None:
    """Listed domains and their subdomains match, wildcards too; look-alikes do not."""
    assert [
        skype_name(n)
        for n in (
            "apps.skype.com",
            "*.gateway.messenger.live.com",
            "teams.microsoft.com",
            "Teams.Live.Com.",
            "eu-prod-teams.cloudapp.net",
            "notskype.com",
            "skype.com.evil.example",
            "messenger.live.com",
            "",
        )
    ] == [True, True, True, True, True, False, False, False, False]


def test_classify_tls_uses_sni_and_certificate_names() -> None:
    """A Skype SNI or certificate name marks the TLS usage metadata; others are untouched."""
    by_sni: dict[str, JsonValue] = {"sni": "apps.skype.com"}
    classify_tls(by_sni)
    by_cert: dict[str, JsonValue] = {
        "sni": None,
        "server_certificates": [
            {"subject": "CN=*.gateway.messenger.live.com", "san_dns": ["*.trouter.io"]}
        ],
    }
    classify_tls(by_cert)
    other: dict[str, JsonValue] = {"sni": "example.org", "server_certificates": ["junk"]}
    classify_tls(other)
    assert by_sni == {
        "sni": "apps.skype.com",
        "application": "skype",
        "application_names": ["apps.skype.com"],
    }
    assert by_cert["application_names"] == ["*.gateway.messenger.live.com", "*.trouter.io"]
    assert other == {"sni": "example.org", "server_certificates": ["junk"]}


def test_engine_detects_stun_and_makes_a_skype_usage_object() -> None:
    """Through the engine: STUN is chosen on the first datagram and the usage object says
    Skype; the media datagrams after it are counted."""
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=REGISTRY)
    engine.keep_detections = True
    client, server = ("192.168.2.20", 49282), ("104.46.40.49", 3478)
    for index, (src, dst, payload) in enumerate(
        [
            (client, server, BINDING_REQUEST),
            (server, client, BINDING_SUCCESS),
            (client, server, b"\x90" + b"\x00" * 30),
        ]
    ):
        engine.process(1_000_000 * (index + 1), 1, udp_datagram(src, dst, payload))
    engine.finish()
    assert [(d.protocol, d.reason) for _, d in engine.detections] == [
        ("stun", "probe matched an initiator datagram")
    ]
    (usage,) = [r for r in sink.records if r.kind == "usage"]
    metadata = usage.meta["metadata"]
    assert isinstance(metadata, dict)
    assert (usage.protocol, metadata["application"], metadata["media_datagrams"]) == (
        "stun",
        "skype",
        1,
    )


def test_tcp_flow_info_is_not_needed_by_the_probes() -> None:
    """The probes are pure functions of the bytes (the TCP test flow is only a stand-in)."""
    assert FLOW.transport == "tcp"
    assert stun.probe(ORIG, b"") is Verdict.NO_MATCH
    assert classic.probe(ORIG, b"") is Verdict.NO_MATCH
