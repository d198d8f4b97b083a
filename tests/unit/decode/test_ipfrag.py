"""IP fragment reassembly (RFC 791 s3.2, RFC 815, RFC 8200 s4.5, RFC 5722, RFC 6946)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from tests.pcapgen import ether, ipv4, ipv6, ipv6_ext, ipv6_fragment, tcp, udp
from tests.unit.decode.frames import (
    ACK,
    DNS_QUERY,
    DPORT,
    DST4,
    DST6,
    SEQ,
    SPORT,
    SRC4,
    SRC6,
    packed,
    tcp_result,
    udp_result,
)
from wiresift.decode import Decoded, DecodeLimits, PacketDecoder
from wiresift.decode.ipfrag import FRAGMENT_OVERHEAD

TCP = 6
UDP = 17
IPIP = 4
FRAGMENT = 44
DEST_OPTS = 60
SECOND = 1_000_000_000

BODY = bytes(range(256)) * 4  # 1024 bytes of HTTP-ish payload
SEGMENT = tcp(SPORT, DPORT, SEQ, ACK, "PA", BODY)  # 1044 bytes
TCP_RESULT4 = tcp_result(("eth",), payload=BODY)
TCP_RESULT6 = tcp_result(("eth",), ipv6_addresses=True, payload=BODY)

# (offset, bytes) pieces of SEGMENT: 0-400, 400-800, 800-1044.
PIECES = [(0, SEGMENT[:400]), (400, SEGMENT[400:800]), (800, SEGMENT[800:])]


def frag4(
    offset: int,
    chunk: bytes,
    more: bool,
    *,
    ident: int = 7,
    proto: int = TCP,
    vlans: Sequence[int] = (),
) -> bytes:
    """Ethernet / IPv4 fragment of datagram ``ident``."""
    packet = ipv4(SRC4, DST4, proto, chunk, ident=ident, flags=int(more), frag_offset=offset)
    return ether(packet, vlans=vlans)


def frag6(
    offset: int, chunk: bytes, more: bool, *, ident: int = 7, next_header: int = TCP
) -> bytes:
    """Ethernet / IPv6 fragment of datagram ``ident``."""
    header = ipv6_fragment(next_header, offset, more, ident)
    return ether(ipv6(SRC6, DST6, FRAGMENT, chunk, ext_headers=header), 0x86DD)


def frames4(
    pieces: Sequence[tuple[int, bytes]],
    *,
    end: int | None = None,
    ident: int = 7,
    proto: int = TCP,
    vlans: Sequence[int] = (),
) -> list[bytes]:
    """One IPv4 fragment per piece; the one ending at ``end`` (default: the last) has MF 0."""
    last = end if end is not None else max(offset + len(chunk) for offset, chunk in pieces)
    return [
        frag4(o, c, o + len(c) != last, ident=ident, proto=proto, vlans=vlans) for o, c in pieces
    ]


def frames6(
    pieces: Sequence[tuple[int, bytes]], *, ident: int = 7, next_header: int = TCP
) -> list[bytes]:
    """One IPv6 fragment per piece; the one reaching the end has M clear."""
    last = max(offset + len(chunk) for offset, chunk in pieces)
    return [
        frag6(o, c, o + len(c) != last, ident=ident, next_header=next_header) for o, c in pieces
    ]


def feed(decoder: PacketDecoder, frames: Sequence[bytes], ts: int = 0) -> list[Decoded | None]:
    """Decode frames in order, all at packet time ``ts``."""
    return [decoder.decode(1, frame, ts) for frame in frames]


def test_ipv4_in_order_gives_tcp_segment() -> None:
    """Three in-order IPv4 fragments: the last returns the whole TCP segment."""
    decoder = PacketDecoder()
    assert feed(decoder, frames4(PIECES)) == [None, None, TCP_RESULT4]
    assert decoder.counters == {"ipv4": 3, "fragment": 3, "tcp": 1, "ipfrag_reassembled": 1}
    assert decoder.anomalies == {}
    assert decoder.reassembler.held_bytes == 0
    assert decoder.reassembler.in_progress == 0


def test_ipv4_reverse_order() -> None:
    """Fragments in reverse order reassemble on the first fragment."""
    decoder = PacketDecoder()
    assert feed(decoder, frames4(PIECES)[::-1]) == [None, None, TCP_RESULT4]
    assert decoder.anomalies == {}


@pytest.mark.parametrize("version", [4, 6])
def test_every_permutation(version: int) -> None:
    """All 24 orders of four fragments give the same segment on the fourth packet."""
    pieces = [(0, SEGMENT[:264]), (264, SEGMENT[264:528]), (528, SEGMENT[528:800])]
    pieces.append((800, SEGMENT[800:]))
    frames = frames4(pieces) if version == 4 else frames6(pieces)
    expected = TCP_RESULT4 if version == 4 else TCP_RESULT6
    for order in itertools.permutations(frames):
        decoder = PacketDecoder()
        assert feed(decoder, order) == [None, None, None, expected]
        assert decoder.anomalies == {}


def test_ipv4_exact_duplicates_dropped_silently() -> None:
    """Every fragment twice: one reassembly, no anomaly, nothing left held."""
    decoder = PacketDecoder()
    first, second, third = frames4(PIECES)
    results = feed(decoder, [first, first, second, second, third])
    assert results == [None, None, None, None, TCP_RESULT4]
    assert decoder.anomalies == {}
    assert decoder.reassembler.held_bytes == 0


def test_ipv4_overlap_with_equal_bytes() -> None:
    """Overlapping fragments that agree on the shared bytes reassemble without anomaly."""
    decoder = PacketDecoder()
    pieces = [(0, SEGMENT[:480]), (400, SEGMENT[400:880]), (800, SEGMENT[800:])]
    assert feed(decoder, frames4(pieces)) == [None, None, TCP_RESULT4]
    assert decoder.anomalies == {}


@pytest.mark.parametrize("forged_first", [False, True])
def test_ipv4_overlap_with_different_bytes_first_wins(forged_first: bool) -> None:
    """Differing overlap: the bytes that arrived first are kept, and an anomaly says so."""
    forged = b"X" * 200
    honest = frag4(400, SEGMENT[400:800], True)
    attack = frag4(400, forged, True)
    middle = [attack, honest] if forged_first else [honest, attack]
    first, _, last = frames4(PIECES)
    decoder = PacketDecoder()
    result = feed(decoder, [first, *middle, last])[-1]
    assert result is not None
    expected = BODY[380:580] if not forged_first else b"X" * 200
    assert result.payload[380:580] == expected
    assert decoder.anomalies == {"ipfrag_overlap_conflict": 1}


def test_ipv4_fragment_filling_several_holes() -> None:
    """A fragment spanning held pieces fills only the holes between them."""
    decoder = PacketDecoder()
    a = frag4(0, SEGMENT[:200], True)
    b = frag4(400, SEGMENT[400:600], True)
    c = frag4(800, SEGMENT[800:], False)
    whole = frag4(0, SEGMENT[:1040], True)
    assert feed(decoder, [a, b, c, whole]) == [None, None, None, TCP_RESULT4]
    assert decoder.anomalies == {}


def test_ipv6_in_order_and_reverse() -> None:
    """IPv6 fragments reassemble in either order."""
    for frames in (frames6(PIECES), frames6(PIECES)[::-1]):
        decoder = PacketDecoder()
        assert feed(decoder, frames) == [None, None, TCP_RESULT6]
        assert decoder.counters == {
            "ipv6": 3,
            "fragment": 3,
            "tcp": 1,
            "ipfrag_reassembled": 1,
        }
        assert decoder.anomalies == {}


def test_ipv6_exact_duplicate_dropped_silently() -> None:
    """An exact IPv6 duplicate is not an overlap (RFC 8200 s4.5)."""
    first, second, third = frames6(PIECES)
    decoder = PacketDecoder()
    assert feed(decoder, [first, second, second, third]) == [None, None, None, TCP_RESULT6]
    assert decoder.anomalies == {}


def test_ipv6_overlap_drops_the_datagram() -> None:
    """RFC 5722: an overlap, even with equal bytes, drops the datagram and its later
    fragments."""
    first, second, third = frames6(PIECES)
    overlapping = frag6(392, SEGMENT[392:800], True)
    decoder = PacketDecoder()
    assert feed(decoder, [first, second, overlapping, third]) == [None] * 4
    assert decoder.anomalies == {"ipfrag_ipv6_overlap": 1}
    assert decoder.counters["ipfrag_dropped"] == 1
    assert decoder.reassembler.held_bytes == 0
    # The datagram stays dead until its timeout: a full resend is still discarded.
    assert feed(decoder, frames6(PIECES)) == [None] * 3
    assert decoder.counters["ipfrag_reassembled"] == 0


def test_ipv6_next_header_from_first_fragment() -> None:
    """Later fragments' next header is ignored: the offset-0 fragment names it (RFC 8200)."""
    first, second, _ = frames6(PIECES)
    last = frag6(800, SEGMENT[800:], False, next_header=UDP)
    decoder = PacketDecoder()
    assert feed(decoder, [last, second, first]) == [None, None, TCP_RESULT6]


