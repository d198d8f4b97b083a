"""IMAP4rev1 and IMAP4rev2 (RFC 3501, RFC 9051): registration and public names.

Detection rules live in ``detect.py`` next to the parser (Zeek's ``dpd.sig`` habit); the
lexical helpers in ``syntax.py``; the parser in ``parser.py``. The parser emits the mail
events of ``protocols/mailevents.py``.
"""

from __future__ import annotations

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.imap.detect import COMMANDS, SIGNATURES, probe
from wiresift.protocols.imap.parser import MAX_LITERAL, ImapParser
from wiresift.protocols.imap.syntax import decode_mailbox

__all__ = ["COMMANDS", "MAX_LITERAL", "SPEC", "ImapParser", "decode_mailbox", "probe"]

SPEC = ProtocolSpec(
    name="imap",
    transport="tcp",
    # 143 (RFC 3501 s2.1). 993 (IMAP over implicit TLS, RFC 8314 s3.3) is left out on
    # purpose: its bytes are TLS records, which the TLS parser reads; a port fallback to
    # IMAP there would parse ciphertext.
    ports=frozenset({143}),
    parser=ImapParser,
    description="IMAP4rev1/IMAP4rev2 (RFC 3501, RFC 9051)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)
