"""Events of the FTP control and data parsers, and the transfer they share.

Wire fields stay ``bytes``; ``extract/ftp.py`` decodes them. ``FtpTransfer`` is the context
an ``ExpectConnection`` hands to the data connection: the control parser creates it when a
data connection is negotiated (PASV reply, PORT command) and fills it in as the transfer
command and its replies arrive, so both connections see the same facts whatever order the
capture shows them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wiresift.protocols.base import Event


class FtpTransfer:
    """One data transfer (RFC 959 s3.2), shared by the control and the data connection.

    Mutable on purpose: the data connection is announced before its command is sent.
    """

    __slots__ = (
        "aborted",
        "announced_size",
        "argument",
        "client_addr",
        "command",
        "control_closed",
        "control_uid",
        "cwd",
        "data_addr",
        "data_port",
        "direction",
        "finisher",
        "mode",
        "offset",
        "path",
        "reply_code",
        "reply_text",
        "server_addr",
        "server_port",
        "type",
        "user",
    )

    def __init__(
        self,
        *,
        mode: str,
        data_addr: str,
        data_port: int,
        control_uid: str,
        server_addr: str,
        server_port: int,
        client_addr: str,
        user: bytes | None,
        cwd: bytes | None,
        type_: bytes,
    ) -> None:
        self.mode = mode  # "passive" (client connects) or "active" (server connects)
        self.data_addr = data_addr  # the address and port the announcement named
        self.data_port = data_port
        self.control_uid = control_uid
        self.server_addr = server_addr  # FTP server and client, as on the control flow
        self.server_port = server_port
        self.client_addr = client_addr
        self.user = user
        self.cwd = cwd
        self.type = type_  # TYPE argument in force (RFC 959 s3.1.1), b"A" by default
        self.command: bytes | None = None  # RETR, STOR, LIST, ... once sent
        self.argument: bytes | None = None
        self.path: bytes | None = None  # the argument joined to the working directory
        self.direction: str | None = None  # "download" or "upload"
        self.offset: int | None = None  # REST offset of a resumed transfer (RFC 3659 s5)
        self.announced_size: int | None = None  # from "150 ... (N bytes)" or SIZE
        self.reply_code: int | None = None  # final reply to the transfer command
        self.reply_text: bytes | None = None
        self.aborted = False  # ABOR was sent while it ran (RFC 959 s4.1.3)
        self.control_closed = False
        # Set by the data side when its content is finished but the final reply is still
        # to come: the control side calls it to build the object.
        self.finisher: Callable[[], Any] | None = None

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name != "finisher")

    def __eq__(self, other: object) -> bool:
        """Equal facts (tests compare the events of two runs); identity is used internally."""
        if not isinstance(other, FtpTransfer):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable

    @property
    def reply_done(self) -> bool:
        """The control connection has said how the transfer ended (or has closed)."""
        return self.reply_code is not None or self.control_closed


@dataclass(frozen=True, slots=True, kw_only=True)
class FtpCommand(Event):
    """A client command (RFC 959 s4.1); PASS arguments are empty unless secrets are kept."""

    verb: bytes  # upper-cased
    arg: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class FtpReply(Event):
    """A complete (possibly multi-line) reply (RFC 959 s4.2) and the command it answers."""

    code: int
    text: bytes  # lines joined by LF, codes of continuation lines removed
    verb: bytes | None  # the command answered; None for the greeting or unsolicited replies


@dataclass(frozen=True, slots=True, kw_only=True)
class FtpLogin(Event):
    """USER (and PASS) answered by 230 or a failure code."""

    user: bytes
    password: bytes | None  # only when secrets are kept
    accepted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferEnd(Event):
    """The control connection finished a transfer: final reply, abort, or close."""

    transfer: FtpTransfer


@dataclass(frozen=True, slots=True, kw_only=True)
class DataStart(Event):
    """First event of a data connection: the transfer it belongs to (None if unknown)."""

    transfer: FtpTransfer | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChunk(Event):
    """In-order bytes of the data connection."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DataGap(Event):
    """Bytes of the data connection that were never captured."""

    size: int