def test_ipv6_destination_options_in_fragmentable_part() -> None:
    """Extension headers after the fragment header are walked after reassembly."""
    body = ipv6_ext(TCP, b"\x01\x02\x00\x00") + SEGMENT  # destination options, then TCP
    pieces = [(0, body[:400]), (400, body[400:])]
    decoder = PacketDecoder()
    assert feed(decoder, frames6(pieces, next_header=DEST_OPTS)) == [None, TCP_RESULT6]
    assert decoder.anomalies == {}


def test_ipv6_nested_fragment_header_is_refused() -> None:
    """A fragment header inside a reassembled fragmentable part is an anomaly."""
    inner = ipv6_fragment(TCP, 8, True, 99) + SEGMENT[:96]
    body = ipv6_ext(FRAGMENT) + inner  # destination options, then a second fragment header
    pieces = [(0, body[:64]), (64, body[64:])]
    decoder = PacketDecoder()
    assert feed(decoder, frames6(pieces, next_header=DEST_OPTS)) == [None, None]
    assert decoder.anomalies == {"ipfrag_nested_fragment": 1}


def test_ipv6_atomic_fragment_is_not_buffered() -> None:
    """Offset 0 and M clear (RFC 6946): decoded at once, nothing held."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frag6(0, SEGMENT, False)) == TCP_RESULT6
    assert decoder.reassembler.in_progress == 0
    assert decoder.counters == {"ipv6": 1, "tcp": 1}


def test_ipv4_tiny_first_fragment() -> None:
    """A first fragment without the whole TCP header is an anomaly; reassembly goes on."""
    pieces = [(0, SEGMENT[:16]), (16, SEGMENT[16:400]), (400, SEGMENT[400:])]
    decoder = PacketDecoder()
    assert feed(decoder, frames4(pieces)) == [None, None, TCP_RESULT4]
    assert decoder.anomalies == {"ipfrag_tiny_first": 1}


def test_ipv4_tcp_offset_one_is_dropped() -> None:
    """RFC 1858 s4: a TCP fragment at offset 8 is dropped, so the datagram stays open."""
    pieces = [(0, SEGMENT[:8]), (8, SEGMENT[8:400]), (400, SEGMENT[400:])]
    decoder = PacketDecoder()
    assert feed(decoder, frames4(pieces)) == [None, None, None]
    assert decoder.anomalies == {"ipfrag_tiny_first": 1, "ipfrag_tcp_offset_one": 1}
    assert decoder.reassembler.in_progress == 1


def test_ipv6_tiny_first_fragment() -> None:
    """IPv6 has no offset-one rule: an 8-byte first fragment is an anomaly, then joined."""
    pieces = [(0, SEGMENT[:8]), (8, SEGMENT[8:400]), (400, SEGMENT[400:])]
    decoder = PacketDecoder()
    assert feed(decoder, frames6(pieces)) == [None, None, TCP_RESULT6]
    assert decoder.anomalies == {"ipfrag_tiny_first": 1}


@pytest.mark.parametrize("version", [4, 6])
def test_udp_fragments(version: int) -> None:
    """A fragmented UDP datagram gives its ports and whole payload."""
    payload = DNS_QUERY * 100
    datagram = udp(SPORT, 53, payload)
    pieces = [(0, datagram[:600]), (600, datagram[600:])]
    decoder = PacketDecoder()
    frames = frames4(pieces, proto=UDP) if version == 4 else frames6(pieces, next_header=UDP)
    expected = udp_result(("eth",), ipv6_addresses=version == 6, payload=payload)
    assert feed(decoder, frames) == [None, expected]


def test_gap_times_out_by_packet_time() -> None:
    """A datagram missing a fragment expires 30 s after its first fragment, by packet time."""
    first, _, last = frames4(PIECES)
    decoder = PacketDecoder()
    assert decoder.decode(1, first, 5 * SECOND) is None
    assert decoder.decode(1, last, 34 * SECOND) is None
    assert decoder.anomalies == {}
    other = frag4(0, SEGMENT[:400], True, ident=8)
    assert decoder.decode(1, other, 35 * SECOND) is None
    assert decoder.anomalies == {"ipfrag_timeout": 1}
    assert decoder.counters["ipfrag_timed_out"] == 1
    assert decoder.reassembler.in_progress == 1
    assert decoder.reassembler.held_bytes == 400 + FRAGMENT_OVERHEAD


def test_expire_fragments_at_end_of_input() -> None:
    """expire_fragments(None) drops whatever is still incomplete."""
    decoder = PacketDecoder()
    decoder.decode(1, frames4(PIECES)[0], 0)
    decoder.expire_fragments(SECOND)
    assert decoder.reassembler.in_progress == 1
    decoder.expire_fragments()
    assert decoder.reassembler.in_progress == 0
    assert decoder.take_new_anomalies() == [("ipfrag_timeout", "1 fragments, 400 bytes held")]


def test_too_big_fragment() -> None:
    """A fragment ending past 65535 - 20 bytes cannot belong to an IPv4 datagram."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frag4(65512, b"x" * 16, False)) is None
    assert decoder.anomalies == {"ipfrag_too_big": 1}
    assert decoder.reassembler.in_progress == 0


