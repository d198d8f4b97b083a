"""Events of the ICAP parser (RFC 3507) that are not HTTP events.

An ICAP message is a head (``IcapRequestHead`` or ``IcapResponseHead``), then the HTTP
events of what it encapsulates (``wiresift.protocols.http1.events``), then one
``IcapMessageEnd``. ICAP request ``n`` and its response share ``tx`` ``n``; the HTTP
messages they carry use tx ``2n`` for the original exchange and ``2n + 1`` for the adapted
one (see docs/protocols.md). An interim ``100 Continue`` (RFC 3507 s4.5) is a head with
``interim`` set and no end event.
"""

from __future__ import annotations

from dataclasses import dataclass

from wiresift.protocols.base import Event
from wiresift.protocols.http1.events import Headers

# (entity name, offset) pairs of the Encapsulated header in wire order (RFC 3507 s4.4.1).
Encapsulated = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IcapRequestHead(Event):
    """ICAP request line and header section (RFC 3507 s4.3.2)."""

    tx: int
    method: bytes  # b"REQMOD", b"RESPMOD", b"OPTIONS" or an extension method
    uri: bytes
    version: bytes  # b"1.0"
    headers: Headers
    encapsulated: Encapsulated
    preview: int | None = None  # the Preview header (RFC 3507 s4.5)


@dataclass(frozen=True, slots=True, kw_only=True)
class IcapResponseHead(Event):
    """ICAP status line and header section (RFC 3507 s4.3.3)."""

    tx: int
    status: int
    reason: bytes
    version: bytes
    headers: Headers
    encapsulated: Encapsulated
    interim: bool = False  # 100 Continue after a preview


@dataclass(frozen=True, slots=True, kw_only=True)
class IcapMessageEnd(Event):
    """The ICAP message of ``tx`` in ``direction`` is over.

    ``complete`` is false when its framing was cut short; ``reason`` then says why
    (``eof``, ``gap``, ``bad_chunk_size``, ``header_too_long``, ``bad_encapsulated``).
    """

    tx: int
    complete: bool = True
    reason: str = ""
