"""Streaming multipart parser (RFC 2046 s5.1; multipart/form-data RFC 7578) and the header
parameter helpers it needs (RFC 2045 s5.1, RFC 6266, RFC 2231, RFC 5987, RFC 2047).

Theory of operation: a multipart body is cut at delimiter lines, "--" boundary, optional
transport padding, CRLF; the CRLF before a delimiter belongs to the delimiter (RFC 2046
s5.1.1). One scanner serves the whole tree: nested multipart bodies push a frame on an
explicit stack (no recursion), and a dict maps every open boundary to its frame, so one
lookup per candidate line recognises a delimiter of any level, and a delimiter of an outer
level closes the inner bodies that never closed. The scanner looks for "\\n--" with
``bytes.find`` and holds back only a possible delimiter (at most "\\r\\n--", the longest open
boundary, "--" and padding), so part data flows out with every feed and nothing is scanned
twice. Parts nested past ``max_depth`` stay one opaque part, and past ``max_parts`` parts are
still delimited but no longer reported: the parser stays in sync either way.

Events: ``PartStart`` once the part's header block is read, ``PartData`` per feed, then
``PartEnd``. A part that holds a nested multipart body (``container=True``) carries no data of
its own: its children follow, with ``path`` one level longer. Names and filenames are decoded
text, not yet safe for a file system (see ``wiresift.extract.names.safe_filename``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import enum
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_to_bytes

# Anomaly names (docs/anomalies.md).
ANOMALY_MAX_DEPTH: Final = "mime_max_depth"
ANOMALY_TOO_MANY_PARTS: Final = "mime_too_many_parts"
ANOMALY_MISSING_CLOSE: Final = "mime_missing_close_delimiter"
ANOMALY_NO_PARTS: Final = "mime_no_parts"
ANOMALY_BARE_LF: Final = "mime_bare_lf"
ANOMALY_HEADER_BLOCK_TOO_LONG: Final = "mime_header_block_too_long"
ANOMALY_BAD_HEADER_LINE: Final = "mime_bad_header_line"
ANOMALY_UNTERMINATED_HEADERS: Final = "mime_unterminated_headers"
ANOMALY_MISSING_BOUNDARY: Final = "mime_missing_boundary"
ANOMALY_BOUNDARY_REUSED: Final = "mime_boundary_reused"

# RFC 2046 s5.1.1 allows 70 characters; longer ones are taken (some generators pass the
# limit) up to this cap, which also bounds how much a pending delimiter line holds back.
MAX_BOUNDARY_LEN: Final = 256
# Transport padding (RFC 2046 s5.1.1 LWSP after a delimiter) accepted before the CRLF.
MAX_TRANSPORT_PADDING: Final = 256
# Anomalies kept per body; a hostile body could otherwise grow the list with every part.
MAX_ANOMALIES: Final = 64

_CR: Final = 0x0D
_LF: Final = 0x0A
_DASH: Final = 0x2D
_TAIL_BYTES: Final = frozenset({_CR, _LF, _DASH})  # what a held-back tail can end with


@dataclass(frozen=True, slots=True, kw_only=True)
class PartStart:
    """A part's header block was read (RFC 2046 s5.1.1 body-part headers)."""

    index: int  # 0, 1, 2... in order of appearance over the whole tree
    path: tuple[int, ...]  # position at each level: (1, 0) = first child of the second part
    headers: tuple[tuple[bytes, bytes], ...]  # (name, value) as sent, folded lines joined
    name: str | None  # Content-Disposition "name" (RFC 7578 s4.2)
    filename: str | None  # Content-Disposition filename*/filename, else Content-Type name
    content_type: str | None  # "type/subtype", lower-cased
    container: bool = False  # a nested multipart: children follow, no PartData


@dataclass(frozen=True, slots=True, kw_only=True)
class PartData:
    """Bytes of a part's body (transfer encoding not undone)."""

    index: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PartEnd:
    """A part ended; ``complete`` is False when the body ended before its delimiter."""

    index: int
    complete: bool


PartEvent = PartStart | PartData | PartEnd


class _State(enum.Enum):
    PREAMBLE = enum.auto()  # before the first delimiter: ignored
    HEADERS = enum.auto()  # reading a part's header block
    BODY = enum.auto()  # inside a part's body (or a part no longer reported)
    CONTAINER = enum.auto()  # the current part holds the next frame
    EPILOGUE = enum.auto()  # after the close delimiter: ignored


