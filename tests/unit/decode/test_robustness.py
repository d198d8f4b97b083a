"""The decoder never raises: truncations of valid frames at every length, random bytes,
mutated frames. And the fast path and the table walk always agree."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pcapgen import ether, ipv4, ipv6, ipv6_ext, ipv6_fragment, tcp, udp
from tests.unit.decode.frames import (
    DST4,
    DST6,
    ETH_IPV4_TCP,
    ETH_IPV4_UDP,
    ETH_IPV6_TCP,
    ETH_IPV6_UDP,
    IPV4_TCP,
    IPV6_TCP,
    SRC4,
    SRC6,
    TCP_SEGMENT,
    sll,
    sll2,
)
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import Decoded

LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 147, 228, 229, 276)

# (name, linktype, frame, [(end of a layer, anomaly when cut before it), ...]): cutting the
# frame at n bytes gives the anomaly of the first layer whose end passes n; cutting it past
# the last header gives a truncated Decoded.
CASES = [
    (
        "eth-ipv4-tcp",
        1,
        ETH_IPV4_TCP,
        [(14, "ethernet_truncated"), (34, "ipv4_truncated"), (54, "tcp_truncated")],
    ),
    (
        "eth-ipv6-tcp",
        1,
        ETH_IPV6_TCP,
        [(14, "ethernet_truncated"), (54, "ipv6_truncated"), (74, "tcp_truncated")],
    ),
    (
        "eth-ipv4-udp",
        1,
        ETH_IPV4_UDP,
        [(14, "ethernet_truncated"), (34, "ipv4_truncated"), (42, "udp_truncated")],
    ),
    (
        "eth-ipv6-udp",
        1,
        ETH_IPV6_UDP,
        [(14, "ethernet_truncated"), (54, "ipv6_truncated"), (62, "udp_truncated")],
    ),
    (
        "qinq-ipv4-tcp",
        1,
        ether(IPV4_TCP, vlans=[10, 20], outer_tpid=0x88A8),
        [
            (14, "ethernet_truncated"),
            (18, "vlan_truncated"),
            (22, "vlan_truncated"),
            (42, "ipv4_truncated"),
            (62, "tcp_truncated"),
        ],
    ),
    (
        "ipv6-ext-tcp",
        1,
        ether(
            ipv6(SRC6, DST6, 0, TCP_SEGMENT, ext_headers=ipv6_ext(60) + ipv6_ext(6, bytes(10))),
            0x86DD,
        ),
        [
            (14, "ethernet_truncated"),
            (54, "ipv6_truncated"),
            (62, "ipv6_ext_header_truncated"),
            (78, "ipv6_ext_header_truncated"),
            (98, "tcp_truncated"),
        ],
    ),
    (
        "sll-ipv4-tcp",
        113,
        sll(0x0800, IPV4_TCP),
        [(16, "sll_truncated"), (36, "ipv4_truncated"), (56, "tcp_truncated")],
    ),
    (
        "sll2-ipv6-tcp",
        276,
        sll2(0x86DD, IPV6_TCP),
        [(20, "sll2_truncated"), (60, "ipv6_truncated"), (80, "tcp_truncated")],
    ),
    (
        "null-ipv4-tcp",
        0,
        struct.pack("<I", 2) + IPV4_TCP,
        [(4, "null_truncated"), (24, "ipv4_truncated"), (44, "tcp_truncated")],
    ),
    (
        "raw-ipv4-tcp",
        101,
        IPV4_TCP,
        [(1, "raw_truncated"), (20, "ipv4_truncated"), (40, "tcp_truncated")],
    ),
    (
        "ipip-ipv4-tcp",
        1,
        ether(ipv4("192.0.2.1", "192.0.2.2", 4, IPV4_TCP)),
        [
            (14, "ethernet_truncated"),
            (34, "ipv4_truncated"),
            (54, "ipv4_truncated"),
            (74, "tcp_truncated"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("linktype", "frame", "layers"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_truncation_at_every_length(
    linktype: int, frame: bytes, layers: list[tuple[int, str]]
) -> None:
    """Cut at each length: the right layer's anomaly, or a truncated Decoded past headers."""
    complete = PacketDecoder().decode(linktype, frame)
    assert complete is not None
    assert not complete.truncated
    header_end = layers[-1][0]
    for length in range(len(frame)):
        decoder = PacketDecoder()
        result = decoder.decode(linktype, frame[:length])
        if length < header_end:
            expected = next(name for end, name in layers if length < end)
            assert result is None, length
            assert decoder.anomalies == {expected: 1}, length
        else:
            assert result is not None, length
            cut = len(frame) - length
            assert result == complete._replace(
                payload=complete.payload[: len(complete.payload) - cut], truncated=True
            ), length
            assert decoder.anomalies == {}, length


