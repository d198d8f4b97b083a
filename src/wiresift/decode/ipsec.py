"""IPsec headers met as IP protocols: AH (51, RFC 4302 s2) and ESP (50, RFC 4303 s2).

AH authenticates but does not encrypt, so the walk skips it to the protocol it protects
(its length counts 4-octet units minus 2, RFC 4302 s2.2). ESP is encrypted: it is counted
and carries nothing the flow table can use. In IPv6, AH is skipped with the other
extension headers (see ipv6.py); this entry serves IPv4.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Walk

AH_MIN_LEN: Final = 8  # next header, length, reserved, SPI, sequence number... (>= 8)

_AH: Final = struct.Struct("!BB")


def decode_ah(walk: Walk, data: bytes, offset: int) -> int:
    """Authentication Header -> the protocol it protects."""
    if walk.ip_end - offset < AH_MIN_LEN:
        return walk.anomaly("ah_truncated", f"{walk.ip_end - offset} bytes")
    next_header, length = _AH.unpack_from(data, offset)
    size: int = (length + 2) * 4
    if walk.ip_end - offset < size:
        return walk.anomaly("ah_truncated", f"{walk.ip_end - offset} of {size} bytes")
    walk.key = next_header
    return offset + size


def decode_esp(walk: Walk, data: bytes, offset: int) -> int:
    """Encapsulating Security Payload: opaque, counted."""
    del data, offset
    return walk.count("esp")
