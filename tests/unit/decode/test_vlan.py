"""IEEE 802.1Q / 802.1ad VLAN tags, single and stacked."""

from __future__ import annotations

import pytest

from tests.pcapgen import ether, vlan
from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import DecodeLimits, PacketDecoder


def test_single_tag() -> None:
    """One 802.1Q tag adds "vlan:<id>" after "eth"."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(IPV4_TCP, vlans=[100]))
    assert result == tcp_result(("eth", "vlan:100"))


def test_single_tag_ipv6() -> None:
    """A tagged IPv6 packet decodes the same way."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(IPV6_TCP, 0x86DD, vlans=[7]))
    assert result == tcp_result(("eth", "vlan:7"), ipv6_addresses=True)


def test_qinq_8021ad() -> None:
    """An 802.1ad service tag over a customer tag gives both ids, outermost first."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(IPV4_TCP, vlans=[100, 200], outer_tpid=0x88A8))
    assert result == tcp_result(("eth", "vlan:100", "vlan:200"))


def test_qinq_9100() -> None:
    """The pre-standard 0x9100 TPID is a VLAN tag too."""
    frame = ether(vlan(300, 0x8100) + vlan(400, 0x0800) + IPV4_TCP, 0x9100)
    decoder = PacketDecoder()
    assert decoder.decode(1, frame) == tcp_result(("eth", "vlan:300", "vlan:400"))


def test_triple_tags() -> None:
    """QinQinQ (three tags) is decoded with all three ids."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(IPV4_TCP, vlans=[1, 2, 3], outer_tpid=0x88A8))
    assert result == tcp_result(("eth", "vlan:1", "vlan:2", "vlan:3"))


def test_too_many_tags() -> None:
    """A fourth tag passes max_vlan_tags: anomaly, None."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(IPV4_TCP, vlans=[1, 2, 3, 4])) is None
    assert decoder.anomalies == {"vlan_too_many_tags": 1}


def test_tag_limit_is_configurable() -> None:
    """max_vlan_tags=1 refuses QinQ."""
    decoder = PacketDecoder(limits=DecodeLimits(max_vlan_tags=1))
    assert decoder.decode(1, ether(IPV4_TCP, vlans=[1])) == tcp_result(("eth", "vlan:1"))
    assert decoder.decode(1, ether(IPV4_TCP, vlans=[1, 2])) is None
    assert decoder.anomalies == {"vlan_too_many_tags": 1}


def test_priority_tag_adds_nothing() -> None:
    """VLAN id 0 only carries a priority: the flow keeps the untagged encap."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(vlan(0, 0x0800, pcp=5) + IPV4_TCP, 0x8100))
    assert result == tcp_result(("eth",))


def test_priority_bits_do_not_change_the_id() -> None:
    """PCP and DEI bits are not part of the VLAN id."""
    decoder = PacketDecoder()
    result = decoder.decode(1, ether(vlan(100, 0x0800, pcp=7) + IPV4_TCP, 0x8100))
    assert result == tcp_result(("eth", "vlan:100"))


@pytest.mark.parametrize("count", [1, 3])
def test_tagged_encap_is_interned(count: int) -> None:
    """Packets of one VLAN stack share one encap tuple object."""
    decoder = PacketDecoder()
    frame = ether(IPV4_TCP, vlans=list(range(10, 10 + count)))
    results = [decoder.decode(1, frame) for _ in range(3)]
    encaps = [result.encap for result in results if result is not None]
    assert len(encaps) == 3
    assert encaps[0] is encaps[1] is encaps[2]


def test_interning_cap() -> None:
    """Past max_interned_encaps, encaps are still right (built per packet)."""
    decoder = PacketDecoder(limits=DecodeLimits(max_interned_encaps=8))
    for vlan_id in range(1, 40):
        result = decoder.decode(1, ether(IPV4_TCP, vlans=[vlan_id]))
        assert result == tcp_result(("eth", f"vlan:{vlan_id}"))


def test_truncated_tag() -> None:
    """A frame that ends inside a tag is vlan_truncated."""
    decoder = PacketDecoder()
    assert decoder.decode(1, ether(b"\x00\x64", 0x8100)) is None
    assert decoder.anomalies == {"vlan_truncated": 1}
