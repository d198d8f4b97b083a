"""ByteBuffer: the receive buffer the HTTP/1 parser (and every line protocol) reads from."""

from __future__ import annotations

from typing import SupportsIndex

from wiresift.protocols._buffer import ByteBuffer


class _FindSpy(bytearray):
    """A bytearray that records where each search started."""

    starts: list[int]

    def find(  # type: ignore[override]
        self, sub: bytes, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        self.starts.append(int(start or 0))
        return super().find(sub, start, end)


def _spied(buf: ByteBuffer) -> _FindSpy:
    spy = _FindSpy()
    spy.starts = []
    buf._data = spy
    return spy


def test_take_line_strips_crlf_and_bare_lf() -> None:
    """Lines come without their terminator; last_line_bare_lf tells which one it was."""
    buf = ByteBuffer()
    buf.push(b"one\r\ntwo\n\r\nrest")
    assert buf.take_line(100) == b"one"
    assert buf.last_line_bare_lf is False
    assert buf.take_line(100) == b"two"
    assert buf.last_line_bare_lf is True
    assert buf.take_line(100) == b""
    assert buf.last_line_bare_lf is False
    assert buf.take_line(100) is None
    assert len(buf) == 4


def test_take_line_respects_max_len() -> None:
    """A line whose LF lies past max_len is not returned; the caller sees len >= max_len."""
    buf = ByteBuffer()
    buf.push(b"abcdefgh\r\n")
    assert buf.take_line(8) is None
    assert len(buf) == 10
    assert buf.take_line(10) == b"abcdefgh"


def test_line_search_never_rescans() -> None:
    """A line arriving a byte at a time is searched from where the last search stopped."""
    buf = ByteBuffer()
    spy = _spied(buf)
    for byte in b"GET / HTTP/1.1":
        buf.push(bytes([byte]))
        assert buf.take_line(1000) is None
    buf.push(b"\r\n")
    assert buf.take_line(1000) == b"GET / HTTP/1.1"
    assert spy.starts == [*range(14), 14]


def test_take_block_finds_the_empty_line() -> None:
    """take_block returns everything through the first empty line, CRLF or bare LF."""
    buf = ByteBuffer()
    buf.push(b"A: 1\r\nB: 2\r\n\r\nbody")
    assert buf.take_block(1000) == b"A: 1\r\nB: 2\r\n\r\n"
    assert buf.take_all() == b"body"
    buf.push(b"A: 1\nB: 2\n\nbody")
    assert buf.take_block(1000) == b"A: 1\nB: 2\n\n"
    buf.clear()
    buf.push(b"A: 1\r\n\nbody")
    assert buf.take_block(1000) == b"A: 1\r\n\n"


def test_take_block_may_be_empty() -> None:
    """A section with no fields is the empty line alone."""
    buf = ByteBuffer()
    buf.push(b"\r\nnext")
    assert buf.take_block(1000) == b"\r\n"
    buf.clear()
    buf.push(b"\nnext")
    assert buf.take_block(1000) == b"\n"
    buf.clear()
    buf.push(b"\r")
    assert buf.take_block(1000) is None
    buf.push(b"\n")
    assert buf.take_block(1000) == b"\r\n"


def test_take_block_across_pushes_without_rescanning() -> None:
    """A terminator split between pushes is found; each search resumes near its end."""
    buf = ByteBuffer()
    spy = _spied(buf)
    for piece in (b"Host: a\r\n", b"X: y\r", b"\n\r", b"\n"):
        result = buf.take_block(1000)
        assert result is None
        buf.push(piece)
    assert buf.take_block(1000) == b"Host: a\r\nX: y\r\n\r\n"
    # Two finds per search (CRLF and bare-LF forms), each from at most 2 bytes back.
    assert spy.starts[::2] == [0, 0, 7, 12, 14]


def test_take_block_respects_max_len() -> None:
    """A block that does not end within max_len is not returned."""
    buf = ByteBuffer()
    buf.push(b"A: 1\r\nB: 2\r\n\r\n")
    assert buf.take_block(13) is None
    assert buf.take_block(14) == b"A: 1\r\nB: 2\r\n\r\n"


def test_take_exact_and_take_upto() -> None:
    """take_exact waits for n bytes; take_upto returns what is there, up to n."""
    buf = ByteBuffer()
    buf.push(b"abc")
    assert buf.take_exact(4) is None
    assert buf.take_upto(2) == b"ab"
    buf.push(b"def")
    assert buf.take_exact(4) == b"cdef"
    assert buf.take_upto(10) == b""
    assert not buf


def test_peek_skip_unshift_and_clear() -> None:
    """peek does not consume; skip drops; unshift puts bytes back at the front."""
    buf = ByteBuffer()
    buf.push(b"hello world")
    assert buf.peek(5) == b"hello"
    buf.skip(6)
    assert buf.peek(100) == b"world"
    buf.unshift(b"big ")
    assert buf.startswith(b"big w")
    assert buf.take_line(100) is None
    buf.skip(1000)
    assert len(buf) == 0
    buf.push(b"x")
    buf.clear()
    assert not buf


def test_search_reports_offsets_from_the_front() -> None:
    """search finds a pattern in the unconsumed bytes."""
    import re  # noqa: PLC0415

    buf = ByteBuffer()
    buf.push(b"xxGET / HTTP/1.1")
    buf.skip(1)
    match = buf.search(re.compile(rb"GET "))
    assert match is not None
    assert match.start() == 1


def test_consumed_bytes_are_released() -> None:
    """Streaming 1 MiB through in pieces keeps only the unconsumed tail in memory."""
    buf = ByteBuffer()
    total = 0
    for index in range(1, 1025):
        buf.push(b"z" * 1024)
        total += len(buf.take_upto(1000))
        assert len(buf) == 24 * index
        assert len(buf._data) == 24 * index
    assert total == 1000 * 1024
