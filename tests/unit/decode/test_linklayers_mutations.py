"""Mutated MPLS, PPPoE, PPP, NFLOG, radiotap and 802.11 frames never raise, and the fast
path agrees with the table walk on them."""

from __future__ import annotations

import random
import struct

import pytest

from tests.pcapgen import ether
from tests.unit.decode.frames import ETH_IPV4_TCP, IPV4_TCP, IPV6_TCP
from wiresift.decode import PacketDecoder

_BOTTOM_LABEL = struct.pack("!I", 100 << 12 | 0x100 | 64)
_SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
_WLAN_QOS_HEADER = b"\x88\x01\x00\x00" + bytes(18) + b"\x00\x00" + b"\x00\x00"

FRAMES = {
    "mpls": (1, ether(_BOTTOM_LABEL + IPV4_TCP, 0x8847)),
    "mpls-pw": (1, ether(_BOTTOM_LABEL + bytes(4) + ETH_IPV4_TCP, 0x8847)),
    "pppoe": (1, ether(struct.pack("!BBHH", 0x11, 0, 1, 75) + b"\x00\x21" + IPV4_TCP, 0x8864)),
    "ppp": (1, ether(b"\xff\x03\x57" + IPV6_TCP, 0x880B)),
    "nflog": (239, struct.pack("<BBHHH", 2, 0, 0, 4 + len(IPV4_TCP), 9) + IPV4_TCP),
    "wlan": (105, _WLAN_QOS_HEADER + _SNAP_IPV4 + IPV4_TCP),
    "radiotap": (
        127,
        struct.pack("<BBHIB", 0, 0, 9, 2, 0x20)
        + _WLAN_QOS_HEADER
        + b"\x00\x00"  # pad to 28 bytes (radiotap flag 0x20)
        + _SNAP_IPV4
        + IPV4_TCP,
    ),
    "dot3-snap": (1, ether(_SNAP_IPV4 + IPV4_TCP, len(_SNAP_IPV4 + IPV4_TCP))),
}

# Layers whose anomalies random link-layer bytes can reach.
KNOWN_LAYERS = frozenset(
    {"radiotap", "wlan", "nflog", "ipv4", "ipv6", "tcp", "udp", "ah", "mpls", "vlan", "pppoe"}
    | {"ppp", "ethernet", "tunnel", "gre", "icmp", "ipfrag", "decode"}
)


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_unmutated_frames_decode(name: str) -> None:
    """The frames the mutations start from decode to the TCP segment they carry."""
    linktype, frame = FRAMES[name]
    result = PacketDecoder().decode(linktype, frame)
    assert result is not None
    assert (result.sport, result.dport, result.seq, result.truncated) == (40000, 80, 1000, False)


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_single_byte_mutations(name: str) -> None:
    """Every byte of the link headers set to 0x00, 0xFF and a random value: no exception,
    and both decoding paths give the same result."""
    linktype, frame = FRAMES[name]
    rng = random.Random(name)
    decoder = PacketDecoder()
    walked = PacketDecoder()
    for position in range(min(len(frame), 60)):
        for value in (0x00, 0xFF, rng.randrange(256)):
            mutated = frame[:position] + bytes([value]) + frame[position + 1 :]
            assert decoder.decode(linktype, mutated) == walked._decode_walk(linktype, mutated)


@pytest.mark.parametrize("linktype", [105, 127, 239])
def test_random_bytes(linktype: int) -> None:
    """Random buffers of every small length never raise; anomalies are named per layer."""
    rng = random.Random(linktype)
    decoder = PacketDecoder()
    for length in range(120):
        for _ in range(20):
            decoder.decode(linktype, bytes(rng.randrange(256) for _ in range(length)))
    layers = {name.split("_")[0] for name in decoder.anomalies}
    assert layers <= KNOWN_LAYERS
    assert layers & {"radiotap", "wlan", "nflog"}
