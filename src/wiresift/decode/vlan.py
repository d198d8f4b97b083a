"""IEEE 802.1Q VLAN tags, also as 802.1ad service tags and stacked (QinQ, QinQinQ).

Each tag is 4 bytes after its TPID: the TCI (priority 3 bits, DEI 1 bit, VLAN id 12 bits)
and the next EtherType. Each tag with a VLAN id adds ``vlan:<id>`` to the encapsulation.
VLAN id 0 only carries a priority (IEEE 802.1Q s9.6, "priority-tagged frame") and adds
nothing, so a flow tagged one way and untagged the other stays one flow.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Walk

VLAN_TAG_LEN: Final = 4
_VLAN_ID_MASK: Final = 0x0FFF

_TAG: Final = struct.Struct("!HH")


def decode_vlan(walk: Walk, data: bytes, offset: int) -> int:
    """One VLAN tag -> the EtherType it wraps."""
    if len(data) < offset + VLAN_TAG_LEN:
        return walk.anomaly("vlan_truncated", f"{len(data) - offset} bytes")
    walk.vlan_tags += 1
    if walk.vlan_tags > walk.limits.max_vlan_tags:
        return walk.anomaly("vlan_too_many_tags", f"more than {walk.limits.max_vlan_tags}")
    tci, ethertype = _TAG.unpack_from(data, offset)
    vlan_id = tci & _VLAN_ID_MASK
    if vlan_id:
        walk.push_vlan(vlan_id)
    walk.key = ethertype
    return offset + VLAN_TAG_LEN
