"""Raw IP link types: LINKTYPE_RAW (101; 12 and 14 in BSD files), LINKTYPE_IPV4 (228) and
LINKTYPE_IPV6 (229). There is no link header: the IP version nibble says what follows
(tcpdump.org/linktypes/LINKTYPE_RAW.html)."""

from __future__ import annotations

from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.walk import Layer, Walk

ENCAP_RAW: Final = ("raw",)

_VERSION_TO_ETHERTYPE: Final = (None, None, None, None, ETHERTYPE_IPV4, None, ETHERTYPE_IPV6)


def decode_raw(walk: Walk, data: bytes, offset: int) -> int:
    """Raw IP: the version nibble of the first byte -> EtherType of IPv4/IPv6."""
    if len(data) <= offset:
        return walk.anomaly("raw_truncated", "0 bytes")
    version = data[offset] >> 4
    ethertype = _VERSION_TO_ETHERTYPE[version] if version < len(_VERSION_TO_ETHERTYPE) else None
    if ethertype is None:
        return walk.anomaly("raw_bad_version", f"version {version}")
    walk.push("raw")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset
