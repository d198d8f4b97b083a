"""IPv4 (RFC 791): header checks, options, length trimming, truncation, fragments, IP-in-IP."""

from __future__ import annotations

import struct

from tests.pcapgen import ether, ipv4, ipv6
from tests.unit.decode.frames import (
    DST4,
    IPV4_TCP,
    IPV6_TCP,
    SRC4,
    TCP_SEGMENT,
    packed,
    tcp_result,
)
from wiresift.decode import DecodeLimits, PacketDecoder
from wiresift.decode.packet import IPPROTO_ICMP, Decoded

ICMP_ECHO = bytes.fromhex("0800f7ff00000000") + b"ping"


def test_options_are_skipped() -> None:
    """A header with options (IHL 7) is skipped as a whole."""
    packet = ipv4(SRC4, DST4, 6, TCP_SEGMENT, options=b"\x94\x04\x00\x00\x01\x01\x01\x00")
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) == tcp_result(("eth",))


def test_ethernet_padding_is_trimmed() -> None:
    """Bytes after the total length (Ethernet padding) are not payload."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(IPV4_TCP + b"\x00" * 12)) == tcp_result(("eth",))


def test_small_frame_padding_is_trimmed() -> None:
    """A bare ACK padded to the 60-byte minimum has an empty payload."""
    segment = TCP_SEGMENT[:20]
    frame = ether(ipv4(SRC4, DST4, 6, segment)) + b"\x00" * 6
    decoder = PacketDecoder()
    assert decoder.decode(1, frame) == tcp_result(("eth",), payload=b"")


def test_total_length_past_capture_is_truncated() -> None:
    """A total length larger than captured: the payload is what was captured, truncated."""
    frame = ether(IPV4_TCP)[:-5]
    decoder = PacketDecoder()
    result = decoder.decode(1, frame)
    assert result == tcp_result(("eth",), payload=tcp_result(()).payload[:-5], truncated=True)
    assert decoder.anomalies == {}


def test_total_length_below_header() -> None:
    """A total length smaller than the header is an anomaly."""
    packet = IPV4_TCP[:2] + struct.pack("!H", 19) + IPV4_TCP[4:]
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) is None
    assert decoder.anomalies == {"ipv4_bad_total_length": 1}
    assert decoder.take_new_anomalies() == [
        ("ipv4_bad_total_length", "total length 19 < header 20")
    ]


def test_zero_total_length_takes_captured_bytes() -> None:
    """Total length 0 (segmentation offload) is an anomaly; the captured bytes are used."""
    packet = IPV4_TCP[:2] + b"\x00\x00" + IPV4_TCP[4:]
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) == tcp_result(("eth",))
    assert decoder.anomalies == {"ipv4_zero_total_length": 1}


def test_bad_header_length() -> None:
    """IHL below 5 is an anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(b"\x44" + IPV4_TCP[1:])) is None
    assert decoder.anomalies == {"ipv4_bad_header_length": 1}


def test_header_longer_than_capture() -> None:
    """IHL 15 on a 40-byte capture: ipv4_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(b"\x4f" + IPV4_TCP[1:40])) is None
    assert decoder.anomalies == {"ipv4_truncated": 1}


def test_ethertype_ipv4_with_version_6() -> None:
    """EtherType 0x0800 carrying version 6 is ipv4_bad_version."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(IPV6_TCP)) is None
    assert decoder.anomalies == {"ipv4_bad_version": 1}


def test_more_fragments_is_counted() -> None:
    """A first fragment (MF set) is counted as a fragment and yields None."""
    packet = ipv4(SRC4, DST4, 6, TCP_SEGMENT, flags=1, ident=7)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) is None
    assert decoder.counters == {"ipv4": 1, "fragment": 1}
    assert decoder.anomalies == {}


def test_later_fragment_is_counted() -> None:
    """A last fragment (offset set, MF clear) is counted as a fragment too."""
    packet = ipv4(SRC4, DST4, 6, b"tail of the datagram", frag_offset=1480, ident=7)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) is None
    assert decoder.counters == {"ipv4": 1, "fragment": 1}


def test_dont_fragment_is_not_a_fragment() -> None:
    """DF alone is not a fragment."""
    packet = ipv4(SRC4, DST4, 6, TCP_SEGMENT, flags=2)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) == tcp_result(("eth",))


