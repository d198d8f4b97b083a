"""Mail.Ru Agent (MRIM): sessions and their file-transfer connections.

``SPEC`` ("mrim") is the client-server session, found by content on any port; ``FT_SPEC``
("mrim-ft") is the ``MRA_FT_*`` connection announced by FILE_TRANSFER (``ExpectConnection``
with an ``MrimTransfer`` context), also recognised by its greeting. Wire formats:
/work/shared/protocols.md s4.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.mrim.detect import FT_SIGNATURES, SIGNATURES
from wiresift.protocols.mrim.events import MrimTransfer
from wiresift.protocols.mrim.parser import MrimFileParser, MrimParser

__all__ = ["FT_SPEC", "SPEC", "SPECS", "MrimFileParser", "MrimParser", "MrimTransfer"]

SPEC = ProtocolSpec(
    name="mrim",
    transport="tcp",
    ports=frozenset({2041, 2042}),  # protocols.md s4: session 2041, redirector 2042
    parser=MrimParser,
    description="Mail.Ru Agent (MRIM): login, messages, contact list, file offers",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)

FT_SPEC = ProtocolSpec(
    name="mrim-ft",
    transport="tcp",
    ports=frozenset(),  # announced per transfer (protocols.md s4.5)
    parser=MrimFileParser,
    description="Mail.Ru Agent file transfer connection (MRA_FT_*)",
    signatures=FT_SIGNATURES,
    accepts_gaps=True,
)

SPECS: Final = (SPEC, FT_SPEC)
