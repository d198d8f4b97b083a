"""TCP (RFC 9293 s3.1) and UDP (RFC 768) headers."""

from __future__ import annotations

import struct

from tests.pcapgen import ether, ipv4, ipv6, tcp, udp
from tests.unit.decode.frames import (
    DNS_QUERY,
    DST4,
    DST6,
    SRC4,
    SRC6,
    TCP_SEGMENT,
    packed,
    tcp_result,
    udp_result,
)
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import (
    IPPROTO_TCP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Decoded,
)


def tcp_frame(segment: bytes) -> bytes:
    """Ethernet / IPv4 / the given TCP bytes."""
    return ether(ipv4(SRC4, DST4, 6, segment))


def udp_frame(datagram: bytes, ipv6_addresses: bool = False) -> bytes:
    """Ethernet / IPv4 or IPv6 / the given UDP bytes."""
    if ipv6_addresses:
        return ether(ipv6(SRC6, DST6, 17, datagram), 0x86DD)
    return ether(ipv4(SRC4, DST4, 17, datagram))


def test_tcp_fields() -> None:
    """Flags, sequence and acknowledgment numbers come out as on the wire."""
    segment = tcp(1, 2, 0xFFFFFFFF, 0x80000000, TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)
    decoder = PacketDecoder()
    assert decoder.decode(1, tcp_frame(segment)) == Decoded(
        packed(SRC4),
        packed(DST4),
        IPPROTO_TCP,
        1,
        2,
        0x17,
        0xFFFFFFFF,
        0x80000000,
        b"",
        ("eth",),
        False,
    )


def test_tcp_options_are_skipped() -> None:
    """The data offset covers the options; the payload starts after them."""
    segment = tcp(40000, 80, 1000, 2000, "PA", b"data", options=b"\x02\x04\x05\xb4\x01\x01\x01")
    decoder = PacketDecoder()
    result = decoder.decode(1, tcp_frame(segment))
    assert result == tcp_result(("eth",), payload=b"data")


def test_tcp_data_offset_below_five() -> None:
    """A data offset below 5 words is tcp_bad_data_offset; None."""
    segment = TCP_SEGMENT[:12] + b"\x40" + TCP_SEGMENT[13:]
    decoder = PacketDecoder()
    assert decoder.decode(1, tcp_frame(segment)) is None
    assert decoder.anomalies == {"tcp_bad_data_offset": 1}
    assert decoder.take_new_anomalies() == [("tcp_bad_data_offset", "data offset 4")]


def test_tcp_data_offset_past_the_segment() -> None:
    """A header longer than the whole (fully captured) segment is tcp_bad_data_offset."""
    segment = TCP_SEGMENT[:12] + b"\xf0" + TCP_SEGMENT[13:20]
    decoder = PacketDecoder()
    assert decoder.decode(1, tcp_frame(segment)) is None
    assert decoder.anomalies == {"tcp_bad_data_offset": 1}


def test_tcp_segment_shorter_than_a_header() -> None:
    """An IP datagram holding 12 bytes of TCP is tcp_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, tcp_frame(TCP_SEGMENT[:12]) + bytes(20)) is None
    assert decoder.anomalies == {"tcp_truncated": 1}


def test_udp_is_trimmed_to_its_length() -> None:
    """A UDP length shorter than the IP payload cuts the datagram; no anomaly."""
    datagram = udp(40000, 53, DNS_QUERY) + b"trailer"
    decoder = PacketDecoder()
    assert decoder.decode(1, udp_frame(datagram)) == udp_result(("eth",))
    assert decoder.anomalies == {}


def test_udp_length_longer_than_ip_payload() -> None:
    """A UDP length past the IP payload is udp_length_mismatch; the IP payload is kept."""
    datagram = struct.pack("!HHHH", 40000, 53, 8 + len(DNS_QUERY) + 10, 0) + DNS_QUERY
    for ipv6_addresses in (False, True):
        decoder = PacketDecoder()
        result = decoder.decode(1, udp_frame(datagram, ipv6_addresses))
        assert result == udp_result(("eth",), ipv6_addresses=ipv6_addresses)
        assert decoder.anomalies == {"udp_length_mismatch": 1}


def test_udp_length_below_header() -> None:
    """A UDP length below 8 is udp_bad_length; None."""
    datagram = struct.pack("!HHHH", 40000, 53, 7, 0) + DNS_QUERY
    decoder = PacketDecoder()
    assert decoder.decode(1, udp_frame(datagram)) is None
    assert decoder.anomalies == {"udp_bad_length": 1}


def test_udp_cut_by_the_capture_is_truncated() -> None:
    """A datagram cut by the snaplen is truncated, not a length mismatch."""
    decoder = PacketDecoder()
    result = decoder.decode(1, udp_frame(udp(40000, 53, DNS_QUERY))[:-3])
    assert result == udp_result(("eth",), payload=DNS_QUERY[:-3])._replace(truncated=True)
    assert decoder.anomalies == {}


def test_udp_shorter_than_a_header() -> None:
    """An IP datagram holding 4 bytes of UDP is udp_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, udp_frame(b"\x00\x35\x00\x35")) is None
    assert decoder.anomalies == {"udp_truncated": 1}
