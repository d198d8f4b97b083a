"""Content tracking: size, hashes, sniffed type, gaps and caps of one stream of content.

Sans-IO: the bytes go to a ``ContentWriter`` handed in by the engine (a file store, a
memory store in tests, or nothing when content is not kept); hashing happens here, while
the bytes pass, so content is never read twice.
"""

from __future__ import annotations

import hashlib
from typing import Final, Protocol

from wiresift.extract.sniff import sniff_media_type
from wiresift.model import ContentItem, Gap, JsonValue

# Bytes kept from the start of a content for media-type sniffing.
SNIFF_BYTES: Final = 512
# Zero bytes hashed per update when filling a gap (bounded temporary allocation).
_ZERO_BLOCK: Final = bytes(1 << 16)


def _hash_zeros(digest: hashlib._Hash, size: int) -> None:
    while size > 0:
        step = min(size, len(_ZERO_BLOCK))
        digest.update(_ZERO_BLOCK[:step] if step < len(_ZERO_BLOCK) else _ZERO_BLOCK)
        size -= step


class ContentWriter(Protocol):
    """Where the bytes of one content item go (implemented under outputs/)."""

    def write(self, data: bytes) -> None: ...

    def commit(self, sha256: str) -> str | None:
        """Make the content durable under its hash; return its path relative to the output."""
        ...

    def discard(self) -> None: ...


class ContentStore(Protocol):
    """Opens writers; one store per run."""

    def open(self) -> ContentWriter: ...


class _NullWriter:
    __slots__ = ()

    def write(self, data: bytes) -> None:
        return None

    def commit(self, sha256: str) -> str | None:
        return None

    def discard(self) -> None:
        return None


class NullStore:
    """A store that keeps nothing (passports only)."""

    def open(self) -> ContentWriter:
        return _NullWriter()


class ContentTracker:
    """Follows one content item from its first byte to its end."""

    __slots__ = (
        "_filled",
        "_head",
        "_md5",
        "_sha256",
        "_writer",
        "declared_type",
        "encodings",
        "extra",
        "gaps",
        "limit",
        "name",
        "offset",
        "role",
        "seen",
        "stored",
        "truncated",
    )

    def __init__(
        self,
        writer: ContentWriter,
        *,
        role: str,
        name: str | None,
        declared_type: str | None,
        limit: int,
    ) -> None:
        self._writer = writer
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5()
        # Hash of the content with holes filled by zero bytes, started at the first hole:
        # the convention of Zeek's file extraction, which writes each byte at its offset.
        self._filled: hashlib._Hash | None = None
        self._head = b""
        self.role = role
        self.name = name
        self.declared_type = declared_type
        self.limit = limit
        self.offset = 0  # content offset, gaps included
        self.seen = 0  # bytes actually seen (gaps excluded)
        self.stored = 0
        self.gaps: list[Gap] = []
        self.truncated: str | None = None
        self.encodings: tuple[str, ...] = ()
        self.extra: dict[str, JsonValue] = {}

    def write(self, data: bytes) -> None:
        """Append bytes; past the limit they are counted but not stored or hashed."""
        if not data:
            return
        size = len(data)
        self.offset += size
        self.seen += size
        if self.truncated is not None:
            return
        room = self.limit - self.stored
        if size > room:
            data = data[:room]
            size = room
            self.truncated = "size_limit"
        if len(self._head) < SNIFF_BYTES:
            self._head += data[: SNIFF_BYTES - len(self._head)]
        self._sha256.update(data)
        self._md5.update(data)
        if self._filled is not None:
            self._filled.update(data)
        self._writer.write(data)
        self.stored += size

    def gap(self, size: int) -> None:
        """``size`` bytes of this content were never captured."""
        if size <= 0:
            return
        self.gaps.append(Gap(offset=self.offset, size=size))
        self.offset += size
        if self.truncated is None:
            if self._filled is None:
                self._filled = self._sha256.copy()
            _hash_zeros(self._filled, size)

    def finish(
        self,
        *,
        complete: bool,
        decode_error: str | None = None,
        expected_size: int | None = None,
    ) -> ContentItem:
        """Close the content and describe it.

        ``expected_size`` is the length the protocol announced (HTTP Content-Length): a
        content that ended short of it has its missing tail counted like a gap in the
        zero-filled hash.
        """
        sha256 = self._sha256.hexdigest()
        extra = dict(self.extra)
        missing = 0
        if expected_size is not None and self.truncated is None:
            missing = max(0, expected_size - self.offset)
            extra["expected_size"] = expected_size
        if (self.gaps or missing) and self.truncated is None:
            if self._filled is None:
                self._filled = self._sha256.copy()
            _hash_zeros(self._filled, missing)
            extra["filled_sha256"] = self._filled.hexdigest()
        path = self._writer.commit(sha256)
        return ContentItem(
            role=self.role,
            name=self.name,
            path=path,
            size=self.stored,
            sha256=sha256,
            md5=self._md5.hexdigest(),
            media_type=sniff_media_type(self._head),
            declared_type=self.declared_type,
            complete=complete and not self.gaps and not missing and self.truncated is None,
            gaps=tuple(self.gaps),
            truncated=self.truncated,
            encodings=self.encodings,
            decode_error=decode_error,
            extra=extra,
        )

    def abandon(self) -> None:
        """Drop the content (nothing was worth keeping)."""
        self._writer.discard()
