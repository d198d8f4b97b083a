"""FTP passive parser (RFC 959; EPRT/EPSV RFC 2428; LPRT/LPSV RFC 1639; REST/SIZE/MLSD
RFC 3659; AUTH TLS RFC 4217).

Theory of operation: the control connection is two line streams. Client commands wait in a
FIFO until a final reply (2xx-5xx) answers them; 1xx replies are preliminary and leave the
command waiting (RFC 959 s4.2). A reply spans lines from ``ddd-`` to ``ddd `` with the same
code. A data connection is announced by the PASV/EPSV/LPSV reply (passive: the client will
connect to the server) or the PORT/EPRT/LPRT command (active: the server will connect to
the client); each announcement creates an ``FtpTransfer`` and an ``ExpectConnection`` for
protocol "ftp-data" carrying it. The next transfer command (RETR, STOR, STOU, APPE, LIST,
NLST, MLSD) fills the transfer in: name and path as sent (joined to the working directory
tracked through CWD/CDUP/PWD), direction, TYPE, REST offset, account. Its final reply, or an
ABOR, ends it (``TransferEnd``). AUTH TLS/SSL answered by 234 switches to TLS.

The data connection's parser (``FtpDataParser``) is never chosen by content: only through
the expectation, and it streams the bytes through.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import (
    UNBOUNDED_RUN,
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    SwitchProtocol,
)
from wiresift.protocols.expect_events import ExpectConnection
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

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# Transfer commands (RFC 959 s4.1.3, RFC 3659 s7 MLSD) and the direction of their data.
DOWNLOADS: Final = frozenset({b"RETR"})
UPLOADS: Final = frozenset({b"STOR", b"STOU", b"APPE"})
LISTINGS: Final = frozenset({b"LIST", b"NLST", b"MLSD"})
TRANSFERS: Final = DOWNLOADS | UPLOADS | LISTINGS
# AUTH mechanisms that start TLS on the control connection (RFC 4217 s4; SSL, TLS-C, TLS-P
# from the draft before it).
TLS_MECHANISMS: Final = frozenset({b"TLS", b"SSL", b"TLS-C", b"TLS-P"})
# A verb is 3 or 4 letters (RFC 959 s5.3.1); some servers add longer site commands.
_VERB: Final = re.compile(rb"[A-Za-z]{3,12}")
_REPLY: Final = re.compile(rb"([1-5][0-9][0-9])([ -]|$)")
# h1,h2,h3,h4,p1,p2 of PORT and the 227 reply (RFC 959 s4.1.2, s4.2.2 "227 Entering
# Passive Mode (h1,h2,h3,h4,p1,p2)"; the parentheses are optional in practice).
_HOST_PORT: Final = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
# "229 Entering Extended Passive Mode (|||port|)" (RFC 2428 s3); any delimiter 33-126.
_EPSV: Final = re.compile(rb"\(([\x21-\x7e])\1\1(\d{1,5})\1\)")
# LPRT/LPSV long address "af,hal,h1,...,pal,p1,..." (RFC 1639 s2).
_LONG: Final = re.compile(rb"(\d{1,3}(?:,\d{1,3}){4,})")
_SIZE_IN_150: Final = re.compile(rb"\((\d{1,18}) bytes\)", re.IGNORECASE)
_QUOTED: Final = re.compile(rb'"((?:[^"]|"")*)"')  # 257 "path" (RFC 959 s7, quotes doubled)
# Telnet IP/DM sent before ABOR (RFC 959 s4.1.3): IAC followed by a command byte.
_TELNET: Final = re.compile(rb"^(?:\xff[\xf0-\xff]|[\xf0-\xff])+")
# "Any address" in a passive reply means the server's own (seen in the wild).
_UNSPECIFIED: Final = frozenset({"0.0.0.0", "::"})  # noqa: S104 (parsed, never bound)
_DETAIL_LEN: Final = 40  # bytes of a bad line quoted in an anomaly's detail
# Lines of one multi-line reply kept (the rest is counted, not stored); FEAT and HELP
# answers run to a few dozen lines.
MAX_REPLY_LINES: Final = 128
_MAX_DIGITS: Final = 18


class FtpParser(Parser):
    """Control connection parser; ``keep_secrets`` is set by the engine when allowed."""

    name = "ftp"
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._buf = (ByteBuffer(), ByteBuffer())
        self._skipping = [False, False]  # dropping the rest of an over-long line
        self._pending: deque[tuple[bytes, bytes, FtpTransfer | None]] = deque()
        self._reply_code: bytes | None = None  # inside a multi-line reply
        self._reply_lines: list[bytes] = []
        self._confirmed = False
        self._done = False
        self.user: bytes | None = None
        self._password: bytes | None = None
        self.cwd: bytes | None = None
        self.type = b"A"  # RFC 959 s3.1.1.1: ASCII is the default
        self._rest: int | None = None
        self._rest_pending: int | None = None
        self._sizes: tuple[bytes, int] | None = None  # last SIZE answer: path, size
        self._next: FtpTransfer | None = None  # announced, no transfer command yet
        self._running: list[FtpTransfer] = []

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])

    # -- input ------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        if self._done:
            return []
        out: list[Event] = []
        buf = self._buf[direction]
        max_line = self.limits.max_line
        while data:
            if self._skipping[direction]:
                newline = data.find(b"\n")
                if newline < 0:
                    return out
                data = data[newline + 1 :]
                self._skipping[direction] = False
                continue
            buf.push(data)
            data = b""
            while not self._done:
                line = buf.take_line(max_line + 2)
                if line is None:
                    break
                if direction is ORIG:
                    self._command(line, ts, out)
                else:
                    self._reply_line(line, ts, out)
            if self._done:
                return out
            if len(buf) > max_line:
                # Stop storing, keep tracking: drop through the end of the line and go on.
                out.append(self._anomaly(direction, ts, "ftp_line_too_long", f"{len(buf)}+"))
                held = buf.take_all()
                newline = held.find(b"\n", max_line)
                if newline < 0:
                    self._skipping[direction] = True
                else:
                    data = held[newline + 1 :]
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        # The line cut by the hole is dropped; the next full line resyncs.
        self._buf[direction].clear()
        self._skipping[direction] = True
        return [self._anomaly(direction, ts, "ftp_content_gap", f"{size} bytes")]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        if direction is ORIG or self._done:
            return []
        self._done = True
        out: list[Event] = []
        for transfer in self._running:
            transfer.control_closed = True
            out.append(TransferEnd(direction=RESP, ts=ts, transfer=transfer))
        self._running.clear()
        return out

    # -- client -----------------------------------------------------------------------

    def _command(self, line: bytes, ts: int, out: list[Event]) -> None:
        line = _TELNET.sub(b"", line)
        if not line.strip():
            return
        verb, _, arg = line.partition(b" ")
        if not _VERB.fullmatch(verb):
            out.append(self._anomaly(ORIG, ts, "ftp_bad_command", line[:_DETAIL_LEN]))
            return
        verb = verb.upper()
        transfer: FtpTransfer | None = None
        if verb == b"USER":
            self.user = arg
            self._password = None
        elif verb == b"PASS":
            if self.keep_secrets:
                self._password = arg
            else:
                arg = b""
        elif verb in (b"PORT", b"EPRT", b"LPRT"):
            self._announce_active(verb, arg, ts, out)
        elif verb in TRANSFERS:
            transfer = self._start_transfer(verb, arg)
        elif verb == b"ABOR":
            for running in self._running:
                running.aborted = True
        elif verb == b"REST":
            self._rest_pending = _number(arg)
        out.append(FtpCommand(direction=ORIG, ts=ts, verb=verb, arg=arg))
        if len(self._pending) >= self.limits.max_pending_tx:
            self._pending.popleft()
            out.append(self._anomaly(ORIG, ts, "ftp_too_many_pending", verb.decode("latin-1")))
        self._pending.append((verb, arg, transfer))

    def _start_transfer(self, verb: bytes, arg: bytes) -> FtpTransfer | None:
        transfer = self._next
        self._next = None
        rest, self._rest = self._rest, None
        if transfer is None:
            return None  # no data connection was announced that we saw
        transfer.command = verb
        transfer.argument = arg
        transfer.path = self._resolve(arg) if arg and verb not in LISTINGS else None
        if verb in LISTINGS:
            transfer.path = self.cwd if not arg or arg.startswith(b"-") else self._resolve(arg)
        transfer.direction = "upload" if verb in UPLOADS else "download"
        transfer.user = self.user
        transfer.cwd = self.cwd
        transfer.type = self.type
        transfer.offset = rest
        if self._sizes is not None and transfer.path is not None and verb in DOWNLOADS:
            path, size = self._sizes
            if path == transfer.path:
                transfer.announced_size = size
        self._running.append(transfer)
        return transfer

    def _resolve(self, arg: bytes) -> bytes:
        if arg.startswith(b"/") or self.cwd is None:
            return arg
        return self.cwd.rstrip(b"/") + b"/" + arg

    def _announce_active(self, verb: bytes, arg: bytes, ts: int, out: list[Event]) -> None:
        if verb == b"PORT":
            endpoint = _host_port(arg)
        elif verb == b"EPRT":
            endpoint = _extended_address(arg)
        else:
            endpoint = _long_address(arg)
        if endpoint is None:
            out.append(self._anomaly(ORIG, ts, "ftp_bad_port", arg[:_DETAIL_LEN]))
            return
        addr, port = endpoint
        if addr != self.flow.orig_addr:
            # NAT in front of the client, or a bounce attack (RFC 2577 s3): the engine also
            # matches by port and the control client's address.
            out.append(self._anomaly(ORIG, ts, "ftp_port_address_mismatch", f"{addr}:{port}"))
        self._expect("active", addr, port, None, ts, out)

    # -- server -----------------------------------------------------------------------

    def _reply_line(self, line: bytes, ts: int, out: list[Event]) -> None:
        code = self._reply_code
        if code is not None:
            # Inside a multi-line reply: it ends at "ddd " (or a bare "ddd") with its code.
            if line[:3] == code and line[3:4] in (b" ", b""):
                self._add_reply_text(line[4:])
                self._reply_code = None
                self._reply(int(code), ts, out)
            else:
                self._add_reply_text(line[4:] if line[:3] == code and line[3:4] == b"-" else line)
            return
        match = _REPLY.match(line)
        if match is None:
            out.append(self._anomaly(RESP, ts, "ftp_bad_reply", line[:_DETAIL_LEN]))
            return
        self._reply_lines = [line[4:]]
        if match.group(2) == b"-":
            self._reply_code = match.group(1)
            return
        self._reply(int(match.group(1)), ts, out)

    def _add_reply_text(self, text: bytes) -> None:
        if len(self._reply_lines) < MAX_REPLY_LINES:
            self._reply_lines.append(text)

    def _reply(self, code: int, ts: int, out: list[Event]) -> None:
        text = b"\n".join(self._reply_lines)
        self._reply_lines = []
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=RESP, ts=ts))
        if code < 200:
            # Preliminary (RFC 959 s4.2.1): the command still waits for its final reply.
            pending = self._pending[0] if self._pending else None
            if pending is not None and pending[2] is not None:
                size = _SIZE_IN_150.search(text)
                if size is not None:
                    pending[2].announced_size = int(size.group(1))
            out.append(FtpReply(direction=RESP, ts=ts, code=code, text=text, verb=None))
            return
        if not self._pending:
            out.append(FtpReply(direction=RESP, ts=ts, code=code, text=text, verb=None))
            return
        verb, arg, transfer = self._pending.popleft()
        out.append(FtpReply(direction=RESP, ts=ts, code=code, text=text, verb=verb))
        if transfer is not None:
            transfer.reply_code = code
            transfer.reply_text = text
            self._running = [t for t in self._running if t is not transfer]
            out.append(TransferEnd(direction=RESP, ts=ts, transfer=transfer))
            return
        self._answered(verb, arg, code, text, ts, out)

    def _answered(
        self, verb: bytes, arg: bytes, code: int, text: bytes, ts: int, out: list[Event]
    ) -> None:
        """State changes of a command's final reply."""
        ok = code < 400
        if verb in (b"PASS", b"USER") and (code == 230 or code >= 400):
            if self.user is not None and (verb == b"PASS" or code == 230):
                out.append(
                    FtpLogin(
                        direction=RESP,
                        ts=ts,
                        user=self.user,
                        password=self._password,
                        accepted=code == 230,
                    )
                )
        elif verb == b"PASV" and code == 227:
            endpoint = _host_port(text)
            self._announce_passive(endpoint, text, ts, out)
        elif verb == b"EPSV" and code == 229:
            found = _EPSV.search(text)
            endpoint = None
            if found is not None and 0 < int(found.group(2)) < 65536:
                endpoint = (self.flow.resp_addr, int(found.group(2)))
            self._announce_passive(endpoint, text, ts, out)
        elif verb == b"LPSV" and code == 228:
            self._announce_passive(_long_address(text), text, ts, out)
        elif verb in (b"CWD", b"XCWD") and ok:
            self.cwd = self._resolve(arg)
        elif verb in (b"CDUP", b"XCUP") and ok and self.cwd is not None:
            self.cwd = self.cwd.rstrip(b"/").rpartition(b"/")[0] or b"/"
        elif verb in (b"PWD", b"XPWD") and code == 257:
            quoted = _QUOTED.search(text)
            if quoted is not None:
                self.cwd = quoted.group(1).replace(b'""', b'"')
        elif verb == b"TYPE" and ok:
            self.type = arg.strip().upper() or b"A"
        elif verb == b"REST" and code == 350:
            self._rest = self._rest_pending
        elif verb == b"SIZE" and code == 213:
            size = _number(text.strip())
            if size is not None:
                self._sizes = (self._resolve(arg), size)
        elif verb == b"AUTH" and code == 234 and arg.strip().upper() in TLS_MECHANISMS:
            self._done = True
            out.append(
                SwitchProtocol(
                    direction=RESP,
                    ts=ts,
                    to="tls",
                    leftover=self._buf[RESP].take_all(),
                    leftover_other=self._buf[ORIG].take_all(),
                )
            )

    def _announce_passive(
        self, endpoint: tuple[str, int] | None, text: bytes, ts: int, out: list[Event]
    ) -> None:
        if endpoint is None:
            out.append(self._anomaly(RESP, ts, "ftp_bad_passive_reply", text[:_DETAIL_LEN]))
            return
        addr, port = endpoint
        if addr in _UNSPECIFIED:
            addr = self.flow.resp_addr
        elif addr != self.flow.resp_addr:
            # A server behind NAT names its private address; the engine falls back to the
            # port and the control client's address.
            out.append(self._anomaly(RESP, ts, "ftp_pasv_address_mismatch", f"{addr}:{port}"))
        self._expect("passive", addr, port, self.flow.orig_addr, ts, out)

    def _expect(
        self,
        mode: str,
        addr: str,
        port: int,
        client_addr: str | None,
        ts: int,
        out: list[Event],
    ) -> None:
        flow = self.flow
        transfer = FtpTransfer(
            mode=mode,
            data_addr=addr,
            data_port=port,
            control_uid=flow.uid,
            server_addr=flow.resp_addr,
            server_port=flow.resp_port,
            client_addr=flow.orig_addr,
            user=self.user,
            cwd=self.cwd,
            type_=self.type,
        )
        self._next = transfer
        direction = RESP if mode == "passive" else ORIG
        out.append(
            ExpectConnection(
                direction=direction,
                ts=ts,
                protocol="ftp-data",
                server_addr=addr,
                server_port=port,
                client_addr=client_addr,
                context=transfer,
            )
        )

    @staticmethod
    def _anomaly(direction: Direction, ts: int, name: str, detail: bytes | str) -> Anomaly:
        if isinstance(detail, bytes):
            detail = detail.decode("latin-1")
        return Anomaly(direction=direction, ts=ts, name=name, detail=detail)


