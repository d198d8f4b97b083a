"""How ADC connections are recognised (ADC.txt s4 "Session states", nDPI ``directconnect.c``).

A client opens a hub connection with ``HSUP ADBASE ...`` (``ADBAS0`` in pre-1.0 clients)
and the hub answers ``ISUP ...`` then ``ISID <sid>``; a client-to-client connection opens
with ``CSUP ADBASE ...`` from both sides.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature
from wiresift.protocols.base import Direction

# ADC.txt s5.3.1 SUP: "AD" + a four-letter feature; BASE (or BAS0) is mandatory.
_FEATURES: Final = rb"(?: (?:AD|RM)[A-Z0-9]{4})*"

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(rb"HSUP" + _FEATURES + rb" ADBAS[E0]"),
        depth=256,
        description="ADC client hello: HSUP ADBASE (ADC.txt s5.3.1)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"ISUP" + _FEATURES + rb" ADBAS[E0]"),
        depth=256,
        description="ADC hub hello: ISUP ADBASE (ADC.txt s5.3.1)",
    ),
    Signature(
        direction=None,
        pattern=re.compile(rb"CSUP" + _FEATURES + rb" ADBAS[E0]"),
        depth=256,
        description="ADC client-to-client hello: CSUP ADBASE (ADC.txt s5.3.1)",
    ),
)
