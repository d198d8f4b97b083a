"""MPLS label stacks (RFC 3032) carrying IPv4, IPv6 and Ethernet pseudowires (RFC 4448)."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether
from tests.unit.decode.frames import ETH_IPV4_TCP, IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import DecodeLimits, PacketDecoder
from wiresift.decode.mpls import MPLS_MAX_LABELS

ETHERTYPE_MPLS = 0x8847


def labels(*values: int) -> bytes:
    """A label stack, the last entry marked bottom of stack (TC 0, TTL 64)."""
    entries = [
        struct.pack("!I", value << 12 | (0x100 if index == len(values) - 1 else 0) | 64)
        for index, value in enumerate(values)
    ]
    return b"".join(entries)


def test_one_label_ipv4() -> None:
    """One label over IPv4: the encap gets a single "mpls" item."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(100) + IPV4_TCP, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls"))


def test_stack_of_labels_is_one_item() -> None:
    """Three labels still give one "mpls" item: labels differ per direction."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(16, 17, 18) + IPV4_TCP, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls"))


def test_directions_with_different_labels_agree() -> None:
    """Frames with different labels give the same encap tuple."""
    decoder = PacketDecoder()
    one = decoder.decode(1, ether(labels(1000, 20) + IPV4_TCP, ETHERTYPE_MPLS))
    other = decoder.decode(1, ether(labels(3000) + IPV4_TCP, ETHERTYPE_MPLS))
    assert one is not None
    assert other is not None
    assert one.encap == other.encap == ("eth", "mpls")


def test_ipv6_by_first_nibble() -> None:
    """A first nibble of 6 after the stack is IPv6."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(200) + IPV6_TCP, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls"), ipv6_addresses=True)


def test_multicast_ethertype() -> None:
    """EtherType 0x8848 is a label stack too."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(300) + IPV4_TCP, 0x8848))
    assert result == tcp_result(("eth", "mpls"))


def test_vlan_then_mpls() -> None:
    """A VLAN tag, then MPLS: both items, outermost first."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(5) + IPV4_TCP, ETHERTYPE_MPLS, vlans=[42]))
    assert result == tcp_result(("eth", "vlan:42", "mpls"))


def test_ipv6_explicit_null_label() -> None:
    """Bottom label 2 (IPv6 explicit null) names IPv6 whatever the first nibble."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(2) + IPV6_TCP, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls"), ipv6_addresses=True)


def test_ipv4_explicit_null_with_bad_version_is_ipv4_anomaly() -> None:
    """Bottom label 0 names IPv4, so a non-IPv4 payload is an IPv4 anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(labels(0) + IPV6_TCP, ETHERTYPE_MPLS)) is None
    assert decoder.anomalies == {"ipv4_bad_version": 1}


def test_ethernet_pseudowire_with_control_word() -> None:
    """First nibble 0: a 4-byte control word, then an Ethernet frame (RFC 4385, 4448)."""
    decoder = PacketDecoder()
    frame = ether(labels(16, 500) + b"\x00\x00\x00\x07" + ETH_IPV4_TCP, ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) == tcp_result(("eth", "mpls", "eth"))


def test_ethernet_pseudowire_without_control_word() -> None:
    """A MAC address not starting with 0, 1, 4 or 6: Ethernet right after the stack."""
    inner = ether(IPV4_TCP, dst=b"\xa2\x00\x00\x00\x00\x01")
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(500) + inner, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls", "eth"))


def test_pseudowire_counts_as_tunnel() -> None:
    """The pseudowire counts toward max_tunnel_depth."""
    decoder = PacketDecoder(limits=DecodeLimits(max_tunnel_depth=0))
    frame = ether(labels(500) + b"\x00" * 4 + ETH_IPV4_TCP, ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) is None
    assert decoder.anomalies == {"tunnel_too_deep": 1}


def test_implausible_ethernet_is_non_ip() -> None:
    """A payload whose type/length field is neither an EtherType nor a length: non-IP."""
    payload = b"\xa0" + bytes(11) + b"\x05\xff" + bytes(30)
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(labels(500) + payload, ETHERTYPE_MPLS)) is None
    assert decoder.counters == {"non_ip": 1}
    assert decoder.anomalies == {}


def test_associated_channel_is_non_ip() -> None:
    """First nibble 1 is an associated channel header (RFC 5586): non-IP."""
    decoder = PacketDecoder()
    frame = ether(labels(13) + b"\x10\x00\x00\x21" + bytes(40), ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) is None
    assert decoder.counters == {"non_ip": 1}


def test_ipv4_nibble_with_short_ihl_is_ethernet() -> None:
    """Nibble 4 with IHL below 5 is no IPv4 header: read as an Ethernet pseudowire."""
    inner = ether(IPV4_TCP, dst=b"\x42\x00\x00\x00\x00\x01")
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(labels(77) + inner, ETHERTYPE_MPLS))
    assert result == tcp_result(("eth", "mpls", "eth"))


def test_stack_at_the_limit() -> None:
    """MPLS_MAX_LABELS labels decode."""
    decoder = PacketDecoder()
    frame = ether(labels(*range(16, 16 + MPLS_MAX_LABELS)) + IPV4_TCP, ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) == tcp_result(("eth", "mpls"))


def test_stack_past_the_limit() -> None:
    """One label more than MPLS_MAX_LABELS: mpls_too_many_labels."""
    decoder = PacketDecoder()
    frame = ether(labels(*range(16, 17 + MPLS_MAX_LABELS)) + IPV4_TCP, ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) is None
    assert decoder.anomalies == {"mpls_too_many_labels": 1}


def test_stack_without_bottom() -> None:
    """Entries without the S bit up to the end of the frame: mpls_truncated."""
    decoder = PacketDecoder()
    frame = ether(struct.pack("!II", 100 << 12, 200 << 12), ETHERTYPE_MPLS)
    assert decoder.decode(1, frame) is None
    assert decoder.anomalies == {"mpls_truncated": 1}


def test_nothing_after_the_stack() -> None:
    """A bottom entry and nothing after it: mpls_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(labels(100), ETHERTYPE_MPLS)) is None
    assert decoder.anomalies == {"mpls_truncated": 1}


@pytest.mark.parametrize(
    "frame",
    [
        ether(labels(16, 17) + IPV4_TCP, ETHERTYPE_MPLS),
        ether(labels(16) + b"\x00" * 4 + ETH_IPV4_TCP, ETHERTYPE_MPLS),
        ether(labels(2) + IPV6_TCP, ETHERTYPE_MPLS, vlans=[9]),
    ],
    ids=["ipv4", "pseudowire", "ipv6-null"],
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
