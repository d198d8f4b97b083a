"""Link layers: Ethernet (II and 802.3 LLC/SNAP), Linux SLL/SLL2, raw IP, BSD null/loop."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether
from tests.unit.decode.frames import (
    ETH_IPV4_TCP,
    ETH_IPV4_UDP,
    ETH_IPV6_TCP,
    ETH_IPV6_UDP,
    IPV4_TCP,
    IPV6_TCP,
    tcp_result,
    udp_result,
)
from tests.unit.decode.frames import sll as sll_frame
from tests.unit.decode.frames import sll2 as sll2_frame
from wiresift.decode import PacketDecoder

ARP_REQUEST = bytes.fromhex("0001080006040001") + bytes(20)


def test_ethernet_ipv4_tcp() -> None:
    """Ethernet II / IPv4 / TCP gives ports, flags, seq, ack, payload and ("eth",)."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ETH_IPV4_TCP) == tcp_result(("eth",))
    assert decoder.counters == {"ipv4": 1, "tcp": 1}


def test_ethernet_ipv6_tcp() -> None:
    """Ethernet II / IPv6 / TCP gives 16-byte packed addresses."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ETH_IPV6_TCP) == tcp_result(("eth",), ipv6_addresses=True)
    assert decoder.counters == {"ipv6": 1, "tcp": 1}


@pytest.mark.parametrize(("frame", "ipv6_addresses"), [(ETH_IPV4_UDP, False), (ETH_IPV6_UDP, True)])
def test_ethernet_udp(frame: bytes, ipv6_addresses: bool) -> None:
    """UDP over IPv4 and IPv6 gives ports, zero flags/seq/ack and the datagram payload."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frame) == udp_result(("eth",), ipv6_addresses=ipv6_addresses)
    assert decoder.counters["udp"] == 1


def test_encap_tuple_is_shared() -> None:
    """Every plain Ethernet packet carries the same encap tuple object."""
    decoder = PacketDecoder()
    first = decoder.decode(1, ETH_IPV4_TCP)
    second = decoder.decode(1, ether(IPV4_TCP + b"\0" * 6))
    third = decoder.decode(1, ETH_IPV6_TCP[:-1])  # truncated: takes the table walk
    encaps = [result.encap for result in (first, second, third) if result is not None]
    assert len(encaps) == 3
    assert encaps[0] is encaps[1] is encaps[2]


def test_arp_is_non_ip() -> None:
    """ARP is counted as non_ip and yields None without an anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(ARP_REQUEST, 0x0806)) is None
    assert decoder.counters == {"non_ip": 1}
    assert decoder.anomalies == {}


def test_ieee8023_llc_snap_carries_ip() -> None:
    """An 802.3 length field followed by LLC/SNAP with OUI 0 carries an EtherType."""
    snap = bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack("!H", 0x0800)
    frame = ether(snap + IPV4_TCP, len(snap) + len(IPV4_TCP))
    decoder = PacketDecoder()
    assert decoder.decode(1, frame) == tcp_result(("eth",))


def test_ieee8023_llc_without_snap_is_non_ip() -> None:
    """802.3 with plain LLC (here spanning tree, DSAP 0x42) is non-IP."""
    llc = bytes([0x42, 0x42, 0x03]) + bytes(35)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(llc, len(llc))) is None
    assert decoder.counters == {"non_ip": 1}


def test_linux_sll() -> None:
    """LINKTYPE_LINUX_SLL: the protocol field is the EtherType; encap ("sll",)."""
    decoder = PacketDecoder()
    assert decoder.decode(113, sll_frame(0x0800, IPV4_TCP)) == tcp_result(("sll",))
    assert decoder.decode(113, sll_frame(0x86DD, IPV6_TCP)) == tcp_result(
        ("sll",), ipv6_addresses=True
    )


def test_linux_sll2() -> None:
    """LINKTYPE_LINUX_SLL2: the protocol field comes first; encap ("sll2",)."""
    decoder = PacketDecoder()
    assert decoder.decode(276, sll2_frame(0x0800, IPV4_TCP)) == tcp_result(("sll2",))
    assert decoder.decode(276, sll2_frame(0x86DD, IPV6_TCP)) == tcp_result(
        ("sll2",), ipv6_addresses=True
    )


@pytest.mark.parametrize("linktype", [113, 276])
def test_sll_netlink_is_non_ip(linktype: int) -> None:
    """Cooked netlink captures (ARPHRD 824) carry a netlink family, not an EtherType."""
    build = sll_frame if linktype == 113 else sll2_frame
    decoder = PacketDecoder()
    assert decoder.decode(linktype, build(0x0800, IPV4_TCP, hatype=824)) is None
    assert decoder.counters == {"non_ip": 1}


@pytest.mark.parametrize("linktype", [101, 12, 14, 228, 229])
def test_raw_ip_by_version_nibble(linktype: int) -> None:
    """Raw IP link types read the version nibble; encap ("raw",)."""
    decoder = PacketDecoder()
    assert decoder.decode(linktype, IPV4_TCP) == tcp_result(("raw",))
    assert decoder.decode(linktype, IPV6_TCP) == tcp_result(("raw",), ipv6_addresses=True)


def test_raw_ip_bad_version() -> None:
    """A raw packet that is neither IPv4 nor IPv6 is an anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(101, b"\x50" + IPV4_TCP[1:]) is None
    assert decoder.anomalies == {"raw_bad_version": 1}
    assert decoder.take_new_anomalies() == [("raw_bad_version", "version 5")]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("family", "is_ipv6"), [(2, False), (24, True), (28, True), (30, True)])
