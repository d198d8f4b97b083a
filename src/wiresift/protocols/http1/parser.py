"""HTTP/1.0 and HTTP/1.1 passive parser (RFC 9112 message syntax, RFC 9110 semantics).

Theory of operation: each direction has a ``ByteBuffer`` and a state (``_State``); a
readers table keyed by state consumes what it can and says whether it made progress (the
shape of h11's readers, without h11's endpoint rules). A request gets the next ``tx``
number and waits in a FIFO of pending requests; the next final response takes the oldest
one, so pipelined requests pair with their responses (RFC 9112 s9.3.2). Body framing
follows RFC 9112 s6.3 in the order h11's ``_body_framing`` uses: no body for HEAD, 1xx,
204 and 304 responses; a 2xx to CONNECT and a 101 end HTTP on the connection; chunked when
it is the last transfer coding; else Content-Length; else responses run until the server
closes and requests have no body. Bodies stream out piece by piece and are never held
whole; a whole segment of body passes through without being copied.

Real traffic breaks the RFCs, so the parser is lenient and says so with anomalies: bare LF
line endings, obs-fold lines, spaces before the colon, lower-case versions, HTTP/0.9
request lines, status lines without a reason. When it loses the message boundary (the
capture started mid-stream, a gap hit framing bytes, a limit was passed, framing was
broken) it scans forward, never from the start again, for the next request or status line
and resumes there (``http_resync``). A gap inside a body of known length keeps the parser
in sync and becomes a ``BodyGap``. After a desync on the client side a marker in the FIFO
stands for the requests that may have been lost; after one on the server side the requests
already waiting are presumed answered inside the gap once a newer request shows up.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Final, NamedTuple

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
    Violation,
)
from wiresift.protocols.http1.detect import MAX_METHOD_LEN, METHODS
from wiresift.protocols.http1.events import (
    BodyData,
    BodyGap,
    Headers,
    MessageEnd,
    RequestHead,
    ResponseHead,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# Regular expressions run a byte at a time, slower here than bytes methods, so the hot
# path (start line, field lines) uses split/partition and regexes guard rare cases only.
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS: Final = frozenset(b"0123456789")
_WHITESPACE: Final = frozenset(b" \t")
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_KNOWN_VERSIONS: Final = frozenset({b"1.1", b"1.0", b"0.9"})

# Where resynchronisation may resume: a known method and a space, or "HTTP/x.y ddd",
# anywhere (a desynced body often runs straight into the next head, "...</html>HTTP/1.1");
# the whole line is then checked by the same parser as in sync, in its strict mode.
_RESYNC_REQUEST: Final = re.compile(
    b"|".join(re.escape(method) for method in sorted(METHODS, key=len, reverse=True)) + rb" "
)
_RESYNC_STATUS: Final = re.compile(rb"HTTP/[0-9]\.[0-9] [0-9]{3}")
# A candidate is accepted only if its whole line matches one of these (a subset of what
# the start-line parsers take). Checking the line in place rejects a false candidate in a
# few bytes, so a long line full of them costs no more than a linear scan.
_STRICT_LINE: Final = (
    re.compile(
        b"(?:"
        + b"|".join(re.escape(method) for method in METHODS)
        + rb") [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r?\n"
    ),
    re.compile(rb"HTTP/[0-9]\.[0-9] [0-9]{3}(?:[ \t][^\r\n]*)?\r?\n"),
)
# Longest prefix each pattern needs: a failed scan keeps that many bytes minus one, so a
# prefix split across segments is still found.
_RESYNC_PREFIX_LEN: Final = (MAX_METHOD_LEN + 1, len(b"HTTP/1.1 200"))

_NO_BODY_STATUS: Final = frozenset({204, 304})
# First line of the HTTP/2 connection preface (RFC 9113 s3.4).
_HTTP2_PREFACE_LINE: Final = b"PRI * HTTP/2.0"
# Content-Length digits taken at most: 10**18 bytes is beyond any real body, and int() of
# a longer digit string is slow (Python caps it at 4300 digits).
_MAX_LENGTH_DIGITS: Final = 18
_BODY_LESS_METHOD: Final = b"HEAD"
_CONNECT: Final = b"CONNECT"
_CHUNKED: Final = b"chunked"


# BodyData is the one event made per segment. The frozen dataclass __init__ sets each field
# through object.__setattr__; writing the slots directly builds the same object in less
# than half the time (0.46 us against 1.15 us measured here). The other events are made
# once per message and use their constructors.
_new_object: Final = object.__new__
_set_direction: Final[Callable[[Event, Direction], None]] = vars(Event)["direction"].__set__
_set_ts: Final[Callable[[Event, int], None]] = vars(Event)["ts"].__set__
_set_tx: Final[Callable[[BodyData, int], None]] = vars(BodyData)["tx"].__set__
_set_data: Final[Callable[[BodyData, bytes], None]] = vars(BodyData)["data"].__set__


def body_data(direction: Direction, ts: int, tx: int, data: bytes) -> BodyData:
    """The same as ``BodyData(direction=direction, ts=ts, tx=tx, data=data)``, faster."""
    event: BodyData = _new_object(BodyData)
    _set_direction(event, direction)
    _set_ts(event, ts)
    _set_tx(event, tx)
    _set_data(event, data)
    return event


class _State(enum.IntEnum):
    START = enum.auto()  # expecting a start line; empty lines are skipped
    HEAD = enum.auto()  # start line read; waiting for the end of the header section
    BODY_LENGTH = enum.auto()  # Content-Length body, ``remaining`` bytes to go
    BODY_CLOSE = enum.auto()  # response body delimited by the end of the stream
    CHUNK_SIZE = enum.auto()  # chunk-size line (with extensions)
    CHUNK_DATA = enum.auto()  # ``remaining`` bytes of chunk data
    CHUNK_END = enum.auto()  # the CRLF after chunk data
    TRAILERS = enum.auto()  # trailer section after the last chunk
    RESYNC = enum.auto()  # boundary lost: scanning for the next start line
    PAUSED = enum.auto()  # client after CONNECT/Upgrade: held until the response decides
    DONE = enum.auto()  # closed or switched: nothing more is read


# The states the per-segment path compares with, as module constants: reading an enum member
# off its class costs about 0.1 us in Python 3.11, four times a plain global.
_BODY_LENGTH: Final = _State.BODY_LENGTH
_BODY_CLOSE: Final = _State.BODY_CLOSE
_CHUNK_DATA: Final = _State.CHUNK_DATA
_CHUNK_END: Final = _State.CHUNK_END
_DONE: Final = _State.DONE


class _Framing(enum.Enum):
    NONE = enum.auto()
    LENGTH = enum.auto()
    CHUNKED = enum.auto()
    CLOSE = enum.auto()
    SWITCH = enum.auto()


class _Pending(NamedTuple):
    """A request waiting for its final response."""

    tx: int  # -1 marks requests lost in a client-side desync
    method: bytes
    http09: bool = False
    upgrade: bytes = b""  # first token of the request's Upgrade header
    target: bytes = b""  # request target, kept only for CONNECT and Upgrade requests
    headers: Headers = ()  # request headers, kept only for Upgrade requests


_LOST: Final = _Pending(tx=-1, method=b"")


class _Side:
    """Parsing state of one direction."""

    __slots__ = (
        "bare_lf_reported",
        "buf",
        "closed",
        "direction",
        "head_budget",
        "method",
        "reason",
        "remaining",
        "resync_scan",
        "skipped",
        "start_issues",
        "state",
        "status",
        "switch_after",
        "synced",
        "target",
        "tx",
        "version",
    )

    def __init__(self, direction: Direction, synced: bool) -> None:
        self.direction = direction
        self.buf = ByteBuffer()
        self.state = _State.START
        self.synced = synced  # False until a message boundary is known for sure
        self.closed = False
        self.bare_lf_reported = False
        self.tx = -1  # tx of the open message (head emitted, no MessageEnd yet)
        self.remaining = 0
        self.head_budget = 0  # bytes the header section may still take
        self.method = b""  # the start line read, until its head is emitted
        self.target = b""
        self.version = b""
        self.status = 0
        self.reason = b""
        self.start_issues: tuple[str, ...] = ()
        self.switch_after = False  # this request asks to switch protocols
        self.resync_scan = 0
        self.skipped = 0  # bytes skipped since the boundary was lost


class _Fields(NamedTuple):
    headers: Headers
    issues: tuple[str, ...]
    bare_lf: bool


def _parse_field_lines(lines: list[bytes]) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """Field lines (CR already removed) to (name, value) pairs, leniently (RFC 9112 s5)."""
    headers: list[tuple[bytes, bytes]] = []
    issues: list[str] = []
    for line in lines:
        if not line:
            continue
        if line[0] in b" \t":
            # obs-fold (RFC 9112 s5.2): replace the fold by one SP and join.
            if headers:
                name, value = headers[-1]
                folded = line.strip(b" \t")
                headers[-1] = (name, value + b" " + folded if value else folded)
                issues.append("http_obs_fold")
            else:
                issues.append("http_bad_header_line")
            continue
        name, colon, value = line.partition(b":")
        if name[-1:] in (b" ", b"\t"):
            # RFC 9112 s5.1 forbids it (request smuggling); keep the field, say so.
            name = name.rstrip(b" \t")
            issues.append("http_header_name_space")
        if not colon or not name:
            issues.append("http_bad_header_line")
            continue
        headers.append((name, value.strip(b" \t")))
    return headers, issues


def parse_fields(section: bytes) -> _Fields:
    """Parse a whole header or trailer section, up to and including its empty line.

    The fast path takes well-formed CRLF sections in two comprehensions; anything else
    (bare LF, obs-fold, a line without a colon, whitespace around a name) goes through the
    line-by-line reader, which names what it saw.
    """
    lines = section.split(b"\r\n")
    bare_lf = section.count(b"\n") != len(lines) - 1
    del lines[-2:]
    if not bare_lf:
        try:
            headers = tuple(
                [
                    (name, value.strip(b" \t"))
                    for name, value in [line.split(b":", 1) for line in lines]
                    if name[0] not in _WHITESPACE and name[-1] not in _WHITESPACE
                ]
            )
        except (ValueError, IndexError):  # a line without a colon, an empty name
            pass
        else:
            if len(headers) == len(lines):
                return _Fields(headers, (), False)
    else:
        lines = [line[:-1] if line[-1:] == b"\r" else line for line in section.split(b"\n")]
        del lines[-2:]
    slow_headers, issues = _parse_field_lines(lines)
    return _Fields(tuple(slow_headers), tuple(dict.fromkeys(issues)), bare_lf)


def _parse_partial_fields(lines: bytes) -> _Fields:
    """Complete field lines of a section whose end never came."""
    if not lines:
        return _Fields((), (), False)
    return parse_fields(lines + b"\r\n")


def _split_eol(line: bytes) -> tuple[bytes, bool]:
    """A line with its terminator removed, and whether that was a bare LF."""
    if line[-2:] == b"\r\n":
        return line[:-2], False
    return line[:-1], True


def _parse_version(text: bytes) -> bytes | None:
    """``b"1.1"`` from ``HTTP/1.1`` in any case (RFC 9112 s2.3), else None."""
    if (
        len(text) == 8
        and text[6] == 0x2E
        and text[5] in _DIGITS
        and text[7] in _DIGITS
        and (text[:5] == b"HTTP/" or text[:5].upper() == b"HTTP/")
    ):
        return text[5:]
    return None


class _RequestLine(NamedTuple):
    method: bytes
    target: bytes
    version: bytes
    issues: tuple[str, ...]


class _StatusLine(NamedTuple):
    status: int
    reason: bytes
    version: bytes
    issues: tuple[str, ...]


def parse_request_line(line: bytes, *, strict: bool) -> _RequestLine | None:
    """``method SP target SP HTTP/x.y`` (RFC 9112 s3), or None.

    Lenient mode also takes unknown token methods, spaces inside the target and
    HTTP/0.9's ``GET /path`` (with any known method). Strict mode, used where the boundary
    is uncertain, takes known methods, single spaces and versioned lines only: a subset of
    what lenient mode takes.
    """
    method, space, rest = line.partition(b" ")
    if not space:
        return None
    issues: tuple[str, ...] = ()
    if method not in METHODS:
        if strict or not _TOKEN.fullmatch(method):
            return None
        issues = ("http_unknown_method",)
    target, space, version_text = rest.rpartition(b" ")
    version = _parse_version(version_text) if space else None
    if version is None:
        # HTTP/0.9 knew GET only (RFC 1945 s4.1), but servers answer other known methods
        # sent that way with a bare body too; unknown tokens are not taken in this form.
        if strict or issues or not rest or b" " in rest:
            return None
        return _RequestLine(method, rest, b"0.9", ("http_09_request",))
    if strict:
        if not target or b" " in target:
            return None
    else:
        target = target.strip(b" ")
        if not target:
            return None
        if b" " in target:
            issues = (*issues, "http_space_in_target")
    if version not in _KNOWN_VERSIONS:
        issues = (*issues, "http_bad_version")
    return _RequestLine(method, target, version, issues)


def parse_status_line(line: bytes) -> _StatusLine | None:
    """``HTTP/x.y SP status [SP reason]`` (RFC 9112 s4), or None; the reason may be absent."""
    version = _parse_version(line[:8])
    rest = line[8:]
    if version is None or rest[:1] not in (b" ", b"\t"):
        return None
    rest = rest.lstrip(b" \t")
    status_text = rest[:3]
    if len(status_text) != 3 or not status_text.isdigit() or rest[3:4] not in (b"", b" ", b"\t"):
        return None
    reason = rest[4:].strip(b" \t")
    status = int(status_text)
    issues: tuple[str, ...] = ()
    if version not in _KNOWN_VERSIONS:
        issues = ("http_bad_version",)
    if status < 100:
        issues = (*issues, "http_bad_status_code")
    return _StatusLine(status, reason, version, issues)


class _BodyFraming(NamedTuple):
    kind: _Framing
    length: int
    issues: tuple[str, ...]


_NO_BODY: Final = _BodyFraming(_Framing.NONE, 0, ())
_SWITCHED: Final = _BodyFraming(_Framing.SWITCH, 0, ())


def _first_token(value: bytes) -> bytes:
    """First element of a comma list, trimmed (RFC 9110 s5.6.1)."""
    return value.split(b",", 1)[0].strip(b" \t")


def _framing_headers(headers: Headers) -> tuple[list[bytes], list[bytes], bytes]:
    """Transfer codings, Content-Length values and the first Upgrade token of a head."""
    codings: list[bytes] = []
    lengths: list[bytes] = []
    upgrade = b""
    for name, value in headers:
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                lengths.extend(part.strip(b" \t") for part in value.split(b","))
        elif size == 17:
            if name.lower() == b"transfer-encoding":
                codings.extend(part.strip(b" \t").lower() for part in value.split(b","))
        elif size == 7 and not upgrade and name.lower() == b"upgrade":
            upgrade = _first_token(value)
    return codings, lengths, upgrade


def _content_length(lengths: list[bytes]) -> tuple[int, tuple[str, ...]]:
    """The Content-Length to use (-1: none usable) and the anomalies (RFC 9112 s6.3 p5)."""
    first = lengths[0]
    if not first.isdigit() or len(first) > _MAX_LENGTH_DIGITS:
        return -1, ("http_bad_content_length",)
    for other in lengths[1:]:
        if other != first and (
            not other.isdigit() or len(other) > _MAX_LENGTH_DIGITS or int(other) != int(first)
        ):
            return int(first), ("http_duplicate_content_length",)
    return int(first), ()


def _body_framing(codings: list[bytes], lengths: list[bytes], *, is_request: bool) -> _BodyFraming:
    """Body framing from the framing headers (RFC 9112 s6.3 points 3 to 7)."""
    issues: tuple[str, ...] = ()
    if codings:
        if lengths:
            issues = ("http_te_and_content_length",)
        if codings[-1] == _CHUNKED:
            return _BodyFraming(_Framing.CHUNKED, 0, issues)
        issues = (*issues, "http_bad_transfer_encoding")
        if not is_request:
            return _BodyFraming(_Framing.CLOSE, 0, issues)
    if lengths:
        length, length_issues = _content_length(lengths)
        issues += length_issues
        if length > 0:
            return _BodyFraming(_Framing.LENGTH, length, issues)
        if length == 0 or is_request:
            return _BodyFraming(_Framing.NONE, 0, issues)
        return _BodyFraming(_Framing.CLOSE, 0, issues)
    return _BodyFraming(_Framing.CLOSE if not is_request else _Framing.NONE, 0, issues)


def _protocol_name(token: bytes) -> str | None:
    """``websocket`` from ``WebSocket``, ``tls`` from ``TLS/1.2`` (RFC 9110 s7.8)."""
    name = token.split(b"/", 1)[0].strip(b" \t").lower()
    return name.decode("ascii", "replace") if name else None


def _header_text(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _websocket_context(request: _Pending, response_headers: Headers) -> dict[str, object]:
    """The handshake facts a WebSocket parser needs (RFC 6455 s4.1, s4.2.2, s9.1)."""
    host = _header_text(request.headers, b"host")
    target = request.target.decode("latin-1")
    if target.startswith(("http://", "https://", "ws://", "wss://")):
        url: str | None = target
    else:
        url = f"ws://{host}{target}" if host is not None and request.target else None
    return {
        "url": url,
        "origin": _header_text(request.headers, b"origin"),
        "subprotocol": _header_text(response_headers, b"sec-websocket-protocol"),
        "extensions": _header_text(response_headers, b"sec-websocket-extensions"),
    }


def _connect_tunnel(target: bytes) -> tuple[str, str, int] | None:
    """("http-connect", host, port) from a CONNECT authority-form target (RFC 9110 s9.3.6)."""
    host, sep, port = target.rpartition(b":")
    if not sep or not host or not port.isdigit() or len(port) > 5 or int(port) > 65535:
        return None
    return ("http-connect", host.strip(b"[]").decode("latin-1"), int(port))


class HttpParser(Parser):
    """Passive HTTP/1.x parser for one connection; sees both directions."""

    name = "http"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        synced = not flow.mid_stream
        self._sides = (_Side(ORIG, synced), _Side(RESP, synced))
        # A list, not a deque: a deque starts with a 760-byte block, and the queue is almost
        # always 0 or 1 long (pipelining is rare), so pop(0) costs nothing.
        self._pending: list[_Pending] = []
        self._next_tx = 0
        self._confirmed = False
        self._violation_reported = False
        # Requests pending when the server side lost sync (-1: no such desync).
        self._resp_stale = -1
        self._pause_tx = -1  # tx of the request the client side waits on, if PAUSED
        self._max_line = limits.max_line
        self._max_head = limits.max_header_block
        self._max_pending = limits.max_pending_tx
        self._max_paused = limits.detect_buffer_bytes

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        side = self._sides[direction]
        state = side.state
        # Hot path: a segment that is all body passes through as it is, without a copy.
        if state is _BODY_LENGTH or state is _CHUNK_DATA:
            if 0 < len(data) < side.remaining and not side.buf:
                side.remaining -= len(data)
                # body_data(), inlined: one call less per body segment.
                event: BodyData = _new_object(BodyData)
                _set_direction(event, direction)
                _set_ts(event, ts)
                _set_tx(event, side.tx)
                _set_data(event, data)
                return [event]
        elif state is _BODY_CLOSE and data and not side.buf:
            return [body_data(direction, ts, side.tx, data)]
        out: list[Event] = []
        if not data or side.closed or state is _DONE:
            return out
        if (state is _BODY_LENGTH or state is _CHUNK_DATA or state is _BODY_CLOSE) and not side.buf:
            # The body ends inside this segment: hand its part through, buffer the rest.
            data = self._stream(side, data, ts, out)
            if not data:
                return out
        side.buf.push(data)
        self._run(side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """``size`` bytes of ``direction`` were not captured.

        Inside a body of known or close-delimited length the gap becomes a ``BodyGap`` and
        the parser stays in sync; anywhere else it loses the boundary and resyncs.
        """
        side = self._sides[direction]
        out: list[Event] = []
        if size <= 0 or side.closed or side.state is _State.DONE:
            return out
        out.append(
            Anomaly(direction=direction, ts=ts, name="http_content_gap", detail=f"{size} bytes")
        )
        state = side.state
        if state is _State.BODY_CLOSE:
            out.append(BodyGap(direction=direction, ts=ts, tx=side.tx, size=size))
            return out
        if state is _State.BODY_LENGTH or state is _State.CHUNK_DATA:
            covered = min(size, side.remaining)
            out.append(BodyGap(direction=direction, ts=ts, tx=side.tx, size=covered))
            side.remaining -= covered
            if covered == size:
                if not side.remaining:
                    if state is _State.CHUNK_DATA:
                        side.state = _State.CHUNK_END
                    else:
                        self._finish(side, ts, out)
                return out
            if state is _State.BODY_LENGTH:
                # The body is over inside the gap; what follows is somewhere unknown.
                self._finish(side, ts, out)
        if state is _State.PAUSED:
            # Tunnel bytes were lost; what was held cannot be handed over whole.
            side.buf.clear()
            return out
        if state is _State.HEAD:
            self._partial_head(side, ts, out, "gap")
        side.skipped += len(side.buf)
        side.buf.clear()
        self._lose_sync(side, ts, out, "gap")
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` is closed: a close-delimited body ends, anything else is cut short."""
        side = self._sides[direction]
        out: list[Event] = []
        if side.closed:
            return out
        side.closed = True
        if side.state is not _State.PAUSED:
            self._close(side, ts, out)
        if self._sides[ORIG].state is _State.PAUSED and self._sides[RESP].closed:
            # No response will decide the switch any more.
            self._unpause(ts, out)
        return out

    def buffered_bytes(self) -> int:
        """Bytes held in both directions' buffers."""
        return len(self._sides[0].buf) + len(self._sides[1].buf)

    def body_run(self, direction: Direction) -> int:
        """Body bytes ``feed`` passes through as they come: short of the end of a body of
        known length or of a chunk (RFC 9112 s6.3, s7.1), or any of a close-delimited one."""
        side = self._sides[direction]
        if side.buf or side.closed:
            return 0
        state = side.state
        if state is _BODY_LENGTH or state is _CHUNK_DATA:
            return side.remaining - 1
        if state is _BODY_CLOSE:
            return UNBOUNDED_RUN
        return 0

    # -- the step loop ---------------------------------------------------------------------

    def _run(self, side: _Side, ts: int, out: list[Event]) -> None:
        """Call the reader of the current state until one needs more bytes."""
        readers = _READERS
        while readers[side.state](self, side, ts, out):
            pass

    def _read_nothing(self, side: _Side, ts: int, out: list[Event]) -> bool:
        side.buf.clear()
        return False

    def _read_paused(self, side: _Side, ts: int, out: list[Event]) -> bool:
        if len(side.buf) <= self._max_paused:
            return False
        # A client that sends this much before the answer is pipelining HTTP, not
        # tunnelling: read on as HTTP.
        out.append(
            Anomaly(
                direction=side.direction,
                ts=ts,
                name="http_switch_wait_overflow",
                detail=f"more than {self._max_paused} bytes before the response to tx "
                f"{self._pause_tx}",
            )
        )
        self._pause_tx = -1
        side.state = _State.START
        return True

    def _report_bare_lf(self, side: _Side, ts: int, out: list[Event]) -> None:
        if not side.bare_lf_reported:
            side.bare_lf_reported = True
            out.append(Anomaly(direction=side.direction, ts=ts, name="http_bare_lf"))

    def _anomalies(self, side: _Side, ts: int, out: list[Event], names: tuple[str, ...]) -> None:
        direction = side.direction
        out.extend(Anomaly(direction=direction, ts=ts, name=name) for name in names)

    # -- start line --------------------------------------------------------------------------

    def _read_start(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        if not buf:
            return False
        if side.direction is RESP and self._pending and self._pending[0].http09:
            return self._read_http09_response(side, ts, out)
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) < self._max_line:
                return False
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_line_too_long",
                    detail=f"start line longer than {self._max_line} bytes",
                )
            )
            self._lose_sync(side, ts, out, "line_too_long")
            return True
        bare_lf = buf.last_line_bare_lf
        if not line:
            # Empty lines before a message are ignored (RFC 9112 s2.2).
            if bare_lf:
                self._report_bare_lf(side, ts, out)
            return True
        if line == _HTTP2_PREFACE_LINE and side.direction is ORIG:
            # HTTP/2 with prior knowledge (RFC 9113 s3.3): the preface goes to the next parser.
            buf.unshift(line + (b"\n" if bare_lf else b"\r\n"))
            self._switch(ORIG, "http2", ts, out)
            return False
        parsed = (
            parse_request_line(line, strict=not side.synced)
            if side.direction is ORIG
            else parse_status_line(line)
        )
        if parsed is None:
            # Not a start line: put it back and scan it for one.
            buf.unshift(line + (b"\n" if bare_lf else b"\r\n"))
            if not self._confirmed and not self.flow.mid_stream and not self._violation_reported:
                self._violation_reported = True
                out.append(Violation(direction=side.direction, ts=ts, reason="http_bad_start_line"))
            self._lose_sync(side, ts, out, "")
            return True
        self._begin(side, parsed, len(line) + 1 + (not bare_lf), bare_lf, ts, out)
        return True

    def _begin(
        self,
        side: _Side,
        parsed: _RequestLine | _StatusLine,
        line_size: int,
        bare_lf: bool,
        ts: int,
        out: list[Event],
    ) -> None:
        """A valid start line was taken off the buffer."""
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=side.direction, ts=ts))
        side.synced = True
        if bare_lf:
            self._report_bare_lf(side, ts, out)
        side.head_budget = self._max_head - line_size
        side.start_issues = parsed.issues
        if isinstance(parsed, _StatusLine):
            side.status = parsed.status
            side.reason = parsed.reason
            side.version = parsed.version
        else:
            side.method = parsed.method
            side.target = parsed.target
            side.version = parsed.version
            if parsed.version == b"0.9":
                # An HTTP/0.9 request is its line alone (RFC 1945 s4.1).
                self._anomalies(side, ts, out, parsed.issues)
                self._emit_request_head(side, (), ts, out)
                self._finish(side, ts, out)
                return
        side.state = _State.HEAD

    def _read_http09_response(self, side: _Side, ts: int, out: list[Event]) -> bool:
        """The answer to an HTTP/0.9 request is a bare body until close, unless the server
        answers with a status line anyway."""
        head = side.buf.peek(5).upper()
        if head == b"HTTP/":
            self._pending[0] = self._pending[0]._replace(http09=False)
            return True
        if b"HTTP/".startswith(head):
            return False
        tx, _, _ = self._pair_response(side, interim=False, ts=ts, out=out)
        side.tx = tx
        out.append(
            ResponseHead(
                direction=RESP, ts=ts, tx=tx, status=200, reason=b"", version=b"0.9", headers=()
            )
        )
        side.state = _State.BODY_CLOSE
        return True

    # -- header section ----------------------------------------------------------------------

    def _read_head(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        section = buf.take_block(side.head_budget)
        if section is None:
            if len(buf) < side.head_budget:
                return False
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_header_too_long",
                    detail=f"head longer than {self._max_head} bytes",
                )
            )
            self._partial_head(side, ts, out, "header_too_long")
            self._lose_sync(side, ts, out, "header_too_long")
            return True
        fields = parse_fields(section)
        if fields.bare_lf:
            self._report_bare_lf(side, ts, out)
        if side.start_issues or fields.issues:
            self._anomalies(side, ts, out, side.start_issues + fields.issues)
        codings, lengths, upgrade = _framing_headers(fields.headers)
        if side.direction is ORIG:
            self._emit_request_head(side, fields.headers, ts, out, upgrade)
            framing = _body_framing(codings, lengths, is_request=True)
            side.switch_after = bool(upgrade) or side.method == _CONNECT
        else:
            framing = self._response_framing(
                side, fields.headers, codings, lengths, upgrade, ts, out
            )
        if framing.issues:
            self._anomalies(side, ts, out, framing.issues)
        kind = framing.kind
        if kind is _Framing.LENGTH:
            side.remaining = framing.length
            side.state = _State.BODY_LENGTH
        elif kind is _Framing.CHUNKED:
            side.state = _State.CHUNK_SIZE
        elif kind is _Framing.CLOSE:
            side.state = _State.BODY_CLOSE
        elif kind is _Framing.NONE:
            self._finish(side, ts, out)
        return True

    def _partial_head(self, side: _Side, ts: int, out: list[Event], reason: str) -> None:
        """Emit the head read so far as an unfinished message (too long, gap, end).

        The field lines complete within the limit are taken off the buffer; what is left
        is skipped by whoever called.
        """
        buf = side.buf
        partial = buf.peek(side.head_budget)
        cut = partial.rfind(b"\n") + 1
        buf.skip(cut)
        fields = _parse_partial_fields(partial[:cut])
        if fields.bare_lf:
            self._report_bare_lf(side, ts, out)
        self._anomalies(side, ts, out, side.start_issues + fields.issues)
        if side.direction is ORIG:
            self._emit_request_head(side, fields.headers, ts, out)
        else:
            interim = 100 <= side.status < 200 and side.status != 101
            tx, _, _ = self._pair_response(side, interim=interim, ts=ts, out=out)
            side.tx = tx
            out.append(
                ResponseHead(
                    direction=RESP,
                    ts=ts,
                    tx=tx,
                    status=side.status,
                    reason=side.reason,
                    version=side.version,
                    headers=fields.headers,
                    interim=interim,
                )
            )
        self._finish(side, ts, out, complete=False, reason=reason)

    def _emit_request_head(
        self, side: _Side, headers: Headers, ts: int, out: list[Event], upgrade: bytes = b""
    ) -> None:
        tx = self._next_tx
        self._next_tx = tx + 1
        side.tx = tx
        out.append(
            RequestHead(
                direction=ORIG,
                ts=ts,
                tx=tx,
                method=side.method,
                target=side.target,
                version=side.version,
                headers=headers,
            )
        )
        pending = self._pending
        if len(pending) >= self._max_pending:
            out.append(
                Anomaly(
                    direction=ORIG,
                    ts=ts,
                    name="http_pending_overflow",
                    detail=f"tx {tx} not queued: {len(pending)} requests await a response",
                )
            )
            return
        switching = bool(upgrade) or side.method == _CONNECT
        pending.append(
            _Pending(
                tx,
                side.method,
                side.version == b"0.9",
                upgrade,
                side.target if switching else b"",
                headers if upgrade else (),
            )
        )

    def _response_framing(
        self,
        side: _Side,
        headers: Headers,
        codings: list[bytes],
        lengths: list[bytes],
        upgrade: bytes,
        ts: int,
        out: list[Event],
    ) -> _BodyFraming:
        """Emit the response head and say how its body is framed (RFC 9112 s6.3)."""
        status = side.status
        interim = 100 <= status < 200 and status != 101
        waiting = self._pending[:8]  # the answered request is among the first few
        tx, request, request_upgrade = self._pair_response(side, interim=interim, ts=ts, out=out)
        answered = next((p for p in waiting if p.tx == tx), _LOST)
        side.tx = tx
        out.append(
            ResponseHead(
                direction=RESP,
                ts=ts,
                tx=tx,
                status=status,
                reason=side.reason,
                version=side.version,
                headers=headers,
                interim=interim,
            )
        )
        if interim:
            return _NO_BODY
        switch = status == 101 or (request == _CONNECT and 200 <= status < 300)
        decided = self._pause_tx >= 0 and (tx >= self._pause_tx or not self._pending)
        if switch:
            to = _protocol_name(upgrade or request_upgrade) if status == 101 else None
            self._finish(side, ts, out)
            context = _websocket_context(answered, headers) if to == "websocket" else None
            if to == "h2c":
                # RFC 7540 s3.2: the request that asked for the upgrade is HTTP/2 stream 1.
                to = "http2"
                context = {
                    "upgrade": "h2c",
                    "method": answered.method,
                    "target": answered.target,
                    "headers": answered.headers,
                }
            tunnel = _connect_tunnel(answered.target) if status != 101 else None
            self._switch(RESP, to, ts, out, context=context, tunnel=tunnel)
            return _SWITCHED
        if decided:
            self._unpause(ts, out)
        if status < 200 or status in _NO_BODY_STATUS or request == _BODY_LESS_METHOD:
            return _NO_BODY
        return _body_framing(codings, lengths, is_request=False)

    def _pair_response(
        self, side: _Side, *, interim: bool, ts: int, out: list[Event]
    ) -> tuple[int, bytes | None, bytes]:
        """The tx, request method and request Upgrade token a response answers.

        Interim responses leave the request waiting; a response with no request waiting
        gets a fresh tx (the request was before the capture or lost in a gap).
        """
        pending = self._pending
        if self._resp_stale >= 0:
            self._drop_answered_in_gap(ts, out)
        while pending and pending[0].tx < 0:
            if len(pending) == 1:
                break
            pending.pop(0)  # the lost requests' answers came before this one
        if pending and pending[0].tx >= 0:
            request = pending[0] if interim else pending.pop(0)
            return request.tx, request.method, request.upgrade
        tx = self._next_tx
        self._next_tx = tx + 1
        out.append(
            Anomaly(
                direction=RESP,
                ts=ts,
                name="http_response_without_request",
                detail=f"tx {tx}",
            )
        )
        if interim:
            # The final response of this tx follows: keep its place at the front.
            pending.insert(0, _Pending(tx, b""))
        return tx, None, b""

    def _drop_answered_in_gap(self, ts: int, out: list[Event]) -> None:
        """After a server-side desync, drop the requests presumed answered in the gap.

        Requests sent after the desync mean the older ones were answered before them;
        with none, clients rarely pipeline, so the newest waiting request is kept.
        """
        pending = self._pending
        stale = self._resp_stale
        self._resp_stale = -1
        drop = stale if len(pending) > stale else len(pending) - 1
        lost = [pending.pop(0).tx for _ in range(drop)]
        lost = [tx for tx in lost if tx >= 0]
        if lost:
            out.append(
                Anomaly(
                    direction=RESP,
                    ts=ts,
                    name="http_response_lost",
                    detail="tx " + ", ".join(map(str, lost)),
                )
            )

    # -- switching ---------------------------------------------------------------------------

    def _switch(
        self,
        direction: Direction,
        to: str | None,
        ts: int,
        out: list[Event],
        *,
        context: dict[str, object] | None = None,
        tunnel: tuple[str, str, int] | None = None,
    ) -> None:
        """HTTP/1 is over on this connection: a 101 or a 2xx to CONNECT (RFC 9110 s15.2.2,
        s9.3.6) or the HTTP/2 preface. Messages still open end incomplete; what both sides
        hold is handed over."""
        own = self._sides[direction]
        other = self._sides[1 - direction]
        for side in (own, other):
            if side.tx >= 0:
                self._finish(side, ts, out, complete=False, reason="protocol_switch")
        out.append(
            SwitchProtocol(
                direction=direction,
                ts=ts,
                to=to,
                leftover=own.buf.take_all(),
                leftover_other=other.buf.take_all(),
                context=context,
                tunnel=tunnel,
            )
        )
        own.state = other.state = _State.DONE
        self._pause_tx = -1

    def _unpause(self, ts: int, out: list[Event]) -> None:
        """The client side reads on as HTTP: the response did not switch protocols."""
        self._pause_tx = -1
        orig = self._sides[ORIG]
        if orig.state is not _State.PAUSED:
            return
        orig.state = _State.START
        self._run(orig, ts, out)
        if orig.closed:
            self._close(orig, ts, out)

    # -- bodies ------------------------------------------------------------------------------

    def _stream(self, side: _Side, data: bytes, ts: int, out: list[Event]) -> bytes:
        """Emit the body bytes at the front of ``data``; return what follows the body."""
        if side.state is _BODY_CLOSE:
            out.append(body_data(side.direction, ts, side.tx, data))
            return b""
        remaining = side.remaining
        size = len(data)
        if size < remaining:
            side.remaining = remaining - size
            out.append(body_data(side.direction, ts, side.tx, data))
            return b""
        out.append(
            body_data(side.direction, ts, side.tx, data if size == remaining else data[:remaining])
        )
        side.remaining = 0
        if side.state is _CHUNK_DATA:
            side.state = _CHUNK_END
        else:
            self._finish(side, ts, out)
        return data[remaining:] if size > remaining else b""

    def _read_body(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        if not buf:
            return False
        if side.state is _State.BODY_CLOSE:
            self._stream(side, buf.take_all(), ts, out)
        else:
            self._stream(side, buf.take_upto(side.remaining), ts, out)
        return True

    def _read_chunk_size(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) < self._max_line:
                return False
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_line_too_long",
                    detail=f"chunk-size line longer than {self._max_line} bytes",
                )
            )
            self._finish(side, ts, out, complete=False, reason="line_too_long")
            self._lose_sync(side, ts, out, "line_too_long")
            return True
        if buf.last_line_bare_lf:
            self._report_bare_lf(side, ts, out)
        # chunk-size [ chunk-ext ] (RFC 9112 s7.1.1); extensions are ignored.
        size_text = line.partition(b";")[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_bad_chunk_size",
                    detail=repr(line[:32]),
                )
            )
            self._finish(side, ts, out, complete=False, reason="bad_chunk_size")
            self._lose_sync(side, ts, out, "bad_chunk_size")
            return True
        size = int(size_text, 16)
        if size:
            side.remaining = size
            side.state = _State.CHUNK_DATA
        else:
            side.head_budget = self._max_head
            side.state = _State.TRAILERS
        return True

    def _read_chunk_end(self, side: _Side, ts: int, out: list[Event]) -> bool:
        ending = side.buf.take_line_end()
        if ending is None:
            return False
        if ending == 1:
            self._report_bare_lf(side, ts, out)
        elif ending == 0:
            # The chunk ran longer than its size said: read on from here as a size line,
            # which resyncs if it is not one.
            out.append(Anomaly(direction=side.direction, ts=ts, name="http_bad_chunk_end"))
        side.state = _State.CHUNK_SIZE
        return True

    def _read_trailers(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        section = buf.take_block(side.head_budget)
        if section is None:
            if len(buf) < side.head_budget:
                return False
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_header_too_long",
                    detail=f"trailer section longer than {self._max_head} bytes",
                )
            )
            self._finish(side, ts, out, complete=False, reason="header_too_long")
            self._lose_sync(side, ts, out, "header_too_long")
            return True
        fields = parse_fields(section)
        if fields.bare_lf:
            self._report_bare_lf(side, ts, out)
        self._anomalies(side, ts, out, fields.issues)
        self._finish(side, ts, out, trailers=fields.headers)
        return True

    def _finish(
        self,
        side: _Side,
        ts: int,
        out: list[Event],
        *,
        complete: bool = True,
        reason: str = "",
        trailers: Headers = (),
    ) -> None:
        """Close the open message of ``side`` and get ready for the next one."""
        tx = side.tx
        out.append(
            MessageEnd(
                direction=side.direction,
                ts=ts,
                tx=tx,
                complete=complete,
                reason=reason,
                trailers=trailers,
            )
        )
        side.tx = -1
        if side.switch_after:
            side.switch_after = False
            if complete and not self._sides[RESP].closed:
                self._pause_tx = tx
                side.state = _State.PAUSED
                return
        side.state = _State.START

    # -- losing and finding the message boundary ----------------------------------------------

    def _lose_sync(self, side: _Side, ts: int, out: list[Event], reason: str) -> None:
        """The next message boundary is unknown: end the open message, then scan."""
        if side.tx >= 0:
            self._finish(side, ts, out, complete=False, reason=reason)
        if side.state is _State.PAUSED:
            self._pause_tx = -1
        side.switch_after = False
        side.state = _State.RESYNC
        side.resync_scan = 0
        if side.direction is ORIG:
            pending = self._pending
            if not pending or pending[-1].tx >= 0:
                pending.append(_LOST)
        else:
            self._resp_stale = len(self._pending)

    def _read_resync(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        direction = side.direction
        pattern = _RESYNC_REQUEST if direction is ORIG else _RESYNC_STATUS
        max_line = self._max_line
        while True:
            match = buf.search(pattern, side.resync_scan)
            if match is None:
                # Keep the tail that may hold the start of a prefix; drop the rest for good.
                drop = max(side.resync_scan, len(buf) - _RESYNC_PREFIX_LEN[direction] + 1)
                if drop > 0:
                    buf.skip(drop)
                    side.skipped += drop
                side.resync_scan = 0
                return False
            start = match.start()
            if start:
                buf.skip(start)
                side.skipped += start
            end = buf.line_end(max_line)
            if end < 0:
                if len(buf) < max_line:
                    side.resync_scan = 0
                    return False
                side.resync_scan = 1
                continue
            if buf.match(_STRICT_LINE[direction]) is None:
                side.resync_scan = 1
                continue
            line, bare_lf = _split_eol(buf.peek(end))
            parsed = (
                parse_request_line(line, strict=True)
                if direction is ORIG
                else parse_status_line(line)
            )
            if parsed is None:  # not expected: the strict pattern is a subset
                side.resync_scan = 1
                continue
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="http_resync",
                    detail=f"{side.skipped} bytes skipped",
                )
            )
            side.skipped = 0
            side.resync_scan = 0
            buf.skip(end)
            self._begin(side, parsed, end, bare_lf, ts, out)
            return True

    # -- end of a direction --------------------------------------------------------------------

    def _close(self, side: _Side, ts: int, out: list[Event]) -> None:
        """Flush ``side`` at the end of its stream."""
        state = side.state
        buf = side.buf
        if state is _State.BODY_CLOSE:
            self._finish(side, ts, out)
        elif state is _State.BODY_LENGTH:
            self._finish(side, ts, out, complete=False, reason="eof_before_length")
        elif state in (_State.CHUNK_SIZE, _State.CHUNK_DATA, _State.CHUNK_END, _State.TRAILERS):
            self._finish(side, ts, out, complete=False, reason="eof_in_chunked")
        elif state is _State.HEAD:
            out.append(Anomaly(direction=side.direction, ts=ts, name="http_truncated_head"))
            self._partial_head(side, ts, out, "eof_in_head")
        elif state is _State.START:
            if buf.peek(len(buf)).strip():
                out.append(
                    Anomaly(
                        direction=side.direction,
                        ts=ts,
                        name="http_truncated_head",
                        detail=f"{len(buf)} bytes",
                    )
                )
        elif state is _State.RESYNC and side.skipped + len(buf):
            out.append(
                Anomaly(
                    direction=side.direction,
                    ts=ts,
                    name="http_resync",
                    detail=f"{side.skipped + len(buf)} bytes skipped, no message before end",
                )
            )
        buf.clear()
        side.state = _State.DONE


# The readers table: what consumes bytes in each state. A reader returns True when it made
# progress (the state may have changed) and False when it needs more bytes.
_Reader = Callable[[HttpParser, _Side, int, list[Event]], bool]
_READERS: Final[dict[_State, _Reader]] = {
    _State.START: HttpParser._read_start,
    _State.HEAD: HttpParser._read_head,
    _State.BODY_LENGTH: HttpParser._read_body,
    _State.BODY_CLOSE: HttpParser._read_body,
    _State.CHUNK_SIZE: HttpParser._read_chunk_size,
    _State.CHUNK_DATA: HttpParser._read_body,
    _State.CHUNK_END: HttpParser._read_chunk_end,
    _State.TRAILERS: HttpParser._read_trailers,
    _State.RESYNC: HttpParser._read_resync,
    _State.PAUSED: HttpParser._read_paused,
    _State.DONE: HttpParser._read_nothing,
}
