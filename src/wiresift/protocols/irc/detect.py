"""How IRC connections are recognised (RFC 1459 s4.1, RFC 2812 s3.1, IRCv3 CAP).

A client opens with its registration: CAP LS/REQ (IRCv3 capability negotiation), PASS,
NICK or USER. FTP also begins with ``USER``, so only IRC's four-parameter form counts
(``USER name mode unused :realname``). A server's first line is a prefixed NOTICE or a
numeric reply (``:irc.example NOTICE * :*** Looking up your hostname``); a capture that
starts mid-session shows prefixed messages or IRCv3 tags first. Ports are hints only:
real networks run on 6660-6669, 6697, 7000, 8000, 80 and more.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# A whole first client line (RFC 2812 s3.1.1-3.1.3; IRCv3 capability negotiation).
_CLIENT_FIRST: Final = re.compile(
    rb"(?:CAP (?:LS|REQ)\b[^\r\n]*"
    rb"|PASS [^\r\n ]+"
    rb"|NICK :?[^\r\n :]+"
    rb"|USER [^\r\n ]+ [^\r\n ]+ [^\r\n ]+ :?[^\r\n]*)\r?\n"
)
# Prefixes of the same commands, for NEED_MORE while the first line is incomplete.
_CLIENT_STARTS: Final = (b"CAP ", b"PASS ", b"NICK ", b"USER ")
# Longest first line the probe waits for (RFC 2812 s2.3: 512 bytes with CRLF).
_PROBE_DEPTH: Final = 512

SIGNATURES: Final = (
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(
            rb"(?:@[^ \r\n]+ +)?:[^ \r\n]+ +"
            rb"(?:NOTICE|PRIVMSG|JOIN|CAP|PING|[0-9]{3}) +[^\r\n]*\r?\n"
        ),
        depth=_PROBE_DEPTH,
        description="IRC server line: prefixed NOTICE, numeric or message (RFC 2812 s2.3.1)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"NOTICE AUTH :[^\r\n]*\r?\n"),
        depth=_PROBE_DEPTH,
        description="IRC server greeting without prefix (NOTICE AUTH)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH when the client's first line is an IRC registration command."""
    if direction is Direction.RESP:
        return Verdict.NO_MATCH
    head = data[:_PROBE_DEPTH]
    if _CLIENT_FIRST.match(head):
        return Verdict.MATCH
    start = head[:5]
    if any(s.startswith(start) or start.startswith(s) for s in _CLIENT_STARTS):
        return (
            Verdict.NEED_MORE
            if b"\n" not in head and len(head) < _PROBE_DEPTH
            else (Verdict.NO_MATCH)
        )
    return Verdict.NO_MATCH
