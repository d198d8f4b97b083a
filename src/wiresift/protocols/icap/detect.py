"""How ICAP is recognised in the first bytes of a stream (RFC 3507 s4.3).

The client's first line is ``method SP icap://... SP ICAP/1.0`` with REQMOD, RESPMOD or
OPTIONS; the server's is ``ICAP/1.0 SP status-code``. Port 1344 (RFC 3507 s4.2) is only a
hint.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# The methods RFC 3507 s4.3.2 defines.
METHODS: Final = (b"REQMOD", b"RESPMOD", b"OPTIONS")
_SCHEME: Final = b" icap://"
# The longest prefix the request signature needs: "RESPMOD icap://".
PREFIX_LEN: Final = max(len(method) for method in METHODS) + len(_SCHEME)

REQUEST_START: Final = re.compile(rb"(?:REQMOD|RESPMOD|OPTIONS) icap://", re.IGNORECASE)
STATUS_START: Final = re.compile(rb"ICAP/1\.[0-9] [0-9]{3}")
# Upper-cased, to compare with an upper-cased head (methods and scheme ignore case here).
METHOD_PREFIXES: Final = tuple((method + _SCHEME).upper() for method in METHODS)

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=REQUEST_START,
        depth=PREFIX_LEN,
        description="ICAP request line: REQMOD, RESPMOD or OPTIONS icap:// (RFC 3507 s4.3.2)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=STATUS_START,
        depth=12,
        description="ICAP status line: ICAP/1.0 and a status code (RFC 3507 s4.3.3)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """NEED_MORE while ``data`` is a prefix of an ICAP start line; MATCH is left to the
    signatures, so this only keeps detection waiting for a split first line."""
    if direction is Direction.ORIG:
        head = data[:PREFIX_LEN].upper()
        if any(prefix.startswith(head) for prefix in METHOD_PREFIXES) and len(head) < PREFIX_LEN:
            return Verdict.NEED_MORE
        return Verdict.MATCH if REQUEST_START.match(data) else Verdict.NO_MATCH
    if (
        len(data) < 12
        and b"ICAP/1.0 ".startswith(data[:9])
        and (len(data) <= 9 or data[9:].isdigit())
    ):
        return Verdict.NEED_MORE
    return Verdict.MATCH if STATUS_START.match(data) else Verdict.NO_MATCH
