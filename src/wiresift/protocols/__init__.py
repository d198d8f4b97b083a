"""Protocol parsers: one package per protocol, each registering a ``SPEC``.

``REGISTRY`` is the static list of every protocol wiresift knows, in order of preference
when several match the same bytes.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols import (
    adc,
    ftp,
    http1,
    http2,
    imap,
    nmdc,
    pop3,
    smtp,
    socks,
    tls,
    websocket,
)
from wiresift.protocols.base import ProtocolSpec

# FTP before POP3: both take USER as a first command, and an FTP greeting need not name FTP.
REGISTRY: Final[tuple[ProtocolSpec, ...]] = (
    http1.SPEC,
    http2.SPEC,
    smtp.SPEC,
    *ftp.SPECS,
    pop3.SPEC,
    imap.SPEC,
    tls.SPEC,
    socks.SPEC,
    websocket.SPEC,
    nmdc.SPEC,
    adc.SPEC,
)

__all__ = ["REGISTRY"]
