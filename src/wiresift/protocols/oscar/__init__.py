"""ICQ/AIM OSCAR: FLAP/SNAC control connections and OFT2/Direct IM peer connections.

``SPEC`` ("oscar") is the login (BUCP) or BOS connection, found by content on any port;
``OFT_SPEC`` ("oscar-oft") is a peer connection announced by a rendezvous proposal
(``ExpectConnection`` with an ``OftOffer`` context), also recognised by its ``OFT2``/``ODC2``
magic. Wire formats: /work/shared/protocols.md s1.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.oscar.detect import OFT_SIGNATURES, SIGNATURES, probe
from wiresift.protocols.oscar.events import OftOffer
from wiresift.protocols.oscar.oft import OftParser
from wiresift.protocols.oscar.parser import OscarParser

__all__ = ["OFT_SPEC", "SPEC", "SPECS", "OftOffer", "OftParser", "OscarParser", "probe"]

SPEC = ProtocolSpec(
    name="oscar",
    transport="tcp",
    ports=frozenset({5190}),  # protocols.md s1: login and BOS servers (443/80 carry TLS/HTTP)
    parser=OscarParser,
    description="ICQ/AIM OSCAR (FLAP, SNAC): sign-on, messages, contact list",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
)

OFT_SPEC = ProtocolSpec(
    name="oscar-oft",
    transport="tcp",
    ports=frozenset(),  # announced per transfer (protocols.md s1.5)
    parser=OftParser,
    description="OSCAR peer connection: OFT2 file transfer, Direct IM",
    signatures=OFT_SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)

SPECS: Final = (SPEC, OFT_SPEC)
