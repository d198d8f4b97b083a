"""POP3 (RFC 1939 with CAPA, AUTH, STLS): registration and public names.

Detection rules live in ``detect.py`` next to the parser; the parser in ``parser.py``; it
emits the mail events of ``protocols/mailevents.py``.
"""

from __future__ import annotations

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.pop3.detect import SIGNATURES, probe
from wiresift.protocols.pop3.parser import VERBS, Pop3Parser

__all__ = ["SIGNATURES", "SPEC", "VERBS", "Pop3Parser", "probe"]

SPEC = ProtocolSpec(
    name="pop3",
    transport="tcp",
    # 110 (RFC 1939 s3). 995 (RFC 8314) is implicit TLS and left to TLS detection.
    ports=frozenset({110}),
    parser=Pop3Parser,
    description="POP3 (RFC 1939)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)