class _Frame:
    """One multipart body being split."""

    __slots__ = ("boundary", "level", "part", "path", "position", "state")

    def __init__(self, boundary: bytes, level: int, path: tuple[int, ...]) -> None:
        self.boundary = boundary
        self.level = level  # nesting level of this body
        self.path = path  # path of the part that holds this body
        self.state = _State.PREAMBLE
        self.position = -1  # position of the current part in this body
        self.part = -1  # index of the current reported part, -1 if none


class MultipartParser:
    """Split a multipart body incrementally; ``anomalies`` lists (name, detail), oldest first.

    ``depth`` is the nesting level of this body inside an enclosing message; bodies nested
    deeper than ``max_depth`` are kept as one part.
    """

    def __init__(
        self,
        boundary: bytes,
        *,
        max_depth: int,
        max_parts: int,
        max_header_block: int,
        depth: int = 0,
    ) -> None:
        self._max_depth = max_depth
        self._max_parts = max_parts
        self._max_header_block = max_header_block
        self._buf = b""
        self._pos = 0  # bytes of _buf already consumed
        self._line_start = True  # _buf[_pos] starts a line
        self._frames = [_Frame(boundary, depth, ())]
        self._open: dict[bytes, int] = {}  # open boundary -> its frame's stack position
        self._leads: dict[int, int] = {}  # first byte of the open boundaries -> how many
        if boundary:
            self._open_boundary(boundary, 0)
        self._longest = [len(boundary)]  # longest open boundary, per stack height
        self._events: list[PartEvent] = []
        self._anomalies: list[tuple[str, str]] = []
        self._noted: set[str] = set()
        self._parts = 0
        self._header_lines: list[bytes] = []
        self._header_size = 0
        self._header_overflow = False
        self._skip_line = False
        self._done = False
        if not boundary:
            self._note(ANOMALY_MISSING_BOUNDARY, "empty boundary")

    @property
    def anomalies(self) -> list[tuple[str, str]]:
        """(name, detail) of everything noted so far (at most MAX_ANOMALIES)."""
        return self._anomalies

    @property
    def buffered_bytes(self) -> int:
        """Bytes held back right now (a partial line or a possible delimiter)."""
        return len(self._buf) - self._pos + self._header_size

    def feed(self, data: bytes) -> list[PartEvent]:
        """Take the next bytes of the body; returns the events they completed."""
        if self._done or not data:
            return []
        self._buf = self._buf + data if self._buf else data
        self._run(eof=False)
        return self._take()

    def finish(self) -> list[PartEvent]:
        """The body ended: flush, and end every part still open."""
        if self._done:
            return []
        self._done = True
        self._run(eof=True)
        frames = self._frames
        while len(frames) > 1:
            self._pop_frame(ended_by_parent=False)
        top = frames[0]
        if top.state is _State.PREAMBLE:
            self._note(ANOMALY_NO_PARTS, "no delimiter line in the body")
        elif top.state is not _State.EPILOGUE:
            self._note(ANOMALY_MISSING_CLOSE, f"level {top.level}")
            self._end_part(top, complete=False)
        self._buf = b""
        self._pos = 0
        return self._take()

    # -- scanning ------------------------------------------------------------------------

    def _take(self) -> list[PartEvent]:
        events = self._events
        self._events = []
        return events

    def _run(self, *, eof: bool) -> None:
        while True:
            frame = self._frames[-1]
            if frame.state is _State.HEADERS:
                if not self._step_headers(frame, eof=eof):
                    break
            elif not self._step_content(frame, eof=eof):
                break
        if self._pos:
            self._buf = self._buf[self._pos :]
            self._pos = 0

    def _step_content(self, frame: _Frame, *, eof: bool) -> bool:
        """Pass content on up to the next delimiter; True when one was taken."""
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if not self._open:  # every body is closed: the rest is epilogue
            self._pos = size
            return False
        if self._line_start and buf.startswith(b"--", pos):
            candidate = pos
        else:
            found = buf.find(b"\n--", pos)
            candidate = found + 1 if found >= 0 else -1
        leads = self._leads
        while candidate >= 0:
            lead = candidate + 2
            if lead < size and buf[lead] not in leads:  # cheap test first: no boundary fits
                found = buf.find(b"\n--", candidate)
                candidate = found + 1 if found >= 0 else -1
                continue
            level, close, end = self._delimiter_at(candidate, eof=eof)
            if level == -2:  # maybe a delimiter: wait for the rest of the line
                start = self._line_begin(candidate, pos)
                self._content(frame, pos, start)
                self._pos = start
                return False
            if level >= 0:
                start = self._line_begin(candidate, pos)
                if start == candidate - 1 and candidate - 1 >= pos:
                    self._note_bare_lf()
                self._content(frame, pos, start)
                self._pos = end
                self._line_start = True
                self._delimiter(level, close=close)
                return True
            found = buf.find(b"\n--", candidate)
            candidate = found + 1 if found >= 0 else -1
        keep = size if eof else self._tail_start(pos, size)
        self._content(frame, pos, keep)
        self._pos = keep
        return False

    def _line_begin(self, candidate: int, pos: int) -> int:
        """Start of the line break that precedes the delimiter at ``candidate``."""
        buf = self._buf
        start = candidate
        if start > pos and buf[start - 1] == _LF:
            start -= 1
            if start > pos and buf[start - 1] == _CR:
                start -= 1
        return start

    def _tail_start(self, pos: int, size: int) -> int:
        """Where the bytes that could begin a delimiter start (size when none)."""
        buf = self._buf
        if size == pos or buf[size - 1] not in _TAIL_BYTES:
            return size
        if self._line_start and size - pos == 1 and buf[pos] == _DASH:
            return pos
        for i in range(max(pos, size - 3), size):
            tail = buf[i:]
            if b"\r\n--".startswith(tail) or b"\n--".startswith(tail):
                return i
        return size

    def _delimiter_at(self, candidate: int, *, eof: bool) -> tuple[int, bool, int]:
        """Classify the line at ``candidate`` ("--" first): (level, close, end of line).
        level is -1 for no delimiter and -2 when the line is incomplete but could be one."""
        buf = self._buf
        limit = candidate + 2 + self._longest[-1] + 2 + MAX_TRANSPORT_PADDING + 1
        newline = buf.find(b"\n", candidate, limit)
        if newline < 0:
            if len(buf) >= limit:
                return -1, False, 0
            rest = buf[candidate + 2 :]
            if not eof:
                return (-2 if self._viable(rest) else -1), False, 0
            line, end = rest, len(buf)
        else:
            line, end = buf[candidate + 2 : newline], newline + 1
        match = self._classify(line)
        if match is None:
            return -1, False, 0
        if newline >= 0 and (newline == candidate or buf[newline - 1] != _CR):
            self._note_bare_lf()
        return match[0], match[1], end

    def _classify(self, line: bytes) -> tuple[int, bool] | None:
        """Which open boundary ``line`` (after its "--") delimits, and whether it closes."""
        core = line.rstrip(b" \t\r")
        level = self._open.get(core)
        if level is not None:
            return level, False
        if core.endswith(b"--"):
            level = self._open.get(core[:-2])
            if level is not None:
                return level, True
        return None

    def _viable(self, rest: bytes) -> bool:
        """Could the incomplete line ``rest`` (after "--") still become a delimiter?"""
        core = rest.rstrip(b" \t\r")
        if len(rest) - len(core) > MAX_TRANSPORT_PADDING + 1:
            return False
        return any((boundary + b"--").startswith(core) for boundary in self._open)

    def _content(self, frame: _Frame, start: int, end: int) -> None:
        if end <= start:
            return
        self._line_start = False
        if frame.state is _State.BODY and frame.part >= 0:
            self._events.append(PartData(index=frame.part, data=self._buf[start:end]))

    def _step_headers(self, frame: _Frame, *, eof: bool) -> bool:
        """Read header lines; True when the block (or the part) ended."""
        buf = self._buf
        pos = self._pos
        size = len(buf)
        while pos < size:
            newline = buf.find(b"\n", pos)
            if newline < 0:
                if not eof:
                    if self._skip_line or self._header_size + size - pos > self._max_header_block:
                        self._header_too_long()
                        self._skip_line = True
                        pos = size
                    break
                line_end = next_pos = size
            else:
                line_end, next_pos = newline, newline + 1
            if self._skip_line:  # the rest of a line past the cap
                self._skip_line = newline < 0
                pos = next_pos
                continue
            if newline >= 0 and (newline == pos or buf[newline - 1] != _CR):
                self._note_bare_lf()
            line = buf[pos:line_end]
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b"--"):
                match = self._classify(line[2:])
                if match is not None:
                    self._note(ANOMALY_UNTERMINATED_HEADERS, f"part {frame.part}")
                    self._pos = next_pos
                    self._line_start = True
                    self._delimiter(match[0], close=match[1])
                    return True
            if not line:
                self._pos = next_pos
                self._line_start = True
                self._finish_headers(frame, nested_allowed=True)
                return True
            if not self._header_overflow:
                if self._header_size + len(line) + 2 > self._max_header_block:
                    self._header_too_long()
                else:
                    self._header_lines.append(line)
                    self._header_size += len(line) + 2
            pos = next_pos
        self._pos = pos
        return False

    def _header_too_long(self) -> None:
        if not self._header_overflow:
            self._header_overflow = True
            self._note(ANOMALY_HEADER_BLOCK_TOO_LONG, f"over {self._max_header_block} bytes")

    # -- structure -----------------------------------------------------------------------

    def _delimiter(self, level: int, *, close: bool) -> None:
        """A delimiter of the body at stack position ``level`` was read."""
        frames = self._frames
        while len(frames) - 1 > level:
            self._pop_frame(ended_by_parent=len(frames) - 2 == level)
        frame = frames[level]
        self._end_part(frame, complete=True)
        if close:
            frame.state = _State.EPILOGUE
            self._close_boundary(frame.boundary)
            return
        frame.position += 1
        frame.state = _State.HEADERS
        self._header_lines = []
        self._header_size = 0
        self._header_overflow = False
        self._skip_line = False
        if self._parts >= self._max_parts:
            self._note_once(ANOMALY_TOO_MANY_PARTS, f"over {self._max_parts} parts")
            frame.part = -1
            return
        frame.part = self._parts
        self._parts += 1

    def _end_part(self, frame: _Frame, *, complete: bool) -> None:
        """End the current part of ``frame``, if one is open."""
        if frame.state is _State.HEADERS:
            self._finish_headers(frame, nested_allowed=False)
        if frame.state is _State.BODY and frame.part >= 0:
            self._events.append(PartEnd(index=frame.part, complete=complete))
        frame.part = -1
        if frame.state is not _State.EPILOGUE:
            frame.state = _State.BODY

    def _pop_frame(self, *, ended_by_parent: bool) -> None:
        """Close the innermost nested body and the part of its parent that held it."""
        frames = self._frames
        frame = frames.pop()
        self._longest.pop()
        closed = frame.state is _State.EPILOGUE
        if not closed:
            self._note(ANOMALY_MISSING_CLOSE, f"level {frame.level}")
            self._end_part(frame, complete=False)
            if self._open.get(frame.boundary) == len(frames):
                self._close_boundary(frame.boundary)
        parent = frames[-1]
        if parent.part >= 0:
            self._events.append(PartEnd(index=parent.part, complete=closed and ended_by_parent))
        parent.part = -1
        parent.state = _State.BODY

    def _finish_headers(self, frame: _Frame, *, nested_allowed: bool) -> None:
        """Report the part whose header block was read; open a frame for a nested body."""
        frame.state = _State.BODY
        lines = self._header_lines
        self._header_lines = []
        self._header_size = 0
        if frame.part < 0:
            return
        headers = self._parse_header_lines(lines)
        content_type_raw = _first(headers, b"content-type")
        disposition_raw = _first(headers, b"content-disposition")
        content_type: str | None = None
        type_params: dict[str, str] = {}
        if content_type_raw is not None:
            main, type_params = parse_header_params(content_type_raw)
            content_type = main or None
        name: str | None = None
        filename: str | None = None
        if disposition_raw is not None:
            disposition_params = parse_header_params(disposition_raw)[1]
            name = disposition_params.get("name")
            filename = disposition_params.get("filename")
        if filename is None:
            filename = type_params.get("name")
        path = (*frame.path, frame.position)
        boundary = None
        if nested_allowed and content_type is not None and content_type.startswith("multipart/"):
            boundary = self._nested_boundary(frame, content_type_raw or b"")
        self._events.append(
            PartStart(
                index=frame.part,
                path=path,
                headers=headers,
                name=name,
                filename=filename,
                content_type=content_type,
                container=boundary is not None,
            )
        )
        if boundary is not None:
            frame.state = _State.CONTAINER
            self._open_boundary(boundary, len(self._frames))
            self._longest.append(max(self._longest[-1], len(boundary)))
            self._frames.append(_Frame(boundary, frame.level + 1, path))

    def _open_boundary(self, boundary: bytes, position: int) -> None:
        self._open[boundary] = position
        self._leads[boundary[0]] = self._leads.get(boundary[0], 0) + 1

    def _close_boundary(self, boundary: bytes) -> None:
        del self._open[boundary]
        count = self._leads[boundary[0]] - 1
        if count:
            self._leads[boundary[0]] = count
        else:
            del self._leads[boundary[0]]

    def _nested_boundary(self, frame: _Frame, content_type_raw: bytes) -> bytes | None:
        """Boundary of a nested body, or None (with an anomaly) when it stays opaque."""
        boundary = boundary_from_content_type(content_type_raw)
        if boundary is None:
            self._note(ANOMALY_MISSING_BOUNDARY, f"part {frame.part}")
            return None
        if frame.level + 1 > self._max_depth:
            self._note(ANOMALY_MAX_DEPTH, f"level {frame.level + 1} over {self._max_depth}")
            return None
        if boundary in self._open:
            self._note(ANOMALY_BOUNDARY_REUSED, f"part {frame.part}")
            return None
        return boundary

    def _parse_header_lines(self, lines: list[bytes]) -> tuple[tuple[bytes, bytes], ...]:
        """Header fields of a part (RFC 2045 s3, RFC 5322 s2.2; folded lines unfolded)."""
        fields: list[list[bytes]] = []
        for line in lines:
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1][1] += line  # RFC 5322 s2.2.3: unfolding removes the CRLF only
                continue
            name, colon, value = line.partition(b":")
            name = name.strip(b" \t")
            if not colon or not name:
                self._note(ANOMALY_BAD_HEADER_LINE, repr(line[:40]))
                continue
            fields.append([name, value])
        return tuple((name, value.strip(b" \t")) for name, value in fields)

    def _note(self, name: str, detail: str) -> None:
        if len(self._anomalies) < MAX_ANOMALIES:
            self._anomalies.append((name, detail))

    def _note_once(self, name: str, detail: str) -> None:
        if name not in self._noted:
            self._noted.add(name)
            self._note(name, detail)

    def _note_bare_lf(self) -> None:
        self._note_once(ANOMALY_BARE_LF, "line ends with LF alone")


def _first(headers: tuple[tuple[bytes, bytes], ...], name: bytes) -> bytes | None:
    for field, value in headers:
        if field.lower() == name:
            return value
    return None


# -- header parameters --------------------------------------------------------------------

# RFC 2047 s2 encoded-word; charset may carry an RFC 2231 s5 "*language" suffix.
_ENCODED_WORD: Final = re.compile(
    r"=\?([\x21-\x3e\x40-\x7e]+)\?([bBqQ])\?([\x21-\x3e\x40-\x7e]*)\?="
)
# Codecs that accept bytes but are not charsets, or cost quadratic time on long input.
_REFUSED_CODECS: Final = frozenset(
    {"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"}
)


def boundary_from_content_type(value: bytes) -> bytes | None:
    """The boundary of a multipart/* Content-Type value (RFC 2046 s5.1.1), else None."""
    main, params = _split_params(value.decode("latin-1"))
    if not main.lower().startswith("multipart/"):
        return None
    for name, raw in params:
        if name == "boundary":
            boundary = raw.encode("latin-1").rstrip(b" \t")
            return boundary if 0 < len(boundary) <= MAX_BOUNDARY_LEN else None
    return None


def content_disposition_filename(value: bytes) -> str | None:
    """Filename of a Content-Disposition value; filename* wins over filename (RFC 6266
    s4.3). An empty string means the field was sent empty (a form file input left blank)."""
    return parse_header_params(value)[1].get("filename")


def parse_header_params(value: bytes) -> tuple[str, dict[str, str]]:
    """Split a Content-Type / Content-Disposition value into its lower-cased main value and
    its parameters (RFC 2045 s5.1, RFC 6266 s4.1), names lower-cased, values decoded.

    Quoted strings take backslash escapes (RFC 9110 s5.6.4) only before '"' and '\\', so a
    Windows path sent unescaped keeps its separators. ``name*`` values (RFC 2231 s4, RFC 5987)
    and continuations ``name*0``, ``name*1*`` (RFC 2231 s3) are decoded with their charset
    and win over a plain ``name``. Plain values are UTF-8 when valid (RFC 7578 s4.2), else
    Latin-1, and RFC 2047 encoded-words in them are decoded. Unknown charsets fall back to
    UTF-8 or Latin-1; nothing raises.
    """
    main, raw_params = _split_params(value.decode("latin-1"))
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, raw in raw_params:
        base, star, rest = name.partition("*")
        if not star:
            params.setdefault(name, _decode_encoded_words(_decode_plain(raw)))
        elif not rest:
            extended.setdefault(base, _decode_extended(raw))
        else:
            number = rest[:-1] if rest.endswith("*") else rest
            if number.isascii() and number.isdigit() and (number == "0" or number[0] != "0"):
                sections.setdefault(base, {}).setdefault(int(number), (raw, rest.endswith("*")))
    for base, parts in sections.items():
        joined = _join_sections(parts)
        if joined is not None:
            params[base] = joined
    params.update(extended)
    return main.lower(), params


