"""Protocol parsers: one package per protocol, each registering a ``SPEC``.

``REGISTRY`` is the static list of every protocol wiresift knows, in order of preference
when several match the same bytes.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols import (
    adc,
    bittorrent,
    dtls,
    ftp,
    http1,
    http2,
    icap,
    imap,
    irc,
    mrim,
    msn,
    nmdc,
    notes,
    oscar,
    pop3,
    skype,
    smtp,
    socks,
    tls,
    websocket,
    xmpp,
    ymsg,
)
from wiresift.protocols.base import ProtocolSpec

# FTP before POP3: both take USER as a first command, and an FTP greeting need not name FTP.
# ICAP before HTTP/1: "OPTIONS icap://" would otherwise match HTTP's OPTIONS signature, and
# ICAP clients (c-icap, Squid) open a connection with OPTIONS.
REGISTRY: Final[tuple[ProtocolSpec, ...]] = (
    icap.SPEC,
    http1.SPEC,
    http2.SPEC,
    smtp.SPEC,
    *ftp.SPECS,
    pop3.SPEC,
    imap.SPEC,
    *irc.SPECS,
    *xmpp.SPECS,
    tls.SPEC,
    dtls.SPEC,
    socks.SPEC,
    websocket.SPEC,
    nmdc.SPEC,
    adc.SPEC,
    *oscar.SPECS,
    *mrim.SPECS,
    *msn.SPECS,
    ymsg.SPEC,
    *bittorrent.SPECS,
    # The weakest heuristics last: NRPC's 8-byte pattern, STUN, classic Skype's header shape.
    notes.SPEC,
    *skype.SPECS,
)

__all__ = ["REGISTRY"]