def test_fragment_past_the_end_drops_the_datagram() -> None:
    """A fragment ending past the length the last fragment gave: ipfrag_overrun."""
    first, second, last = frames4(PIECES)
    decoder = PacketDecoder()
    beyond = frag4(1040, b"y" * 16, True)
    assert feed(decoder, [last, beyond, first, second]) == [None] * 4
    assert decoder.anomalies == {"ipfrag_overrun": 1}
    assert decoder.counters["ipfrag_dropped"] == 1


def test_truncated_fragment() -> None:
    """A fragment cut by the snaplen is not held."""
    decoder = PacketDecoder()
    assert decoder.decode(1, frames4(PIECES)[0][:100]) is None
    assert decoder.anomalies == {"ipfrag_fragment_truncated": 1}
    assert decoder.reassembler.in_progress == 0


def test_memory_limit_drops_oldest() -> None:
    """Past ipfrag_max_bytes the oldest datagrams go, and the held bytes stay under it."""
    limit = 3 * (400 + FRAGMENT_OVERHEAD)
    decoder = PacketDecoder(limits=DecodeLimits(ipfrag_max_bytes=limit))
    for ident in range(5):
        decoder.decode(1, frag4(0, SEGMENT[:400], True, ident=ident))
    assert decoder.reassembler.held_bytes == limit
    assert decoder.reassembler.in_progress == 3
    assert decoder.anomalies == {"ipfrag_memory_limit": 2}
    # Datagram 4 is still whole-able; datagram 0 was dropped.
    rest = frames4(PIECES, ident=4)[1:]
    assert feed(decoder, rest) == [None, TCP_RESULT4]


