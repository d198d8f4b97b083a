"""MSN Messenger: MSNP (notification server, switchboard), MSNFTP and P2P direct connections.

``SPEC`` ("msn") reads notification server and switchboard connections, found by content
on any port. ``MSNFTP_SPEC`` ("msnftp") reads the file connection an invitation announces
(through an expectation, or by its ``VER MSNFTP`` greeting). ``DIRECT_SPEC`` ("msnp2p")
reads the direct connection an MSNSLP transreqbody announces. All three are in ``SPECS``.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.msn.detect import DIRECT_SIGNATURES, MSNFTP_SIGNATURES, SIGNATURES
from wiresift.protocols.msn.direct import MsnDirectParser
from wiresift.protocols.msn.msnftp import MsnFtpContext, MsnFtpParser
from wiresift.protocols.msn.p2p import FileSession, P2pAssembler
from wiresift.protocols.msn.parser import MsnParser

__all__ = [
    "DIRECT_SPEC",
    "MSNFTP_SPEC",
    "SPEC",
    "SPECS",
    "FileSession",
    "MsnDirectParser",
    "MsnFtpContext",
    "MsnFtpParser",
    "MsnParser",
    "P2pAssembler",
]

SPEC = ProtocolSpec(
    name="msn",
    transport="tcp",
    ports=frozenset({1863}),  # messenger.hotmail.com NS and SB (libpurple msn/msn.h)
    parser=MsnParser,
    description="MSN Messenger MSNP notification server and switchboard",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)

MSNFTP_SPEC = ProtocolSpec(
    name="msnftp",
    transport="tcp",
    ports=frozenset({6891}),  # default MSNFTP port (hypothetic.org MSN docs, file transfer)
    parser=MsnFtpParser,
    description="MSNFTP file connection announced by a switchboard invitation",
    signatures=MSNFTP_SIGNATURES,
    accepts_gaps=True,
)

DIRECT_SPEC = ProtocolSpec(
    name="msnp2p",
    transport="tcp",
    ports=frozenset(),  # announced in MSNSLP (IPv4*-Port); no default
    parser=MsnDirectParser,
    description="MSN P2P direct connection (MSNSLP TCPv1 bridge)",
    signatures=DIRECT_SIGNATURES,
    accepts_gaps=True,
)

SPECS: Final = (SPEC, MSNFTP_SPEC, DIRECT_SPEC)
