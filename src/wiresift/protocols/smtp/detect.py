"""How SMTP is recognised in the first bytes of a stream (RFC 5321 s3.1, s4.1.1.1).

The server greets with ``220`` and the client's first command is EHLO or HELO. A bare
``220`` greeting is also FTP's (RFC 959), so the greeting counts as SMTP only when it names
SMTP (almost every MTA writes "ESMTP" or "SMTP" there); otherwise the client's EHLO/HELO
decides. A capture that starts mid-session is caught by the probe on the usual envelope
commands.
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
        direction=Direction.ORIG,
        pattern=re.compile(rb"(?i:EHLO|HELO)[ \t]+[^\r\n]+\r?\n"),
        depth=512,
        description="SMTP client hello: EHLO or HELO and a domain (RFC 5321 s4.1.1.1)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"220[ -][^\r\n]*(?i:SMTP)"),
        depth=512,
        description="SMTP greeting: 220 naming (E)SMTP (RFC 5321 s4.2, s4.3.1)",
    ),
)

# Envelope commands with their fixed syntax (RFC 5321 s4.1.1), for mid-session starts.
_CLIENT_LINE: Final = re.compile(
    rb"(?i:EHLO [^\r\n]+|HELO [^\r\n]+|MAIL FROM:[^\r\n]*|RCPT TO:[^\r\n]*|STARTTLS"
    rb"|AUTH (?:PLAIN|LOGIN|CRAM-MD5|XOAUTH2|OAUTHBEARER)[^\r\n]*)\r?\n"
)
_CLIENT_PREFIXES: Final = (
    b"EHLO ", b"HELO ", b"MAIL FROM:", b"RCPT TO:", b"STARTTLS", b"AUTH ",
)  # fmt: skip
_GREETING: Final = re.compile(rb"220[ -][^\r\n]*\r?\n")
_GREETING_PARTIAL: Final = re.compile(rb"2(?:2(?:0(?:[ -][^\r\n]*\r?)?)?)?")


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a whole envelope command line (ORIG) or a 220 greeting naming SMTP (RESP).

    NEED_MORE while ``data`` is still a prefix of one, NO_MATCH otherwise.
    """
    if direction is Direction.ORIG:
        if _CLIENT_LINE.match(data):
            return Verdict.MATCH
        head = data[:10].upper()
        if (
            b"\n" not in data
            and len(data) < PROBE_MAX_LINE
            and any(p.startswith(head) or head.startswith(p) for p in _CLIENT_PREFIXES)
        ):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    line = _GREETING.match(data)
    if line is not None:
        return Verdict.MATCH if b"SMTP" in line.group().upper() else Verdict.NO_MATCH
    if b"\n" not in data and len(data) < PROBE_MAX_LINE and _GREETING_PARTIAL.fullmatch(data):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH
