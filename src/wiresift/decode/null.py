"""BSD loopback: LINKTYPE_NULL (0) and LINKTYPE_LOOP (108).

Both start with a 4-byte address family (tcpdump.org/linktypes/LINKTYPE_NULL.html).
LINKTYPE_NULL writes it in the byte order of the host that wrote the file, which the file
does not record, so both orders are tried; LINKTYPE_LOOP (OpenBSD) always uses network
order. AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD, BSD/OS), 28 (FreeBSD,
DragonFly) or 30 (Darwin).
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.walk import Layer, Walk

NULL_HEADER_LEN: Final = 4

ENCAP_NULL: Final = ("null",)

# BSD address family -> the EtherType of what follows.
AF_TO_ETHERTYPE: Final = {
    2: ETHERTYPE_IPV4,
    24: ETHERTYPE_IPV6,
    28: ETHERTYPE_IPV6,
    30: ETHERTYPE_IPV6,
}

_FAMILY_LE: Final = struct.Struct("<I")
_FAMILY_BE: Final = struct.Struct(">I")


def decode_null(walk: Walk, data: bytes, offset: int) -> int:
    """LINKTYPE_NULL: family in either byte order -> EtherType of IPv4/IPv6."""
    if len(data) < offset + NULL_HEADER_LEN:
        return walk.anomaly("null_truncated", f"{len(data) - offset} bytes")
    ethertype = AF_TO_ETHERTYPE.get(_FAMILY_LE.unpack_from(data, offset)[0])
    if ethertype is None:
        ethertype = AF_TO_ETHERTYPE.get(_FAMILY_BE.unpack_from(data, offset)[0])
        if ethertype is None:
            return walk.count("non_ip")
    walk.push("null")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset + NULL_HEADER_LEN


def decode_loop(walk: Walk, data: bytes, offset: int) -> int:
    """LINKTYPE_LOOP: family in network byte order -> EtherType of IPv4/IPv6."""
    if len(data) < offset + NULL_HEADER_LEN:
        return walk.anomaly("null_truncated", f"{len(data) - offset} bytes")
    ethertype = AF_TO_ETHERTYPE.get(_FAMILY_BE.unpack_from(data, offset)[0])
    if ethertype is None:
        return walk.count("non_ip")
    walk.push("null")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset + NULL_HEADER_LEN
