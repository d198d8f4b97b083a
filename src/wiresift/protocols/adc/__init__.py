"""Direct Connect, ADC dialect (dc-protocols/adc ``ADC.txt`` 1.0.4, ``ADC-EXT.txt``).

``SPEC`` covers hub connections and client-to-client connections alike, found by content;
``DCTM`` also announces the client-to-client connection as an ``ExpectConnection`` to this
same protocol, with a ``DcPeerContext`` (nicks and token).
"""

from __future__ import annotations

from wiresift.protocols.adc.detect import SIGNATURES
from wiresift.protocols.adc.parser import AdcParser, unescape
from wiresift.protocols.base import ProtocolSpec

__all__ = ["SPEC", "AdcParser", "unescape"]

SPEC = ProtocolSpec(
    name="adc",
    transport="tcp",
    ports=frozenset(),  # ADC.txt: the port comes from the adc:// URL; none is registered
    parser=AdcParser,
    description="Direct Connect ADC hub and client-to-client connections (ADC.txt)",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)