class FtpDataParser(Parser):
    """A data connection (RFC 959 s3.2): its bytes stream through unchanged.

    The transfer it belongs to comes from ``FlowInfo.context`` (set by the expectation) and
    leads the events as ``DataStart``.
    """

    name = "ftp-data"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._started = False

    def _start(self, direction: Direction, ts: int) -> list[Event]:
        self._started = True
        context = self.flow.context
        transfer = context if isinstance(context, FtpTransfer) else None
        return [DataStart(direction=direction, ts=ts, transfer=transfer)]

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        chunk = DataChunk(direction=direction, ts=ts, data=data)
        if self._started:
            return [chunk]
        return [*self._start(direction, ts), chunk]

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        hole = DataGap(direction=direction, ts=ts, size=size)
        if self._started:
            return [hole]
        return [*self._start(direction, ts), hole]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        return [] if self._started else self._start(direction, ts)

    def body_run(self, direction: Direction) -> int:
        """Once the transfer started, every byte is file content (RFC 959 s3.2)."""
        return UNBOUNDED_RUN if self._started else 0


def _number(text: bytes) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= _MAX_DIGITS else None


def _host_port(text: bytes) -> tuple[str, int] | None:
    """h1,h2,h3,h4,p1,p2 (RFC 959 s4.1.2) -> ("h1.h2.h3.h4", p1*256+p2)."""
    found = _HOST_PORT.search(text)
    if found is None:
        return None
    values = [int(v) for v in found.groups()]
    if max(values) > 255:
        return None
    port = values[4] * 256 + values[5]
    if port == 0:
        return None
    return ".".join(str(v) for v in values[:4]), port


