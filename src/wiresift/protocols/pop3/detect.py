"""How POP3 is recognised in the first bytes of a stream (RFC 1939 s4, RFC 2449, RFC 5034).

The server greets with ``+OK``; the client starts with USER, APOP, CAPA, AUTH or STLS. A
capture that starts mid-session is caught by the probe on numbered commands (RETR n, TOP n
m, DELE n): FTP has RETR and DELE too, but with file names, and FTP is told apart by its
``220`` greeting first.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# Longest first line the probe waits for (the default Limits.max_line).
PROBE_MAX_LINE: Final = 8192

SIGNATURES: Final = (
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"\+OK[ \r\n]"),
        depth=4,
        description="POP3 greeting: +OK (RFC 1939 s4)",
    ),
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(
            # USER takes one name (RFC 1939 s7); IRC's USER has four parameters.
            rb"(?i:USER [^ \r\n]+ ?|APOP [^\r\n]+ [0-9a-f]{32}|CAPA|STLS|AUTH[^\r\n]*)\r?\n"
        ),
        depth=512,
        description="POP3 client opening: USER, APOP, CAPA, STLS or AUTH (RFC 1939, 2449, 5034)",
    ),
)

_NUMBERED: Final = re.compile(rb"(?i:RETR [0-9]+|DELE [0-9]+|TOP [0-9]+ [0-9]+)\r?\n")
_NUMBERED_PREFIXES: Final = (b"RETR ", b"DELE ", b"TOP ")
_STATUS: Final = re.compile(rb"\+OK(?: [^\r\n]*)?\r?\n")


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a numbered command line (ORIG) or a whole ``+OK`` line (RESP).

    NEED_MORE while ``data`` is still a prefix of one, NO_MATCH otherwise.
    """
    if direction is Direction.ORIG:
        if _NUMBERED.match(data):
            return Verdict.MATCH
        head = data[:5].upper()
        if (
            b"\n" not in data
            and len(data) < PROBE_MAX_LINE
            and any(p.startswith(head) or head.startswith(p) for p in _NUMBERED_PREFIXES)
        ):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    if _STATUS.match(data):
        return Verdict.MATCH
    if b"\n" not in data and len(data) < PROBE_MAX_LINE and b"+OK".startswith(data[:3]):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH
