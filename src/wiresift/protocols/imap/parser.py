"""IMAP4rev1/rev2 passive parser (RFC 3501, RFC 9051; LITERAL+/- RFC 7888; BINARY RFC 3516;
COMPRESS RFC 4978; IDLE RFC 2177; SASL-IR RFC 4959; STARTTLS RFC 2595; UIDPLUS RFC 4315).

Theory of operation: each direction is cut into *fragments* (bytes up to CRLF) and
*literals* (``{n}`` announces n raw bytes). A command or response is a run of fragments
with literals between them. Literals are never held whole: message literals stream out as
``MessageData`` piece by piece, small literals of commands are kept for their arguments
(capped by ``Limits.max_line``), every other literal is counted and dropped.

Server side: a ``* n FETCH (...)`` response is read token by token as its fragments
arrive, keeping only the nesting depth, the pending data item name and the UID, so a body
literal (BODY[...], BINARY[...], RFC822*) is known to be a message when its marker is seen.
Its ``MessageEnd`` waits for the end of the response, so a UID sent after the body is
still reported. Tagged responses (``tag OK/NO/BAD``) complete the command of that tag.

Client side: commands wait by tag until their tagged response. A synchronising literal
``{n}`` waits for the server's ``+`` continuation (RFC 3501 s7.5); a tagged NO instead
means the literal never comes. After AUTHENTICATE the client's lines are SASL responses,
after IDLE the next line is DONE. APPEND literals are outgoing messages.

COMPRESS DEFLATE (RFC 4978 s3) turns both directions into raw DEFLATE streams after its
tagged OK; they are inflated here under a ratio guard. STARTTLS ends the parser with a
``SwitchProtocol`` to TLS. When the boundary is lost (mid-stream start, a gap outside a
literal) a side scans line by line for a plausible response or command and resumes there
(``imap_resync``).
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Callable
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    SwitchProtocol,
    Violation,
)
from wiresift.protocols.imap.detect import COMMANDS, TAG_PATTERN
from wiresift.protocols.imap.syntax import (
    LiteralMark,
    Token,
    TokenList,
    decode_mailbox,
    literal_mark,
    sasl_account,
    text,
    tokenize,
)
from wiresift.protocols.mailevents import (
    MailCommand,
    MailFlow,
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# Largest literal taken at its word: 4 GiB, the largest size a 32-bit number holds (RFC 3501
# s9 number is an unsigned 32-bit integer). Larger claims still stream, with an anomaly.
MAX_LITERAL: Final = 2**32 - 1
# Bytes of a too-long fragment kept while it is skipped: enough for "~{" + 19 digits + "+}"
# + CRLF, so a literal announced at its end is still followed.
_SKIP_TAIL: Final = 32
# Bytes inflated per step, so a small compressed input never becomes one huge allocation.
_INFLATE_STEP: Final = 64 * 1024
# Output the ratio guard always allows: short streams have high ratios (a sync flush of a
# few bytes), 1 MiB is past any of them.
_INFLATE_FLOOR: Final = 1024 * 1024
# SASL responses kept per AUTHENTICATE (PLAIN and LOGIN need 1 or 2; SCRAM 2).
_MAX_SASL_RESPONSES: Final = 4

_FETCH_HEAD: Final = re.compile(rb"\* ([0-9]{1,10}) (?i:FETCH) ")
_TAGGED: Final = re.compile(b"(" + TAG_PATTERN + rb") ((?i:OK|NO|BAD))(?:[ ]|\Z)")
_STATUS_WORDS: Final = frozenset({b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"})
_GREETING_WORDS: Final = frozenset({b"OK", b"PREAUTH"})
_APPENDUID: Final = re.compile(rb"\[(?i:APPENDUID) [0-9]+ ([0-9]{1,10})\]")
_LONGEST_FIRST: Final[list[bytes]] = sorted(COMMANDS, key=len, reverse=True)
# Lines a lost side may resume on (RFC 3501 s7 responses, s6 commands).
_RESYNC_RESPONSE: Final = re.compile(
    rb"(?:\* (?:OK|NO|BAD|BYE|PREAUTH|CAPABILITY|LIST|LSUB|STATUS|SEARCH|ESEARCH|FLAGS|"
    rb"ENABLED|NAMESPACE|ID|[0-9]{1,10} (?:EXISTS|RECENT|EXPUNGE|FETCH))"
    b"|" + TAG_PATTERN + rb" (?:OK|NO|BAD))[ \r\n]"
)
_RESYNC_COMMAND: Final = re.compile(
    TAG_PATTERN + rb" (?:" + b"|".join(_LONGEST_FIRST) + rb")[ \r\n]"
)
# Data items whose value is message content (RFC 3501 s7.4.2, RFC 3516 s4.2).
_MESSAGE_ITEM: Final = re.compile(
    rb"(?i:(BODY|BINARY)\[([^\]]*)\](?:<([0-9]{1,19})>)?|RFC822(\.HEADER|\.TEXT)?)"
)
_RFC822_SECTION: Final = {b"": "", b".HEADER": "HEADER", b".TEXT": "TEXT"}
# Commands recorded as MailCommand when their tagged response arrives, with the positions
# of their arguments that are mailbox names.
_RECORDED: Final[dict[bytes, tuple[int, ...]]] = {
    b"SELECT": (0,),
    b"EXAMINE": (0,),
    b"CREATE": (0,),
    b"DELETE": (0,),
    b"RENAME": (0, 1),
    b"SUBSCRIBE": (0,),
    b"UNSUBSCRIBE": (0,),
    b"EXPUNGE": (),
    b"UID EXPUNGE": (),
    b"STORE": (),
    b"UID STORE": (),
    b"COPY": (1,),
    b"UID COPY": (1,),
    b"MOVE": (1,),
    b"UID MOVE": (1,),
    b"CLOSE": (),
    b"UNSELECT": (),
    b"LOGOUT": (),
    b"STARTTLS": (),
    b"COMPRESS": (),
}
_LOGIN_COMMANDS: Final = frozenset({b"LOGIN", b"AUTHENTICATE"})


class _State(enum.IntEnum):
    LINE = enum.auto()  # reading a fragment: a command/response line or its continuation
    LITERAL = enum.auto()  # ``remaining`` literal bytes follow
    WAIT_CONT = enum.auto()  # client: a synchronising literal waits for the server's "+"
    AUTH = enum.auto()  # client: lines are SASL responses until the tagged response
    IDLE = enum.auto()  # client: the next line is DONE (RFC 2177)
    SKIP_LINE = enum.auto()  # over max_line: dropping bytes to the end of the fragment
    RESYNC = enum.auto()  # boundary lost: looking for a line that starts a command/response
    DONE = enum.auto()  # closed, switched or undecodable: nothing more is read


class _Literal(enum.Enum):
    MESSAGE = enum.auto()  # message content: streamed out
    STORE = enum.auto()  # a command argument: kept for the command
    SKIP = enum.auto()  # counted and dropped


class _Response(enum.Enum):
    NONE = enum.auto()  # no response open
    FETCH = enum.auto()  # * n FETCH: tokens are followed
    OTHER = enum.auto()  # any other untagged response: literals are skipped


class _Command:
    """A client command waiting for its tagged response."""

    __slots__ = ("args", "mechanism", "name", "responses", "tag")

    def __init__(self, tag: bytes, name: bytes) -> None:
        self.tag = tag
        self.name = name  # upper case; "UID FETCH" for UID commands
        self.args: TokenList = []
        self.mechanism = ""  # AUTHENTICATE
        self.responses: list[bytes] = []  # AUTHENTICATE: initial response, then SASL lines


class _Side:
    """Parsing state of one direction."""

    __slots__ = (
        "bare_lf_reported",
        "buf",
        "closed",
        "command",
        "compressed_backlog",
        "continued",
        "depth",
        "direction",
        "inflater",
        "key",
        "literal_kind",
        "literal_mark",
        "message",
        "message_command",
        "message_complete",
        "packed_in",
        "remaining",
        "response",
        "resync_discard",
        "resync_skipped",
        "seq",
        "skip_tail",
        "state",
        "store",
        "stored",
        "uid",
        "unpacked_out",
    )

    def __init__(self, direction: Direction, synced: bool) -> None:
        self.direction = direction
        self.buf = ByteBuffer()
        self.state = _State.LINE if synced else _State.RESYNC
        self.closed = False
        self.bare_lf_reported = False
        # The open command or response.
        self.continued = False  # a literal ended a fragment: the next one continues it
        self.command: _Command | None = None  # client: the command being read
        self.stored = 0  # client: argument bytes kept for the command being read
        self.response = _Response.NONE  # server: the response being read
        self.depth = 0  # server FETCH: parenthesis depth
        self.key: bytes | None = None  # server FETCH: data item name awaiting its value
        self.seq = 0  # server FETCH: message sequence number
        self.uid: int | None = None  # server FETCH: UID item of the response
        # The literal being read.
        self.literal_kind = _Literal.SKIP
        self.literal_mark: LiteralMark | None = None  # client: waiting for "+"
        self.remaining = 0
        self.store = bytearray()
        # The message of this side not ended yet (-1: none).
        self.message = -1
        self.message_complete = False  # all its literal bytes were seen
        self.message_command: _Command | None = None  # APPEND: the command it belongs to
        # Skipping and resynchronisation.
        self.skip_tail = b""
        self.resync_skipped = 0
        self.resync_discard = False
        # COMPRESS DEFLATE.
        self.inflater: zlib._Decompress | None = None
        self.compressed_backlog = b""
        self.packed_in = 0
        self.unpacked_out = 0


class ImapParser(Parser):
    """Passive IMAP4 parser for one connection; sees both directions."""

    name = "imap"
    # Report passwords and tokens in MailLogin.secret (set per instance by the engine).
    keep_secrets: bool = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        synced = not flow.mid_stream
        self._sides = (_Side(ORIG, synced), _Side(RESP, synced))
        self._pending: dict[bytes, _Command] = {}
        self._mailbox: str | None = None  # the selected mailbox
        self._next_message = 0
        self._confirmed = False
        self._violation_reported = False
        self._max_line = limits.max_line
        self._max_pending = limits.max_pending_tx
        self._max_ratio = limits.max_decompression_ratio

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        side = self._sides[direction]
        out: list[Event] = []
        if not data or side.closed or side.state is _State.DONE:
            return out
        if side.inflater is not None:
            self._inflate(side, data, ts, out)
        else:
            self._receive(side, data, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """``size`` bytes of ``direction`` were not captured.

        Inside a literal the parser stays in sync (the literal's message ends incomplete);
        anywhere else it resyncs. A compressed stream cannot be inflated past a hole.
        """
        side = self._sides[direction]
        out: list[Event] = []
        if size <= 0 or side.closed or side.state is _State.DONE:
            return out
        out.append(
            Anomaly(direction=direction, ts=ts, name="imap_content_gap", detail=f"{size} bytes")
        )
        if side.inflater is not None:
            out.append(Anomaly(direction=direction, ts=ts, name="imap_compressed_gap"))
            self._stop(side, ts, out, "gap")
            return out
        if side.state is _State.LITERAL and size <= side.remaining:
            if side.literal_kind is _Literal.MESSAGE:
                self._end_message(side, ts, out, complete=False, reason="gap")
            side.literal_kind = _Literal.SKIP
            side.store.clear()
            side.remaining -= size
            if not side.remaining:
                self._literal_done(side, ts, out)
                self._run(side, ts, out)
            return out
        self._lose_sync(side, ts, out, size)
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` is closed: an open literal's message ends incomplete."""
        side = self._sides[direction]
        out: list[Event] = []
        if side.closed:
            return out
        side.closed = True
        if side.message >= 0 and (direction is RESP or not side.message_complete):
            self._end_message(
                side,
                ts,
                out,
                complete=side.message_complete,
                reason="closed",
                uid=side.uid if direction is RESP else None,
            )
        if direction is RESP:
            self._server_gone(ts, out)
        elif self._sides[RESP].closed and side.message >= 0:
            self._end_message(side, ts, out, complete=True)
        side.state = _State.DONE
        side.buf.clear()
        return out

    def buffered_bytes(self) -> int:
        """Bytes held in both directions' buffers and kept command arguments."""
        return sum(len(side.buf) + side.stored + len(side.store) for side in self._sides)

    def body_run(self, direction: Direction) -> int:
        """Bytes of a literal (RFC 9051 s4.3) short of its end pass through as they come
        (uncompressed streams only: a DEFLATE stream is inflated as it arrives)."""
        side = self._sides[direction]
        if side.state is not _State.LITERAL or side.buf or side.inflater is not None:
            return 0
        if side.closed:
            return 0
        return side.remaining - 1

    # -- input -------------------------------------------------------------------------------

    def _receive(self, side: _Side, data: bytes, ts: int, out: list[Event]) -> None:
        """Plain (or already inflated) bytes of ``side``."""
        if side.state is _State.LITERAL and not side.buf:
            # Hot path: literal bytes pass through without entering the buffer.
            take = side.remaining
            if len(data) <= take:
                self._literal_data(side, data, ts, out)
                return
            self._literal_data(side, data[:take], ts, out)
            data = data[take:]
        side.buf.push(data)
        self._run(side, ts, out)
        if side.compressed_backlog:
            # COMPRESS started inside these bytes: the rest is DEFLATE.
            backlog = side.compressed_backlog
            side.compressed_backlog = b""
            self._inflate(side, backlog, ts, out)

    def _inflate(self, side: _Side, data: bytes, ts: int, out: list[Event]) -> None:
        """Inflate ``data`` step by step under the ratio guard (RFC 4978 s4)."""
        inflater = side.inflater
        if inflater is None:
            return
        side.packed_in += len(data)
        while data:
            try:
                chunk = inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as error:
                out.append(
                    Anomaly(
                        direction=side.direction, ts=ts, name="imap_bad_deflate", detail=str(error)
                    )
                )
                self._stop(side, ts, out, "limit")
                return
            data = inflater.unconsumed_tail
            side.unpacked_out += len(chunk)
            if (
                side.unpacked_out > _INFLATE_FLOOR
                and side.unpacked_out > self._max_ratio * side.packed_in
            ):
                out.append(
                    Anomaly(
                        direction=side.direction,
                        ts=ts,
                        name="imap_decompression_bomb",
                        detail=f"{side.unpacked_out} bytes from {side.packed_in}",
                    )
                )
                self._stop(side, ts, out, "limit")
                return
            if chunk:
                self._receive(side, chunk, ts, out)
            if side.state is _State.DONE or side.closed:
                return
        if inflater.eof:
            # The sender ended its DEFLATE stream (Dovecot does at LOGOUT, before its FIN):
            # nothing defines what could follow, so bytes after it are the anomaly.
            if inflater.unused_data:
                out.append(
                    Anomaly(
                        direction=side.direction,
                        ts=ts,
                        name="imap_deflate_end",
                        detail=f"{len(inflater.unused_data)} bytes after the end",
                    )
                )
            self._stop(side, ts, out, "closed")

    def _stop(self, side: _Side, ts: int, out: list[Event], reason: str) -> None:
        """This side can no longer be read."""
        if side.message >= 0:
            self._end_message(side, ts, out, complete=side.message_complete, reason=reason)
        side.state = _State.DONE
        side.inflater = None
        side.compressed_backlog = b""
        side.buf.clear()

    # -- the step loop ---------------------------------------------------------------------

    def _run(self, side: _Side, ts: int, out: list[Event]) -> None:
        """Call the reader of the current state until one needs more bytes."""
        readers = _READERS
        while readers[side.state](self, side, ts, out):
            pass

    def _read_nothing(self, side: _Side, ts: int, out: list[Event]) -> bool:
        return False

    def _take_line(self, side: _Side, ts: int, out: list[Event]) -> bytes | None:
        """The next fragment, or None (need more, or too long: then SKIP_LINE)."""
        buf = side.buf
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) >= self._max_line:
                out.append(
                    Anomaly(
                        direction=side.direction,
                        ts=ts,
                        name="imap_line_too_long",
                        detail=f"line longer than {self._max_line} bytes",
                    )
                )
                side.skip_tail = b""
                side.state = _State.SKIP_LINE
            return None
        if buf.last_line_bare_lf and not side.bare_lf_reported:
            side.bare_lf_reported = True
            out.append(Anomaly(direction=side.direction, ts=ts, name="imap_bare_lf"))
        if b"\x00" in line:
            # NUL is never allowed outside a binary literal (RFC 3501 s4.3, RFC 3516 s4).
            out.append(Anomaly(direction=side.direction, ts=ts, name="imap_nul_byte"))
        return line

    def _read_line(self, side: _Side, ts: int, out: list[Event]) -> bool:
        line = self._take_line(side, ts, out)
        if line is None:
            return side.state is _State.SKIP_LINE
        if side.direction is ORIG:
            self._client_fragment(side, line, ts, out)
        else:
            self._server_fragment(side, line, ts, out)
        return True

    def _read_skip_line(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        end = buf.line_end(len(buf))
        if end < 0:
            side.skip_tail = (side.skip_tail + buf.take_all())[-_SKIP_TAIL:]
            return False
        tail = (side.skip_tail + buf.take_upto(end))[-_SKIP_TAIL:].rstrip(b"\r\n")
        side.skip_tail = b""
        side.state = _State.LINE
        mark = literal_mark(tail)
        # The start of the command or response is lost: follow its framing only.
        side.command = None
        if side.response is _Response.FETCH:
            side.response = _Response.OTHER
        if mark is not None:
            side.continued = True
            self._start_literal(side, _Literal.SKIP, mark, ts, out)
        else:
            self._finish_logical_line(side, ts, out)
        return True

    def _read_literal(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        if not buf:
            return False
        self._literal_data(side, buf.take_upto(side.remaining), ts, out)
        return True

    def _read_wait_cont(self, side: _Side, ts: int, out: list[Event]) -> bool:
        if len(side.buf) <= self._max_line or side.literal_mark is None:
            return False
        # Far more bytes than a command line: the literal is being sent, the server's "+"
        # was not captured.
        out.append(Anomaly(direction=ORIG, ts=ts, name="imap_continuation_missing"))
        self._continue_literal(side, ts, out)
        return True

    def _read_auth(self, side: _Side, ts: int, out: list[Event]) -> bool:
        line = self._take_line(side, ts, out)
        if line is None:
            return side.state is _State.SKIP_LINE
        command = side.command
        if line == b"*":
            # The client cancels the exchange (RFC 3501 s6.2.2).
            return True
        if command is not None and len(command.responses) < _MAX_SASL_RESPONSES:
            command.responses.append(line)
        return True

    def _read_idle(self, side: _Side, ts: int, out: list[Event]) -> bool:
        line = self._take_line(side, ts, out)
        if line is None:
            return side.state is _State.SKIP_LINE
        if line.upper() == b"DONE":
            side.state = _State.LINE
        else:
            out.append(Anomaly(direction=ORIG, ts=ts, name="imap_bad_idle_line"))
        return True

    def _read_resync(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        pattern = _RESYNC_COMMAND if side.direction is ORIG else _RESYNC_RESPONSE
        while True:
            end = buf.line_end(len(buf))
            if end < 0:
                if len(buf) > self._max_line:
                    side.resync_skipped += len(buf)
                    buf.clear()
                    side.resync_discard = True
                return False
            line = buf.take_upto(end)
            if side.resync_discard:
                side.resync_discard = False
            elif pattern.match(line):
                buf.unshift(line)
                if side.resync_skipped:
                    out.append(
                        Anomaly(
                            direction=side.direction,
                            ts=ts,
                            name="imap_resync",
                            detail=f"{side.resync_skipped} bytes skipped",
                        )
                    )
                side.resync_skipped = 0
                side.state = _State.LINE
                return True
            side.resync_skipped += len(line)

    def _lose_sync(self, side: _Side, ts: int, out: list[Event], lost: int) -> None:
        """The boundary is lost (a gap): drop the open command/response and resync."""
        if side.message >= 0:
            complete = side.message_complete
            self._end_message(
                side,
                ts,
                out,
                complete=complete,
                reason=None if complete else "gap",
                uid=side.uid if side.direction is RESP else None,
            )
        side.resync_skipped += lost + len(side.buf)
        side.buf.clear()
        side.state = _State.RESYNC
        side.resync_discard = True  # the first line found may have lost its start
        side.continued = False
        side.command = None
        side.response = _Response.NONE
        side.literal_mark = None
        side.stored = 0
        side.store.clear()

    # -- literals ----------------------------------------------------------------------------

    def _start_literal(
        self, side: _Side, kind: _Literal, mark: LiteralMark, ts: int, out: list[Event]
    ) -> None:
        if mark.size > MAX_LITERAL:
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="imap_literal_too_large",
                    detail=f"{mark.size} bytes announced",
                )
            )
        if kind is _Literal.STORE and side.stored + mark.size > self._max_line:
            kind = _Literal.SKIP
        side.literal_kind = kind
        side.remaining = mark.size
        side.state = _State.LITERAL
        if not mark.size:
            self._literal_done(side, ts, out)

    def _literal_data(self, side: _Side, data: bytes, ts: int, out: list[Event]) -> None:
        side.remaining -= len(data)
        kind = side.literal_kind
        if kind is _Literal.MESSAGE:
            out.append(
                MessageData(direction=side.direction, ts=ts, message=side.message, data=data)
            )
        elif kind is _Literal.STORE:
            side.store += data
        if not side.remaining:
            self._literal_done(side, ts, out)

    def _literal_done(self, side: _Side, ts: int, out: list[Event]) -> None:
        kind = side.literal_kind
        side.state = _State.LINE
        if kind is _Literal.MESSAGE:
            side.message_complete = True
        if side.direction is ORIG:
            if side.command is not None:
                value = bytes(side.store) if kind is _Literal.STORE else b""
                side.command.args.append((Token.STRING, value))
                side.stored += len(value)
            side.store.clear()
        elif side.response is _Response.FETCH and side.depth == 1:
            side.key = None  # the literal was the pending item's value

    # -- client side -------------------------------------------------------------------------

    def _client_fragment(self, side: _Side, line: bytes, ts: int, out: list[Event]) -> None:
        mark = literal_mark(line)
        tokens = tokenize(line[: -mark.mark_len] if mark is not None else line)
        command = side.command
        if not side.continued:
            command = side.command = self._new_command(tokens, line, ts, out)
            side.stored = 0
            if command is not None:
                tokens = tokens[3:] if command.name.startswith(b"UID ") else tokens[2:]
        if command is not None and side.stored <= self._max_line:
            command.args += tokens
            side.stored += sum(len(value) for _, value in tokens)
        if mark is None:
            side.continued = False
            side.command = None
            side.stored = 0
            if command is not None:
                self._command_complete(side, command, ts, out)
            return
        side.continued = True
        kind = _Literal.SKIP
        if command is not None:
            kind = _Literal.STORE
            if command.name == b"APPEND" and _top_level_count(command.args) >= 1:
                kind = _Literal.MESSAGE
        if mark.synchronising and not self._sides[RESP].closed:
            side.literal_mark = mark
            side.literal_kind = kind
            side.state = _State.WAIT_CONT
            return
        self._begin_client_literal(side, kind, mark, ts, out)

    def _begin_client_literal(
        self, side: _Side, kind: _Literal, mark: LiteralMark, ts: int, out: list[Event]
    ) -> None:
        command = side.command
        if kind is _Literal.MESSAGE and command is not None:
            self._begin_message(
                side,
                ts,
                out,
                flow="outgoing",
                command="APPEND",
                mailbox=decode_mailbox(command.args[0][1]),
            )
            side.message_command = command
        self._start_literal(side, kind, mark, ts, out)

    def _continue_literal(self, side: _Side, ts: int, out: list[Event]) -> None:
        """The server's "+" arrived (or must have): the waiting literal follows."""
        mark = side.literal_mark
        side.literal_mark = None
        if mark is not None:
            self._begin_client_literal(side, side.literal_kind, mark, ts, out)

    def _new_command(
        self, tokens: TokenList, line: bytes, ts: int, out: list[Event]
    ) -> _Command | None:
        """The command that ``tokens`` (a first fragment) starts, registered by tag."""
        if len(tokens) < 2 or tokens[0][0] is not Token.ATOM or tokens[1][0] is not Token.ATOM:
            if line.upper() != b"DONE":  # a DONE whose IDLE was not seen (mid-stream)
                self._bad_line(ORIG, ts, out, "imap_bad_command")
            return None
        tag = tokens[0][1]
        name = tokens[1][1].upper()
        if name not in COMMANDS:
            self._bad_line(ORIG, ts, out, "imap_unknown_command")
        elif not self._confirmed:
            self._confirm(ORIG, ts, out)
        if name == b"UID" and len(tokens) > 2 and tokens[2][0] is Token.ATOM:
            name = b"UID " + tokens[2][1].upper()
        command = _Command(tag, name)
        if tag in self._pending:
            del self._pending[tag]  # a reused tag: the newest command owns it
        elif len(self._pending) >= self._max_pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="imap_too_many_pending",
                    detail=f"more than {self._max_pending} commands await a response",
                )
            )
        self._pending[tag] = command
        return command

    def _command_complete(self, side: _Side, command: _Command, ts: int, out: list[Event]) -> None:
        """The whole command was read; some change how the client's next lines are read."""
        name = command.name
        if name == b"AUTHENTICATE":
            args = command.args
            if args:
                command.mechanism = text(args[0][1]).upper()
            if len(args) > 1:
                command.responses.append(args[1][1])  # SASL-IR (RFC 4959 s3)
            side.state = _State.AUTH
            side.command = command
        elif name == b"IDLE":
            side.state = _State.IDLE

    # -- server side -------------------------------------------------------------------------

    def _server_fragment(self, side: _Side, line: bytes, ts: int, out: list[Event]) -> None:
        if side.continued:
            side.continued = False
            self._response_part(side, line, ts, out)
            return
        if line.startswith(b"+"):
            self._continuation(ts, out)
            return
        if line.startswith(b"* "):
            match = _FETCH_HEAD.match(line)
            if match is not None:
                side.response = _Response.FETCH
                side.seq = int(match.group(1))
                side.uid = None
                side.depth = 0
                side.key = None
                self._response_part(side, line[match.end() :], ts, out)
                return
            word = line[2:].split(b" ", 1)[0].upper()
            if word in _STATUS_WORDS:
                if word in _GREETING_WORDS and not self._confirmed:
                    self._confirm(RESP, ts, out)
                return
            side.response = _Response.OTHER
            self._response_part(side, line, ts, out)
            return
        tagged = _TAGGED.match(line)
        if tagged is None:
            self._bad_line(RESP, ts, out, "imap_bad_response")
            return
        self._tagged(tagged.group(1), tagged.group(2).upper(), line[tagged.end() :], ts, out)

    def _response_part(self, side: _Side, line: bytes, ts: int, out: list[Event]) -> None:
        """A fragment of an untagged response; literals may end it."""
        mark = literal_mark(line)
        if side.response is _Response.FETCH:
            self._fetch_tokens(side, tokenize(line[: -mark.mark_len] if mark else line), ts, out)
        if mark is None:
            self._finish_logical_line(side, ts, out)
            return
        side.continued = True
        key = side.key
        if (
            side.response is _Response.FETCH
            and side.depth == 1
            and key is not None
            and self._fetch_message(side, key, ts, out)
        ):
            self._start_literal(side, _Literal.MESSAGE, mark, ts, out)
            return
        self._start_literal(side, _Literal.SKIP, mark, ts, out)

    def _finish_logical_line(self, side: _Side, ts: int, out: list[Event]) -> None:
        """A command or response ended without a literal after its last fragment."""
        side.continued = False
        if side.direction is ORIG:
            side.command = None
            side.stored = 0
            return
        if side.response is _Response.FETCH and side.depth:
            out.append(Anomaly(direction=RESP, ts=ts, name="imap_unbalanced_parens"))
        if side.message >= 0:
            self._end_message(side, ts, out, complete=side.message_complete, uid=side.uid)
        side.response = _Response.NONE

    def _fetch_tokens(self, side: _Side, tokens: TokenList, ts: int, out: list[Event]) -> None:
        """Follow ``(name value name value ...)`` of a FETCH response (RFC 3501 s7.4.2)."""
        for kind, value in tokens:
            if kind is Token.OPEN:
                side.depth += 1
            elif kind is Token.CLOSE:
                side.depth -= 1
                if side.depth < 0:
                    out.append(Anomaly(direction=RESP, ts=ts, name="imap_unbalanced_parens"))
                    side.depth = 0
                elif side.depth == 1:
                    side.key = None  # a list value ended
            elif side.depth == 1:
                key = side.key
                if key is None:
                    side.key = value if kind is Token.ATOM else None
                    continue
                side.key = None
                if key.upper() == b"UID" and kind is Token.ATOM and value.isdigit():
                    side.uid = int(value[:10])
                elif (kind is Token.STRING or value.upper() == b"NIL") and self._fetch_message(
                    side, key, ts, out
                ):
                    if kind is Token.STRING and value:
                        out.append(
                            MessageData(direction=RESP, ts=ts, message=side.message, data=value)
                        )
                    side.message_complete = True  # a quoted string, or NIL: an empty section

    def _fetch_message(self, side: _Side, key: bytes, ts: int, out: list[Event]) -> bool:
        """Begin a message if ``key`` names message content; say whether it did."""
        match = _MESSAGE_ITEM.fullmatch(key)
        if match is None:
            return False
        if match.group(1) is not None:
            section = text(match.group(2))
            origin = int(match.group(3)) if match.group(3) is not None else None
        else:
            section = _RFC822_SECTION[(match.group(4) or b"").upper()]
            origin = None
        partial = "imap_partial" if origin is not None else ("imap_section" if section else None)
        self._begin_message(
            side,
            ts,
            out,
            flow="incoming",
            command="FETCH",
            mailbox=self._mailbox,
            number=side.seq,
            uid=side.uid,
            section=section,
            origin=origin,
            partial=partial,
        )
        return True

    def _continuation(self, ts: int, out: list[Event]) -> None:
        """A "+" line: a waiting client literal may follow (RFC 3501 s7.5)."""
        orig = self._sides[ORIG]
        if orig.state is _State.WAIT_CONT:
            self._continue_literal(orig, ts, out)
            self._run(orig, ts, out)

    def _tagged(self, tag: bytes, status: bytes, rest: bytes, ts: int, out: list[Event]) -> None:
        """A tagged response completes the command of its tag (RFC 3501 s7.1)."""
        command = self._pending.pop(tag, None)
        if command is None:
            return
        if not self._confirmed:
            self._confirm(RESP, ts, out)
        accepted = status == b"OK"
        orig = self._sides[ORIG]
        rerun = False
        if orig.command is command and orig.state in (_State.WAIT_CONT, _State.AUTH):
            # The command is over: the literal will not come, or the exchange ended.
            orig.state = _State.LINE
            orig.literal_mark = None
            orig.continued = False
            orig.command = None
            orig.stored = 0
            rerun = True
        elif command.name == b"IDLE" and orig.state is _State.IDLE:
            orig.state = _State.LINE
            rerun = True
        name = command.name
        if name in _LOGIN_COMMANDS:
            self._login(command, accepted, ts, out)
        elif name == b"APPEND" and orig.message >= 0 and orig.message_command is command:
            appenduid = _APPENDUID.search(rest)
            self._end_message(
                orig,
                ts,
                out,
                complete=orig.message_complete,
                reason=None if orig.message_complete else "rejected",
                accepted=accepted,
                uid=int(appenduid.group(1)) if appenduid else None,
            )
        if name in (b"SELECT", b"EXAMINE"):
            # A failed SELECT leaves no mailbox selected (RFC 3501 s6.3.1).
            self._mailbox = (
                decode_mailbox(command.args[0][1]) if accepted and command.args else None
            )
        if name in _RECORDED:
            out.append(
                MailCommand(
                    direction=ORIG,
                    ts=ts,
                    name=text(name),
                    argument=_render(command.args, _RECORDED[name]),
                    accepted=accepted,
                )
            )
        if accepted and name == b"COMPRESS":
            self._start_compression(ts, out)
        elif accepted and name == b"STARTTLS":
            self._switch_to_tls(ts, out)
            return
        if rerun:
            self._run(orig, ts, out)

    def _login(self, command: _Command, accepted: bool | None, ts: int, out: list[Event]) -> None:
        if command.name == b"LOGIN":
            args = command.args
            account = text(args[0][1]) if args else ""
            secret = text(args[1][1]) if len(args) > 1 else None
            mechanism = "LOGIN"
        else:
            mechanism = command.mechanism
            found = sasl_account(mechanism, command.responses)
            account = found.account if found else ""
            secret = found.secret if found else None
        out.append(
            MailLogin(
                direction=ORIG,
                ts=ts,
                mechanism=mechanism,
                account=account,
                secret=secret if self.keep_secrets else None,
                accepted=accepted,
            )
        )

    def _server_gone(self, ts: int, out: list[Event]) -> None:
        """No tagged response will come any more: report what waited for one."""
        for command in self._pending.values():
            if command.name in _LOGIN_COMMANDS:
                self._login(command, None, ts, out)
        self._pending.clear()
        orig = self._sides[ORIG]
        if orig.message >= 0 and orig.message_complete:
            self._end_message(orig, ts, out, complete=True)

    def _start_compression(self, ts: int, out: list[Event]) -> None:
        """After the OK both directions are raw DEFLATE (RFC 4978 s3)."""
        for side in self._sides:
            side.inflater = zlib.decompressobj(-15)
        resp = self._sides[RESP]
        # The server's bytes after the OK line are compressed; the client's buffered bytes
        # were sent before the OK arrived, so they are plain.
        resp.compressed_backlog = resp.buf.take_all()

    def _switch_to_tls(self, ts: int, out: list[Event]) -> None:
        """STARTTLS accepted: TLS starts after the CRLF of the OK (RFC 2595 s3.1)."""
        orig, resp = self._sides
        for side in (orig, resp):
            if side.message >= 0:
                complete = side.message_complete
                self._end_message(
                    side, ts, out, complete=complete, reason=None if complete else "protocol_switch"
                )
        out.append(
            SwitchProtocol(
                direction=RESP,
                ts=ts,
                to="tls",
                leftover=resp.buf.take_all(),
                leftover_other=orig.buf.take_all(),
            )
        )
        orig.state = resp.state = _State.DONE

    # -- messages and bookkeeping ------------------------------------------------------------

    def _begin_message(
        self,
        side: _Side,
        ts: int,
        out: list[Event],
        *,
        flow: MailFlow,
        command: str,
        mailbox: str | None,
        number: int | None = None,
        uid: int | None = None,
        section: str | None = None,
        origin: int | None = None,
        partial: str | None = None,
    ) -> None:
        if side.message >= 0:
            self._end_message(side, ts, out, complete=side.message_complete, uid=side.uid)
        side.message = self._next_message
        side.message_complete = False
        side.message_command = None
        self._next_message += 1
        out.append(
            MessageBegin(
                direction=side.direction,
                ts=ts,
                message=side.message,
                protocol="imap",
                flow=flow,
                command=command,
                mailbox=mailbox,
                number=number,
                uid=uid,
                section=section if section is not None else ("" if flow == "incoming" else None),
                origin=origin,
                partial=partial,
            )
        )

    def _end_message(
        self,
        side: _Side,
        ts: int,
        out: list[Event],
        *,
        complete: bool,
        reason: str | None = None,
        accepted: bool | None = None,
        uid: int | None = None,
    ) -> None:
        out.append(
            MessageEnd(
                direction=side.direction,
                ts=ts,
                message=side.message,
                complete=complete,
                accepted=accepted,
                reason=None if complete else reason,
                uid=uid,
            )
        )
        side.message = -1
        side.message_complete = False
        side.message_command = None
        if side.state is _State.LITERAL and side.literal_kind is _Literal.MESSAGE:
            side.literal_kind = _Literal.SKIP

    def _confirm(self, direction: Direction, ts: int, out: list[Event]) -> None:
        self._confirmed = True
        out.append(Confirmed(direction=direction, ts=ts))

    def _bad_line(self, direction: Direction, ts: int, out: list[Event], name: str) -> None:
        out.append(Anomaly(direction=direction, ts=ts, name=name))
        if not self._confirmed and not self.flow.mid_stream and not self._violation_reported:
            self._violation_reported = True
            out.append(Violation(direction=direction, ts=ts, reason=name))


