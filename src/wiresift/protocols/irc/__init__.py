"""IRC (RFC 1459, RFC 2812, IRCv3 message tags) and its DCC connections (CTCP DCC).

``SPEC`` is the client-server connection, found by content on any port; ``DCC_SPEC`` is a
DCC SEND or CHAT connection, never detected by content: only an ``ExpectConnection`` from
the IRC parser (a DCC offer) hands a flow to it. Both belong in the registry (``SPECS``).
"""

from __future__ import annotations

from typing import Final

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.irc.detect import SIGNATURES, probe
from wiresift.protocols.irc.parser import DccContext, IrcDccParser, IrcParser

__all__ = ["DCC_SPEC", "SPEC", "SPECS", "DccContext", "IrcDccParser", "IrcParser", "probe"]

SPEC = ProtocolSpec(
    name="irc",
    transport="tcp",
    # IANA 194 and 6665-6669, 6697 (TLS, left to TLS), 7000 and 8000 are common too.
    ports=frozenset({194, 6665, 6666, 6667, 6668, 6669, 7000}),
    parser=IrcParser,
    description="IRC client-server connection (RFC 2812)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)

DCC_SPEC = ProtocolSpec(
    name="irc-dcc",
    transport="tcp",
    ports=frozenset(),  # any port: the offer names it
    parser=IrcDccParser,
    description="IRC DCC SEND/CHAT connection, found only through expectations",
    accepts_gaps=True,
)

SPECS: Final = (SPEC, DCC_SPEC)
