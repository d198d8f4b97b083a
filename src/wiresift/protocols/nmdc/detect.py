"""How NMDC connections are recognised (nmdc.md; nDPI ``directconnect.c``).

A hub speaks first with ``$Lock <lock> Pk=<pk>|``. On a client-to-client connection both
sides open with ``$MyNick <nick>|`` followed by ``$Lock``, so that signature holds for
either side and says nothing about roles.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature
from wiresift.protocols.base import Direction

SIGNATURES: Final = (
    Signature(
        direction=Direction.RESP,
        # The lock is printable ASCII without "|" (often "EXTENDEDPROTOCOL..."), nmdc.md $Lock.
        pattern=re.compile(rb"\$Lock [\x21-\x7b\x7d-\x7e]"),
        depth=16,
        description="NMDC hub greeting: $Lock (nmdc.md)",
    ),
    Signature(
        direction=None,
        pattern=re.compile(rb"\$MyNick [^\s|$]{1,64}\|"),
        depth=80,
        description="NMDC client-to-client handshake: $MyNick (nmdc.md)",
    ),
)
