"""The test capture writer builds valid frames and consistent TCP sequence numbers."""

from __future__ import annotations

import io
import ipaddress
import struct

import pytest

from tests.pcapgen import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    TcpSession,
    checksum16,
    ether,
    ipv4,
    ipv6,
    ipv6_ext,
    ipv6_fragment,
    tcp,
    udp,
    udp_datagram,
    vlan,
)
from wiresift.capture import open_stream

# (seq, ack, flags, payload) of each frame of a plain IPv4/Ethernet session.
Segment = tuple[int, int, int, bytes]


def tcp_fields(frame: bytes) -> Segment:
    """Sequence, acknowledgment, flags and payload of an untagged Ethernet/IPv4/TCP frame."""
    ihl = (frame[14] & 0x0F) * 4
    segment = frame[14 + ihl :]
    seq, ack, offset_byte, flags = struct.unpack_from("!IIBB", segment, 4)
    return seq, ack, flags, segment[(offset_byte >> 4) * 4 :]


def test_handshake_data_and_close_sequence_numbers() -> None:
    """SYN, SYN/ACK, ACK, data both ways and FINs carry consistent seq/ack numbers."""
    session = TcpSession()
    session.handshake()
    session.send(True, b"hello")
    session.send(False, b"world!", segment_size=4)
    session.fin(True)
    session.fin(False)
    session.ack(True)
    assert [tcp_fields(frame) for _, frame in session.frames] == [
        (1000, 0, SYN, b""),
        (5000, 1001, SYN | ACK, b""),
        (1001, 5001, ACK, b""),
        (1001, 5001, PSH | ACK, b"hello"),
        (5001, 1006, PSH | ACK, b"worl"),
        (5005, 1006, PSH | ACK, b"d!"),
        (1006, 5007, FIN | ACK, b""),
        (5007, 1007, FIN | ACK, b""),
        (1007, 5008, ACK, b""),
    ]
    assert [ts for ts, _ in session.frames] == [
        session.start_ns + index * 1000 for index in range(9)
    ]


def test_segment_skip_and_rst_do_what_they_say() -> None:
    """``segment`` does not advance, ``skip`` leaves a hole, ``rst`` uses the next seq."""
    session = TcpSession(isn_client=0xFFFFFFF0, isn_server=0)
    session.send(True, b"abcdef")
    session.segment(True, 2, b"cd")
    session.skip(True, 100)
    session.send(True, b"z")
    session.rst(False)
    assert [tcp_fields(frame) for _, frame in session.frames] == [
        (0xFFFFFFF1, 1, PSH | ACK, b"abcdef"),
        (0xFFFFFFF3, 1, PSH | ACK, b"cd"),
        ((0xFFFFFFF1 + 106) & 0xFFFFFFFF, 1, PSH | ACK, b"z"),
        (1, (0xFFFFFFF1 + 107) & 0xFFFFFFFF, RST | ACK, b""),
    ]


def test_retime_follows_list_order() -> None:
    """After reordering, ``retime`` gives timestamps in the new list order."""
    session = TcpSession(start_ns=10, step_ns=5)
    session.send(True, b"ab", segment_size=1)
    session.frames.reverse()
    session.retime()
    assert [(ts, tcp_fields(frame)[3]) for ts, frame in session.frames] == [(10, b"b"), (15, b"a")]


def test_ipv4_and_tcp_checksums_verify() -> None:
    """The IPv4 header and the TCP pseudo-header checksums sum to zero."""
    session = TcpSession()
    session.send(True, b"odd length payload!")
    frame = session.frames[0][1]
    header = frame[14:34]
    segment = frame[34:]
    pseudo = header[12:20] + struct.pack("!BBH", 0, 6, len(segment))
    assert (checksum16(header), checksum16(pseudo + segment)) == (0, 0)


def test_ipv6_session_with_vlans() -> None:
    """An IPv6 session under QinQ tags carries both tags and the IPv6 EtherType."""
    session = TcpSession(ipv6=True, vlans=(100, 200), outer_tpid=0x88A8)
    session.handshake()
    frame = session.frames[0][1]
    assert frame[12:24] == bytes.fromhex("88a8 0064 8100 00c8 86dd 6000".replace(" ", ""))
    assert ipaddress.IPv6Address(frame[30:46]) == ipaddress.IPv6Address("fd00::1")
    segment = frame[62:]
    pseudo = frame[30:62] + struct.pack("!IxxxB", len(segment), 6)
    assert checksum16(pseudo + segment) == 0


def test_vlan_helper_matches_vlans_argument() -> None:
    """Building a tag by hand gives the same frame as the ``vlans`` argument."""
    payload = ipv4("1.1.1.1", "2.2.2.2", 17, udp(1, 2, b"x"))
    assert ether(vlan(100, 0x0800) + payload, 0x8100) == ether(payload, vlans=[100])


def test_ipv4_fields() -> None:
    """Length, fragment field, options padding and TTL land where RFC 791 puts them."""
    packet = ipv4(
        "10.0.0.1", "10.0.0.2", 6, b"data", ttl=7, ident=9, flags=1, frag_offset=16, options=b"\x01"
    )
    assert struct.unpack_from("!BBHHHBB", packet) == (0x46, 0, 28, 9, (1 << 13) | 2, 7, 6)
    assert packet[20:24] == b"\x01\x00\x00\x00"
    assert checksum16(packet[:24]) == 0


def test_fragment_offsets_are_bytes() -> None:
    """Offsets that are not multiples of 8 bytes are refused."""
    with pytest.raises(ValueError, match="multiple of 8"):
        ipv4("10.0.0.1", "10.0.0.2", 6, b"", frag_offset=185)
    with pytest.raises(ValueError, match="multiple of 8"):
        ipv6_fragment(17, 3, more=True, ident=1)


def test_ipv6_extension_headers() -> None:
    """Extension headers are padded to 8 bytes and counted in the payload length."""
    ext = ipv6_ext(44, b"\x01\x00") + ipv6_fragment(17, 8, more=True, ident=7)
    packet = ipv6("fd00::1", "fd00::2", 0, b"payload", ext_headers=ext)
    assert struct.unpack_from("!HBB", packet, 4) == (16 + 7, 0, 64)
    assert packet[40:56] == bytes.fromhex("2c000100000000001100000900000007")


def test_udp_datagram_checksum_and_family() -> None:
    """udp_datagram picks IPv6 by address family and fills a verifying checksum."""
    frame = udp_datagram(("fd00::1", 5353), ("fd00::2", 53), b"q")
    assert frame[12:14] == b"\x86\xdd"
    segment = frame[54:]
    pseudo = frame[22:54] + struct.pack("!IxxxB", len(segment), 17)
    assert (segment[8:], checksum16(pseudo + segment)) == (b"q", 0)


def test_tcp_flag_letters() -> None:
    """Flags may be given as letters."""
    assert tcp(1, 2, 0, 0, "SA") == tcp(1, 2, 0, 0, SYN | ACK)


def test_write_pcap_round_trips_through_the_reader() -> None:
    """A session written as pcap reads back frame for frame."""
    session = TcpSession()
    session.handshake()
    session.send(True, b"x" * 3000, segment_size=1460)
    out = io.BytesIO()
    session.write_pcap(out, nanosecond=True)
    out.seek(0)
    assert [(ts, data) for ts, _, data, _, _ in open_stream(out)] == session.frames
