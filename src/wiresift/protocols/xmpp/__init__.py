"""XMPP (RFC 6120, RFC 6121) client streams, and XEP-0065 SOCKS5 bytestreams.

``SPEC`` is the XML stream, found by content on any port; ``S5B_SPEC`` is a SOCKS5
bytestream carrying a file, never detected by content: only an ``ExpectConnection`` from
the XMPP parser (a streamhost offer) hands a flow to it. Both belong in the registry
(``SPECS``). ``xmlstream`` is the streaming XML reader (no DTD, no entity expansion).
"""

from __future__ import annotations

from typing import Final

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.xmpp.detect import SIGNATURES
from wiresift.protocols.xmpp.parser import S5bContext, XmppParser, XmppS5bParser

__all__ = ["S5B_SPEC", "SPEC", "SPECS", "S5bContext", "XmppParser", "XmppS5bParser"]

SPEC = ProtocolSpec(
    name="xmpp",
    transport="tcp",
    ports=frozenset({5222, 5269}),  # RFC 6120 s14.7 (5223, legacy TLS, is left to TLS)
    parser=XmppParser,
    description="XMPP client or server stream (RFC 6120)",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)

S5B_SPEC = ProtocolSpec(
    name="xmpp-s5b",
    transport="tcp",
    ports=frozenset(),  # the streamhost offer names it
    parser=XmppS5bParser,
    description="XEP-0065 SOCKS5 bytestream, found only through expectations",
    accepts_gaps=True,
)

SPECS: Final = (SPEC, S5B_SPEC)
