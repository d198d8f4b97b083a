"""How FTP control connections are recognised (RFC 959 s4.2, s5.4).

The server greets with ``220`` and the client's first command is USER, AUTH, FEAT, SYST,
OPTS or HOST (RFC 7151). A bare ``220`` greeting is also SMTP's, so the greeting alone counts
only when it names FTP (vsFTPd, ProFTPD, Pure-FTPd, FileZilla and IIS all do); otherwise
the client's first command decides. POP3 also has USER, but its ``+OK`` greeting is caught
by POP3 first.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# First commands of an FTP client (RFC 959 s4.1.1, RFC 2389 FEAT/OPTS, RFC 4217 AUTH,
# RFC 7151 HOST).
FIRST_COMMANDS: Final = (b"USER ", b"AUTH ", b"FEAT\r\n", b"SYST\r\n", b"OPTS ", b"HOST ")
_LONGEST: Final = max(len(c) for c in FIRST_COMMANDS)

SIGNATURES: Final = (
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"220[ -][^\r\n]*(?i:FTP)"),
        depth=512,
        description="FTP greeting: 220 naming FTP (RFC 959 s4.2)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a first client command of FTP (ORIG); RESP bytes are left to signatures."""
    if direction is Direction.RESP:
        return Verdict.NO_MATCH
    head = data[:_LONGEST].upper()
    if head.startswith(b"USER "):
        # FTP's USER takes one argument (RFC 959 s4.1.1); IRC's takes four (RFC 2812 s3.1.3).
        end = data.find(b"\n", 0, 512)
        if end < 0:
            return Verdict.NEED_MORE if len(data) < 512 else Verdict.NO_MATCH
        argument = data[5:end].strip()
        return Verdict.MATCH if argument and b" " not in argument else Verdict.NO_MATCH
    if head.startswith(FIRST_COMMANDS):
        return Verdict.MATCH
    if len(head) < _LONGEST and any(c.startswith(head) for c in FIRST_COMMANDS):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH
