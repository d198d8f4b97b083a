"""SMTP passive parser (RFC 5321; AUTH RFC 4954; PIPELINING RFC 2920; CHUNKING RFC 3030;
STARTTLS RFC 3207; SIZE RFC 1870, 8BITMIME RFC 6152 and SMTPUTF8 RFC 6531 parameters).

Theory of operation: the client side is a line protocol. Each command waits in a FIFO of
pending commands until the server's final reply (``ddd SP text``, after any ``ddd-text``
continuation lines, RFC 5321 s4.2.1) answers it, so pipelined commands pair with their
replies in order (RFC 2920 s3). After DATA the client waits for 354; its bytes after that are
the message, dot-unstuffed up to CRLF.CRLF (RFC 5321 s4.5.2) and streamed out as
``MessageData`` as they come, holding back at most the two bytes a terminator may still
need. BDAT chunks (RFC 3030 s2) are counted bytes, not unstuffed; the chunks up to
``BDAT n LAST`` form one message. ``MessageEnd`` comes with the server's reply to the end of
the message (2xx: accepted).

A capture may hold the client side only: while no server byte has been seen, DATA is taken
as accepted and a message ends at its terminator with an unknown verdict. A capture that
starts inside DATA (``FlowInfo.mid_stream`` and a first client line that is no command) is
read as message data up to the terminator (``partial="mid_stream"``).

Line lengths are capped by ``Limits.max_line`` outside messages; message bytes stream
without a line cap (the builder caps what it stores). Pending commands are capped by
``Limits.max_pending_tx``; past it the oldest is resolved with an unknown verdict.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from typing import Final, NamedTuple

from wiresift.config import Limits
from wiresift.protocols._mail import (
    DotStuffedReader,
    LineMailParser,
    SaslExchange,
    _text,
)
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
)
from wiresift.protocols.mailevents import (
    MailCommand,
    MessageBegin,
    MessageData,
    MessageEnd,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# RFC 5321 s4.1, RFC 4954 (AUTH), RFC 3030 (BDAT), RFC 3207 (STARTTLS), RFC 1985 (ETRN),
# RFC 2645 (ATRN), RFC 2033 (LHLO, LMTP); XCLIENT/XFORWARD are Postfix extensions.
VERBS: Final = frozenset(
    {
        b"EHLO", b"HELO", b"LHLO", b"MAIL", b"RCPT", b"DATA", b"BDAT", b"RSET", b"VRFY",
        b"EXPN", b"HELP", b"NOOP", b"QUIT", b"AUTH", b"STARTTLS", b"TURN", b"ETRN", b"ATRN",
        b"XCLIENT", b"XFORWARD", b"SEND", b"SOML", b"SAML",
    }
)  # fmt: skip
# Commands recorded as MailCommand events when their reply arrives.
_RECORDED: Final = frozenset({b"RSET", b"QUIT", b"VRFY", b"EXPN"})
# Pseudo-verb of the pending entry that waits for the reply to the end of DATA.
_DOT: Final = b"."

_PATH: Final = re.compile(rb"(?i:FROM|TO)\s*:\s*(?:<([^>]*)>|([^\s<>]*))")
_BDAT_ARGS: Final = re.compile(rb"([0-9]{1,18})(?:[ \t]+(LAST))?[ \t]*", re.IGNORECASE)
# A command at the start of the client's first bytes (mid-stream start): a verb, then a
# space or the end of the line.
_COMMAND_START: Final = re.compile(rb"([A-Za-z]{4,8})(?: |\r?\n)")
_COMMAND_PROBE_LEN: Final = 10  # "STARTTLS\r\n": longer than any verb and its separator
_DETAIL_LEN: Final = 32  # bytes of a bad line quoted in an anomaly's detail

# SASL mechanisms (RFC 4954 s4) and how many client response lines each takes after AUTH:
# (without an initial response, with one). Unknown mechanisms run until the final reply.

_DATA_START: Final = 354
_READY: Final = 220
_AUTH_CONTINUE: Final = 334
_SHUTDOWN: Final = 421  # may come unsolicited (RFC 5321 s3.8)


class _Client(enum.Enum):
    PROBE = enum.auto()  # mid-stream start: command or message data?
    COMMAND = enum.auto()  # reading command lines
    SKIP_LINE = enum.auto()  # dropping the rest of a line (too long, or cut by a gap)
    SASL = enum.auto()  # AUTH responses, not commands
    DATA_WAIT = enum.auto()  # DATA sent, its reply not yet seen: bytes are held
    BODY = enum.auto()  # DATA message bytes up to CRLF.CRLF
    BDAT = enum.auto()  # ``remaining`` bytes of a BDAT chunk
    BDAT_SKIP = enum.auto()  # a BDAT chunk of a message cut by a gap: counted, dropped
    RESYNC = enum.auto()  # message boundary lost: looking for "." or a command line
    TLS_WAIT = enum.auto()  # STARTTLS sent: bytes held until the reply decides
    DONE = enum.auto()  # closed or switched to TLS


class _Server(enum.Enum):
    REPLY = enum.auto()
    SKIP_LINE = enum.auto()
    DONE = enum.auto()


class _Pending(NamedTuple):
    """A command waiting for its final reply."""

    verb: bytes
    argument: bytes = b""
    envelope: int = 0  # the envelope the command belongs to
    message: int = -1  # DATA end / BDAT: the message
    last: bool = False  # BDAT ... LAST


class SmtpParser(LineMailParser):
    """Passive SMTP parser for one connection; sees both directions.

    ``keep_secrets`` (class attribute, False by default) may be set on an instance right
    after construction to report passwords and tokens in ``MailLogin.secret``.
    """

    name = "smtp"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._client = _Client.PROBE if flow.mid_stream else _Client.COMMAND
        self._client_resume = _Client.COMMAND
        self._server = _Server.REPLY
        self._pending: deque[_Pending] = deque()
        # Helo and the envelope of the transaction being built (RFC 5321 s3.3).
        self._helo: str | None = None
        self._mail_from: str | None = None
        self._rcpt_to: list[str] = []
        self._rcpt_rejected: list[str] = []
        self._envelope = 0  # bumped whenever the envelope is reset
        self._next_message = 0
        self._message = -1  # the message whose bytes are streaming, -1: none
        self._bdat_remaining = 0
        self._bdat_last = False
        self._bdat_discard = False  # BDAT chunks of a message cut by a gap, up to LAST
        self._awaiting: dict[int, bool] = {}  # ended messages waiting for their verdict
        self._message_refused = False  # the open message's DATA got a refusal
        self._sasl: SaslExchange | None = None
        self._server_seen = False
        self._server_closed = False
        self._client_closed = False
        self._greeted = False
        self._commands_seen = False
        self._replies_lost = False  # a server gap: replies may be missing
        self._overflow_reported = False

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        out: list[Event] = []
        if not data:
            return out
        if direction is RESP:
            if self._server is _Server.DONE:
                return out
            self._server_seen = True
            self._bufs[RESP].push(data)
            self._run_server(ts, out)
            return out
        if self._client is _Client.DONE:
            return out
        buf = self._bufs[ORIG]
        if self._client is _Client.BODY and not buf:
            # Hot path: message bytes go through the reader without being buffered.
            rest = self._body(data, ts, out)
            if not rest:
                return out
            data = rest
        buf.push(data)
        self._run_client(ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole in ``direction``: a message it cuts ends incomplete; parsing resyncs."""
        out: list[Event] = []
        if size <= 0:
            return out
        out.append(Anomaly(direction=direction, ts=ts, name="smtp_content_gap", detail=f"{size}"))
        buf = self._bufs[direction]
        if direction is RESP:
            if self._server is _Server.DONE:
                return out
            buf.clear()
            self._server = _Server.SKIP_LINE
            # Replies were lost: what is waiting gets an unknown verdict.
            self._flush_pending(ts, out)
            self._replies_lost = True
            return out
        state = self._client
        if state is _Client.DONE:
            return out
        if state is _Client.BDAT and size < self._bdat_remaining:
            self._end_message(ts, out, reason="gap")
            self._bdat_remaining -= size
            self._bdat_discard = not self._bdat_last
            self._client = _Client.BDAT_SKIP
            return out
        if state is _Client.BDAT_SKIP and size < self._bdat_remaining:
            self._bdat_remaining -= size
            return out
        buf.clear()
        if state in (_Client.BODY, _Client.BDAT):
            self._end_message(ts, out, reason="gap")
            self._client = _Client.RESYNC
        elif state in (_Client.DATA_WAIT, _Client.PROBE, _Client.BDAT_SKIP):
            self._client = _Client.RESYNC
        elif state is _Client.TLS_WAIT:
            pass  # the reply still decides; the TLS bytes lost cannot be handed over
        elif state is not _Client.RESYNC:
            self._sasl_done_on_client()
            self._skip_line(_Client.COMMAND)
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` closed: an open message ends incomplete; unanswered commands get an
        unknown verdict once the server side is closed."""
        out: list[Event] = []
        if direction is ORIG:
            if self._client_closed:
                return out
            self._client_closed = True
            if self._client is _Client.DATA_WAIT and self._bufs[ORIG]:
                # The connection closed before the reply to DATA was seen: what the client
                # sent after DATA is taken as the message, its verdict unknown.
                out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_data_reply_late"))
                self._begin_message(ts, out, command="DATA")
                self._run_client(ts, out)
            if self._message >= 0:
                self._end_message(ts, out, reason="closed")
            if self._client is not _Client.DONE:
                self._client = _Client.DONE
                self._bufs[ORIG].clear()
            return out
        if self._server_closed:
            return out
        self._server_closed = True
        self._flush_pending(ts, out)
        for message in list(self._awaiting):
            self._verdict(message, None, ts, out)
        if self._server is not _Server.DONE:
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
                        self._skip_line(state)
                        continue
                    return
                if state is _Client.SASL:
                    self._sasl_line(line)
                else:
                    self._command(line, ts, out)
            elif state is _Client.BODY:
                rest = self._body(buf.take_all(), ts, out)
                if rest is None:
                    return
                buf.push(rest)
            elif state is _Client.BDAT or state is _Client.BDAT_SKIP:
                chunk = buf.take_upto(self._bdat_remaining)
                self._bdat_remaining -= len(chunk)
                if state is _Client.BDAT:
                    out.append(
                        MessageData(direction=ORIG, ts=ts, message=self._message, data=chunk)
                    )
                if self._bdat_remaining:
                    return
                self._bdat_chunk_done(ts, out)
            elif state is _Client.SKIP_LINE:
                end = buf.line_end(len(buf))
                if end < 0:
                    buf.clear()
                    return
                buf.skip(end)
                self._client = self._client_resume
            elif state is _Client.RESYNC:
                if not self._resync_line(ts, out):
                    return
            elif state is _Client.PROBE:
                if not self._probe_start(ts, out):
                    return
            elif state is _Client.DATA_WAIT:
                if len(buf) <= self._max_line:
                    return
                # No reply to DATA in sight while the client goes on sending: take the
                # bytes as the message (a capture that missed or delayed the 354).
                out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_data_reply_late"))
                self._begin_message(ts, out, command="DATA")
            elif state is _Client.TLS_WAIT:
                if len(buf) <= self._max_line:
                    return
                out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_starttls_reply_late"))
                self._switch_to_tls(ORIG, ts, out)
                return
            else:  # DONE
                buf.clear()
                return

    def _skip_line(self, resume: _Client) -> None:
        self._client = _Client.SKIP_LINE
        self._client_resume = resume

    def _push(self, entry: _Pending, ts: int, out: list[Event]) -> None:
        """Queue a command for its reply; past the cap the oldest gets an unknown verdict."""
        self._commands_seen = True
        self._replies_lost = False
        if len(self._pending) >= self._max_pending:
            if not self._overflow_reported:
                self._overflow_reported = True
                out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_too_many_pending"))
            self._resolve(self._pending.popleft(), -1, ts, out)
        self._pending.append(entry)

    def _command(self, line: bytes, ts: int, out: list[Event]) -> None:
        """One command line (RFC 5321 s4.1.1)."""
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        argument = argument.strip(b" \t")
        if not verb:
            return  # an empty line: tolerated, nothing to answer
        envelope = self._envelope
        if verb not in VERBS:
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="smtp_unknown_command",
                    detail=_text(verb[:_DETAIL_LEN]),
                )
            )
            self._violation(ORIG, ts, out, "smtp_unknown_command")
            self._push(_Pending(verb, argument, envelope), ts, out)
            return
        if verb in (b"EHLO", b"HELO", b"LHLO"):
            self._helo = _text(argument)
            self._reset_envelope()  # RFC 5321 s4.1.4: EHLO resets the transaction
        elif verb == b"MAIL":
            self._reset_envelope()
            self._mail_from = self._path(argument)
            envelope = self._envelope
        elif verb == b"RSET":
            self._reset_envelope()
        elif verb == b"AUTH":
            self._sasl = SaslExchange.from_arguments(argument)
            if self._sasl.lines_left:
                self._client = _Client.SASL
        elif verb == b"BDAT":
            self._bdat_command(argument, ts, out)
            return
        self._push(_Pending(verb, argument, envelope), ts, out)
        if verb == b"DATA":
            if self._server_seen and not self._server_closed:
                self._client = _Client.DATA_WAIT
            else:
                # Client side only: the bytes that follow are the message.
                self._begin_message(ts, out, command="DATA")
        elif verb == b"STARTTLS":
            if self._server_seen and not self._server_closed:
                self._client = _Client.TLS_WAIT
            else:
                self._switch_to_tls(ORIG, ts, out)

    @staticmethod
    def _path(argument: bytes) -> str:
        """The address of ``FROM:<a> params`` / ``TO:<b> params`` (RFC 5321 s4.1.2)."""
        match = _PATH.match(argument)
        if match is None:
            return _text(argument)
        return _text(match.group(1) if match.group(1) is not None else match.group(2))

    def _reset_envelope(self) -> None:
        self._envelope += 1
        self._mail_from = None
        self._rcpt_to = []
        self._rcpt_rejected = []

    def _sasl_line(self, line: bytes) -> None:
        sasl = self._sasl
        if sasl is None or not sasl.take(line):
            self._client = _Client.COMMAND

    def _sasl_done_on_client(self) -> None:
        if self._client is _Client.SASL:
            self._client = _Client.COMMAND

    def _bdat_command(self, argument: bytes, ts: int, out: list[Event]) -> None:
        """``BDAT size [LAST]`` (RFC 3030 s2): ``size`` bytes follow the line at once."""
        match = _BDAT_ARGS.fullmatch(argument)
        if match is None:
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="smtp_bad_bdat",
                    detail=_text(argument[:_DETAIL_LEN]),
                )
            )
            self._push(_Pending(b"BDAT", argument, self._envelope), ts, out)
            return
        self._bdat_remaining = int(match.group(1))
        self._bdat_last = match.group(2) is not None
        if self._bdat_discard:
            self._push(_Pending(b"BDAT", argument, self._envelope, -1, self._bdat_last), ts, out)
            self._client = _Client.BDAT_SKIP
        else:
            if self._message < 0:
                self._begin_message(ts, out, command="BDAT")
            message = self._message
            self._push(
                _Pending(b"BDAT", argument, self._envelope, message, self._bdat_last), ts, out
            )
            self._client = _Client.BDAT
        if not self._bdat_remaining:
            self._bdat_chunk_done(ts, out)

    def _bdat_chunk_done(self, ts: int, out: list[Event]) -> None:
        if self._client is _Client.BDAT_SKIP:
            if self._bdat_last:
                self._bdat_discard = False
        elif self._bdat_last:
            self._finish_message(ts, out)
        self._client = _Client.COMMAND

    def _begin_message(
        self, ts: int, out: list[Event], *, command: str, partial: str | None = None
    ) -> None:
        """A message starts (354 seen, inferred, BDAT, or a mid-stream start)."""
        message = self._message = self._next_message
        self._next_message += 1
        self._message_refused = False
        envelope = self._envelope
        unanswered = [
            self._path(entry.argument)
            for entry in self._pending
            if entry.verb == b"RCPT" and entry.envelope == envelope
        ]
        out.append(
            MessageBegin(
                direction=ORIG,
                ts=ts,
                message=message,
                protocol="smtp",
                flow="outgoing",
                command=command,
                mail_from=self._mail_from,
                rcpt_to=(*self._rcpt_to, *unanswered),
                rcpt_rejected=tuple(self._rcpt_rejected),
                helo=self._helo,
                partial=partial,
            )
        )
        if command == "DATA":
            self._reader = DotStuffedReader(line_start=partial is None)
            self._client = _Client.BODY

    def _body(self, data: bytes, ts: int, out: list[Event]) -> bytes | None:
        """Stream DATA bytes; at the terminator return what follows it, else None."""
        content, rest = self._reader.feed(data)
        if content:
            out.append(MessageData(direction=ORIG, ts=ts, message=self._message, data=content))
        if rest is None:
            return None
        self._push(_Pending(_DOT, b"", self._envelope, self._message), ts, out)
        self._finish_message(ts, out)
        self._client = _Client.COMMAND
        return rest

    def _finish_message(self, ts: int, out: list[Event]) -> None:
        """The last byte of the message arrived; its verdict comes with the next reply."""
        message = self._message
        self._message = -1
        self._reset_envelope()  # RFC 5321 s4.1.1.4: the transaction is over
        self._awaiting[message] = self._message_refused
        self._message_refused = False
        if not self._server_seen or self._server_closed:
            self._verdict(message, None, ts, out)

    def _end_message(self, ts: int, out: list[Event], *, reason: str) -> None:
        """The message stops short (gap, close)."""
        out.append(
            MessageEnd(direction=ORIG, ts=ts, message=self._message, complete=False, reason=reason)
        )
        self._message = -1
        self._reset_envelope()

    def _verdict(self, message: int, accepted: bool | None, ts: int, out: list[Event]) -> None:
        rejected = self._awaiting.pop(message)
        out.append(
            MessageEnd(
                direction=ORIG,
                ts=ts,
                message=message,
                complete=True,
                accepted=None if accepted is None else accepted and not rejected,
            )
        )

    def _resync_line(self, ts: int, out: list[Event]) -> bool:
        """After a lost boundary: skip lines up to "." (the end of the message) or up to a
        line that is a command. False when more bytes are needed."""
        buf = self._bufs[ORIG]
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) >= self._max_line:
                buf.clear()
                self._skip_line(_Client.RESYNC)
                return True
            return False
        if line == b".":
            # The end of the message that was cut: its reply must not pair with a command.
            self._push(_Pending(_DOT, b"", self._envelope, -1), ts, out)
            self._client = _Client.COMMAND
        elif _is_command_line(line):
            self._client = _Client.COMMAND
            self._command(line, ts, out)
        return True

    def _probe_start(self, ts: int, out: list[Event]) -> bool:
        """Mid-stream start: a command line, or the inside of a message?"""
        buf = self._bufs[ORIG]
        match = buf.match(_COMMAND_START)
        if match is not None and match.group(1).upper() in VERBS:
            self._client = _Client.COMMAND
            return True
        if len(buf) < _COMMAND_PROBE_LEN and buf.line_end(_COMMAND_PROBE_LEN) < 0:
            return False
        self._begin_message(ts, out, command="DATA", partial="mid_stream")
        return True

    def _switch_to_tls(self, direction: Direction, ts: int, out: list[Event]) -> None:
        out.append(self._tls_switch(direction, ts))
        self._client = _Client.DONE
        self._server = _Server.DONE

    # -- server side ---------------------------------------------------------------------

    def _run_server(self, ts: int, out: list[Event]) -> None:
        buf = self._bufs[RESP]
        while buf and self._server is not _Server.DONE:
            if self._server is _Server.SKIP_LINE:
                end = buf.line_end(len(buf))
                if end < 0:
                    buf.clear()
                    return
                buf.skip(end)
                self._server = _Server.REPLY
                continue
            line = buf.take_line(self._max_line)
            if line is None:
                if len(buf) >= self._max_line:
                    self._line_too_long(RESP, ts, out)
                    self._server = _Server.SKIP_LINE
                    continue
                return
            self._reply_line(line, ts, out)

    def _reply_line(self, line: bytes, ts: int, out: list[Event]) -> None:
        """``ddd-text`` continues a reply, ``ddd[ SP text]`` ends it (RFC 5321 s4.2.1)."""
        code_text = line[:3]
        separator = line[3:4]
        if not (code_text.isdigit() and len(code_text) == 3 and separator in (b"", b" ", b"-")):
            if self.flow.mid_stream and not self._confirmed:
                return  # the capture began inside a line
            out.append(
                Anomaly(
                    direction=RESP, ts=ts, name="smtp_bad_reply", detail=_text(line[:_DETAIL_LEN])
                )
            )
            self._violation(RESP, ts, out, "smtp_bad_reply")
            return
        if separator == b"-":
            return
        code = int(code_text)
        pending = self._pending
        if code == _AUTH_CONTINUE and pending and pending[0].verb == b"AUTH":
            return  # a SASL challenge; the exchange goes on
        if code == _READY and not self._greeted and (not pending or pending[0].verb != b"STARTTLS"):
            self._greeted = True
            self._confirm(ts, out)
            return
        if not pending:
            if not (self._replies_lost or not self._commands_seen or code == _SHUTDOWN):
                out.append(
                    Anomaly(
                        direction=RESP, ts=ts, name="smtp_reply_without_command", detail=f"{code}"
                    )
                )
            return
        self._confirm(ts, out)
        self._resolve(pending.popleft(), code, ts, out)

    def _confirm(self, ts: int, out: list[Event]) -> None:
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=RESP, ts=ts))

    def _flush_pending(self, ts: int, out: list[Event]) -> None:
        """Every waiting command gets an unknown verdict (server closed or replies lost)."""
        while self._pending:
            self._resolve(self._pending.popleft(), -1, ts, out)

    def _resolve(self, entry: _Pending, code: int, ts: int, out: list[Event]) -> None:
        """Apply the final reply ``code`` (-1: unknown) to the command it answers."""
        accepted = None if code < 0 else 200 <= code < 300
        verb = entry.verb
        current = entry.envelope == self._envelope
        if verb == b"RCPT":
            if current:
                if accepted is False:
                    self._rcpt_rejected.append(self._path(entry.argument))
                else:
                    self._rcpt_to.append(self._path(entry.argument))
        elif verb == b"MAIL":
            if current and accepted is False:
                self._mail_from = None
        elif verb == b"DATA":
            self._data_reply(code, ts, out)
        elif verb in (_DOT, b"BDAT"):
            if entry.message in self._awaiting:
                if accepted is False:
                    self._awaiting[entry.message] = True
                if verb == _DOT or entry.last:
                    self._verdict(entry.message, accepted, ts, out)
        elif verb == b"AUTH":
            self._sasl_done_on_client()
            sasl, self._sasl = self._sasl, None
            if sasl is not None:
                login = sasl.login(ORIG, ts, accepted, self.keep_secrets)
                if login is None:
                    out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_bad_sasl"))
                else:
                    out.append(login)
        elif verb == b"STARTTLS":
            if code == _READY:
                self._switch_to_tls(RESP, ts, out)
            elif code >= 0 and self._client is _Client.TLS_WAIT:
                self._client = _Client.COMMAND  # 454 and the like: no TLS, go on
                self._run_client(ts, out)
        elif verb in _RECORDED:
            out.append(
                MailCommand(
                    direction=ORIG,
                    ts=ts,
                    name=_text(verb),
                    argument=_text(entry.argument),
                    accepted=accepted,
                )
            )

    def _data_reply(self, code: int, ts: int, out: list[Event]) -> None:
        if self._client is not _Client.DATA_WAIT:
            if code >= 0 and code != _DATA_START and self._message >= 0:
                # The message was inferred from the client's bytes, but the server refused.
                self._message_refused = True
            return
        if code == _DATA_START or code < 0:
            self._begin_message(ts, out, command="DATA")
        else:
            if self._bufs[ORIG]:
                out.append(Anomaly(direction=ORIG, ts=ts, name="smtp_data_rejected"))
            self._client = _Client.COMMAND
        self._run_client(ts, out)


def _is_command_line(line: bytes) -> bool:
    """A line that reads as a command where a message may still be running (after a gap).

    Only commands with their fixed syntax count, as a message body can hold any word.
    """
    upper = line[:10].upper()
    return upper.startswith(
        (b"MAIL FROM:", b"RCPT TO:", b"EHLO ", b"HELO ", b"BDAT ")
    ) or upper in (b"RSET", b"QUIT", b"DATA", b"NOOP", b"STARTTLS")
