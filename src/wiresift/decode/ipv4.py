"""IPv4 header (RFC 791 s3.1).

Theory of operation: the header length (IHL) must be at least 5 words and fit in the
captured bytes; options are skipped. The total length bounds the datagram: bytes after it
are link padding (Ethernet pads frames to 60 bytes) and are cut off, and when it passes the
captured bytes the capture was cut short (snaplen), so the payload is what was captured and
the packet is marked truncated. Fragments (MF set or a non-zero offset, RFC 791 s2.3) go to
``Walk.fragment``. The header checksum is not verified: a passive sensor sees checksums
left to offload hardware, and the data matters more than the check.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Layer, Walk

IPV4_MIN_HEADER_LEN: Final = 20
IPV4_MF: Final = 0x2000
IPV4_OFFSET_MASK: Final = 0x1FFF

_IPV4: Final = struct.Struct("!BxHHHxB2x4s4s")  # ver/IHL, total, id, flags/offset, proto, addrs


def decode_ipv4(walk: Walk, data: bytes, offset: int) -> int:
    """IPv4 header -> (IPPROTO, protocol) at the end of the header."""
    captured = len(data)
    if captured - offset < IPV4_MIN_HEADER_LEN:
        return walk.anomaly("ipv4_truncated", f"{captured - offset} bytes of header")
    version_ihl, total_length, ident, flags_offset, proto, src, dst = _IPV4.unpack_from(
        data, offset
    )
    if version_ihl >> 4 != 4:
        return walk.anomaly("ipv4_bad_version", f"version {version_ihl >> 4}")
    header_len: int = (version_ihl & 0x0F) * 4
    if header_len < IPV4_MIN_HEADER_LEN:
        return walk.anomaly("ipv4_bad_header_length", f"IHL {version_ihl & 0x0F}")
    if captured - offset < header_len:
        return walk.anomaly("ipv4_truncated", f"{captured - offset} of {header_len} header bytes")
    if total_length < header_len:
        if total_length:
            return walk.anomaly(
                "ipv4_bad_total_length", f"total length {total_length} < header {header_len}"
            )
        # A zero total length is what segmentation offload leaves in captures taken on the
        # sending host (Wireshark reports it the same way): take what was captured.
        walk.anomaly("ipv4_zero_total_length")
        total_length = captured - offset
    end = offset + total_length
    walk.ip_wire_end = end
    if end > captured:
        end = captured
        walk.truncated = True
    walk.ip_end = end
    walk.src = src
    walk.dst = dst
    walk.counts["ipv4"] += 1
    if flags_offset & (IPV4_MF | IPV4_OFFSET_MASK):
        return walk.fragment(
            proto,
            ident,
            (flags_offset & IPV4_OFFSET_MASK) * 8,
            bool(flags_offset & IPV4_MF),
            offset + header_len,
        )
    walk.ns = Layer.IPPROTO
    walk.key = proto
    return offset + header_len
