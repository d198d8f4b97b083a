"""SMTP (RFC 5321 with AUTH, PIPELINING, CHUNKING, STARTTLS): registration and public names.

Detection rules live in ``detect.py`` next to the parser; the parser in ``parser.py``; it
emits the mail events of ``protocols/mailevents.py``.
"""

from __future__ import annotations

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols._mail import DotStuffedReader
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.smtp.detect import SIGNATURES, probe
from wiresift.protocols.smtp.parser import VERBS, SmtpParser

__all__ = ["SIGNATURES", "SPEC", "VERBS", "DotStuffedReader", "SmtpParser", "probe"]

SPEC = ProtocolSpec(
    name="smtp",
    transport="tcp",
    # 25 (RFC 5321), 587 submission (RFC 6409), 2525 a common alternate. 465 (RFC 8314)
    # is implicit TLS and left to TLS detection.
    ports=frozenset({25, 587, 2525}),
    parser=SmtpParser,
    description="SMTP (RFC 5321)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)
