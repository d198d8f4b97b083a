"""Events of the HTTP/1.x parser (RFC 9112).

A message is a head (``RequestHead`` or ``ResponseHead``), then zero or more ``BodyData`` /
``BodyGap`` pieces, then exactly one ``MessageEnd``. An interim (1xx) response is a message
of its own with no body; the final response of the same ``tx`` follows it. Request ``n``
and its response share ``tx`` ``n``. Wire data stays ``bytes``; header names keep the case
they were sent in (compare them with ``.lower()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from wiresift.protocols.base import Event

# (name, value) pairs in wire order; values are trimmed, obs-fold lines joined with SP.
Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHead(Event):
    """Request line and header section (RFC 9112 s3, s5)."""

    tx: int
    method: bytes
    target: bytes
    version: bytes  # b"1.1", b"1.0"; b"0.9" for a bare "GET /" line
    headers: Headers


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHead(Event):
    """Status line and header section (RFC 9112 s4, s5).

    ``interim`` is true for 1xx other than 101: the final response of the same ``tx``
    follows.
    """

    tx: int
    status: int
    reason: bytes
    version: bytes
    headers: Headers
    interim: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyData(Event):
    """A piece of message body, de-chunked; ``direction`` tells request from response."""

    tx: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyGap(Event):
    """``size`` bytes of the body at this point were not captured."""

    tx: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEnd(Event):
    """The message of ``tx`` in ``direction`` is over.

    ``complete`` is false when the framing was cut short; ``reason`` then says why:
    ``eof_before_length``, ``eof_in_chunked``, ``eof_in_head``, ``gap``,
    ``bad_chunk_size``, ``header_too_long``, ``line_too_long``, ``protocol_switch``.
    ``trailers`` holds the trailer section of a chunked body (RFC 9112 s7.1.2).
    """

    tx: int
    complete: bool = True
    reason: str = ""
    trailers: Headers = ()
