"""FTP (RFC 959, RFC 2428, RFC 3659): registration and public names.

``SPEC`` is the control connection, found by content; ``DATA_SPEC`` is the data connection,
never detected by content: only an ``ExpectConnection`` from the control parser hands a
flow to it. Both belong in the registry (``SPECS``).
"""

from __future__ import annotations

from typing import Final

from wiresift.detect.signatures import TEXT_FIRST_BYTES
from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.ftp.detect import SIGNATURES, probe
from wiresift.protocols.ftp.events import (
    DataChunk,
    DataGap,
    DataStart,
    FtpCommand,
    FtpLogin,
    FtpReply,
    FtpTransfer,
    TransferEnd,
)
from wiresift.protocols.ftp.parser import FtpDataParser, FtpParser

__all__ = [
    "DATA_SPEC",
    "SIGNATURES",
    "SPEC",
    "SPECS",
    "DataChunk",
    "DataGap",
    "DataStart",
    "FtpCommand",
    "FtpDataParser",
    "FtpLogin",
    "FtpParser",
    "FtpReply",
    "FtpTransfer",
    "TransferEnd",
    "probe",
]

SPEC = ProtocolSpec(
    name="ftp",
    transport="tcp",
    ports=frozenset({21}),  # RFC 959 s5.2 (990, FTPS implicit, is left to TLS)
    parser=FtpParser,
    description="FTP control connection (RFC 959)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
    first_bytes=TEXT_FIRST_BYTES,
)

DATA_SPEC = ProtocolSpec(
    name="ftp-data",
    transport="tcp",
    ports=frozenset(),  # port 20 is only the active-mode source; expectations decide
    parser=FtpDataParser,
    description="FTP data connection (RFC 959 s3.2), found only through expectations",
    accepts_gaps=True,
)

SPECS: Final = (SPEC, DATA_SPEC)
