"""How OSCAR streams are recognised by content (protocols.md s1 "Detection").

A connection opens with a channel-1 FLAP whose data starts with the FLAP version
``00 00 00 01`` (the server sends exactly that; the client follows it with TLVs). A stream
seen mid-way is taken when a FLAP header (0x2A, channel 1-5) carries a SNAC of a known
family, or a keep-alive, and its length lands on the next FLAP header when that is visible.
OFT2 peer connections start with the ``OFT2``/``OFT3`` magic and a header length; Direct IM
with ``ODC2``; through AOL's proxy, with a proxy frame of version 0x044A.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction
from wiresift.protocols.oscar.wire import (
    CHANNEL_KEEPALIVE,
    CHANNEL_SIGNON,
    CHANNEL_SNAC,
    FLAP_HEADER,
    FLAP_MARKER,
    FLAP_VERSION,
    SNAC_HEADER,
)

# Highest SNAC family libpurple knows (0x0025, snactypes.h); beyond that is not OSCAR.
MAX_FAMILY: Final = 0x0025
# Highest subtype seen in any family (feedbag goes to 0x001C, protocols.md s1.4; BUCP 0x0021).
MAX_SUBTYPE: Final = 0x0040

SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"\x2a\x01..\x00[\x04-\xff]\x00\x00\x00\x01", re.DOTALL),
        depth=10,
        description="FLAP channel 1 sign-on with FLAP version 1 (protocols.md s1.1)",
    ),
)

OFT_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(rb"OFT[23]\x01[\x00-\xff]\x01\x01", re.DOTALL),
        depth=8,
        description="OFT2 prompt header, length 256+ (protocols.md s1.5)",
    ),
    Signature(
        direction=None,
        pattern=re.compile(rb"ODC2\x00[\x4c-\xff]", re.DOTALL),
        depth=6,
        description="Direct IM ODC2 header (protocols.md s1.5)",
    ),
    Signature(
        direction=None,
        # length(2), version 0x044A, command 1..6 (libpurple peer_proxy.c: ERROR, CREATE,
        # CREATED, JOIN, ACK, READY).
        pattern=re.compile(rb"[\x00-\xff]{2}\x04\x4a\x00[\x01-\x06]", re.DOTALL),
        depth=6,
        description="AOL rendezvous proxy frame, version 0x044A (protocols.md s1.5)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a FLAP header carrying sign-on, a known SNAC or a keep-alive."""
    if not data:
        return Verdict.NEED_MORE
    if data[0] != FLAP_MARKER:
        return Verdict.NO_MATCH
    if len(data) < FLAP_HEADER.size:
        return Verdict.NEED_MORE
    _, channel, _, length = FLAP_HEADER.unpack_from(data)
    if not CHANNEL_SIGNON <= channel <= CHANNEL_KEEPALIVE:
        return Verdict.NO_MATCH
    after = FLAP_HEADER.size + length
    if len(data) >= after + 2 and (data[after] != FLAP_MARKER or not 1 <= data[after + 1] <= 5):
        return Verdict.NO_MATCH
    if channel == CHANNEL_SIGNON:
        if length < 4:
            return Verdict.NO_MATCH
        if len(data) < 10:
            return Verdict.NEED_MORE
        return Verdict.MATCH if data[6:10] == FLAP_VERSION else Verdict.NO_MATCH
    if channel == CHANNEL_SNAC:
        if length < SNAC_HEADER.size:
            return Verdict.NO_MATCH
        if len(data) < FLAP_HEADER.size + 4:
            return Verdict.NEED_MORE
        family, subtype = data[6] << 8 | data[7], data[8] << 8 | data[9]
        ok = 1 <= family <= MAX_FAMILY and 1 <= subtype <= MAX_SUBTYPE
        return Verdict.MATCH if ok else Verdict.NO_MATCH
    if channel == CHANNEL_KEEPALIVE:
        return Verdict.MATCH if length == 0 else Verdict.NO_MATCH
    return Verdict.NEED_MORE if len(data) < after + 2 else Verdict.MATCH
