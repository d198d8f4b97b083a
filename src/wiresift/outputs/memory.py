"""In-memory sink and content store, for tests and embedding."""

from __future__ import annotations

from wiresift.model import ObjectRecord


class _MemoryWriter:
    __slots__ = ("_chunks", "_store")

    def __init__(self, store: MemoryContentStore) -> None:
        self._store = store
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._chunks.append(data)

    def commit(self, sha256: str) -> str:
        self._store.blobs[sha256] = b"".join(self._chunks)
        return f"memory/{sha256}"

    def discard(self) -> None:
        self._chunks.clear()


class MemoryContentStore:
    """Keeps every committed content in ``blobs`` keyed by sha256."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def open(self) -> _MemoryWriter:
        return _MemoryWriter(self)


class MemorySink:
    """Collects records in ``records``."""

    def __init__(self) -> None:
        self.records: list[ObjectRecord] = []

    def emit(self, record: ObjectRecord, encoded: bytes) -> None:
        self.records.append(record)

    def close(self) -> None:
        return None
