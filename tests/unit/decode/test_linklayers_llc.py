"""IEEE 802.3 frames (length field) with LLC/SNAP (RFC 1042) and other LLC."""

from __future__ import annotations

import struct

from tests.pcapgen import ether
from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import PacketDecoder

SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
SNAP_IPV6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"


def dot3(llc_payload: bytes) -> bytes:
    """An 802.3 frame whose type/length field is the LLC payload length."""
    return ether(llc_payload, len(llc_payload))


def test_snap_ipv4() -> None:
    """SNAP with OUI 0 and EtherType 0x0800 is IPv4 behind "eth"."""
    decoder = PacketDecoder()
    assert decoder.decode(1, dot3(SNAP_IPV4 + IPV4_TCP)) == tcp_result(("eth",))


def test_snap_ipv6() -> None:
    """SNAP with EtherType 0x86DD is IPv6."""
    decoder = PacketDecoder()
    result = decoder.decode(1, dot3(SNAP_IPV6 + IPV6_TCP))
    assert result == tcp_result(("eth",), ipv6_addresses=True)


def test_snap_vlan_then_ip() -> None:
    """SNAP naming a VLAN tag goes through the VLAN decoder."""
    decoder = PacketDecoder()
    body = b"\xaa\xaa\x03\x00\x00\x00\x81\x00" + struct.pack("!HH", 12, 0x0800) + IPV4_TCP
    assert decoder.decode(1, dot3(body)) == tcp_result(("eth", "vlan:12"))


def test_stp_is_non_ip() -> None:
    """Spanning tree (LLC 42 42 03) is counted as non-IP."""
    decoder = PacketDecoder()
    assert decoder.decode(1, dot3(b"\x42\x42\x03" + bytes(35))) is None
    assert decoder.counters == {"non_ip": 1}
    assert decoder.anomalies == {}


def test_snap_with_vendor_oui_is_non_ip() -> None:
    """SNAP with a vendor OUI (Cisco CDP, 00-00-0C 0x2000) is non-IP."""
    decoder = PacketDecoder()
    assert decoder.decode(1, dot3(b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes(30))) is None
    assert decoder.counters == {"non_ip": 1}


def test_short_llc_is_non_ip() -> None:
    """An 802.3 frame too short for SNAP is non-IP, never an exception."""
    decoder = PacketDecoder()
    assert decoder.decode(1, dot3(b"\xaa\xaa\x03")) is None
    assert decoder.counters == {"non_ip": 1}
