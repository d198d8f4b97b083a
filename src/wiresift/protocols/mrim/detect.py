"""How MRIM streams are recognised (protocols.md s4 "Detection", s4.6).

Every packet starts with the magic 0xDEADBEEF (``EF BE AD DE``) and a version word whose
major is 1 (``xx 00 01 00``); the client's first packet is normally HELLO (0x1001). The
same test finds a stream seen mid-way, since packets follow each other back to back.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature

SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"\xef\xbe\xad\xde.\x00\x01\x00", re.DOTALL),
        depth=8,
        description="MRIM header: magic 0xDEADBEEF LE, protocol major 1 (protocols.md s4.1)",
    ),
)

FT_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"MRA_FT_HELLO [^\x00]{1,256}\x00"),
        depth=270,
        description="MRIM file transfer greeting (protocols.md s4.5)",
    ),
)