def test_too_many_datagrams_drops_oldest() -> None:
    """Past ipfrag_max_datagrams the oldest datagram is dropped."""
    decoder = PacketDecoder(limits=DecodeLimits(ipfrag_max_datagrams=2))
    for ident in range(3):
        decoder.decode(1, frag4(0, SEGMENT[:400], True, ident=ident))
    assert decoder.reassembler.in_progress == 2
    assert decoder.anomalies == {"ipfrag_too_many": 1}
    assert decoder.counters["ipfrag_dropped"] == 1


def test_too_many_fragments_drops_the_datagram() -> None:
    """Past ipfrag_max_fragments fragments a datagram is dropped."""
    pieces = [(offset, SEGMENT[offset : offset + 200]) for offset in range(0, 1000, 200)]
    decoder = PacketDecoder(limits=DecodeLimits(ipfrag_max_fragments=3))
    assert feed(decoder, frames4(pieces, end=1044)) == [None] * 5
    assert decoder.anomalies == {"ipfrag_too_many_fragments": 1}
    assert decoder.reassembler.held_bytes == 0


def test_flood_does_not_grow_memory() -> None:
    """20000 one-fragment datagrams: the table stays within both limits."""
    limits = DecodeLimits(ipfrag_max_bytes=64 * 1024, ipfrag_max_datagrams=512)
    decoder = PacketDecoder(limits=limits)
    chunk = b"z" * 64
    for ident in range(20000):
        decoder.decode(1, frag4(64, chunk, True, ident=ident & 0xFFFF, proto=UDP), ident)
        assert decoder.reassembler.held_bytes <= limits.ipfrag_max_bytes
        assert decoder.reassembler.in_progress <= limits.ipfrag_max_datagrams
    per_fragment = 64 + FRAGMENT_OVERHEAD
    assert decoder.reassembler.in_progress == 64 * 1024 // per_fragment
    assert decoder.counters["ipfrag_dropped"] == 20000 - 64 * 1024 // per_fragment


def test_vlans_keep_datagrams_apart() -> None:
    """Same addresses and identification in two VLANs are two datagrams."""
    a = frames4(PIECES, vlans=[10])
    b = frames4(PIECES, vlans=[20])
    decoder = PacketDecoder()
    results = feed(decoder, [a[0], b[0], a[1], b[1], a[2], b[2]])
    assert results[:4] == [None] * 4
    assert results[4] == tcp_result(("eth", "vlan:10"), payload=BODY)
    assert results[5] == tcp_result(("eth", "vlan:20"), payload=BODY)


def _ipip(inner: bytes, *, offset: int = 0, more: bool = False, ident: int = 1) -> bytes:
    """Ethernet / outer IPv4 (192.0.2.1 -> 192.0.2.2, protocol 4) carrying ``inner``."""
    flags = int(more)
    return ether(
        ipv4("192.0.2.1", "192.0.2.2", IPIP, inner, ident=ident, flags=flags, frag_offset=offset)
    )


IPIP_ENCAP = ("eth", "ipip:192.0.2.1-192.0.2.2")


def test_fragments_inside_a_tunnel() -> None:
    """Inner fragments reassemble within their tunnel."""
    frames = [
        _ipip(ipv4(SRC4, DST4, TCP, chunk, ident=7, flags=int(offset < 800), frag_offset=offset))
        for offset, chunk in PIECES
    ]
    decoder = PacketDecoder()
    results = feed(decoder, frames)
    assert results == [None, None, tcp_result(IPIP_ENCAP, payload=BODY)]


def test_tunnel_inside_fragments() -> None:
    """A reassembled outer datagram that is a tunnel goes on to the inner TCP segment."""
    inner = ipv4(SRC4, DST4, TCP, SEGMENT)
    frames = [_ipip(inner[:504], more=True), _ipip(inner[504:], offset=504)]
    decoder = PacketDecoder()
    assert feed(decoder, frames) == [None, tcp_result(IPIP_ENCAP, payload=BODY)]
    assert decoder.anomalies == {}


def test_unfragmented_results_do_not_depend_on_time() -> None:
    """The packet time changes nothing for unfragmented packets (fast path and walk)."""
    frame = ether(ipv4(SRC4, DST4, TCP, SEGMENT))
    decoder = PacketDecoder()
    assert decoder.decode(1, frame) == decoder.decode(1, frame, 123 * SECOND) == TCP_RESULT4
    assert decoder._decode_walk(1, frame, 5) == TCP_RESULT4


def test_addresses_of_reassembled_datagram() -> None:
    """The reassembled Decoded carries the fragments' addresses."""
    decoder = PacketDecoder()
    result = feed(decoder, frames6(PIECES))[-1]
    assert result is not None
    assert (result.src, result.dst) == (packed(SRC6), packed(DST6))
