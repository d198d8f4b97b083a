"""POP3 passive parser (RFC 1939; CAPA and PIPELINING RFC 2449; AUTH RFC 5034; STLS
RFC 2595).

Theory of operation: the client side is a line protocol. Each command waits in a FIFO until
the server's status line (``+OK`` / ``-ERR``) answers it, so pipelined commands (RFC 2449
s6.6) pair with their responses in order. A ``+OK`` to RETR, TOP, CAPA, LIST or UIDL without
argument, or AUTH without mechanism, goes on until a line holding only "." and is
dot-unstuffed (RFC 1939 s3). RETR and TOP bodies stream out as ``MessageData`` and never sit
whole in memory; the other blocks are read through and dropped. During AUTH the server's
``+ challenge`` lines and the client's response lines are the SASL exchange (RFC 5034 s4).

A capture that starts inside a response (``FlowInfo.mid_stream``, no command seen, and the
server's first bytes are no status line) is read as message data up to the terminator
(``partial="mid_stream"``); parsing goes on normally after it.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Final, NamedTuple

from wiresift.config import Limits
from wiresift.protocols._mail import DotStuffedReader, LineMailParser, SaslExchange, _text
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
)
from wiresift.protocols.mailevents import (
    MailCommand,
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# RFC 1939 s4-s7 (incl. optional TOP, UIDL, USER, PASS, APOP), RFC 2449 (CAPA), RFC 5034
# (AUTH), RFC 2595 (STLS), RFC 6856 (UTF8, LANG); LAST from RFC 1460.
VERBS: Final = frozenset(
    {
        b"USER", b"PASS", b"APOP", b"AUTH", b"STAT", b"LIST", b"RETR", b"DELE", b"NOOP",
        b"RSET", b"QUIT", b"TOP", b"UIDL", b"CAPA", b"STLS", b"LAST", b"UTF8", b"LANG",
    }
)  # fmt: skip
# Commands recorded as MailCommand events when their status line arrives.
_RECORDED: Final = frozenset({b"DELE", b"RSET", b"QUIT"})
# Commands whose +OK response is multi-line whatever their arguments.
_MULTILINE: Final = frozenset({b"RETR", b"TOP", b"CAPA"})
# Multi-line only without an argument (RFC 1939 s5 LIST/UIDL; AUTH listing mechanisms is
# what many servers do, after the withdrawn draft of RFC 5034).
_MULTILINE_BARE: Final = frozenset({b"LIST", b"UIDL", b"AUTH"})
_STATUS_PREFIXES: Final = (b"+OK", b"-ERR", b"+ ", b"+\r", b"+\n")
_STATUS_PROBE_LEN: Final = 4  # "-ERR": the longest status word
_DETAIL_LEN: Final = 32  # bytes of a bad line quoted in an anomaly's detail
_MAX_NUMBER_DIGITS: Final = 18


class _Client(enum.Enum):
    COMMAND = enum.auto()
    SKIP_LINE = enum.auto()  # dropping the rest of a line (too long, or cut by a gap)
    SASL = enum.auto()  # AUTH responses, not commands
    TLS_WAIT = enum.auto()  # STLS sent: bytes held until the status line decides
    DONE = enum.auto()


class _Server(enum.Enum):
    STATUS = enum.auto()  # expecting +OK / -ERR / "+ " (SASL)
    SKIP_LINE = enum.auto()
    BLOCK = enum.auto()  # multi-line response read through and dropped
    MESSAGE = enum.auto()  # RETR/TOP body streamed out
    RESYNC = enum.auto()  # boundary lost: looking for "." or a status line
    DONE = enum.auto()


class _Pending(NamedTuple):
    """A command waiting for its status line."""

    verb: bytes
    argument: bytes = b""


def _number(argument: bytes) -> int | None:
    first = argument.split(b" ", 1)[0]
    if first.isdigit() and len(first) <= _MAX_NUMBER_DIGITS:
        return int(first)
    return None


class Pop3Parser(LineMailParser):
    """Passive POP3 parser for one connection; sees both directions.

    ``keep_secrets`` (class attribute, False by default) may be set on an instance right
    after construction to report passwords and digests in ``MailLogin.secret``.
    """

    name = "pop3"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._client = _Client.COMMAND
        self._client_resume = _Client.COMMAND
        self._server = _Server.STATUS
        self._pending: deque[_Pending] = deque()
        self._user: bytes | None = None
        self._sasl: SaslExchange | None = None
        self._next_message = 0
        self._message = -1
        self._server_started = False  # the first server bytes were looked at
        self._commands_seen = False
        self._replies_lost = False
        self._resync_pops = False
        self._client_closed = False
        self._server_closed = False
        self._overflow_reported = False

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        out: list[Event] = []
        if not data:
            return out
        buf = self._bufs[direction]
        if direction is ORIG:
            if self._client is not _Client.DONE:
                buf.push(data)
                self._run_client(ts, out)
            return out
        if self._server is _Server.DONE:
            return out
        if self._server is _Server.MESSAGE and not buf:
            rest = self._stream(data, ts, out)
            if not rest:
                return out
            data = rest
        buf.push(data)
        self._run_server(ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole in ``direction``: a message it cuts ends incomplete; parsing resyncs."""
        out: list[Event] = []
        if size <= 0:
            return out
        out.append(Anomaly(direction=direction, ts=ts, name="pop3_content_gap", detail=f"{size}"))
        self._bufs[direction].clear()
        if direction is ORIG:
            if self._client in (_Client.COMMAND, _Client.SASL, _Client.SKIP_LINE):
                self._client = _Client.SKIP_LINE
                self._client_resume = _Client.COMMAND
            return out
        state = self._server
        if state is _Server.DONE:
            return out
        if state is _Server.MESSAGE:
            self._end_message(ts, out, complete=False, reason="gap")
        # Inside a block the next "." ends it; between responses a "." ends one whose
        # status line fell in the gap.
        self._resync_pops = state not in (_Server.MESSAGE, _Server.BLOCK)
        self._server_started = True
        self._server = _Server.RESYNC
        self._replies_lost = True
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` closed: an open message ends incomplete; unanswered commands get an
        unknown verdict once the server side is closed."""
        out: list[Event] = []
        if direction is ORIG:
            if not self._client_closed:
                self._client_closed = True
                self._client = _Client.DONE
                self._bufs[ORIG].clear()
            return out
        if self._server_closed:
            return out
        self._server_closed = True
        if self._message >= 0:
            self._end_message(ts, out, complete=False, reason="closed")
        while self._pending:
            self._resolve(self._pending.popleft(), None, ts, out)
        self._server = _Server.DONE
        self._bufs[RESP].clear()
        return out

    # -- client side ---------------------------------------------------------------------

    def _run_client(self, ts: int, out: list[Event]) -> None:
        buf = self._bufs[ORIG]
        while buf:
            state = self._client
            if state is _Client.COMMAND or state is _Client.SASL:
                line = buf.take_line(self._max_line)
                if line is None:
                    if len(buf) >= self._max_line:
                        self._line_too_long(ORIG, ts, out)
                        self._client = _Client.SKIP_LINE
                        self._client_resume = state
                        continue
                    return
                if state is _Client.SASL:
                    sasl = self._sasl
                    if sasl is None or not sasl.take(line):
                        self._client = _Client.COMMAND
                else:
                    self._command(line, ts, out)
            elif state is _Client.SKIP_LINE:
                end = buf.line_end(len(buf))
                if end < 0:
                    buf.clear()
                    return
                buf.skip(end)
                self._client = self._client_resume
            elif state is _Client.TLS_WAIT:
                if len(buf) <= self._max_line:
                    return
                out.append(Anomaly(direction=ORIG, ts=ts, name="pop3_stls_reply_late"))
                self._switch_to_tls(ORIG, ts, out)
                return
            else:  # DONE
                buf.clear()
                return

    def _command(self, line: bytes, ts: int, out: list[Event]) -> None:
        """One command line (RFC 1939 s3): a keyword and arguments."""
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        argument = argument.strip(b" \t")
        if not verb:
            return
        if verb not in VERBS:
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="pop3_unknown_command",
                    detail=_text(verb[:_DETAIL_LEN]),
                )
            )
            self._violation(ORIG, ts, out, "pop3_unknown_command")
        elif verb == b"USER":
            self._user = argument
        elif verb == b"AUTH" and argument:
            self._sasl = SaslExchange.from_arguments(argument)
            if self._sasl.lines_left:
                self._client = _Client.SASL
        self._commands_seen = True
        self._replies_lost = False
        if len(self._pending) >= self._max_pending:
            if not self._overflow_reported:
                self._overflow_reported = True
                out.append(Anomaly(direction=ORIG, ts=ts, name="pop3_too_many_pending"))
            self._resolve(self._pending.popleft(), None, ts, out)
        self._pending.append(_Pending(verb, argument))
        if verb == b"STLS":
            self._client = _Client.TLS_WAIT

    def _switch_to_tls(self, direction: Direction, ts: int, out: list[Event]) -> None:
        out.append(self._tls_switch(direction, ts))
        self._client = _Client.DONE
        self._server = _Server.DONE

    # -- server side ---------------------------------------------------------------------

    def _run_server(self, ts: int, out: list[Event]) -> None:
        buf = self._bufs[RESP]
        while buf:
            state = self._server
            if state is _Server.MESSAGE:
                rest = self._stream(buf.take_all(), ts, out)
                if rest is None:
                    return
                buf.push(rest)
            elif state is _Server.BLOCK:
                _, rest = self._reader.feed(buf.take_all())
                if rest is None:
                    return
                buf.push(rest)
                self._server = _Server.STATUS
            elif state is _Server.STATUS:
                if not self._server_started and not self._start_server(ts, out):
                    return
                if self._server is not _Server.STATUS:
                    continue
                line = buf.take_line(self._max_line)
                if line is None:
                    if len(buf) >= self._max_line:
                        self._line_too_long(RESP, ts, out)
                        self._server = _Server.SKIP_LINE
                        continue
                    return
                self._status_line(line, ts, out)
            elif state is _Server.SKIP_LINE:
                end = buf.line_end(len(buf))
                if end < 0:
                    buf.clear()
                    return
                buf.skip(end)
                self._server = _Server.STATUS
            elif state is _Server.RESYNC:
                if not self._resync_line(ts, out):
                    return
            else:  # DONE
                buf.clear()
                return

    def _start_server(self, ts: int, out: list[Event]) -> bool:
        """The first server bytes: a status line, or (mid-stream) the inside of a message?

        False when more bytes are needed to tell.
        """
        buf = self._bufs[RESP]
        if buf.peek(_STATUS_PROBE_LEN).startswith(_STATUS_PREFIXES):
            self._server_started = True
            return True
        if (
            len(buf) < _STATUS_PROBE_LEN
            and buf.line_end(_STATUS_PROBE_LEN) < 0
            and any(p.startswith(buf.peek(_STATUS_PROBE_LEN)) for p in _STATUS_PREFIXES)
        ):
            return False
        self._server_started = True
        if self.flow.mid_stream and not self._pending:
            self._begin_message(ts, out, command="RETR", number=None, partial="mid_stream")
            self._reader = DotStuffedReader(line_start=False)
        return True

    def _status_line(self, line: bytes, ts: int, out: list[Event]) -> None:
        """``+OK`` / ``-ERR`` answer the oldest command (RFC 1939 s3); ``+ `` is a SASL
        challenge (RFC 5034 s4)."""
        if line.startswith(b"+OK"):
            ok = True
        elif line.startswith(b"-ERR"):
            ok = False
        elif line[:1] == b"+" and line[1:2] in (b"", b" "):
            if self._pending and self._pending[0].verb == b"AUTH":
                return  # a challenge; the exchange goes on
            out.append(Anomaly(direction=RESP, ts=ts, name="pop3_unexpected_continuation"))
            return
        else:
            out.append(
                Anomaly(
                    direction=RESP,
                    ts=ts,
                    name="pop3_bad_status_line",
                    detail=_text(line[:_DETAIL_LEN]),
                )
            )
            self._violation(RESP, ts, out, "pop3_bad_status_line")
            return
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=RESP, ts=ts))
        if not self._pending:
            # The greeting (RFC 1939 s4) answers no command; so do replies lost in a gap.
            if self._commands_seen and not self._replies_lost:
                out.append(Anomaly(direction=RESP, ts=ts, name="pop3_reply_without_command"))
            return
        self._resolve(self._pending.popleft(), ok, ts, out)

    def _resolve(self, entry: _Pending, ok: bool | None, ts: int, out: list[Event]) -> None:
        """Apply a status (None: unknown) to the command it answers."""
        verb = entry.verb
        if ok and (verb in _MULTILINE or (verb in _MULTILINE_BARE and not entry.argument)):
            if verb in (b"RETR", b"TOP"):
                self._begin_message(
                    ts,
                    out,
                    command=_text(verb),
                    number=_number(entry.argument),
                    partial="pop3_top" if verb == b"TOP" else None,
                )
            else:
                self._server = _Server.BLOCK
            self._reader = DotStuffedReader()
        elif verb == b"USER":
            if ok is False:
                self._login("USER", self._user, None, ok, ts, out)
                self._user = None
        elif verb == b"PASS":
            self._login("USER", self._user, entry.argument, ok, ts, out)
            self._user = None
        elif verb == b"APOP":
            name, _, digest = entry.argument.partition(b" ")
            self._login("APOP", name, digest.strip(), ok, ts, out)
        elif verb == b"AUTH" and entry.argument:
            if self._client is _Client.SASL:
                self._client = _Client.COMMAND
            sasl, self._sasl = self._sasl, None
            if sasl is not None:
                login = sasl.login(ORIG, ts, ok, self.keep_secrets)
                if login is None:
                    out.append(Anomaly(direction=ORIG, ts=ts, name="pop3_bad_sasl"))
                else:
                    out.append(login)
        elif verb == b"STLS":
            if ok:
                self._switch_to_tls(RESP, ts, out)
            elif ok is False and self._client is _Client.TLS_WAIT:
                self._client = _Client.COMMAND
                self._run_client(ts, out)
        elif verb in _RECORDED:
            out.append(
                MailCommand(
                    direction=ORIG,
                    ts=ts,
                    name=_text(verb),
                    argument=_text(entry.argument),
                    accepted=ok,
                )
            )

    def _login(
        self,
        mechanism: str,
        account: bytes | None,
        secret: bytes | None,
        ok: bool | None,
        ts: int,
        out: list[Event],
    ) -> None:
        out.append(
            MailLogin(
                direction=ORIG,
                ts=ts,
                mechanism=mechanism,
                account=_text(account or b""),
                secret=_text(secret) if self.keep_secrets and secret is not None else None,
                accepted=ok,
            )
        )

    def _begin_message(
        self, ts: int, out: list[Event], *, command: str, number: int | None, partial: str | None
    ) -> None:
        message = self._message = self._next_message
        self._next_message += 1
        out.append(
            MessageBegin(
                direction=RESP,
                ts=ts,
                message=message,
                protocol="pop3",
                flow="incoming",
                command=command,
                number=number,
                partial=partial,
            )
        )
        self._server = _Server.MESSAGE

    def _stream(self, data: bytes, ts: int, out: list[Event]) -> bytes | None:
        """Stream RETR/TOP bytes; at the terminator return what follows it, else None."""
        content, rest = self._reader.feed(data)
        if content:
            out.append(MessageData(direction=RESP, ts=ts, message=self._message, data=content))
        if rest is None:
            return None
        self._end_message(ts, out, complete=True, reason=None)
        return rest

    def _end_message(
        self, ts: int, out: list[Event], *, complete: bool, reason: str | None
    ) -> None:
        out.append(
            MessageEnd(
                direction=RESP, ts=ts, message=self._message, complete=complete, reason=reason
            )
        )
        self._message = -1
        self._server = _Server.STATUS

    def _resync_line(self, ts: int, out: list[Event]) -> bool:
        """After a gap: skip server lines up to "." (a block ended; the command it answered
        is done) or up to a status line. False when more bytes are needed."""
        buf = self._bufs[RESP]
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) >= self._max_line:
                buf.clear()
            return False
        if line == b".":
            if (
                self._resync_pops
                and self._pending
                and self._pending[0].verb in _MULTILINE | _MULTILINE_BARE
            ):
                self._pending.popleft()
            self._server = _Server.STATUS
        elif line.startswith((b"+OK", b"-ERR")):
            self._server = _Server.STATUS
            self._status_line(line, ts, out)
        return True
