"""How SOCKS is recognised in a client's first bytes (RFC 1928 s3, SOCKS 4/4a protocol).

SOCKS 4: ``04``, command 1 or 2, port, IPv4 address, a NUL-terminated user id (and, for
4a, whose address is 0.0.0.x with x > 0, a NUL-terminated domain name). SOCKS 5: ``05``,
the number of methods, then exactly that many method bytes (the client waits for the
server's choice, so the greeting stands alone, or is followed by a request starting
``05`` or an RFC 1929 sub-negotiation starting ``01``).
"""

from __future__ import annotations

from typing import Final

from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Direction

# Longest SOCKS 4 user id (and 4a domain) the probe waits for; real ones are short.
PROBE_MAX_FIELD: Final = 255


def _probe_v4(data: bytes) -> Verdict:
    if len(data) > 1 and data[1] not in (1, 2):
        return Verdict.NO_MATCH
    if len(data) < 9:
        return Verdict.NEED_MORE
    end = data.find(b"\x00", 8)
    if end < 0:
        return Verdict.NEED_MORE if len(data) < 8 + PROBE_MAX_FIELD else Verdict.NO_MATCH
    socks4a = data[4:7] == b"\x00\x00\x00" and data[7] != 0
    if socks4a:
        name_end = data.find(b"\x00", end + 1)
        if name_end < 0:
            return Verdict.NEED_MORE if len(data) < end + PROBE_MAX_FIELD else Verdict.NO_MATCH
        if name_end == end + 1:
            return Verdict.NO_MATCH
        end = name_end
    return Verdict.MATCH if len(data) == end + 1 else Verdict.NO_MATCH


def _probe_v5(data: bytes) -> Verdict:
    if len(data) < 2:
        return Verdict.NEED_MORE
    count = data[1]
    if count == 0:
        return Verdict.NO_MATCH
    if len(data) < 2 + count:
        return Verdict.NEED_MORE
    methods = data[2 : 2 + count]
    if any(0x0A <= m < 0x80 for m in methods):  # unassigned IANA method values
        return Verdict.NO_MATCH
    rest = data[2 + count :]
    if rest and rest[0] not in (0x01, 0x05):
        return Verdict.NO_MATCH
    return Verdict.MATCH


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a whole SOCKS 4/4a request or SOCKS 5 greeting from the client."""
    if direction is not Direction.ORIG or not data:
        return Verdict.NO_MATCH
    if data[0] == 4:
        return _probe_v4(data)
    if data[0] == 5:
        return _probe_v5(data)
    return Verdict.NO_MATCH
