"""IP in IP: IPv4 or IPv6 carried as IP protocol 4 (RFC 2003) or 41 (RFC 4213 s3.5,
RFC 2473 for IPv6 in IPv6).

The outer header adds ``ipip:<lower address>-<higher address>`` to the encapsulation (the
endpoints sorted, so both directions agree) and the walk goes on with the inner header.
The inner datagram is cut to the outer datagram's end so link padding after the outer
datagram is not read as inner data.
"""

from __future__ import annotations

from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.walk import Layer, Walk

IPPROTO_IPIP: Final = 4
IPPROTO_IPV6: Final = 41


def decode_ipip(walk: Walk, data: bytes, offset: int) -> int:
    """Outer IP header done -> the inner IPv4 (protocol 4) or IPv6 (protocol 41) header."""
    walk.tunnels += 1
    if walk.tunnels > walk.limits.max_tunnel_depth:
        return walk.anomaly("tunnel_too_deep", f"more than {walk.limits.max_tunnel_depth}")
    walk.push_tunnel("ipip", walk.src, walk.dst)
    if walk.ip_end < len(data):
        walk.data = data[: walk.ip_end]
    walk.ns = Layer.ETHERTYPE
    walk.key = ETHERTYPE_IPV4 if walk.key == IPPROTO_IPIP else ETHERTYPE_IPV6
    return offset