def test_fragment_truncated_anywhere_never_raises() -> None:
    """A fragmented IPv6 packet cut at every length yields None without raising."""
    frame = ether(
        ipv6(SRC6, DST6, 44, TCP_SEGMENT, ext_headers=ipv6_fragment(6, 0, True, 3)), 0x86DD
    )
    for length in range(len(frame) + 1):
        assert PacketDecoder().decode(1, frame[:length]) is None


@settings(max_examples=300, deadline=None)
@given(linktype=st.sampled_from(LINKTYPES), data=st.binary(max_size=160))
def test_random_bytes_never_raise(linktype: int, data: bytes) -> None:
    """Arbitrary bytes under any link type give None or a Decoded, never an exception."""
    result = PacketDecoder().decode(linktype, data)
    assert result is None or isinstance(result, Decoded)


def _mutants(frame: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Copies of the frame with 1 to 4 header bytes overwritten, some also cut short."""
    out = []
    for _ in range(count):
        mutant = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            mutant[rng.randrange(min(len(mutant), 100))] = rng.choice((0, 0xFF, rng.randrange(256)))
        if rng.random() < 0.3:
            del mutant[rng.randrange(len(mutant)) :]
        out.append(bytes(mutant))
    return out


SEEDS = [
    (1, ETH_IPV4_TCP),
    (1, ETH_IPV6_TCP),
    (1, ETH_IPV4_UDP),
    (1, ETH_IPV6_UDP),
    (1, ether(IPV4_TCP, vlans=[5])),
    (1, ether(IPV6_TCP, 0x86DD, vlans=[5, 6])),
    (1, ether(ipv4(SRC4, DST4, 6, tcp(1, 2, 3, 4, "S", options=b"\x02\x04\x05\xb4")))),
    (1, ether(ipv4(SRC4, DST4, 17, udp(53, 53, b"x" * 30), options=b"\x01\x01\x01\x00"))),
    (
        1,
        ether(
            ipv6(
                SRC6, DST6, 0, TCP_SEGMENT, ext_headers=ipv6_ext(44) + ipv6_fragment(6, 0, False, 1)
            ),
            0x86DD,
        ),
    ),
    (1, ether(ipv4("192.0.2.1", "192.0.2.2", 41, IPV6_TCP))),
    (113, sll(0x0800, IPV4_TCP)),
    (276, sll2(0x86DD, IPV6_TCP)),
    (101, IPV4_TCP),
    (101, IPV6_TCP),
    (0, struct.pack("<I", 30) + IPV6_TCP),
]


@pytest.mark.parametrize(("linktype", "frame"), SEEDS)
def test_mutated_frames_never_raise_and_paths_agree(linktype: int, frame: bytes) -> None:
    """Mutated frames never raise, and the fast path gives what the table walk gives."""
    rng = random.Random(f"{linktype}:{frame.hex()}")
    fast = PacketDecoder()
    walked = PacketDecoder()
    for mutant in _mutants(frame, rng, 400):
        assert fast.decode(linktype, mutant) == walked._decode_walk(linktype, mutant), mutant.hex()
    assert fast.anomalies == walked.anomalies
    assert fast.counters == walked.counters
