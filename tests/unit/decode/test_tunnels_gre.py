"""GRE versions 0 and 1 and ERSPAN: hand-built frames for each flag combination."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether, ipv4, ipv6
from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import DISPATCH, DecodeLimits, Layer, PacketDecoder, Walk
from wiresift.decode.packet import Decoded

OUTER_A = "192.0.2.9"
OUTER_B = "192.0.2.1"
TUNNEL = "gre:192.0.2.1-192.0.2.9"
ETH_HEADER = bytes(range(12)) + b"\x08\x00"


def gre(
    protocol: int,
    *,
    checksum: bool = False,
    key: int | None = None,
    sequence: int | None = None,
    routing: bytes | None = None,
    version: int = 0,
) -> bytes:
    """A GRE header (RFC 2784, RFC 2890; ``routing`` holds RFC 1701 source route entries)."""
    flags = version
    tail = b""
    if checksum or routing is not None:
        flags |= 0x8000 if checksum else 0
        flags |= 0x4000 if routing is not None else 0
        tail += b"\0\0\0\0"
    if key is not None:
        flags |= 0x2000
        tail += struct.pack("!I", key)
    if sequence is not None:
        flags |= 0x1000
        tail += struct.pack("!I", sequence)
    return struct.pack("!HH", flags, protocol) + tail + (routing or b"")


def pptp(
    payload: bytes, *, sequence: int | None = None, ack: int | None = None, length: int = -1
) -> bytes:
    """An enhanced GRE header (RFC 2637 s4.1), call id 7, then ``payload``."""
    flags = 0x2001 | (0x1000 if sequence is not None else 0) | (0x0080 if ack is not None else 0)
    header = struct.pack("!HHHH", flags, 0x880B, len(payload) if length < 0 else length, 7)
    if sequence is not None:
        header += struct.pack("!I", sequence)
    if ack is not None:
        header += struct.pack("!I", ack)
    return header + payload


def over_ipv4(gre_packet: bytes, *, reverse: bool = False) -> bytes:
    """Ethernet/IPv4 (protocol 47) carrying a GRE packet."""
    src, dst = (OUTER_B, OUTER_A) if reverse else (OUTER_A, OUTER_B)
    return ether(ipv4(src, dst, 47, gre_packet))


def decode(frame: bytes, decoder: PacketDecoder | None = None) -> Decoded | None:
    """Decode with the fast path and check that the table walk agrees."""
    decoder = decoder or PacketDecoder()
    result = decoder.decode(1, frame)
    assert PacketDecoder()._decode_walk(1, frame) == result
    return result


@pytest.mark.parametrize(
    ("header", "items"),
    [
        (gre(0x0800), ()),
        (gre(0x0800, checksum=True), ()),
        (gre(0x0800, key=5), ("gre:key=5",)),
        (gre(0x0800, sequence=9), ()),
        (gre(0x0800, checksum=True, key=0, sequence=9), ("gre:key=0",)),
        (gre(0x0800, key=0xFFFFFFFF, sequence=1), ("gre:key=4294967295",)),
        (gre(0x0800, routing=b"\0\x01\0\x04" + bytes(4) + b"\0\0\0\0"), ()),
        (gre(0x0800, key=5, routing=b"\0\0\0\0"), ("gre:key=5",)),
    ],
)
def test_version_0_flags(header: bytes, items: tuple[str, ...]) -> None:
    """Checksum, key, sequence and routing fields are skipped; a key adds its item."""
    assert decode(over_ipv4(header + IPV4_TCP)) == tcp_result(("eth", TUNNEL, *items))


def test_ipv6_inside_and_ipv6_outside() -> None:
    """Protocol type 0x86DD carries IPv6; outer IPv6 endpoints are written compressed."""
    frame = ether(ipv6("2001:db8::2", "2001:db8::1", 47, gre(0x86DD) + IPV6_TCP), 0x86DD)
    expected = tcp_result(("eth", "gre:2001:db8::1-2001:db8::2"), ipv6_addresses=True)
    assert decode(frame) == expected


def test_encap_is_the_same_both_ways() -> None:
    """Both directions give one interned encap tuple."""
    decoder = PacketDecoder()
    forward = decode(over_ipv4(gre(0x0800, key=5) + IPV4_TCP), decoder)
    backward = decode(over_ipv4(gre(0x0800, key=5) + IPV4_TCP, reverse=True), decoder)
    assert forward is not None
    assert backward is not None
    assert forward.encap == ("eth", TUNNEL, "gre:key=5")
    assert backward.encap is forward.encap


def test_transparent_ethernet_bridging() -> None:
    """0x6558 carries an Ethernet frame, which may have its own VLAN tags."""
    inner = ether(IPV4_TCP, vlans=[7])
    assert decode(over_ipv4(gre(0x6558) + inner)) == tcp_result(("eth", TUNNEL, "eth", "vlan:7"))


def test_other_ethertype_goes_to_the_table() -> None:
    """An EtherType with no entry (here ARP) is non-IP after the tunnel."""
    decoder = PacketDecoder()
    assert decode(over_ipv4(gre(0x0806) + bytes(28)), decoder) is None
    assert decoder.counters == {"ipv4": 1, "non_ip": 1}


def test_protocol_type_uses_the_ethertype_table() -> None:
    """GRE looks its protocol type up in the ETHERTYPE table, so new entries apply."""

    def decode_marker(walk: Walk, data: bytes, offset: int) -> int:
        """Stand-in for a decoder registered by EtherType: mark, then IPv4."""
        walk.push("marker")
        walk.ns = Layer.ETHERTYPE
        walk.key = 0x0800
        return offset

    decoder = PacketDecoder(dispatch={**DISPATCH, (Layer.ETHERTYPE, 0x88B5): decode_marker})
    result = decoder.decode(1, over_ipv4(gre(0x88B5) + IPV4_TCP))
    assert result == tcp_result(("eth", TUNNEL, "marker"))


def test_padding_after_the_outer_datagram_is_cut() -> None:
    """Link padding after the outer IPv4 datagram is not read as inner Ethernet bytes."""
    inner = ether(IPV4_TCP)
    frame = over_ipv4(gre(0x6558) + inner) + b"PADDING"
    assert decode(frame) == tcp_result(("eth", TUNNEL, "eth"))


@pytest.mark.parametrize(
    ("gre_packet", "anomaly"),
    [
        (gre(0x0800)[:3], "gre_truncated"),
        (gre(0x0800, key=5)[:6], "gre_truncated"),
        (gre(0x0800, checksum=True, sequence=1)[:10], "gre_truncated"),
        (struct.pack("!HH", 0x0002, 0x0800) + IPV4_TCP, "gre_bad_version"),
        (gre(0x0800, routing=b"\0\x01\0\x08\0\0"), "gre_routing_truncated"),
        (gre(0x0800, routing=b"\0\x01\0\x00" * 17), "gre_too_many_sres"),
        (gre(0x0800, routing=b"\0\x01\0"), "gre_routing_truncated"),
        (struct.pack("!HHHH", 0x0001, 0x880B, 0, 0), "gre_bad_pptp_header"),
        (struct.pack("!HHHH", 0x2001, 0x0800, 0, 0), "gre_bad_pptp_header"),
        (struct.pack("!HHHH", 0xA001, 0x880B, 0, 0), "gre_bad_pptp_header"),
        (pptp(b"\xff\x03\x00\x21", sequence=1)[:10], "gre_truncated"),
    ],
)
def test_malformed_gre(gre_packet: bytes, anomaly: str) -> None:
    """Malformed GRE headers are named anomalies and give None."""
    decoder = PacketDecoder()
    assert decode(over_ipv4(gre_packet), decoder) is None
    assert decoder.anomalies == {anomaly: 1}


@pytest.mark.parametrize(
    "header_args",
    [{}, {"sequence": 3}, {"ack": 4}, {"sequence": 3, "ack": 4}],
)
def test_pptp_goes_to_ppp(header_args: dict[str, int]) -> None:
    """Version 1 goes to the PPP entry (0x880B), whatever optional numbers it has."""
    seen: list[bytes] = []

    def decode_ppp_stub(walk: Walk, data: bytes, offset: int) -> int:
        """Stand-in PPP decoder: records what it was handed."""
        seen.append(data[offset:])
        return walk.count("ppp_seen")

    decoder = PacketDecoder(dispatch={**DISPATCH, (Layer.ETHERTYPE, 0x880B): decode_ppp_stub})
    frame = over_ipv4(pptp(b"\xff\x03\x00\x21" + IPV4_TCP, **header_args) + b"TRAILER")
    assert decoder.decode(1, frame) is None
    assert seen == [b"\xff\x03\x00\x21" + IPV4_TCP]
    assert decoder.counters == {"ipv4": 1, "ppp_seen": 1}


def test_pptp_ack_without_payload_is_counted() -> None:
    """An acknowledgment-only enhanced GRE packet carries nothing: counted as gre_ack."""
    decoder = PacketDecoder()
    assert decode(over_ipv4(pptp(b"", ack=5)), decoder) is None
    assert decoder.counters == {"ipv4": 1, "gre_ack": 1}
    assert decoder.anomalies == {}


def test_pptp_payload_length_past_the_datagram() -> None:
    """A payload length past the datagram is an anomaly; what is there goes on."""
    decoder = PacketDecoder(dispatch={**DISPATCH, (Layer.ETHERTYPE, 0x880B): _count_ppp})
    assert decoder.decode(1, over_ipv4(pptp(b"\xff\x03", length=100))) is None
    assert decoder.anomalies == {"gre_bad_payload_length": 1}
    assert decoder.counters == {"ipv4": 1, "ppp_seen": 1}


def _count_ppp(walk: Walk, data: bytes, offset: int) -> int:
    """Stand-in PPP decoder that counts."""
    return walk.count("ppp_seen")


def erspan_ii(session: int, version: int = 1) -> bytes:
    """ERSPAN type II header (draft-foschiano-erspan s4.1), VLAN 0, index 0."""
    return struct.pack("!HHI", version << 12, session, 0)


def erspan_iii(session: int, *, frame_type: int = 0, platform: bool = False) -> bytes:
    """ERSPAN type III header (draft-foschiano-erspan s4.2), with the optional subheader."""
    word2 = (frame_type << 10) | (1 if platform else 0)
    header = struct.pack("!HHII", 2 << 12, session, 0x12345678, word2)
    return header + (bytes(8) if platform else b"")


@pytest.mark.parametrize(
    ("gre_packet", "items"),
    [
        (gre(0x88BE, sequence=1) + erspan_ii(3) + ether(IPV4_TCP), ("erspan:session=3", "eth")),
        (gre(0x88BE) + ether(IPV4_TCP), ("erspan", "eth")),
        (gre(0x22EB) + erspan_iii(1023) + ether(IPV4_TCP), ("erspan:session=1023", "eth")),
        (
            gre(0x22EB) + erspan_iii(9, platform=True) + ether(IPV4_TCP),
            ("erspan:session=9", "eth"),
        ),
        (gre(0x22EB) + erspan_iii(9, frame_type=2) + IPV4_TCP, ("erspan:session=9",)),
    ],
)
def test_erspan(gre_packet: bytes, items: tuple[str, ...]) -> None:
    """ERSPAN I, II and III lead to the mirrored frame, with the session as an item."""
    assert decode(over_ipv4(gre_packet)) == tcp_result(("eth", TUNNEL, *items))


@pytest.mark.parametrize(
    ("gre_packet", "anomaly"),
    [
        (gre(0x88BE, sequence=1) + erspan_ii(3)[:7], "erspan_truncated"),
        (gre(0x88BE, sequence=1) + erspan_ii(3, version=2) + ETH_HEADER, "erspan_bad_version"),
        (gre(0x22EB) + erspan_iii(1)[:11], "erspan_truncated"),
        (gre(0x22EB) + erspan_ii(3) + bytes(4) + ETH_HEADER, "erspan_bad_version"),
        (gre(0x22EB) + erspan_iii(1, platform=True)[:16], "erspan_truncated"),
        (gre(0x22EB) + erspan_iii(1, frame_type=3) + IPV4_TCP, "erspan_bad_frame_type"),
        (gre(0x22EB) + erspan_iii(1, frame_type=2), "erspan_truncated"),
        (gre(0x22EB) + erspan_iii(1, frame_type=2) + b"\x50", "erspan_bad_inner_version"),
    ],
)
def test_malformed_erspan(gre_packet: bytes, anomaly: str) -> None:
    """Malformed ERSPAN headers are named anomalies and give None."""
    decoder = PacketDecoder()
    assert decode(over_ipv4(gre_packet), decoder) is None
    assert decoder.anomalies == {anomaly: 1}


def test_gre_within_gre() -> None:
    """Two GRE layers give two tunnel items, outermost first."""
    inner = ipv4("10.0.0.9", "10.0.0.8", 47, gre(0x0800) + IPV4_TCP)
    result = decode(over_ipv4(gre(0x0800) + inner))
    assert result == tcp_result(("eth", TUNNEL, "gre:10.0.0.8-10.0.0.9"))


def test_gre_loop_stops_at_the_depth_limit() -> None:
    """GRE nested past max_tunnel_depth is tunnel_too_deep, whatever the tunnel kinds."""
    packet = IPV4_TCP
    for _ in range(3):
        packet = ipv4(OUTER_A, OUTER_B, 47, gre(0x0800) + packet)
    decoder = PacketDecoder()
    assert decode(ether(packet), decoder) is None
    assert decoder.anomalies == {"tunnel_too_deep": 1}
    deeper = PacketDecoder(limits=DecodeLimits(max_tunnel_depth=3))
    assert deeper.decode(1, ether(packet)) == tcp_result(("eth", TUNNEL, TUNNEL, TUNNEL))


ALL_FRAMES = [
    over_ipv4(gre(0x0800, checksum=True, key=5, sequence=1) + IPV4_TCP),
    over_ipv4(gre(0x0800, routing=b"\0\x01\0\x04" + bytes(4) + b"\0\0\0\0") + IPV4_TCP),
    over_ipv4(gre(0x6558) + ether(IPV4_TCP, vlans=[7])),
    over_ipv4(pptp(b"\xff\x03\x00\x21" + IPV4_TCP, sequence=1, ack=2)),
    over_ipv4(gre(0x88BE, sequence=1) + erspan_ii(3) + ether(IPV4_TCP)),
    over_ipv4(gre(0x22EB) + erspan_iii(9, platform=True) + ether(IPV4_TCP)),
    over_ipv4(gre(0x22EB) + erspan_iii(9, frame_type=2) + IPV4_TCP),
]


@pytest.mark.parametrize("frame", ALL_FRAMES)
def test_truncation_at_every_length_never_raises(frame: bytes) -> None:
    """Every prefix decodes to None or a truncated Decoded; fast path and walk agree."""
    decoder = PacketDecoder()
    for size in range(len(frame)):
        result = decode(frame[:size], decoder)
        assert result is None or result.truncated
    whole = decode(frame, decoder)
    assert whole is not None
    assert whole.truncated is False


@pytest.mark.parametrize(
    "gre_packet",
    [
        gre(0x6558) + ether(IPV4_TCP),
        gre(0x6558, key=9) + ether(IPV6_TCP, 0x86DD),
        gre(0x0800) + IPV4_TCP,
        gre(0x0800, key=3) + IPV4_TCP,
    ],
)
def test_gre_fast_path_gives_what_the_walk_gives(gre_packet: bytes) -> None:
    """After a tunnel's first packet, plain GRE is read by the fast path: same Decoded and
    same counters as the walk, both directions."""
    fast = PacketDecoder()
    walked = PacketDecoder()
    for reverse in (False, True, False, True):
        frame = over_ipv4(gre_packet, reverse=reverse)
        result = fast.decode(1, frame)
        assert result is not None
        assert result == walked._decode_walk(1, frame)
    assert fast._fast_gre_packets == 2  # the first packet each way taught the fast path
    assert fast.counters == walked.counters


@pytest.mark.parametrize(
    "gre_packet",
    [
        gre(0x0800, sequence=1) + IPV4_TCP,  # sequence numbers: walk
        gre(0x0800, checksum=True) + IPV4_TCP,  # checksum: walk
        gre(0x6558) + ether(IPV4_TCP, vlans=[7]),  # inner VLAN: walk
        gre(0x0800) + IPV4_TCP[:30],  # inner header cut short: walk (its anomaly)
    ],
)
def test_unusual_gre_always_takes_the_walk(gre_packet: bytes) -> None:
    """Any GRE the fast path does not know stays on the walk, with the walk's result."""
    fast = PacketDecoder()
    for _ in range(3):
        frame = over_ipv4(gre_packet)
        assert fast.decode(1, frame) == PacketDecoder()._decode_walk(1, frame)
    assert fast._fast_gre_packets == 0
