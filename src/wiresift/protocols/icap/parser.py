"""ICAP passive parser (RFC 3507), emitting the encapsulated HTTP as HTTP/1 events.

Theory of operation: an ICAP message is a start line and a header section like HTTP's
(RFC 3507 s4.3), then the encapsulated section that its ``Encapsulated`` header maps
(s4.4.1): zero or more HTTP header sections (``req-hdr``, ``res-hdr``), then one body
entity (``req-body``, ``res-body``, ``opt-body``) that is always chunked (s4.4.1), or
``null-body``. Each direction has a ``ByteBuffer`` and a state; a readers table keyed by
state consumes what it can (the shape of the HTTP/1 parser, whose line and field parsers
are reused). The encapsulated HTTP heads and bodies come out as ``RequestHead``,
``ResponseHead``, ``BodyData`` and ``MessageEnd`` so the HTTP object builder can turn them
into objects: tx ``2n`` is the original exchange of ICAP transaction ``n``, tx ``2n + 1``
the one the ICAP server returned adapted.

The header sections are read up to their empty line, not by trusting the offsets: a wrong
offset is reported (``icap_bad_encapsulated``) and reading goes on from what the bytes
say. A preview (s4.5) ends with a zero chunk; unless it carries ``ieof`` the client's rest
of the body follows only after the server's ``100 Continue``, so the client side waits
(``PREVIEW_WAIT``) and reads either more chunks or the next request. Lost boundaries
(garbage, a gap, a limit) make a side scan forward for the next start line.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Callable
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.http1.events import (
    BodyGap,
    Headers,
    MessageEnd,
    RequestHead,
    ResponseHead,
)
from wiresift.protocols.http1.parser import (
    body_data,
    parse_fields,
    parse_request_line,
    parse_status_line,
)
from wiresift.protocols.icap.detect import (
    METHOD_PREFIXES,
    PREFIX_LEN,
    REQUEST_START,
    STATUS_START,
)
from wiresift.protocols.icap.events import (
    Encapsulated,
    IcapMessageEnd,
    IcapRequestHead,
    IcapResponseHead,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# Entities of the Encapsulated header (RFC 3507 s4.4.1).
HEADER_ENTITIES: Final = frozenset({"req-hdr", "res-hdr"})
BODY_ENTITIES: Final = frozenset({"req-body", "res-body", "opt-body", "null-body"})
# ICAP methods whose requests must say what they encapsulate (RFC 3507 s4.4.1).
_ADAPTING_METHODS: Final = frozenset({b"REQMOD", b"RESPMOD"})
_REQMOD: Final = b"REQMOD"
# An offset of more than 9 digits is past any header section a limit lets through.
_MAX_OFFSET_DIGITS: Final = 9
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
# Longest chunk-size in hex digits taken (16 digits: 2**64, beyond any real body).
_MAX_CHUNK_DIGITS: Final = 16
_RESYNC: Final = (REQUEST_START, STATUS_START)
_RESYNC_KEEP: Final = PREFIX_LEN - 1


class _State(enum.IntEnum):
    START = enum.auto()  # expecting a start line; empty lines between messages are skipped
    HEAD = enum.auto()  # start line read; waiting for the end of the ICAP header section
    ENCAP_HEAD = enum.auto()  # reading the encapsulated HTTP header sections
    CHUNK_SIZE = enum.auto()  # chunk-size line (with extensions such as ieof)
    CHUNK_DATA = enum.auto()  # ``remaining`` bytes of chunk data
    CHUNK_END = enum.auto()  # the CRLF after chunk data
    TRAILERS = enum.auto()  # the empty line (or trailers) after the last chunk
    PREVIEW_WAIT = enum.auto()  # client after a preview: more chunks or the next request
    RESYNC = enum.auto()  # boundary lost: scanning for the next start line
    DONE = enum.auto()  # closed: nothing more is read


class _Txn:
    """An ICAP transaction: the request, waiting for (or answered by) the response."""

    __slots__ = ("continued", "method", "request", "tx")

    def __init__(self, tx: int, method: bytes) -> None:
        self.tx = tx
        self.method = method
        self.request: RequestHead | None = None  # the original encapsulated HTTP request
        self.continued = False  # the server sent 100 Continue after the preview


class _Side:
    """Parsing state of one direction."""

    __slots__ = (
        "body",
        "body_offset",
        "body_target",
        "buf",
        "direction",
        "encap_pos",
        "entities",
        "head_budget",
        "ieof",
        "offsets_ok",
        "open_http",
        "preview",
        "remaining",
        "resync_scan",
        "skipped",
        "start",
        "state",
        "txn",
    )

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.buf = ByteBuffer()
        self.state = _State.START
        self.txn: _Txn | None = None  # the transaction of the open message
        self.start: tuple[bytes, bytes, bytes] = (b"", b"", b"")  # the start line's parts
        self.head_budget = 0
        self.entities: list[tuple[str, int]] = []  # header entities still to read
        self.body = ""  # the body entity of the open message
        self.body_offset = 0  # its offset as the Encapsulated header gave it
        self.offsets_ok = True  # offsets are checked until one is found wrong
        self.encap_pos = 0  # bytes of the encapsulated section read so far
        self.open_http: list[tuple[Direction, int]] = []  # (role, tx) of open HTTP messages
        self.body_target: tuple[Direction, int] | None = None  # whose body the chunks are
        self.preview = False
        self.ieof = False
        self.remaining = 0
        self.resync_scan = 0
        self.skipped = 0


def parse_encapsulated(value: bytes) -> tuple[Encapsulated, str]:
    """The entities of an ``Encapsulated`` value and a problem ("" when none).

    Unknown names or a broken order give no entities; bad offsets (negative, not numbers,
    decreasing, not starting at 0) keep the entities, with -1 for an unreadable offset.
    """
    entities: list[tuple[str, int]] = []
    problem = ""
    for part in value.split(b","):
        name, equals, offset_text = part.strip(b" \t").partition(b"=")
        name_text = name.strip(b" \t").lower().decode("latin-1")
        if not equals or name_text not in HEADER_ENTITIES | BODY_ENTITIES:
            return (), f"unknown entity {part.strip()[:32]!r}"
        offset_text = offset_text.strip(b" \t")
        offset = -1
        if offset_text.isdigit() and len(offset_text) <= _MAX_OFFSET_DIGITS:
            offset = int(offset_text)
        else:
            problem = problem or f"bad offset {offset_text[:16]!r} for {name_text}"
        entities.append((name_text, offset))
    names = [name for name, _ in entities]
    if names[-1] not in BODY_ENTITIES or any(name in BODY_ENTITIES for name in names[:-1]):
        return (), "the last entity must be the only body entity"
    if len(set(names)) != len(names):
        return (), "an entity is repeated"
    offsets = [offset for _, offset in entities]
    if not problem and offsets[0] != 0:
        problem = "the first offset is not 0"
    if not problem and any(b < a for a, b in itertools.pairwise(offsets)):
        problem = "offsets decrease"
    return tuple(entities), problem


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _split_start_line(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Three space-separated parts of an ICAP start line, or None; a status line may lack
    its reason phrase."""
    parts = line.split(b" ", 2)
    if len(parts) == 2:
        parts.append(b"")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    return parts[0], parts[1], parts[2]


