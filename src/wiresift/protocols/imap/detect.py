"""How IMAP4 is recognised in the first bytes of a stream (RFC 3501 s7.1, s6; RFC 9051).

The server speaks first with an untagged greeting: ``* OK``, ``* PREAUTH`` or ``* BYE``
(RFC 3501 s7.1.1, s7.1.4, s7.1.5), often with a ``[CAPABILITY IMAP4rev1 ...]`` code. A
client's line is ``tag SP command``; only the commands that open a session count here
(CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, ID, NOOP, ENABLE), so a text protocol that
happens to send two words is not taken for IMAP.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# Every command of RFC 3501 s6 and RFC 9051 s6, and of the common extensions: IDLE
# (RFC 2177), NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), UNSELECT (RFC 3691),
# MOVE (RFC 6851), COMPRESS (RFC 4978), QUOTA (RFC 9208), ACL (RFC 4314), METADATA
# (RFC 5464), SORT/THREAD (RFC 5256), GETQUOTA etc.
COMMANDS: Final = frozenset(
    {
        b"CAPABILITY", b"NOOP", b"LOGOUT", b"STARTTLS", b"AUTHENTICATE", b"LOGIN",
        b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"RENAME", b"SUBSCRIBE",
        b"UNSUBSCRIBE", b"LIST", b"LSUB", b"STATUS", b"APPEND", b"CHECK", b"CLOSE",
        b"EXPUNGE", b"SEARCH", b"FETCH", b"STORE", b"COPY", b"MOVE", b"UID", b"IDLE",
        b"NAMESPACE", b"ID", b"ENABLE", b"UNSELECT", b"COMPRESS", b"GETQUOTA",
        b"GETQUOTAROOT", b"SETQUOTA", b"GETACL", b"SETACL", b"DELETEACL", b"LISTRIGHTS",
        b"MYRIGHTS", b"GETMETADATA", b"SETMETADATA", b"SORT", b"THREAD", b"ESEARCH",
        b"XLIST", b"NOTIFY", b"UNAUTHENTICATE", b"REPLACE",
    }
)  # fmt: skip
# Commands a client sends first in a session.
OPENING_COMMANDS: Final = (
    b"CAPABILITY",
    b"LOGIN",
    b"AUTHENTICATE",
    b"STARTTLS",
    b"ID",
    b"NOOP",
    b"ENABLE",
)
# A tag is astring-chars except "+" (RFC 3501 s9: tag); real clients use a few letters and
# digits, so 32 bytes is generous.
TAG_PATTERN: Final = rb"[!#$&',\-./0-9:;<=>?@A-Z\[^_`a-z|~]{1,32}"
_GREETING: Final = re.compile(rb"\* (?:OK|PREAUTH|BYE)(?:[ \[]|\r?\n)")
_GREETING_PARTIAL: Final = re.compile(
    rb"\*(?: (?:O(?:K)?|P(?:R(?:E(?:A(?:U(?:T(?:H)?)?)?)?)?)?|B(?:Y(?:E)?)?)?)?\r?"
)
_OPENING: Final = b"|".join(OPENING_COMMANDS)
_CLIENT_LINE: Final = re.compile(TAG_PATTERN + rb" (?i:" + _OPENING + rb")(?:[ \r\n])")
# Longest first client line the probe waits for (the default Limits.max_line).
PROBE_MAX_LINE: Final = 8192

SIGNATURES: Final = (
    Signature(
        direction=Direction.RESP,
        pattern=_GREETING,
        depth=12,
        description="IMAP greeting: * OK, * PREAUTH or * BYE (RFC 3501 s7.1)",
    ),
    Signature(
        direction=Direction.ORIG,
        pattern=_CLIENT_LINE,
        depth=48,
        description="IMAP command: tag SP CAPABILITY/LOGIN/AUTHENTICATE/... (RFC 3501 s6)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a greeting (RESP) or an opening command line (ORIG).

    NEED_MORE while ``data`` may still become one, NO_MATCH otherwise.
    """
    if direction is Direction.RESP:
        if _GREETING.match(data):
            return Verdict.MATCH
        if _GREETING_PARTIAL.fullmatch(data):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    if _CLIENT_LINE.match(data):
        return Verdict.MATCH
    tag, space, rest = data.partition(b" ")
    if not re.fullmatch(TAG_PATTERN, tag):
        if not space and len(data) <= 32 and re.fullmatch(TAG_PATTERN, data):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    word = rest.upper()
    if b"\n" not in data and any(command.startswith(word) for command in OPENING_COMMANDS):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH
