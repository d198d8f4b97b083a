"""ByteBuffer: the receive buffer of every line- or length-framed parser.

Theory of operation: bytes are appended at the end and consumed from the front. Consuming
deletes the front of a ``bytearray``, which CPython does in O(1) by moving the start of the
array (bpo-19087); the live bytes are moved only when the array is reallocated, so the
cost per byte stays amortised O(1). Searches remember how far they got (h11's
``ReceiveBuffer`` does the same), so a line that arrives one byte at a time is scanned once
in total, not once per byte.

The buffer itself has no cap: the parser that owns it checks ``len()`` against its
``Limits`` field after each ``push`` and decides what to drop.
"""

from __future__ import annotations

import re
from typing import Final

_LF: Final = b"\n"
_CR: Final = 0x0D


class ByteBuffer:
    """A growable byte buffer with incremental line and pattern searches."""

    __slots__ = ("_block_scan", "_data", "_line_scan", "last_line_bare_lf")

    def __init__(self) -> None:
        self._data = bytearray()
        # No LF exists in _data[:_line_scan]; the next line search starts there.
        self._line_scan = 0
        # No end of a block (empty line) starts before _block_scan.
        self._block_scan = 0
        # Whether the line last returned by take_line ended in a bare LF (no CR).
        self.last_line_bare_lf = False

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def push(self, data: bytes) -> None:
        """Append ``data`` at the end."""
        self._data += data

    def _consume(self, n: int) -> None:
        del self._data[:n]
        self._line_scan = self._line_scan - n if self._line_scan > n else 0
        self._block_scan = self._block_scan - n if self._block_scan > n else 0

    def line_end(self, max_len: int) -> int:
        """Offset just past the first LF if it lies within ``max_len`` bytes, else -1.

        The search resumes where the previous one stopped, so repeated calls while a line
        trickles in cost O(new bytes).
        """
        data = self._data
        end = max(0, min(len(data), max_len))
        index = data.find(_LF, self._line_scan, end)
        if index < 0:
            self._line_scan = end
            return -1
        self._line_scan = index
        return index + 1

    def take_line(self, max_len: int) -> bytes | None:
        """Remove and return the next line without its CRLF or bare LF.

        Returns None when no LF lies within the first ``max_len`` bytes; the caller tells
        "need more" from "line too long" by comparing ``len(self)`` with ``max_len``.
        ``last_line_bare_lf`` says whether the line ended in a bare LF.
        """
        end = self.line_end(max_len)
        if end < 0:
            return None
        data = self._data
        if end > 1 and data[end - 2] == _CR:
            line = bytes(data[: end - 2])
            self.last_line_bare_lf = False
        else:
            line = bytes(data[: end - 1])
            self.last_line_bare_lf = True
        self._consume(end)
        return line

    def take_block(self, max_len: int) -> bytes | None:
        """Remove and return the bytes through the first empty line (CRLF or bare LF).

        This is the end of a header section (RFC 9112 s2.1, RFC 5322 s2.1); the block may
        be the empty line alone. Returns None when the block does not end within
        ``max_len`` bytes (as for ``take_line``). Searches resume where they stopped.
        """
        data = self._data
        end = max(0, min(len(data), max_len))
        scan = self._block_scan
        if not scan and end:
            # The empty line may be the very first one.
            if data[:1] == b"\n":
                return self._take(1)
            if data[:2] == b"\r\n" and end >= 2:
                return self._take(2)
        crlf = data.find(b"\n\r\n", scan, end)
        lf = data.find(b"\n\n", scan, crlf + 2 if crlf >= 0 else end)
        if lf >= 0:
            return self._take(lf + 2)
        if crlf >= 0:
            return self._take(crlf + 3)
        # A terminator may start in the last two bytes and end in the next push.
        self._block_scan = end - 2 if end > 2 else 0
        return None

    def _take(self, n: int) -> bytes:
        block = bytes(self._data[:n])
        self._consume(n)
        return block

    def unshift(self, data: bytes) -> None:
        """Put ``data`` back at the front (a parser that took a line it cannot use)."""
        self._data[:0] = data
        self._line_scan = self._block_scan = 0

    def search(self, pattern: re.Pattern[bytes], start: int = 0) -> re.Match[bytes] | None:
        """First match of ``pattern`` at or after ``start`` (nothing is consumed)."""
        return pattern.search(self._data, start)

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Match of ``pattern`` at the front (nothing is consumed)."""
        return pattern.match(self._data)

    def startswith(self, prefix: bytes) -> bool:
        """Whether the buffered bytes start with ``prefix``."""
        return self._data.startswith(prefix)

    def take_line_end(self) -> int | None:
        """Remove a line end at the front: 2 for CRLF, 1 for a bare LF, 0 (nothing removed)
        when the front is no line end, None while it cannot be told yet (empty, or a lone
        CR). The end of a chunk's data is one (RFC 9112 s7.1)."""
        data = self._data
        if not data:
            return None
        if data.startswith(b"\r\n"):
            self._consume(2)
            return 2
        if data[0] == 0x0A:
            self._consume(1)
            return 1
        if len(data) == 1 and data[0] == 0x0D:
            return None
        return 0

    def take_exact(self, n: int) -> bytes | None:
        """Remove and return exactly ``n`` bytes, or None while fewer are buffered."""
        if len(self._data) < n:
            return None
        block = bytes(self._data[:n])
        self._consume(n)
        return block

    def take_upto(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes: whatever is there (for streamed bodies)."""
        data = self._data
        if n >= len(data):
            block = bytes(data)
            data.clear()
            self._line_scan = self._block_scan = 0
            return block
        block = bytes(data[:n])
        self._consume(n)
        return block

    def take_all(self) -> bytes:
        """Remove and return everything buffered."""
        block = bytes(self._data)
        self.clear()
        return block

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front, without consuming them."""
        return bytes(self._data[:n])

    def skip(self, n: int) -> None:
        """Drop ``n`` bytes from the front (all of them if fewer are buffered)."""
        if n >= len(self._data):
            self.clear()
        else:
            self._consume(n)

    def clear(self) -> None:
        """Drop everything buffered."""
        self._data.clear()
        self._line_scan = self._block_scan = 0
