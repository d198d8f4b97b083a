"""Linux "cooked" captures: LINKTYPE_LINUX_SLL (113) and LINKTYPE_LINUX_SLL2 (276).

Header layouts from tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and ..._SLL2.html:
SLL is packet type, ARPHRD type, address length, 8 address bytes, protocol (16 bytes);
SLL2 is protocol, reserved, interface index, ARPHRD type, packet type, address length,
8 address bytes (20 bytes). The protocol field is an EtherType for the ARPHRD types that
carry IP; for ARPHRD_NETLINK it is a netlink family instead.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Layer, Walk

SLL_HEADER_LEN: Final = 16
SLL2_HEADER_LEN: Final = 20
ARPHRD_NETLINK: Final = 824

ENCAP_SLL: Final = ("sll",)
ENCAP_SLL2: Final = ("sll2",)

_SLL: Final = struct.Struct("!2xH10xH")  # ARPHRD type, protocol
_SLL2: Final = struct.Struct("!H6xH")  # protocol, ARPHRD type


def decode_sll(walk: Walk, data: bytes, offset: int) -> int:
    """Linux cooked header v1 -> its protocol field as an EtherType."""
    if len(data) < offset + SLL_HEADER_LEN:
        return walk.anomaly("sll_truncated", f"{len(data) - offset} bytes")
    hatype, protocol = _SLL.unpack_from(data, offset)
    if hatype == ARPHRD_NETLINK:
        return walk.count("non_ip")
    walk.push("sll")
    walk.ns = Layer.ETHERTYPE
    walk.key = protocol
    return offset + SLL_HEADER_LEN


def decode_sll2(walk: Walk, data: bytes, offset: int) -> int:
    """Linux cooked header v2 -> its protocol field as an EtherType."""
    if len(data) < offset + SLL2_HEADER_LEN:
        return walk.anomaly("sll2_truncated", f"{len(data) - offset} bytes")
    protocol, hatype = _SLL2.unpack_from(data, offset)
    if hatype == ARPHRD_NETLINK:
        return walk.count("non_ip")
    walk.push("sll2")
    walk.ns = Layer.ETHERTYPE
    walk.key = protocol
    return offset + SLL2_HEADER_LEN
