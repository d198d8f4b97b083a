"""How MSN Messenger connections are recognised (nDPI ``msn.c``; libpurple ``msn/``).

A notification server connection starts with the client's ``VER <trid> MSNP<n> ...``; a
switchboard with ``USR <trid> <email> <cookie>`` (caller) or ``ANS <trid> <email>
<cookie> <session>`` (invitee). MSNFTP starts with ``VER MSNFTP`` and a direct P2P
connection with the length-prefixed ``foo\\0``. Any port: 1863 is a hint only.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature
from wiresift.protocols.base import Direction

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(rb"VER [0-9]{1,10}( MSNP[0-9]{1,2}| CVR[0-9])+[ \w]*\r\n"),
        depth=128,
        description="MSNP notification server: VER trid MSNPn ... (nDPI msn.c)",
    ),
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(
            rb"(?:USR|ANS) [0-9]{1,10} [^ @\r\n]{1,128}@[^ \r\n]{1,128} [^\r\n]{1,200}\r\n"
        ),
        depth=512,
        description="MSNP switchboard: USR/ANS trid e-mail cookie (libpurple switchboard.c)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"VER [0-9]{1,10} MSNP[0-9]{1,2}[ \w]*\r\n"),
        depth=128,
        description="MSNP notification server answering VER (mid-stream or reversed roles)",
    ),
)

MSNFTP_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"VER MSNFTP\r\n"),
        depth=16,
        description="MSNFTP file connection (msnftp.html; nDPI msn.c)",
    ),
)

DIRECT_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"\x04\x00\x00\x00foo\x00"),
        depth=8,
        description="MSN P2P direct connection: 4-byte LE length, foo NUL (libpurple directconn.c)",
    ),
)