class IcapParser(Parser):
    """Sans-IO ICAP parser (RFC 3507) for one connection, both directions."""

    name = "icap"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(ORIG), _Side(RESP))
        self._pending: deque[_Txn] = deque()
        self._next_tx = 0
        self._confirmed = False
        self._max_line = limits.max_line
        self._max_head = limits.max_header_block

    # -- Parser interface ----------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        side = self._sides[direction]
        out: list[Event] = []
        if side.state is _State.DONE:
            return out
        side.buf.push(data)
        self._run(side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole: inside chunk data it stays in sync (``BodyGap``), elsewhere it resyncs."""
        side = self._sides[direction]
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="icap_content_gap", detail=f"{size} bytes")
        ]
        if side.state is _State.DONE:
            return out
        if side.state is _State.CHUNK_DATA and not side.buf and size <= side.remaining:
            if side.body_target is not None:
                role, tx = side.body_target
                out.append(BodyGap(direction=role, ts=ts, tx=tx, size=size))
            side.remaining -= size
            if not side.remaining:
                side.state = _State.CHUNK_END
            return out
        side.buf.clear()
        self._lose_sync(side, ts, out, "gap")
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` is closed: an open message ends incomplete."""
        side = self._sides[direction]
        out: list[Event] = []
        state = side.state
        if state is _State.PREVIEW_WAIT:
            self._end_preview(side, ts, out)
        elif state in (
            _State.ENCAP_HEAD,
            _State.CHUNK_SIZE,
            _State.CHUNK_DATA,
            _State.CHUNK_END,
            _State.TRAILERS,
        ):
            self._finish(side, ts, out, complete=False, reason="eof")
        elif state is _State.HEAD or (state is _State.START and side.buf.peek(64).strip()):
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="icap_truncated_head",
                    detail=f"{len(side.buf)} bytes",
                )
            )
        elif state is _State.RESYNC and side.skipped + len(side.buf):
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="icap_resync",
                    detail=f"{side.skipped + len(side.buf)} bytes skipped, no message before end",
                )
            )
        side.buf.clear()
        side.state = _State.DONE
        return out

    def buffered_bytes(self) -> int:
        """Bytes held in both directions' buffers."""
        return len(self._sides[0].buf) + len(self._sides[1].buf)

    # -- the loop ------------------------------------------------------------------------

    def _run(self, side: _Side, ts: int, out: list[Event]) -> None:
        while _READERS[side.state](self, side, ts, out):
            pass

    def _anomaly(self, side: _Side, ts: int, out: list[Event], name: str, detail: str) -> None:
        out.append(Anomaly(direction=side.direction, ts=ts, name=name, detail=detail))

    # -- heads ---------------------------------------------------------------------------

    def _read_start(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        while (first := buf.peek(2)) in (b"\r\n", b"\n") or first[:1] == b"\n":
            buf.skip(2 if first == b"\r\n" else 1)
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) >= self._max_line:
                self._anomaly(side, ts, out, "icap_line_too_long", "start line")
                self._lose_sync(side, ts, out, "line_too_long")
                return True
            return False
        parts = _split_start_line(line)
        valid = parts is not None and (
            parts[2].upper().startswith(b"ICAP/")
            if side.direction is ORIG
            else parts[0].upper().startswith(b"ICAP/") and parts[1].isdigit()
        )
        if parts is None or not valid:
            if not line.strip():
                return True  # a lone CR
            self._anomaly(side, ts, out, "icap_bad_start_line", repr(line[:40]))
            self._lose_sync(side, ts, out, "bad_start_line")
            return True
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=side.direction, ts=ts))
        side.start = parts
        side.head_budget = max(self._max_head - len(line), 0)
        side.state = _State.HEAD
        return True

    def _read_head(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        block = buf.take_block(side.head_budget)
        if block is None:
            if len(buf) < side.head_budget:
                return False
            self._anomaly(
                side, ts, out, "icap_header_too_long", f"longer than {self._max_head} bytes"
            )
            self._lose_sync(side, ts, out, "header_too_long")
            return True
        fields = parse_fields(block)
        for issue in fields.issues:
            self._anomaly(side, ts, out, "icap_" + issue.removeprefix("http_"), "")
        headers = fields.headers
        encapsulated_value = _header(headers, b"encapsulated")
        entities: Encapsulated = (("null-body", 0),)
        problem = ""
        if encapsulated_value is not None:
            entities, problem = parse_encapsulated(encapsulated_value)
        if side.direction is ORIG:
            method, uri, version = side.start
            txn = self._new_txn(method, ts, out)
            preview_value = _header(headers, b"preview")
            preview = (
                int(preview_value)
                if preview_value is not None and preview_value.isdigit() and len(preview_value) < 10
                else None
            )
            side.preview = preview is not None
            out.append(
                IcapRequestHead(
                    direction=ORIG,
                    ts=ts,
                    tx=txn.tx,
                    method=method,
                    uri=uri,
                    version=version.upper().removeprefix(b"ICAP/"),
                    headers=headers,
                    encapsulated=entities,
                    preview=preview,
                )
            )
            needs_encapsulated = method.upper() in _ADAPTING_METHODS
        else:
            version_text, status_text, reason = side.start
            status = int(status_text[:3])
            interim = status == 100
            txn = self._answered(interim, ts, out)
            out.append(
                IcapResponseHead(
                    direction=RESP,
                    ts=ts,
                    tx=txn.tx,
                    status=status,
                    reason=reason,
                    version=version_text.upper().removeprefix(b"ICAP/"),
                    headers=headers,
                    encapsulated=entities if not interim else (),
                    interim=interim,
                )
            )
            if interim:
                txn.continued = True
                orig = self._sides[ORIG]
                side.state = _State.START
                if orig.state is _State.PREVIEW_WAIT and orig.txn is txn:
                    self._run(orig, ts, out)
                return True
            orig = self._sides[ORIG]
            if orig.state is _State.PREVIEW_WAIT and orig.txn is txn:
                self._end_preview(orig, ts, out)  # the server decided on the preview alone
            needs_encapsulated = status == 200
        side.txn = txn
        if encapsulated_value is None and needs_encapsulated:
            self._anomaly(side, ts, out, "icap_missing_encapsulated", "")
        if not entities:
            self._anomaly(side, ts, out, "icap_bad_encapsulated", problem)
            self._lose_sync(side, ts, out, "bad_encapsulated")
            return True
        if problem:
            self._anomaly(side, ts, out, "icap_bad_encapsulated", problem)
        side.offsets_ok = not problem
        side.encap_pos = 0
        side.entities = list(entities[:-1])
        side.body, side.body_offset = entities[-1]
        side.open_http = []
        side.body_target = None
        side.ieof = False
        if side.entities:
            side.state = _State.ENCAP_HEAD
        else:
            self._begin_body(side, ts, out)
        return True

    def _new_txn(self, method: bytes, ts: int, out: list[Event]) -> _Txn:
        txn = _Txn(self._next_tx, method.upper())
        self._next_tx += 1
        pending = self._pending
        if len(pending) >= self.limits.max_pending_tx:
            lost = pending.popleft()
            out.append(
                Anomaly(direction=ORIG, ts=ts, name="icap_too_many_pending", detail=f"tx {lost.tx}")
            )
        pending.append(txn)
        return txn

    def _answered(self, interim: bool, ts: int, out: list[Event]) -> _Txn:
        """The transaction a response answers; interim responses leave it waiting."""
        pending = self._pending
        if pending:
            return pending[0] if interim else pending.popleft()
        txn = _Txn(self._next_tx, b"")
        self._next_tx += 1
        out.append(
            Anomaly(
                direction=RESP,
                ts=ts,
                name="icap_response_without_request",
                detail=f"tx {txn.tx}",
            )
        )
        if interim:
            pending.appendleft(txn)
        return txn

    # -- the encapsulated section --------------------------------------------------------

    def _check_offset(
        self, side: _Side, expected: int, name: str, ts: int, out: list[Event]
    ) -> None:
        if side.offsets_ok and expected != side.encap_pos:
            side.offsets_ok = False
            self._anomaly(
                side,
                ts,
                out,
                "icap_bad_encapsulated",
                f"{name} at offset {side.encap_pos}, Encapsulated says {expected}",
            )

    def _read_encap_head(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        name, offset = side.entities[0]
        block = buf.take_block(self._max_head)
        if block is None:
            if len(buf) < self._max_head:
                return False
            self._anomaly(
                side, ts, out, "icap_header_too_long", f"{name} longer than {self._max_head} bytes"
            )
            self._lose_sync(side, ts, out, "header_too_long")
            return True
        self._check_offset(side, offset, name, ts, out)
        side.encap_pos += len(block)
        del side.entities[0]
        line, newline, rest = block.partition(b"\n")
        line = line.removesuffix(b"\r")
        txn = side.txn
        assert txn is not None
        if not newline or not line:
            self._anomaly(side, ts, out, "icap_bad_encapsulated", f"{name} is empty")
        elif name == "req-hdr":
            request = parse_request_line(line, strict=False)
            if request is None:
                self._anomaly(side, ts, out, "icap_bad_http_start_line", repr(line[:40]))
            else:
                fields = parse_fields(rest)
                tx = txn.tx * 2 + (side.direction is RESP)
                head = RequestHead(
                    direction=ORIG,
                    ts=ts,
                    tx=tx,
                    method=request.method,
                    target=request.target,
                    version=request.version,
                    headers=fields.headers,
                )
                if side.direction is ORIG:
                    txn.request = head
                out.append(head)
                side.open_http.append((ORIG, tx))
        else:
            status = parse_status_line(line)
            if status is None:
                self._anomaly(side, ts, out, "icap_bad_http_start_line", repr(line[:40]))
            else:
                tx = txn.tx * 2
                if side.direction is RESP and not (
                    txn.method == _REQMOD and not any(role is ORIG for role, _ in side.open_http)
                ):
                    # An adapted response: it answers the original request unless the
                    # server sent an adapted request before it.
                    tx += 1
                    if not side.open_http and txn.request is not None:
                        copy = RequestHead(
                            direction=ORIG,
                            ts=ts,
                            tx=tx,
                            method=txn.request.method,
                            target=txn.request.target,
                            version=txn.request.version,
                            headers=txn.request.headers,
                        )
                        out.append(copy)
                        out.append(MessageEnd(direction=ORIG, ts=ts, tx=tx))
                out.append(
                    ResponseHead(
                        direction=RESP,
                        ts=ts,
                        tx=tx,
                        status=status.status,
                        reason=status.reason,
                        version=status.version,
                        headers=parse_fields(rest).headers,
                    )
                )
                side.open_http.append((RESP, tx))
        if not side.entities:
            self._begin_body(side, ts, out)
        return True

    def _begin_body(self, side: _Side, ts: int, out: list[Event]) -> None:
        """The header sections are read: start the body entity (or end a null-body)."""
        self._check_offset(side, side.body_offset, side.body, ts, out)
        body = side.body
        role = ORIG if body == "req-body" else RESP if body == "res-body" else None
        target: tuple[Direction, int] | None = None
        for item in list(side.open_http):
            if role is not None and item[0] is role and target is None:
                target = item
                continue
            out.append(MessageEnd(direction=item[0], ts=ts, tx=item[1]))
        side.open_http = [target] if target is not None else []
        side.body_target = target
        if body == "null-body":
            self._finish(side, ts, out)
        else:
            side.state = _State.CHUNK_SIZE

    # -- the chunked body ----------------------------------------------------------------

    def _read_chunk_size(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        line = buf.take_line(self._max_line)
        if line is None:
            if len(buf) < self._max_line:
                return False
            self._anomaly(side, ts, out, "icap_line_too_long", "chunk-size line")
            self._lose_sync(side, ts, out, "line_too_long")
            return True
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip(b" \t")
        if (
            not size_text
            or len(size_text) > _MAX_CHUNK_DIGITS
            or not all(byte in _HEX for byte in size_text)
        ):
            self._anomaly(side, ts, out, "icap_bad_chunk_size", repr(line[:32]))
            self._lose_sync(side, ts, out, "bad_chunk_size")
            return True
        size = int(size_text, 16)
        if size:
            side.remaining = size
            side.state = _State.CHUNK_DATA
        else:
            # "0; ieof": the preview held the whole body (RFC 3507 s4.5).
            side.ieof = any(ext.strip(b" \t").lower() == b"ieof" for ext in extensions.split(b";"))
            side.state = _State.TRAILERS
        return True

    def _read_chunk_data(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        if not buf:
            return False
        data = buf.take_upto(side.remaining)
        side.remaining -= len(data)
        target = side.body_target
        if target is not None:
            out.append(body_data(target[0], ts, target[1], data))
        if not side.remaining:
            side.state = _State.CHUNK_END
        return True

    def _read_chunk_end(self, side: _Side, ts: int, out: list[Event]) -> bool:
        ending = side.buf.take_line_end()
        if ending is None:
            return False
        if ending == 0:
            self._anomaly(side, ts, out, "icap_bad_chunk_end", "")
        side.state = _State.CHUNK_SIZE
        return True

    def _read_trailers(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        block = buf.take_block(self._max_head)
        if block is None:
            if len(buf) < self._max_head:
                return False
            self._anomaly(side, ts, out, "icap_header_too_long", "chunk trailers")
            self._lose_sync(side, ts, out, "header_too_long")
            return True
        if side.direction is ORIG and side.preview and not side.ieof:
            side.state = _State.PREVIEW_WAIT
            return True
        self._finish(side, ts, out)
        return True

    def _read_preview_wait(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        if not buf:
            return False
        txn = side.txn
        if txn is None or not txn.continued:
            head = buf.peek(PREFIX_LEN)
            if REQUEST_START.match(head):
                self._end_preview(side, ts, out)
                return True
            upper = head.upper()
            if len(head) < PREFIX_LEN and any(p.startswith(upper) for p in METHOD_PREFIXES):
                return False
        side.preview = False  # the rest of the body follows (after 100 Continue)
        side.state = _State.CHUNK_SIZE
        return True

    def _end_preview(self, side: _Side, ts: int, out: list[Event]) -> None:
        """The server answered the preview without asking for the rest of the body."""
        self._finish(side, ts, out, http_complete=False, http_reason="preview")

    def _finish(
        self,
        side: _Side,
        ts: int,
        out: list[Event],
        *,
        complete: bool = True,
        reason: str = "",
        http_complete: bool | None = None,
        http_reason: str | None = None,
    ) -> None:
        """End the open ICAP message of ``side`` and the HTTP messages it still holds."""
        http_ok = complete if http_complete is None else http_complete
        for role, tx in side.open_http:
            out.append(
                MessageEnd(
                    direction=role,
                    ts=ts,
                    tx=tx,
                    complete=http_ok,
                    reason=reason if http_reason is None else http_reason,
                )
            )
        side.open_http = []
        side.body_target = None
        side.entities = []
        txn = side.txn
        if txn is not None:
            out.append(
                IcapMessageEnd(
                    direction=side.direction, ts=ts, tx=txn.tx, complete=complete, reason=reason
                )
            )
        side.txn = None
        side.preview = False
        side.state = _State.START

    # -- losing and finding the message boundary -----------------------------------------

    def _lose_sync(self, side: _Side, ts: int, out: list[Event], reason: str) -> None:
        if side.txn is not None:
            self._finish(side, ts, out, complete=False, reason=reason)
        side.state = _State.RESYNC
        side.resync_scan = 0

    def _read_resync(self, side: _Side, ts: int, out: list[Event]) -> bool:
        buf = side.buf
        match = buf.search(_RESYNC[side.direction], side.resync_scan)
        if match is None:
            drop = len(buf) - _RESYNC_KEEP
            if drop > 0:
                buf.skip(drop)
                side.skipped += drop
            side.resync_scan = 0
            return False
        start = match.start()
        if start:
            buf.skip(start)
            side.skipped += start
        self._anomaly(side, ts, out, "icap_resync", f"{side.skipped} bytes skipped")
        side.skipped = 0
        side.state = _State.START
        return True

    def _read_nothing(self, side: _Side, ts: int, out: list[Event]) -> bool:
        side.buf.clear()
        return False


_Reader = Callable[[IcapParser, _Side, int, list[Event]], bool]
_READERS: Final[dict[_State, _Reader]] = {
    _State.START: IcapParser._read_start,
    _State.HEAD: IcapParser._read_head,
    _State.ENCAP_HEAD: IcapParser._read_encap_head,
    _State.CHUNK_SIZE: IcapParser._read_chunk_size,
    _State.CHUNK_DATA: IcapParser._read_chunk_data,
    _State.CHUNK_END: IcapParser._read_chunk_end,
    _State.TRAILERS: IcapParser._read_trailers,
    _State.PREVIEW_WAIT: IcapParser._read_preview_wait,
    _State.RESYNC: IcapParser._read_resync,
    _State.DONE: IcapParser._read_nothing,
}
