"""How YMSG connections are recognised (nDPI ``yahoo.c``; libpurple ``yahoo_packet.h``).

Either side's first bytes are ``YMSG`` and a big-endian version up to 0x20, then the
vendor id, body length and service; any port (5050, 80, 443, 23, 25 were all used).
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature

SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"YMSG\x00[\x01-\x20]", re.DOTALL),
        depth=6,
        description="YMSG header: magic and a version up to 0x20 (nDPI yahoo.c)",
    ),
)
