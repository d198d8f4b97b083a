"""SOCKS 4, 4a and 5 (RFC 1928, RFC 1929): registration and public names.

The probe in ``detect.py`` recognises a client's first message; the parser in
``parser.py`` follows the negotiation and hands the tunnelled stream back to detection
with the proxy's target as the new server (``SwitchProtocol.tunnel``).
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.socks.detect import probe
from wiresift.protocols.socks.events import (
    SocksAuth,
    SocksAuthResult,
    SocksGreeting,
    SocksMethod,
    SocksReply,
    SocksRequest,
)
from wiresift.protocols.socks.parser import SocksParser

__all__ = [
    "SPEC",
    "SocksAuth",
    "SocksAuthResult",
    "SocksGreeting",
    "SocksMethod",
    "SocksParser",
    "SocksReply",
    "SocksRequest",
    "probe",
]

SPEC = ProtocolSpec(
    name="socks",
    transport="tcp",
    # 1080 (RFC 1928 s3, IANA "socks").
    ports=frozenset({1080}),
    parser=SocksParser,
    description="SOCKS 4, 4a and 5 proxy negotiation (RFC 1928, RFC 1929)",
    probe=probe,
)
