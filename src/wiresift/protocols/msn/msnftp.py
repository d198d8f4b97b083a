"""MSNFTP: the file connection a switchboard invitation announces (MSN Messenger 4-5).

Theory of operation (yellows111 "msnp/files/msnftp.html"; hypothetic.org MSN docs v2.0):
the receiver says ``VER MSNFTP``, both agree, the receiver sends ``USR <email> <cookie>``,
the sender answers ``FIL <size>``, the receiver ``TFR``; then the sender writes blocks of
a 3-byte header (flag 0 = data, 1 = cancel; length 16-bit little-endian) and that many
bytes, until the announced size. ``BYE`` ends the session. Lines carry no transaction id.

The side that sends ``FIL`` is the sender, whoever connected (``Sender-Connect: TRUE``
reverses who listens). The file name comes from the invitation, handed over as
``FlowInfo.context`` (an ``MsnFtpContext``) by the expectation; without it the file is
still extracted, unnamed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import ChatLogin, FileBegin, FileData, FileEnd

# Data block header: flag byte, length low, length high (msnftp.html "Data transfer").
BLOCK_HEADER_LEN: Final = 3
BLOCK_DATA: Final = 0
BLOCK_CANCEL: Final = 1
# Longest command line of MSNFTP (USR carries an e-mail and a cookie; a few dozen bytes).
MAX_FTP_LINE: Final = 1024
_COMMAND: Final = re.compile(rb"(VER|USR|FIL|TFR|BYE|CCL)(?: |$)")


@dataclass(frozen=True, slots=True, kw_only=True)
class MsnFtpContext:
    """What the switchboard invitation said of the file (handed to the data connection)."""

    name: str
    size: int | None
    sender: str | None
    recipient: str | None
    cookie: str  # Invitation-Cookie
    auth_cookie: str | None = None  # AuthCookie of the ACCEPT, repeated in USR


class _State(enum.Enum):
    LINES = enum.auto()  # commands
    BLOCKS = enum.auto()  # data blocks of the sender
    DONE = enum.auto()


class MsnFtpParser(Parser):
    """One MSNFTP connection: FileBegin at FIL/TFR, FileData per block, FileEnd."""

    name = "msnftp"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._buf = (ByteBuffer(), ByteBuffer())
        self._state = [_State.LINES, _State.LINES]
        context = flow.context
        self.context = context if isinstance(context, MsnFtpContext) else None
        self._confirmed = False
        self._size: int | None = None
        self._sender: Direction | None = None
        self._received = 0
        self._open = False
        self._receiver_email: str | None = None

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        buf = self._buf[direction]
        buf.push(data)
        while True:
            state = self._state[direction]
            if state is _State.DONE:
                buf.clear()
                break
            if state is _State.BLOCKS:
                if not self._block(direction, buf, ts, out):
                    break
                continue
            line = buf.take_line(MAX_FTP_LINE)
            if line is None:
                if len(buf) >= MAX_FTP_LINE:
                    out.append(self._anomaly(direction, ts, "msnftp_line_too_long"))
                    buf.clear()
                break
            self._line(direction, line, ts, out)
        return out

    def _line(self, direction: Direction, line: bytes, ts: int, out: list[Event]) -> None:
        if not _COMMAND.match(line):
            out.append(self._anomaly(direction, ts, "msnftp_bad_command", repr(line[:40])))
            return
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=direction, ts=ts))
        verb, _, rest = line.decode("utf-8", "replace").partition(" ")
        if verb == "USR":
            self._receiver_email = rest.split(" ", 1)[0] or None
            out.append(ChatLogin(direction=direction, ts=ts, account=rest.split(" ", 1)[0]))
        elif verb == "FIL":
            self._sender = direction
            size = rest.strip()
            self._size = int(size) if size.isdigit() and len(size) <= 18 else None
        elif verb == "TFR" and self._sender is not None:
            self._state[self._sender] = _State.BLOCKS
            self._begin(ts, out)
        elif verb in ("BYE", "CCL") and self._open:
            complete = self._size is not None and self._received >= self._size
            self._end(direction, ts, complete, "bye" if verb == "BYE" else "cancelled", out)

    def _begin(self, ts: int, out: list[Event]) -> None:
        assert self._sender is not None
        context = self.context
        self._open = True
        out.append(
            FileBegin(
                direction=self._sender,
                ts=ts,
                file=0,
                name=context.name if context else None,
                size=self._size if self._size is not None else (context.size if context else None),
                sender=context.sender if context else None,
                recipient=(context.recipient if context else None) or self._receiver_email,
                transfer_id=context.cookie if context else None,
                upload=self._sender is Direction.ORIG,
            )
        )

    def _block(self, direction: Direction, buf: ByteBuffer, ts: int, out: list[Event]) -> bool:
        head = buf.peek(BLOCK_HEADER_LEN)
        if len(head) < BLOCK_HEADER_LEN:
            return False
        flag, length = head[0], head[1] | head[2] << 8
        if flag == BLOCK_CANCEL:
            buf.skip(BLOCK_HEADER_LEN)
            self._end(direction, ts, False, "cancelled", out)
            return True
        if flag != BLOCK_DATA:
            out.append(self._anomaly(direction, ts, "msnftp_bad_block", f"flag {flag}"))
            self._end(direction, ts, False, "bad block", out)
            return True
        if len(buf) < BLOCK_HEADER_LEN + length:
            return False
        buf.skip(BLOCK_HEADER_LEN)
        data = buf.take_exact(length) or b""
        self._received += len(data)
        if data:
            out.append(FileData(direction=direction, ts=ts, file=0, data=data))
        if self._size is not None and self._received >= self._size:
            self._end(direction, ts, True, None, out)
        return True

    def _end(
        self, direction: Direction, ts: int, complete: bool, reason: str | None, out: list[Event]
    ) -> None:
        if self._open:
            self._open = False
            out.append(
                FileEnd(direction=direction, ts=ts, file=0, complete=complete, reason=reason)
            )
        if self._sender is not None and self._state[self._sender] is _State.BLOCKS:
            self._state[self._sender] = _State.DONE

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        out: list[Event] = [self._anomaly(direction, ts, "msnftp_content_gap", f"{size} bytes")]
        if direction is self._sender and self._open:
            self._end(direction, ts, False, "gap", out)
        self._buf[direction].clear()
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        out: list[Event] = []
        if direction is self._sender and self._open:
            self._end(direction, ts, False, "closed", out)
        return out

    @staticmethod
    def _anomaly(direction: Direction, ts: int, name: str, detail: str = "") -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=name, detail=detail)
