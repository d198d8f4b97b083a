"""IPv6 header and extension headers (RFC 8200 s3, s4).

Theory of operation: the payload length bounds the datagram (bytes after it are link
padding; past the captured bytes the packet is truncated). Extension headers are skipped in
a loop capped by ``DecodeLimits.max_ipv6_ext_headers``: hop-by-hop (0), routing (43),
destination options (60) and mobility (135, RFC 6275 s6.1) have a length in 8-octet units
not counting the first 8; AH (51, RFC 4302 s2.2) counts 4-octet units minus 2. A fragment
header (44, RFC 8200 s4.5) goes to ``Walk.fragment`` unless it is an atomic fragment
(offset 0, M clear, RFC 6946), which carries the whole packet. ESP (50) and no next header
(59) are left to the IPPROTO table.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Layer, Walk

IPV6_HEADER_LEN: Final = 40
IPV6_EXT_MIN_LEN: Final = 8

NH_HOP_BY_HOP: Final = 0
NH_ROUTING: Final = 43
NH_FRAGMENT: Final = 44
NH_AH: Final = 51
NH_NO_NEXT: Final = 59
NH_DEST_OPTS: Final = 60
NH_MOBILITY: Final = 135

EXTENSION_HEADERS: Final = frozenset(
    {NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT, NH_AH, NH_DEST_OPTS, NH_MOBILITY}
)

_FRAGMENT_OFFSET_MASK: Final = 0xFFF8
_FRAGMENT_MORE: Final = 0x0001

_IPV6: Final = struct.Struct("!BxxxHBx16s16s")  # version/class, payload length, next, addrs
_EXT: Final = struct.Struct("!BB")  # next header, length
_FRAGMENT: Final = struct.Struct("!BxHI")  # next header, offset/M, identification


def decode_ipv6(walk: Walk, data: bytes, offset: int) -> int:
    """IPv6 header and extension headers -> (IPPROTO, upper-layer protocol)."""
    captured = len(data)
    if captured - offset < IPV6_HEADER_LEN:
        return walk.anomaly("ipv6_truncated", f"{captured - offset} bytes of header")
    version_class, payload_length, next_header, src, dst = _IPV6.unpack_from(data, offset)
    if version_class >> 4 != 6:
        return walk.anomaly("ipv6_bad_version", f"version {version_class >> 4}")
    position = offset + IPV6_HEADER_LEN
    if payload_length == 0 and captured > position and next_header != NH_NO_NEXT:
        # Jumbograms (RFC 2675) carry 0 here with the length in a hop-by-hop option;
        # segmentation offload on the capturing host leaves 0 too. Take what was captured.
        if next_header != NH_HOP_BY_HOP:
            walk.anomaly("ipv6_zero_payload_length")
        payload_length = captured - position
    end = position + payload_length
    walk.ip_wire_end = end
    if end > captured:
        end = captured
        walk.truncated = True
    walk.ip_end = end
    walk.src = src
    walk.dst = dst
    walk.counts["ipv6"] += 1
    return decode_ipv6_extensions(walk, data, position, next_header)


def decode_ipv6_extensions(
    walk: Walk, data: bytes, position: int, next_header: int, extensions: int = 0
) -> int:
    """Extension headers from ``position`` to ``walk.ip_end`` -> (IPPROTO, upper-layer
    protocol); also walks the fragmentable part of a reassembled datagram (ipfrag.py),
    where ``extensions`` counts the fragment header already passed."""
    end = walk.ip_end
    while next_header in EXTENSION_HEADERS:
        extensions += 1
        if extensions > walk.limits.max_ipv6_ext_headers:
            return walk.anomaly(
                "ipv6_too_many_ext_headers", f"more than {walk.limits.max_ipv6_ext_headers}"
            )
        if end - position < IPV6_EXT_MIN_LEN:
            return walk.anomaly("ipv6_ext_header_truncated", f"next header {next_header}")
        if next_header == NH_FRAGMENT:
            inner, offset_more, ident = _FRAGMENT.unpack_from(data, position)
            position += IPV6_EXT_MIN_LEN
            if offset_more & (_FRAGMENT_OFFSET_MASK | _FRAGMENT_MORE):
                return walk.fragment(
                    inner,
                    ident,
                    offset_more & _FRAGMENT_OFFSET_MASK,
                    bool(offset_more & _FRAGMENT_MORE),
                    position,
                )
            next_header = inner
            continue
        if next_header == NH_HOP_BY_HOP and extensions > 1:
            # Hop-by-hop must come right after the IPv6 header (RFC 8200 s4.3); skip it anyway.
            walk.anomaly("ipv6_misplaced_hop_by_hop")
        inner, length = _EXT.unpack_from(data, position)
        size = (length + 2) * 4 if next_header == NH_AH else (length + 1) * 8
        if end - position < size:
            return walk.anomaly("ipv6_ext_header_truncated", f"next header {next_header}")
        position += size
        next_header = inner
    walk.ns = Layer.IPPROTO
    walk.key = next_header
    return position