def _extended_address(arg: bytes) -> tuple[str, int] | None:
    """EPRT <d>af<d>addr<d>port<d> (RFC 2428 s2); af 1 = IPv4, 2 = IPv6."""
    arg = arg.strip()
    if len(arg) < 2:
        return None
    fields = arg[1:-1].split(arg[:1])
    if len(fields) != 3 or arg[-1:] != arg[:1]:
        return None
    family, addr, port = fields
    number = _number(port)
    if number is None or not 0 < number < 65536 or family not in (b"1", b"2"):
        return None
    try:
        parsed = ipaddress.ip_address(addr.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if parsed.version != (4 if family == b"1" else 6):
        return None
    return str(parsed), number


def _long_address(text: bytes) -> tuple[str, int] | None:
    """LPRT/LPSV af,hal,h1..,pal,p1.. (RFC 1639 s2): af 4 with 4 bytes, af 6 with 16."""
    found = _LONG.search(text)
    if found is None:
        return None
    values = [int(v) for v in found.group(1).split(b",")]
    if max(values) > 255 or len(values) < 2:
        return None
    family, length = values[0], values[1]
    if (family, length) not in ((4, 4), (6, 16)) or len(values) < 2 + length + 1:
        return None
    host = bytes(values[2 : 2 + length])
    port_len = values[2 + length]
    port_bytes = values[3 + length : 3 + length + port_len]
    if port_len != 2 or len(port_bytes) != 2:
        return None
    port = port_bytes[0] * 256 + port_bytes[1]
    if port == 0:
        return None
    return str(ipaddress.ip_address(host)), port
