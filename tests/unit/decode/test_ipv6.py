"""IPv6 (RFC 8200): extension headers, fragments, ESP, length handling."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether, ipv6, ipv6_ext, ipv6_fragment
from tests.unit.decode.frames import DST6, SRC6, TCP_SEGMENT, packed, tcp_result
from wiresift.decode import DecodeLimits, PacketDecoder
from wiresift.decode.packet import IPPROTO_ICMPV6, Decoded

HOP_BY_HOP = 0
ROUTING = 43
FRAGMENT = 44
ESP = 50
AH = 51
NO_NEXT = 59
DEST_OPTS = 60
MOBILITY = 135
TCP = 6


def frame(next_header: int, ext_headers: bytes, payload: bytes = TCP_SEGMENT) -> bytes:
    """Ethernet / IPv6 with the given extension headers and payload."""
    return ether(ipv6(SRC6, DST6, next_header, payload, ext_headers=ext_headers), 0x86DD)


def ah(next_header: int) -> bytes:
    """An AH header with a 12-byte ICV: length field 4, (4 + 2) * 4 = 24 bytes."""
    return struct.pack("!BBHII", next_header, 4, 0, 0x100, 1) + bytes(12)


def mobility(next_header: int) -> bytes:
    """A mobility header (RFC 6275 s6.1): binding refresh request, 8 bytes."""
    return struct.pack("!BBBBH2x", next_header, 0, 0, 0, 0)


RESULT = tcp_result(("eth",), ipv6_addresses=True)


@pytest.mark.parametrize(
    ("first", "ext_headers"),
    [
        (HOP_BY_HOP, ipv6_ext(TCP, b"\x01\x04\x00\x00\x00\x00")),
        (ROUTING, ipv6_ext(TCP, b"\x00\x00" + bytes(20))),
        (DEST_OPTS, ipv6_ext(TCP)),
        (AH, ah(TCP)),
        (MOBILITY, mobility(TCP)),
        (
            HOP_BY_HOP,
            ipv6_ext(ROUTING)
            + ipv6_ext(FRAGMENT)
            + ipv6_fragment(AH, 0, False, 9)
            + ah(DEST_OPTS)
            + ipv6_ext(TCP),
        ),
    ],
    ids=["hop-by-hop", "routing", "destination-options", "ah", "mobility", "chain"],
)
def test_extension_headers_are_skipped(first: int, ext_headers: bytes) -> None:
    """Each extension header (and a chain of them) is skipped to TCP."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(first, ext_headers)) == RESULT
    assert decoder.anomalies == {}


def test_fragment_is_counted() -> None:
    """A fragment (M set) is counted and yields None."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(FRAGMENT, ipv6_fragment(TCP, 0, True, 1))) is None
    assert decoder.decode(1, frame(FRAGMENT, ipv6_fragment(TCP, 1448, False, 1), b"x")) is None
    assert decoder.counters == {"ipv6": 2, "fragment": 2}
    assert decoder.anomalies == {}


def test_atomic_fragment_carries_the_whole_packet() -> None:
    """A fragment header with offset 0 and M clear (RFC 6946) is skipped."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(FRAGMENT, ipv6_fragment(TCP, 0, False, 5))) == RESULT
    assert decoder.counters == {"ipv6": 1, "tcp": 1}


def test_esp_is_counted() -> None:
    """ESP is opaque: counted, None, no anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(ESP, b"", b"\0\0\1\0" + bytes(40))) is None
    assert decoder.counters == {"ipv6": 1, "esp": 1}
    assert decoder.anomalies == {}


def test_no_next_header() -> None:
    """Next header 59 ends the packet: counted, None."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(DEST_OPTS, ipv6_ext(NO_NEXT), b"")) is None
    assert decoder.counters == {"ipv6": 1, "no_next_header": 1}


