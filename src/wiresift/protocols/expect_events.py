"""The event a parser emits to announce a connection it has negotiated.

FTP's PASV/EPSV replies and PORT/EPRT commands (RFC 959 s4.1.2, RFC 2428) name the address
and port of a data connection that is about to be opened; IRC DCC and SIP/SDP do the same.
The engine registers the announcement in ``flow/expect.py``; the connection that matches it
is handed to ``protocol`` without content detection, and its parser receives ``context``
as ``FlowInfo.context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from wiresift.protocols.base import Event

NS: Final = 1_000_000_000
# How long an announced connection is waited for. Zeek's FTP analyzer expects the data
# connection for 5 minutes (ftp_data_expected + expected-connection timeout); clients open
# it within seconds, so one minute keeps the table small and still covers slow links.
DEFAULT_EXPECT_WITHIN_NS: Final = 60 * NS


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectConnection(Event):
    """Says: a connection to ``server_addr``:``server_port`` within ``within_ns`` of ``ts``
    is ``protocol``. ``client_addr`` None means from any address; the client port is never
    known in advance. Addresses are in text form (IPv4 dotted quad or IPv6)."""

    protocol: str
    server_addr: str
    server_port: int
    client_addr: str | None = None
    transport: Literal["tcp", "udp"] = "tcp"
    within_ns: int = DEFAULT_EXPECT_WITHIN_NS
    context: object | None = None
