"""PPPoE sessions (RFC 2516) and PPP (RFC 1661), also as EtherType 0x880B for GRE/PPTP."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether
from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import DISPATCH, PacketDecoder
from wiresift.decode.walk import Layer, Walk

ETHERTYPE_PPPOE_SESSION = 0x8864
ETHERTYPE_PPPOE_DISCOVERY = 0x8863
ETHERTYPE_PPP = 0x880B
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057


def pppoe(session_id: int, ppp_frame: bytes, *, length: int | None = None) -> bytes:
    """PPPoE session header (version 1, type 1, code 0) + the PPP frame."""
    size = len(ppp_frame) if length is None else length
    return struct.pack("!BBHH", 0x11, 0, session_id, size) + ppp_frame


def ppp(protocol: int, payload: bytes) -> bytes:
    """PPP frame with a 2-byte protocol field."""
    return struct.pack("!H", protocol) + payload


def test_pppoe_ipv4() -> None:
    """PPPoE session over Ethernet carrying IPv4: "pppoe:<id>" then "ppp"."""
    decoder = PacketDecoder()
    frame = ether(pppoe(0x1234, ppp(PPP_IPV4, IPV4_TCP)), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) == tcp_result(("eth", "pppoe:4660", "ppp"))


def test_pppoe_ipv6() -> None:
    """PPP protocol 0x0057 is IPv6."""
    decoder = PacketDecoder()
    frame = ether(pppoe(7, ppp(PPP_IPV6, IPV6_TCP)), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) == tcp_result(("eth", "pppoe:7", "ppp"), ipv6_addresses=True)


def test_pppoe_in_vlan() -> None:
    """PPPoE behind a VLAN tag (the usual DSL setup)."""
    decoder = PacketDecoder()
    frame = ether(pppoe(9, ppp(PPP_IPV4, IPV4_TCP)), ETHERTYPE_PPPOE_SESSION, vlans=[7])
    assert decoder.decode(1, frame) == tcp_result(("eth", "vlan:7", "pppoe:9", "ppp"))


def test_pppoe_encap_is_interned() -> None:
    """Packets of one session share one encap tuple."""
    decoder = PacketDecoder()
    frame = ether(pppoe(5, ppp(PPP_IPV4, IPV4_TCP)), ETHERTYPE_PPPOE_SESSION)
    first = decoder.decode(1, frame)
    second = decoder.decode(1, frame)
    assert first is not None
    assert second is not None
    assert first.encap is second.encap


def test_pppoe_ethernet_padding_is_ignored() -> None:
    """Bytes after the PPPoE payload (Ethernet padding) are not part of the datagram."""
    decoder = PacketDecoder()
    frame = ether(pppoe(1, ppp(PPP_IPV4, IPV4_TCP)) + bytes(10), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) == tcp_result(("eth", "pppoe:1", "ppp"))


def test_lcp_is_non_ip() -> None:
    """LCP (0xC021) inside a session is counted as non-IP."""
    decoder = PacketDecoder()
    frame = ether(pppoe(1, ppp(0xC021, b"\x09\x01\x00\x08abcd")), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) is None
    assert decoder.counters == {"non_ip": 1}
    assert decoder.anomalies == {}


def test_discovery_is_non_ip() -> None:
    """A PADI (discovery, EtherType 0x8863) is counted as non-IP."""
    decoder = PacketDecoder()
    padi = struct.pack("!BBHH", 0x11, 0x09, 0, 4) + b"\x01\x01\x00\x00"
    assert decoder.decode(1, ether(padi, ETHERTYPE_PPPOE_DISCOVERY)) is None
    assert decoder.counters == {"non_ip": 1}


def test_ppp_ethertype_with_address_control() -> None:
    """EtherType 0x880B: PPP with 0xFF 0x03 in front (as PPTP sends it)."""
    decoder = PacketDecoder()
    frame = ether(b"\xff\x03" + ppp(PPP_IPV4, IPV4_TCP), ETHERTYPE_PPP)
    assert decoder.decode(1, frame) == tcp_result(("eth", "ppp"))


def test_ppp_compressed_protocol() -> None:
    """A one-byte protocol field (odd first byte, RFC 1661 s6.5) is read as such."""
    decoder = PacketDecoder()
    frame = ether(b"\x21" + IPV4_TCP, ETHERTYPE_PPP)
    assert decoder.decode(1, frame) == tcp_result(("eth", "ppp"))


def test_ppp_address_control_and_compressed_protocol() -> None:
    """0xFF 0x03 and a compressed IPv6 protocol byte (0x57) together."""
    decoder = PacketDecoder()
    frame = ether(b"\xff\x03\x57" + IPV6_TCP, ETHERTYPE_PPP)
    assert decoder.decode(1, frame) == tcp_result(("eth", "ppp"), ipv6_addresses=True)


def test_ppp_from_an_ethertype_dispatch() -> None:
    """A tunnel decoder that names EtherType 0x880B reaches PPP through the table."""

    def fake_tunnel(walk: Walk, data: bytes, offset: int) -> int:
        walk.push("tun")
        walk.ns = Layer.ETHERTYPE
        walk.key = ETHERTYPE_PPP
        return offset

    decoder = PacketDecoder(dispatch={**DISPATCH, (Layer.LINKTYPE, 147): fake_tunnel})
    result = decoder.decode(147, b"\xff\x03\x00\x21" + IPV4_TCP)
    assert result == tcp_result(("tun", "ppp"))


def test_ppp_mpls() -> None:
    """PPP protocol 0x0281 carries an MPLS label stack."""
    decoder = PacketDecoder()
    stack = struct.pack("!I", 100 << 12 | 0x100 | 64)
    frame = ether(pppoe(3, ppp(0x0281, stack + IPV4_TCP)), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) == tcp_result(("eth", "pppoe:3", "ppp", "mpls"))


@pytest.mark.parametrize(
    ("header", "anomaly"),
    [
        (struct.pack("!BBHH", 0x12, 0, 1, 60), "pppoe_bad_version"),
        (struct.pack("!BBHH", 0x11, 0x07, 1, 60), "pppoe_bad_code"),
        (struct.pack("!BBHH", 0x11, 0, 1, 1), "pppoe_bad_length"),
    ],
    ids=["version", "code", "length"],
)
def test_bad_pppoe_header(header: bytes, anomaly: str) -> None:
    """A wrong version/type, a non-session code or a length below 2 is an anomaly."""
    decoder = PacketDecoder()
    frame = ether(header + ppp(PPP_IPV4, IPV4_TCP), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame) is None
    assert decoder.anomalies == {anomaly: 1}


def test_pppoe_length_past_capture_is_snaplen() -> None:
    """A PPPoE length past the captured bytes is a short capture: decoded, truncated."""
    decoder = PacketDecoder()
    frame = ether(pppoe(1, ppp(PPP_IPV4, IPV4_TCP), length=1492), ETHERTYPE_PPPOE_SESSION)
    assert decoder.decode(1, frame[:-5]) == tcp_result(
        ("eth", "pppoe:1", "ppp"), payload=b"GET / HTTP/1.1\r\nHost: exampl", truncated=True
    )
    assert decoder.anomalies == {}


@pytest.mark.parametrize(
    "frame",
    [
        ether(pppoe(1, ppp(PPP_IPV4, IPV4_TCP)), ETHERTYPE_PPPOE_SESSION),
        ether(b"\xff\x03" + ppp(PPP_IPV6, IPV6_TCP), ETHERTYPE_PPP),
    ],
    ids=["pppoe", "ppp"],
)
def test_every_truncation_is_handled(frame: bytes) -> None:
    """Each prefix of a valid frame is one anomaly, or a Decoded marked truncated."""
    for length in range(len(frame)):
        decoder = PacketDecoder()
        result = decoder.decode(1, frame[:length])
        if result is None:
            assert sum(decoder.anomalies.values()) == 1
        else:
            assert result.truncated