def test_too_many_extension_headers() -> None:
    """Nine destination-options headers pass max_ipv6_ext_headers (8)."""
    chain = ipv6_ext(DEST_OPTS) * 8 + ipv6_ext(TCP)
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(DEST_OPTS, chain)) is None
    assert decoder.anomalies == {"ipv6_too_many_ext_headers": 1}
    assert (
        PacketDecoder(limits=DecodeLimits(max_ipv6_ext_headers=9)).decode(
            1, frame(DEST_OPTS, chain)
        )
        == RESULT
    )


def test_extension_header_past_the_datagram() -> None:
    """An extension header longer than the payload is ipv6_ext_header_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(ROUTING, bytes([TCP, 200]) + bytes(6), b"")) is None
    assert decoder.anomalies == {"ipv6_ext_header_truncated": 1}


def test_misplaced_hop_by_hop_is_an_anomaly_but_decoded() -> None:
    """Hop-by-hop after another header is reported, then skipped."""
    decoder = PacketDecoder()
    chain = ipv6_ext(HOP_BY_HOP) + ipv6_ext(TCP)
    assert decoder.decode(1, frame(DEST_OPTS, chain)) == RESULT
    assert decoder.anomalies == {"ipv6_misplaced_hop_by_hop": 1}


def test_padding_is_trimmed() -> None:
    """Bytes after the payload length are not payload."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(TCP, b"") + b"\0" * 8) == RESULT


def test_payload_length_past_capture_is_truncated() -> None:
    """A payload length larger than captured marks the packet truncated."""
    decoder = PacketDecoder()
    result = decoder.decode(1, frame(TCP, b"")[:-4])
    assert result == tcp_result(
        ("eth",), ipv6_addresses=True, payload=RESULT.payload[:-4], truncated=True
    )


def test_zero_payload_length_takes_captured_bytes() -> None:
    """Payload length 0 with bytes behind it (offload) is an anomaly; they are used."""
    packet = frame(TCP, b"")
    packet = packet[:18] + b"\0\0" + packet[20:]
    decoder = PacketDecoder()
    assert decoder.decode(1, packet) == RESULT
    assert decoder.anomalies == {"ipv6_zero_payload_length": 1}


def test_jumbogram_length_is_not_an_anomaly() -> None:
    """Payload length 0 before a hop-by-hop header (RFC 2675 jumbogram) is accepted."""
    jumbo_option = b"\xc2\x04" + struct.pack("!I", 8 + len(TCP_SEGMENT))
    packet = frame(HOP_BY_HOP, ipv6_ext(TCP, jumbo_option))
    packet = packet[:18] + b"\0\0" + packet[20:]
    decoder = PacketDecoder()
    assert decoder.decode(1, packet) == RESULT
    assert decoder.anomalies == {}


def test_ethertype_ipv6_with_version_4() -> None:
    """EtherType 0x86DD carrying version 4 is ipv6_bad_version."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(b"\x45" + bytes(59), 0x86DD)) is None
    assert decoder.anomalies == {"ipv6_bad_version": 1}


def test_icmpv6() -> None:
    """ICMPv6 yields zero ports and the IP payload."""
    echo = bytes.fromhex("8000000000010001") + b"ping"
    decoder = PacketDecoder()
    assert decoder.decode(1, frame(IPPROTO_ICMPV6, b"", echo)) == Decoded(
        packed(SRC6), packed(DST6), IPPROTO_ICMPV6, 0, 0, 0, 0, 0, echo, ("eth",), False
    )
    assert decoder.counters == {"ipv6": 1, "icmpv6": 1}


def test_ipv6_in_ipv6() -> None:
    """Next header 41 carries IPv6 (RFC 2473)."""
    inner = ipv6(SRC6, DST6, TCP, TCP_SEGMENT)
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(ipv6("2001:db8::9", "2001:db8::1", 41, inner), 0x86DD))
    assert result == tcp_result(("eth", "ipip:2001:db8::1-2001:db8::9"), ipv6_addresses=True)
