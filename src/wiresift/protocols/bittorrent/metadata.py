"""The torrent's info dictionary, reassembled from ut_metadata pieces (BEP 9) and summarised.

BEP 9 sends the info dictionary in 16 KiB pieces (the last one shorter); joined, its SHA-1
must equal the info-hash of the handshake (BEP 3; a v2 torrent's truncated SHA-256, BEP 52).
The summary holds what identifies the content: name, files with their sizes, total length,
piece length and count (BEP 3 "info dictionary").
"""

from __future__ import annotations

import hashlib
from typing import Final

from wiresift.model import JsonValue
from wiresift.protocols.bittorrent.bencode import BValue, decode

METADATA_PIECE: Final = 16 * 1024
# Largest info dict reassembled. 100 GB in 4 MiB pieces is 500 KB of piece hashes; this
# leaves room for huge file lists and stays far below what a lying peer could claim.
MAX_METADATA_SIZE: Final = 8 * 1024 * 1024
# Files listed in a summary (the count and total always cover all of them).
MAX_LISTED_FILES: Final = 64
# Values decoded from one info dict (a file entry is about four).
MAX_INFO_ITEMS: Final = 1_000_000


class MetadataAssembler:
    """Pieces of one info dict (one sender), until every piece has arrived."""

    __slots__ = ("count", "pieces", "size", "stored")

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = (size + METADATA_PIECE - 1) // METADATA_PIECE
        self.pieces: dict[int, bytes] = {}
        self.stored = 0

    def add(self, index: int, data: bytes) -> str:
        """Keep one piece; "" or a problem name (``bad_piece``)."""
        if not 0 <= index < self.count:
            return "bad_piece"
        expected = min(METADATA_PIECE, self.size - index * METADATA_PIECE)
        if len(data) != expected:
            return "bad_piece"
        if index not in self.pieces:
            self.pieces[index] = data
            self.stored += len(data)
        return ""

    def complete(self) -> bytes | None:
        """The whole info dict once every piece is there."""
        if len(self.pieces) < self.count:
            return None
        return b"".join(self.pieces[i] for i in range(self.count))


def _text(value: BValue | None) -> str | None:
    if not isinstance(value, bytes):
        return None
    return value.decode("utf-8", "backslashreplace")


def verify(info: bytes, info_hash: bytes) -> str | None:
    """Which hash of ``info`` equals ``info_hash``: "sha1" (v1), "sha256" (v2) or None."""
    if hashlib.sha1(info).digest() == info_hash:
        return "sha1"
    if hashlib.sha256(info).digest()[:20] == info_hash:
        return "sha256"
    return None


def describe_info(info: bytes) -> tuple[dict[str, JsonValue], str]:
    """The summary of a bencoded info dict, and a problem name ("" when it decoded)."""
    value, problem = decode(info, max_items=MAX_INFO_ITEMS)
    if problem:
        return {}, problem
    if not isinstance(value, dict):
        return {}, "malformed"
    name = _text(value.get(b"name.utf-8")) or _text(value.get(b"name"))
    summary: dict[str, JsonValue] = {"torrent_name": name}
    piece_length = value.get(b"piece length")
    if isinstance(piece_length, int):
        summary["torrent_piece_length"] = piece_length
    pieces = value.get(b"pieces")
    if isinstance(pieces, bytes):
        summary["torrent_pieces"] = len(pieces) // 20
    if value.get(b"private") == 1:
        summary["torrent_private"] = True
    files: list[JsonValue] = []
    total = 0
    count = 0
    length = value.get(b"length")
    entries = value.get(b"files")
    if isinstance(length, int):
        count, total = 1, length
        files.append({"path": name, "length": length})
    elif isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            size = entry.get(b"length")
            parts = entry.get(b"path.utf-8") or entry.get(b"path")
            if not isinstance(size, int) or not isinstance(parts, list):
                continue
            count += 1
            total += size
            if len(files) < MAX_LISTED_FILES:
                path = "/".join(_text(p) or "" for p in parts)
                files.append({"path": path, "length": size})
    elif isinstance(value.get(b"file tree"), dict):
        summary["torrent_meta_version"] = 2  # BEP 52 file tree: not listed here
    summary["torrent_files"] = files
    summary["torrent_file_count"] = count
    summary["torrent_total_length"] = total
    return summary, ""