def _top_level_count(args: TokenList) -> int:
    """Arguments at parenthesis depth 0 so far (a list counts as one)."""
    count = depth = 0
    for kind, _ in args:
        if kind is Token.OPEN:
            if not depth:
                count += 1
            depth += 1
        elif kind is Token.CLOSE:
            depth = max(0, depth - 1)
        elif not depth:
            count += 1
    return count


def _render(args: TokenList, mailboxes: tuple[int, ...]) -> str:
    """Command arguments as text; top-level arguments at ``mailboxes`` decoded as names."""
    parts: list[str] = []
    depth = position = 0
    for kind, value in args:
        if kind is Token.OPEN:
            parts.append("(" if not parts or parts[-1].endswith("(") else " (")
            depth += 1
            continue
        if kind is Token.CLOSE:
            parts.append(")")
            depth = max(0, depth - 1)
            if not depth:
                position += 1
            continue
        word = decode_mailbox(value) if not depth and position in mailboxes else text(value)
        parts.append(word if not parts or parts[-1].endswith("(") else " " + word)
        if not depth:
            position += 1
    return "".join(parts)


_READERS: Final[dict[_State, Callable[[ImapParser, _Side, int, list[Event]], bool]]] = {
    _State.LINE: ImapParser._read_line,
    _State.LITERAL: ImapParser._read_literal,
    _State.WAIT_CONT: ImapParser._read_wait_cont,
    _State.AUTH: ImapParser._read_auth,
    _State.IDLE: ImapParser._read_idle,
    _State.SKIP_LINE: ImapParser._read_skip_line,
    _State.RESYNC: ImapParser._read_resync,
    _State.DONE: ImapParser._read_nothing,
}
