"""LINKTYPE_NFLOG (239): netfilter log header, TLVs, NFULA_PAYLOAD carrying IP."""

from __future__ import annotations

import struct

import pytest

from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import PacketDecoder
from wiresift.decode.nflog import NFLOG_MAX_TLVS

LINKTYPE_NFLOG = 239
AF_INET = 2
AF_INET6 = 10
NFULA_PACKET_HDR = 1
NFULA_PREFIX = 10
NFULA_PAYLOAD = 9


def tlv(tlv_type: int, value: bytes, *, big_endian: bool = False) -> bytes:
    """One TLV: length (header included), type, value padded to 4 bytes."""
    header = struct.pack(">HH" if big_endian else "<HH", 4 + len(value), tlv_type)
    return header + value + bytes(-len(value) % 4)


def nflog(family: int, *tlvs: bytes) -> bytes:
    """NFLOG header (version 0, resource id 0x0102 big-endian) + TLVs."""
    return struct.pack("!BBH", family, 0, 0x0102) + b"".join(tlvs)


def test_ipv4_payload() -> None:
    """AF_INET with a payload TLV after other TLVs: IPv4, encap "nflog"."""
    frame = nflog(
        AF_INET,
        tlv(NFULA_PACKET_HDR, b"\x08\x00\x01\x00"),
        tlv(NFULA_PREFIX, b"drop\x00"),
        tlv(NFULA_PAYLOAD, IPV4_TCP),
    )
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_NFLOG, frame) == tcp_result(("nflog",))


def test_ipv6_payload() -> None:
    """AF_INET6: the payload is IPv6."""
    decoder = PacketDecoder()
    frame = nflog(AF_INET6, tlv(NFULA_PAYLOAD, IPV6_TCP))
    assert decoder.decode(LINKTYPE_NFLOG, frame) == tcp_result(("nflog",), ipv6_addresses=True)


def test_big_endian_tlvs() -> None:
    """TLVs written by a big-endian host are recognised by their lengths."""
    frame = nflog(
        AF_INET,
        tlv(NFULA_PREFIX, b"abc\x00", big_endian=True),
        tlv(NFULA_PAYLOAD, IPV4_TCP, big_endian=True),
    )
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_NFLOG, frame) == tcp_result(("nflog",))


def test_tlvs_after_payload_are_cut() -> None:
    """A TLV after the payload is not read as part of the datagram."""
    frame = nflog(AF_INET, tlv(NFULA_PAYLOAD, IPV4_TCP), tlv(NFULA_PREFIX, b"zzzz"))
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_NFLOG, frame) == tcp_result(("nflog",))


def test_other_family_is_non_ip() -> None:
    """A family other than AF_INET/AF_INET6 (bridge, 7) is counted as non-IP."""
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_NFLOG, nflog(7, tlv(NFULA_PAYLOAD, IPV4_TCP))) is None
    assert decoder.counters == {"non_ip": 1}


def test_no_payload_tlv_is_non_ip() -> None:
    """A log message without a payload TLV has nothing for the flow table."""
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_NFLOG, nflog(AF_INET, tlv(NFULA_PREFIX, b"x"))) is None
    assert decoder.counters == {"non_ip": 1}
    assert decoder.anomalies == {}


def test_tlv_length_below_header() -> None:
    """A TLV length below 4 is nflog_bad_tlv_length."""
    decoder = PacketDecoder()
    frame = nflog(AF_INET, struct.pack("<HH", 2, NFULA_PREFIX) + tlv(NFULA_PAYLOAD, IPV4_TCP))
    assert decoder.decode(LINKTYPE_NFLOG, frame) is None
    assert decoder.anomalies == {"nflog_bad_tlv_length": 1}


def test_tlv_past_the_packet() -> None:
    """A non-payload TLV longer than the packet is nflog_truncated."""
    decoder = PacketDecoder()
    frame = nflog(AF_INET, struct.pack("<HH", 400, NFULA_PREFIX) + bytes(8))
    assert decoder.decode(LINKTYPE_NFLOG, frame) is None
    assert decoder.anomalies == {"nflog_truncated": 1}


def test_too_many_tlvs() -> None:
    """More than NFLOG_MAX_TLVS TLVs before the payload: nflog_too_many_tlvs."""
    filler = tlv(NFULA_PREFIX, b"ab\x00\x00") * NFLOG_MAX_TLVS
    decoder = PacketDecoder()
    frame = nflog(AF_INET, filler, tlv(NFULA_PAYLOAD, IPV4_TCP))
    assert decoder.decode(LINKTYPE_NFLOG, frame) is None
    assert decoder.anomalies == {"nflog_too_many_tlvs": 1}


def test_payload_past_capture_is_snaplen() -> None:
    """A payload TLV cut by the snaplen gives a truncated Decoded, no anomaly."""
    decoder = PacketDecoder()
    frame = nflog(AF_INET, tlv(NFULA_PAYLOAD, IPV4_TCP))
    assert len(frame) == 4 + 4 + len(IPV4_TCP) + 3  # the value is padded by 3 bytes
    result = decoder.decode(LINKTYPE_NFLOG, frame[:-5])
    assert result == tcp_result(
        ("nflog",), payload=b"GET / HTTP/1.1\r\nHost: example\r\n", truncated=True
    )
    assert decoder.anomalies == {}


@pytest.mark.parametrize("family", [AF_INET, AF_INET6])
def test_every_truncation_is_handled(family: int) -> None:
    """Each prefix is one anomaly, non-IP (the cut removed the payload TLV), or truncated."""
    payload = IPV4_TCP if family == AF_INET else IPV6_TCP
    frame = nflog(family, tlv(NFULA_PREFIX, b"log\x00"), tlv(NFULA_PAYLOAD, payload))
    unpadded_end = 4 + 8 + 4 + len(payload)  # cuts in the last TLV's padding lose nothing
    for length in range(unpadded_end):
        decoder = PacketDecoder()
        result = decoder.decode(LINKTYPE_NFLOG, frame[:length])
        if result is None:
            assert sum(decoder.anomalies.values()) + decoder.counters["non_ip"] == 1
        else:
            assert result.truncated