def _split_params(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Main value and raw (name, value) pairs; quotes and escapes removed, nothing decoded."""
    semicolon = text.find(";")
    if semicolon < 0:
        return text.strip(" \t\r\n"), []
    main = text[:semicolon].strip(" \t\r\n")
    params: list[tuple[str, str]] = []
    i = semicolon + 1
    size = len(text)
    while i < size:
        equals = text.find("=", i)
        next_semicolon = text.find(";", i)
        if equals < 0 or (0 <= next_semicolon < equals):
            if next_semicolon < 0:
                break
            i = next_semicolon + 1  # a parameter without a value: skipped
            continue
        name = text[i:equals].strip(" \t\r\n").lower()
        j = equals + 1
        while j < size and text[j] in " \t\r\n":
            j += 1
        if j < size and text[j] == '"':
            chars: list[str] = []
            j += 1
            while j < size:
                char = text[j]
                if char == '"':
                    j += 1
                    break
                if char == "\\" and j + 1 < size and text[j + 1] in '"\\':
                    j += 1
                    char = text[j]
                chars.append(char)
                j += 1
            raw = "".join(chars)
            end = text.find(";", j)
            i = size if end < 0 else end + 1
        else:
            end = text.find(";", j)
            if end < 0:
                end = size
            raw = text[j:end].strip(" \t\r\n")
            i = end + 1
        if name:
            params.append((name, raw))
    return main, params


def _decode_plain(raw: str) -> str:
    """A value that arrived as Latin-1 characters: UTF-8 when it is, else Latin-1."""
    data = raw.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _decode_extended(raw: str) -> str:
    """charset'language'percent-encoded (RFC 2231 s4, RFC 5987 s3.2)."""
    pieces = raw.split("'", 2)
    if len(pieces) == 3:
        charset, _, encoded = pieces
    else:
        charset, encoded = "", raw
    return _decode_charset(unquote_to_bytes(encoded), charset)


def _join_sections(parts: dict[int, tuple[str, bool]]) -> str | None:
    """Join continuations 0, 1, 2... (RFC 2231 s3); a missing number ends the value."""
    if 0 not in parts:
        return None
    first_raw, first_extended = parts[0]
    charset = ""
    chunks: list[bytes] = []
    number = 0
    while number in parts:
        raw, extended = parts[number]
        if extended:
            if number == 0:
                pieces = first_raw.split("'", 2)
                if len(pieces) == 3:
                    charset, raw = pieces[0], pieces[2]
            chunks.append(unquote_to_bytes(raw))
        else:
            chunks.append(raw.encode("latin-1"))
        number += 1
    data = b"".join(chunks)
    if first_extended:
        return _decode_charset(data, charset)
    return _decode_encoded_words(_decode_charset(data, ""))


def _decode_charset(data: bytes, charset: str) -> str:
    """Decode with a charset named on the wire; fall back to UTF-8, then Latin-1."""
    charset = charset.split("*", 1)[0].strip()
    if charset:
        try:
            codec = codecs.lookup(charset).name.replace("_", "-")
            if codec not in _REFUSED_CODECS:
                return data.decode(codec)
        except (LookupError, ValueError):  # unknown or non-text codec; undecodable bytes
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded-words; white space between two of them goes (s6.2)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    last = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(text):
        between = text[last : match.start()]
        if not (previous_was_word and not between.strip(" \t\r\n")):
            out.append(between)
        charset, encoding, payload = match.groups()
        try:
            if encoding in "bB":
                data = base64.b64decode(payload + "=" * (-len(payload) % 4))
            else:
                data = binascii.a2b_qp(payload.encode("ascii"), header=True)
        except ValueError:  # binascii.Error: not base64 after all; keep the word as sent
            out.append(match.group(0))
        else:
            out.append(_decode_charset(data, charset))
        last = match.end()
        previous_was_word = True
    out.append(text[last:])
    return "".join(out)
