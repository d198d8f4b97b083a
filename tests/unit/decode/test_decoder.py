"""PacketDecoder bookkeeping: anomaly records, counters, custom dispatch tables."""

from __future__ import annotations

from tests.pcapgen import ether
from tests.unit.decode.frames import ETH_IPV4_TCP, ETH_IPV4_UDP, IPV4_TCP, tcp_result
from wiresift.decode import DISPATCH, DecodeLimits, Layer, PacketDecoder, Walk


def test_take_new_anomalies_empties_the_list() -> None:
    """Anomalies are handed out once; an empty take is an empty list."""
    decoder = PacketDecoder()
    assert decoder.take_new_anomalies() == []
    decoder.decode(1, ETH_IPV4_TCP[:20])
    assert decoder.take_new_anomalies() == [("ipv4_truncated", "6 bytes of header")]
    assert decoder.take_new_anomalies() == []
    assert decoder.anomalies == {"ipv4_truncated": 1}


def test_new_anomalies_are_capped_but_all_counted() -> None:
    """Past max_new_anomalies the list stops growing; the counter keeps counting."""
    decoder = PacketDecoder(limits=DecodeLimits(max_new_anomalies=2))
    for _ in range(5):
        decoder.decode(1, ETH_IPV4_TCP[:20])
    assert len(decoder.take_new_anomalies()) == 2
    assert decoder.anomalies == {"ipv4_truncated": 5}


def test_counters_add_fast_and_walked_packets() -> None:
    """Counters include packets of both the fast path and the table walk."""
    decoder = PacketDecoder()
    decoder.decode(1, ETH_IPV4_TCP)
    decoder.decode(1, ETH_IPV4_UDP)
    decoder.decode(1, ether(IPV4_TCP, vlans=[3, 4]))
    decoder.decode(1, ether(b"\0" * 28, 0x0806))
    assert decoder.counters == {"ipv4": 3, "tcp": 2, "udp": 1, "non_ip": 1}


def test_custom_table_entry_adds_a_layer() -> None:
    """A dispatch entry added by the caller is used for its key."""

    def decode_marker(walk: Walk, data: bytes, offset: int) -> int:
        """Stand-in for a tunnel decoder: records an encap item, then walks on to IPv4."""
        walk.push("marker")
        walk.ns = Layer.ETHERTYPE
        walk.key = 0x0800
        return offset

    table = {**DISPATCH, (Layer.ETHERTYPE, 0x88B5): decode_marker}  # local experimental type
    decoder = PacketDecoder(dispatch=table)
    assert decoder.decode(1, ether(IPV4_TCP, 0x88B5)) == tcp_result(("eth", "marker"))
    assert decoder.decode(1, ETH_IPV4_TCP) == tcp_result(("eth",))


def test_custom_table_entry_overrides_the_fast_path() -> None:
    """Replacing a decoder the fast path stands for makes every packet take the table."""

    def drop_tcp(walk: Walk, data: bytes, offset: int) -> int:
        """Stand-in TCP decoder that counts and drops."""
        return walk.count("tcp_dropped")

    decoder = PacketDecoder(dispatch={**DISPATCH, (Layer.IPPROTO, 6): drop_tcp})
    assert decoder.decode(1, ETH_IPV4_TCP) is None
    assert decoder.counters == {"ipv4": 1, "tcp_dropped": 1}
