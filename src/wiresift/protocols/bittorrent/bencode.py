"""Bounded bencode decoder (BEP 3 "bencoding").

Theory of operation: one explicit stack instead of recursion, so a value nested 100,000
deep costs nothing past ``max_depth`` levels; every string length is checked against the
bytes actually present before anything is sliced, so a header claiming 10 MB allocates
nothing; ``max_items`` bounds the values of one document. Problems come back as a name
(``too_deep``, ``too_many_items``, ``truncated``, ``malformed``), never as an exception,
and the caller turns them into ``bittorrent_bencode_<problem>`` anomalies.

Values: ``int``, ``bytes``, ``list`` and ``dict`` with ``bytes`` keys, as on the wire.
"""

from __future__ import annotations

from typing import Final, TypeAlias

BValue: TypeAlias = int | bytes | list["BValue"] | dict[bytes, "BValue"]

# Real documents nest a handful of levels (a DHT reply: 3; an info dict: 4).
DEFAULT_MAX_DEPTH: Final = 32
# Values of one document: an extension handshake holds a few dozen; a large torrent's file
# list tens of thousands.
DEFAULT_MAX_ITEMS: Final = 100_000
# Decimal digits of an integer (BEP 3 integers are unbounded; real ones fit in 64 bits).
MAX_INT_DIGITS: Final = 32

_DIGITS: Final = frozenset(b"0123456789")


class _ProblemError(Exception):
    """Internal: aborts decoding with a problem name (never leaves this module)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def decode_prefix(
    data: bytes,
    start: int = 0,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> tuple[BValue | None, int, str]:
    """Decode one value at ``data[start:]``: (value, end offset, "") or (None, offset, problem).

    Bytes after the value are left alone (ut_metadata data follows its dict, BEP 9).
    """
    try:
        value, end = _decode(data, start, max_depth, max_items)
    except _ProblemError as problem:
        return None, start, problem.name
    return value, end, ""


def decode(
    data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_items: int = DEFAULT_MAX_ITEMS
) -> tuple[BValue | None, str]:
    """Decode a whole document: (value, "") or (None, problem); trailing bytes are a problem."""
    value, end, problem = decode_prefix(data, 0, max_depth=max_depth, max_items=max_items)
    if problem:
        return None, problem
    if end != len(data):
        return None, "trailing_data"
    return value, ""


def _decode(data: bytes, pos: int, max_depth: int, max_items: int) -> tuple[BValue, int]:
    size = len(data)
    # Open containers: the container, and for a dict the key waiting for its value.
    stack: list[tuple[list[BValue] | dict[bytes, BValue], list[bytes | None]]] = []
    items = 0
    while True:
        if pos >= size:
            raise _ProblemError("truncated")
        lead = data[pos]
        value: BValue
        if lead == 0x65 and stack:  # "e" closes the innermost container
            container, pending = stack.pop()
            if pending[0] is not None:
                raise _ProblemError("malformed")  # a dict key without its value
            pos += 1
            value = container
        elif lead in {0x6C, 0x64}:  # "l" or "d"
            if len(stack) >= max_depth:
                raise _ProblemError("too_deep")
            items += 1
            if items > max_items:
                raise _ProblemError("too_many_items")
            stack.append(([] if lead == 0x6C else {}, [None]))
            pos += 1
            continue
        elif lead == 0x69:  # "i<digits>e"
            end = data.find(b"e", pos + 1, pos + 2 + MAX_INT_DIGITS + 1)
            if end < 0:
                raise _ProblemError("truncated" if size - pos < MAX_INT_DIGITS + 3 else "malformed")
            text = data[pos + 1 : end]
            digits = text[1:] if text[:1] == b"-" else text
            if not digits or not _DIGITS.issuperset(digits):
                raise _ProblemError("malformed")
            value = int(text)
            pos = end + 1
        elif lead in _DIGITS:  # "<length>:<bytes>"
            colon = data.find(b":", pos, pos + MAX_INT_DIGITS + 1)
            if colon < 0:
                raise _ProblemError("truncated" if size - pos <= MAX_INT_DIGITS else "malformed")
            digits = data[pos:colon]
            if not _DIGITS.issuperset(digits):
                raise _ProblemError("malformed")
            length = int(digits)
            if colon + 1 + length > size:
                raise _ProblemError("truncated")  # checked before any slice: no big allocation
            value = data[colon + 1 : colon + 1 + length]
            pos = colon + 1 + length
        else:
            raise _ProblemError("malformed")
        items += 1
        if items > max_items:
            raise _ProblemError("too_many_items")
        # Attach the finished value to its parent, or return it at the top.
        if not stack:
            return value, pos
        container, pending = stack[-1]
        if isinstance(container, list):
            container.append(value)
        elif pending[0] is None:
            if not isinstance(value, bytes):
                raise _ProblemError("malformed")  # dict keys are strings (BEP 3)
            pending[0] = value
        else:
            container[pending[0]] = value
            pending[0] = None
