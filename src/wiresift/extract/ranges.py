"""Files fetched in pieces: 206 Partial Content responses joined into the whole file.

Download managers, media players and PDF viewers fetch one resource as several byte
ranges (RFC 9110 s14), often over several connections. Each 206 response stays an http
object of its own; the pieces of one resource (same host, target, validator and total
length) are also joined here, and when they cover the whole length the file becomes an
object of its own (Suricata does the same; Zeek and TShark do not). Pieces are held in
memory under named caps; past them the oldest download is given up and reported with the
holes it still had.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from wiresift.model import FlowRef, SourceRef

# Largest file assembled from ranges (a piece of a larger file is only an http object).
MAX_RANGE_FILE: Final = 32 * 1024 * 1024
# Largest piece copied for joining (the copy is held while the response streams).
MAX_RANGE_PIECE: Final = 8 * 1024 * 1024
# Bytes of pieces held for all downloads together; past it the oldest download ends.
MAX_RANGE_MEMORY: Final = 48 * 1024 * 1024

RangeKey = tuple[str, str, str, int]  # host, target, validator (ETag or Last-Modified), total


@dataclass(slots=True)
class Download:
    """The pieces seen so far of one resource."""

    key: RangeKey
    pieces: dict[int, bytes] = field(default_factory=dict)  # start -> bytes
    sources: list[str] = field(default_factory=list)  # ids of the http objects
    name: str | None = None
    declared_type: str | None = None
    ts_first: int = 0
    ts_last: int = 0
    flow: FlowRef | None = None  # of the latest piece
    source: SourceRef | None = None

    @property
    def total(self) -> int:
        return self.key[3]

    def spans(self) -> list[tuple[int, int]]:
        """The covered byte ranges, merged, as (start, end exclusive)."""
        merged: list[tuple[int, int]] = []
        for start in sorted(self.pieces):
            end = start + len(self.pieces[start])
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def complete(self) -> bool:
        return self.spans() == [(0, self.total)]


class RangeAssembler:
    """Collects pieces by resource; sans-IO, bounded."""

    def __init__(self) -> None:
        self._downloads: OrderedDict[RangeKey, Download] = OrderedDict()
        self.held = 0

    def add(
        self,
        key: RangeKey,
        start: int,
        data: bytes,
        *,
        source: str,
        name: str | None,
        declared_type: str | None,
        ts_first: int,
        ts_last: int,
        flow: FlowRef,
        source_ref: SourceRef,
    ) -> list[Download]:
        """One whole piece; returns the downloads that ended (complete, or given up)."""
        total = key[3]
        if not data or total > MAX_RANGE_FILE or start < 0 or start + len(data) > total:
            return []
        ended: list[Download] = []
        download = self._downloads.get(key)
        if download is None:
            download = self._downloads[key] = Download(
                key, name=name, declared_type=declared_type, ts_first=ts_first
            )
        if start in download.pieces and len(download.pieces[start]) >= len(data):
            download.sources.append(source)  # a repeat of a piece already held
            return ended
        self.held += len(data) - len(download.pieces.get(start, b""))
        download.pieces[start] = data
        download.sources.append(source)
        download.flow = flow
        download.source = source_ref
        download.ts_last = max(download.ts_last, ts_last)
        download.ts_first = min(download.ts_first, ts_first)
        if download.complete():
            ended.append(self._pop(key))
        while self.held > MAX_RANGE_MEMORY and self._downloads:
            ended.append(self._pop(next(iter(self._downloads))))
        return ended

    def drain(self) -> list[Download]:
        """Every download still open (end of input); those of one piece are dropped, since
        that piece is already an http object and nothing was joined."""
        ended = [self._pop(key) for key in list(self._downloads)]
        return [d for d in ended if len(d.pieces) > 1]

    def _pop(self, key: RangeKey) -> Download:
        download = self._downloads.pop(key)
        self.held -= sum(len(piece) for piece in download.pieces.values())
        return download