def test_null_either_byte_order(order: str, family: int, is_ipv6: bool) -> None:
    """LINKTYPE_NULL accepts the family in both byte orders; encap ("null",)."""
    packet = IPV6_TCP if is_ipv6 else IPV4_TCP
    decoder = PacketDecoder()
    result = decoder.decode(0, struct.pack(order + "I", family) + packet)
    assert result == tcp_result(("null",), ipv6_addresses=is_ipv6)


def test_loop_network_order() -> None:
    """LINKTYPE_LOOP carries the family in network byte order."""
    decoder = PacketDecoder()
    assert decoder.decode(108, struct.pack(">I", 2) + IPV4_TCP) == tcp_result(("null",))
    assert decoder.decode(108, struct.pack(">I", 24) + IPV6_TCP) == tcp_result(
        ("null",), ipv6_addresses=True
    )
    assert decoder.decode(108, struct.pack("<I", 2) + IPV4_TCP) is None
    assert decoder.counters["non_ip"] == 1


def test_null_unknown_family_is_non_ip() -> None:
    """A family that is neither AF_INET nor AF_INET6 (here 7) is non-IP."""
    decoder = PacketDecoder()
    assert decoder.decode(0, struct.pack("<I", 7) + IPV4_TCP) is None
    assert decoder.counters == {"non_ip": 1}


def test_unknown_linktype_counted_with_one_anomaly() -> None:
    """An unknown link type is counted per packet; its anomaly is recorded once."""
    decoder = PacketDecoder()
    for _ in range(3):
        assert decoder.decode(147, ETH_IPV4_TCP) is None
    assert decoder.decode(148, ETH_IPV4_TCP) is None
    assert decoder.counters == {"unknown_linktype:147": 3, "unknown_linktype:148": 1}
    assert decoder.anomalies == {"unknown_linktype": 2}
    assert decoder.take_new_anomalies() == [
        ("unknown_linktype", "147"),
        ("unknown_linktype", "148"),
    ]


@pytest.mark.parametrize(
    ("linktype", "frame", "anomaly"),
    [
        (1, ETH_IPV4_TCP[:13], "ethernet_truncated"),
        (113, sll_frame(0x0800, b"")[:15], "sll_truncated"),
        (276, sll2_frame(0x0800, b"")[:19], "sll2_truncated"),
        (0, b"\x02\x00\x00", "null_truncated"),
        (108, b"\x00\x00", "null_truncated"),
        (101, b"", "raw_truncated"),
    ],
)
def test_short_link_headers(linktype: int, frame: bytes, anomaly: str) -> None:
    """A link header cut short is the link layer's truncation anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(linktype, frame) is None
    assert decoder.anomalies == {anomaly: 1}