def test_icmp_has_zero_ports_and_the_ip_payload() -> None:
    """ICMP yields a Decoded with zero ports and the whole IP payload."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(ipv4(SRC4, DST4, IPPROTO_ICMP, ICMP_ECHO) + b"\0" * 10))
    assert result == Decoded(
        packed(SRC4), packed(DST4), IPPROTO_ICMP, 0, 0, 0, 0, 0, ICMP_ECHO, ("eth",), False
    )
    assert decoder.counters == {"ipv4": 1, "icmp": 1}


def test_other_protocol() -> None:
    """An unhandled protocol (SCTP, 132) yields its IP payload with zero ports."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(ipv4(SRC4, DST4, 132, b"sctp bytes")))
    assert result == Decoded(
        packed(SRC4), packed(DST4), 132, 0, 0, 0, 0, 0, b"sctp bytes", ("eth",), False
    )
    assert decoder.counters == {"ipv4": 1, "ip_other": 1}


def test_ipv4_in_ipv4_encap_is_the_same_both_ways() -> None:
    """IP-in-IP adds "ipip:<low>-<high>", equal in both directions of the tunnel."""
    decoder = PacketDecoder()
    forward = decoder.decode(1, ether(ipv4("192.0.2.9", "192.0.2.1", 4, IPV4_TCP)))
    backward = decoder.decode(1, ether(ipv4("192.0.2.1", "192.0.2.9", 4, IPV4_TCP)))
    assert forward == tcp_result(("eth", "ipip:192.0.2.1-192.0.2.9"))
    assert backward is not None
    assert forward is not None
    assert backward.encap is forward.encap


def test_ipv6_in_ipv4() -> None:
    """Protocol 41 carries IPv6 (6in4)."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(ipv4("192.0.2.1", "192.0.2.9", 41, IPV6_TCP)))
    assert result == tcp_result(("eth", "ipip:192.0.2.1-192.0.2.9"), ipv6_addresses=True)


def test_ipv4_in_ipv6() -> None:
    """IPv6 next header 4 carries IPv4; IPv6 endpoints are written compressed."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(ipv6("2001:db8::2", "2001:db8::1", 4, IPV4_TCP), 0x86DD))
    assert result == tcp_result(("eth", "ipip:2001:db8::1-2001:db8::2"))


def test_inner_datagram_stops_at_the_outer_end() -> None:
    """Padding after the outer datagram does not become inner payload."""
    inner = ipv4(SRC4, DST4, 6, TCP_SEGMENT)
    inner = inner[:2] + struct.pack("!H", len(inner) + 6) + inner[4:]  # claims 6 more bytes
    frame = ether(ipv4("192.0.2.1", "192.0.2.9", 4, inner) + b"PADDING")
    decoder = PacketDecoder()
    result = decoder.decode(1, frame)
    assert result == tcp_result(("eth", "ipip:192.0.2.1-192.0.2.9"), truncated=True)


def test_tunnel_depth_is_capped() -> None:
    """Three nested IP-in-IP headers pass max_tunnel_depth 2: anomaly, None."""
    packet = IPV4_TCP
    for _ in range(3):
        packet = ipv4("192.0.2.1", "192.0.2.9", 4, packet)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(packet)) is None
    assert decoder.anomalies == {"tunnel_too_deep": 1}


def test_ah_in_ipv4_is_skipped() -> None:
    """IPv4 AH (RFC 4302) is skipped to the protocol it protects."""
    ah = struct.pack("!BBHII", 6, 4, 0, 0x100, 1) + bytes(12)  # (4 + 2) * 4 = 24 bytes
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(ipv4(SRC4, DST4, 51, ah + TCP_SEGMENT))) == tcp_result(("eth",))


def test_ah_truncated() -> None:
    """An AH header longer than the datagram is ah_truncated."""
    ah = struct.pack("!BBHII", 6, 40, 0, 0x100, 1)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(ipv4(SRC4, DST4, 51, ah))) is None
    assert decoder.anomalies == {"ah_truncated": 1}


def test_esp_in_ipv4_is_counted() -> None:
    """ESP is opaque: counted, None."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(ipv4(SRC4, DST4, 50, b"\0\0\1\0" + bytes(40)))) is None
    assert decoder.counters == {"ipv4": 1, "esp": 1}


def test_layer_cap() -> None:
    """A walk longer than max_layers is cut with decode_too_many_layers."""
    decoder = PacketDecoder(limits=DecodeLimits(max_layers=3))
    assert decoder.decode(1, ether(IPV4_TCP, vlans=[5])) is None
    assert decoder.anomalies == {"decode_too_many_layers": 1}
