"""Ethernet II and IEEE 802.3 with LLC/SNAP (IEEE 802.3 s3.2.6; RFC 1042 for SNAP).

Theory of operation: the 16-bit field after the two MAC addresses is an EtherType when it is
0x0600 or more, and a frame length when it is 1500 or less; then an 802.2 LLC header
follows, and only SNAP (DSAP = SSAP = 0xAA, control 0x03, OUI 0) carries an EtherType.
Other LLC frames (STP, NetBIOS, IPX) carry nothing for the flow table.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Layer, Walk

ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_ARP: Final = 0x0806
ETHERTYPE_VLAN: Final = 0x8100  # IEEE 802.1Q customer tag
ETHERTYPE_QINQ: Final = 0x88A8  # IEEE 802.1ad service tag
ETHERTYPE_QINQ_OLD: Final = 0x9100  # pre-standard QinQ tag, still seen on switches
ETHERTYPE_IPV6: Final = 0x86DD

ETHERNET_HEADER_LEN: Final = 14
# A type/length field of 1500 or less is a length (IEEE 802.3 s3.2.6).
ETHERNET_MAX_LENGTH_FIELD: Final = 1500
LLC_SNAP_HEADER_LEN: Final = 8  # DSAP, SSAP, control, OUI (3), EtherType (RFC 1042)

ENCAP_ETH: Final = ("eth",)

_TYPE_AT_12: Final = struct.Struct("!H")
_LLC_SNAP: Final = struct.Struct("!BBB3sH")
_SNAP_SAP: Final = 0xAA
_LLC_UI: Final = 0x03
_OUI_ETHERTYPE: Final = b"\x00\x00\x00"


def decode_ethernet(walk: Walk, data: bytes, offset: int) -> int:
    """Ethernet II / 802.3 header (no FCS, as captures deliver it) -> next EtherType."""
    if len(data) < offset + ETHERNET_HEADER_LEN:
        return walk.anomaly("ethernet_truncated", f"{len(data) - offset} bytes")
    (ethertype,) = _TYPE_AT_12.unpack_from(data, offset + 12)
    walk.push("eth")
    offset += ETHERNET_HEADER_LEN
    if ethertype <= ETHERNET_MAX_LENGTH_FIELD:
        return _decode_llc(walk, data, offset)
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset


def _decode_llc(walk: Walk, data: bytes, offset: int) -> int:
    """802.2 LLC after an 802.3 length field: SNAP with OUI 0 carries an EtherType."""
    if len(data) < offset + LLC_SNAP_HEADER_LEN:
        return walk.count("non_ip")
    dsap, ssap, control, oui, ethertype = _LLC_SNAP.unpack_from(data, offset)
    if dsap != _SNAP_SAP or ssap != _SNAP_SAP or control != _LLC_UI or oui != _OUI_ETHERTYPE:
        return walk.count("non_ip")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset + LLC_SNAP_HEADER_LEN


def decode_non_ip(walk: Walk, data: bytes, offset: int) -> int:
    """Fallback of the ETHERTYPE namespace (ARP, LLDP, ...): counted, nothing to decode."""
    del data, offset
    return walk.count("non_ip")
