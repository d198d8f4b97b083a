"""Media type of content from its first bytes.

Binary formats are recognised from the magic numbers their specifications publish, kept as
one table; text formats follow the WHATWG MIME Sniffing Standard (s7.1: leading white space
skipped, HTML tags matched case-insensitively and ended by a space or ">", the binary-byte
test). Only the first SNIFF_LENGTH bytes are read, as in that standard (s5.1, 512 bytes).
"""

from __future__ import annotations

import re
from typing import Final

SNIFF_LENGTH: Final = 512
OCTET_STREAM: Final = "application/octet-stream"

_Rule = tuple[tuple[tuple[int, bytes], ...], str]

# (every (offset, magic) that must match, media type); the first matching row wins, so a
# row that refines another comes before it.
SIGNATURES: Final[tuple[_Rule, ...]] = (
    (((0, b"%PDF-"),), "application/pdf"),
    (((0, b"\x89PNG\r\n\x1a\n"),), "image/png"),
    (((0, b"GIF87a"),), "image/gif"),
    (((0, b"GIF89a"),), "image/gif"),
    (((0, b"\xff\xd8\xff"),), "image/jpeg"),
    (((0, b"RIFF"), (8, b"WEBP")), "image/webp"),
    (((0, b"RIFF"), (8, b"WAVE")), "audio/wav"),
    (((0, b"RIFF"), (8, b"AVI ")), "video/x-msvideo"),
    (((0, b"BM"), (6, b"\x00\x00\x00\x00")), "image/bmp"),  # bfReserved1/2 are zero
    (((0, b"\x00\x00\x01\x00"),), "image/vnd.microsoft.icon"),
    (((0, b"II*\x00"),), "image/tiff"),
    (((0, b"MM\x00*"),), "image/tiff"),
    (((0, b"8BPS"),), "image/vnd.adobe.photoshop"),
    (((4, b"ftypavif"),), "image/avif"),
    (((4, b"ftypheic"),), "image/heic"),
    (((4, b"ftypheix"),), "image/heic"),
    (((4, b"ftypmif1"),), "image/heif"),
    (((4, b"ftypqt  "),), "video/quicktime"),
    (((4, b"ftypM4A "),), "audio/mp4"),
    (((4, b"ftyp3gp"),), "video/3gpp"),
    (((4, b"ftyp"),), "video/mp4"),
    (((0, b"PK\x03\x04"),), "application/zip"),  # refined by _refine_zip
    (((0, b"PK\x05\x06"),), "application/zip"),  # empty archive
    (((0, b"PK\x07\x08"),), "application/zip"),  # spanned archive
    (((0, b"\x1f\x8b\x08"),), "application/gzip"),
    (((0, b"BZh"),), "application/x-bzip2"),
    (((0, b"\xfd7zXZ\x00"),), "application/x-xz"),
    (((0, b"7z\xbc\xaf\x27\x1c"),), "application/x-7z-compressed"),
    (((0, b"Rar!\x1a\x07\x00"),), "application/vnd.rar"),
    (((0, b"Rar!\x1a\x07\x01\x00"),), "application/vnd.rar"),
    (((0, b"\x28\xb5\x2f\xfd"),), "application/zstd"),
    (((0, b"MSCF\x00\x00\x00\x00"),), "application/vnd.ms-cab-compressed"),
    (((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), "application/x-ole-storage"),
    (((0, b"MZ"),), "application/x-dosexec"),  # refined by _refine_mz
    (((0, b"\x7fELF"),), "application/x-executable"),
    (((0, b"\xfe\xed\xfa\xce"),), "application/x-mach-binary"),
    (((0, b"\xfe\xed\xfa\xcf"),), "application/x-mach-binary"),
    (((0, b"\xce\xfa\xed\xfe"),), "application/x-mach-binary"),
    (((0, b"\xcf\xfa\xed\xfe"),), "application/x-mach-binary"),
    (((0, b"\xca\xfe\xba\xbe"),), "application/java-vm"),  # refined by _refine_cafebabe
    (((0, b"dex\n"),), "application/vnd.android.dex"),
    (((0, b"\x00asm"),), "application/wasm"),
    (((0, b"ID3"),), "audio/mpeg"),
    (((0, b"\xff\xfb"),), "audio/mpeg"),  # MPEG-1 layer III frame sync
    (((0, b"\xff\xf3"),), "audio/mpeg"),  # MPEG-2 layer III
    (((0, b"\xff\xf2"),), "audio/mpeg"),
    (((0, b"OggS\x00"),), "audio/ogg"),
    (((0, b"fLaC"),), "audio/flac"),
    (((0, b"\x1aE\xdf\xa3"),), "video/x-matroska"),  # refined by _refine_matroska
    (((0, b"wOFF"),), "font/woff"),
    (((0, b"wOF2"),), "font/woff2"),
    (((0, b"\x00\x01\x00\x00\x00"),), "font/ttf"),  # sfnt 1.0, numTables < 256
    (((0, b"true\x00"),), "font/ttf"),
    (((0, b"OTTO"),), "font/otf"),
    (((0, b"ttcf"),), "font/collection"),
    (((0, b"SQLite format 3\x00"),), "application/vnd.sqlite3"),
    (((0, b"%!PS"),), "application/postscript"),
    (((0, b"{\\rtf"),), "application/rtf"),
    (((0, b"\xd4\xc3\xb2\xa1"),), "application/vnd.tcpdump.pcap"),
    (((0, b"\xa1\xb2\xc3\xd4"),), "application/vnd.tcpdump.pcap"),
    (((0, b"\x4d\x3c\xb2\xa1"),), "application/vnd.tcpdump.pcap"),  # nanosecond pcap
    (((0, b"\xa1\xb2\x3c\x4d"),), "application/vnd.tcpdump.pcap"),
    (((0, b"\x0a\x0d\x0d\x0a"),), "application/x-pcapng"),
)

# WHATWG MIME Sniffing s7.1: tags that open an HTML document, each ended by SP or ">".
_HTML_TAGS: Final = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
)
# Any of those tags, ended by SP or ">", ASCII case-insensitive (one match instead of a loop).
_HTML_TAG: Final = re.compile(
    b"(?:" + b"|".join(re.escape(tag) for tag in _HTML_TAGS) + b")[ >]", re.IGNORECASE
)
# How far into the content the tags are looked for.
_TAG_WINDOW: Final = 64
_WHITESPACE: Final = b"\t\n\x0c\r "
# WHATWG MIME Sniffing s4.6 binary data bytes (ESC 0x1B is allowed in text).
_BINARY_BYTES: Final = bytes((*range(0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)))
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xfe\xff", b"\xff\xfe")

# The first entry of a ZIP archive tells the container formats apart (APPNOTE 4.3.7: the
# name starts at offset 30; ODF and EPUB store "mimetype" first, uncompressed, OASIS ODF 1.2
# part 3 s3.3 and EPUB OCF 3 s4.3).
_ZIP_NAME_OFFSET: Final = 30
_ZIP_FIRST_ENTRY: Final = (
    (b"META-INF/MANIFEST.MF", "application/java-archive"),
    (b"META-INF/", "application/java-archive"),
    (b"AndroidManifest.xml", "application/vnd.android.package-archive"),
    (b"classes.dex", "application/vnd.android.package-archive"),
)
_OOXML_PARTS: Final = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)


def _candidates_by_first_byte() -> tuple[
    tuple[tuple[tuple[tuple[int, bytes], ...], str], ...], ...
]:
    """For each value of the first byte, the signatures that can match, in table order."""
    return tuple(
        tuple(
            (checks, media_type)
            for checks, media_type in SIGNATURES
            if not any(offset == 0 and magic[0] != first for offset, magic in checks if magic)
        )
        for first in range(256)
    )


# Looked up by the first byte so that only a handful of signatures are tried per content.
_CANDIDATES: Final = _candidates_by_first_byte()


def sniff_media_type(head: bytes) -> str | None:
    """Media type of content that starts with ``head``; None when ``head`` is empty."""
    if not head:
        return None
    head = head[:SNIFF_LENGTH]
    for checks, media_type in _CANDIDATES[head[0]]:
        for offset, magic in checks:
            if not head.startswith(magic, offset):
                break
        else:
            return _refine(head, media_type)
    return _sniff_text(head)


def _refine(head: bytes, media_type: str) -> str:
    if media_type == "application/zip":
        return _refine_zip(head)
    if media_type == "application/x-dosexec":
        return _refine_mz(head)
    if media_type == "application/java-vm":
        return _refine_cafebabe(head)
    if media_type == "video/x-matroska" and b"webm" in head[:64]:
        return "video/webm"  # EBML DocType (RFC 9559 s8.1)
    return media_type


def _refine_zip(head: bytes) -> str:
    if not head.startswith(b"PK\x03\x04") or len(head) < _ZIP_NAME_OFFSET:
        return "application/zip"
    name_length = int.from_bytes(head[26:28], "little")
    extra_length = int.from_bytes(head[28:30], "little")
    name = head[_ZIP_NAME_OFFSET : _ZIP_NAME_OFFSET + name_length]
    if name == b"mimetype":
        start = _ZIP_NAME_OFFSET + name_length + extra_length
        stored = head[start : start + int.from_bytes(head[18:22], "little")]
        if stored.startswith(b"application/") and stored.isascii() and b" " not in stored:
            return stored.decode("ascii")
    if name == b"[Content_Types].xml":
        for marker, media_type in _OOXML_PARTS:
            if marker in head:
                return media_type
    for first, media_type in _ZIP_FIRST_ENTRY:
        if name == first:
            return media_type
    return "application/zip"


def _refine_mz(head: bytes) -> str:
    """MZ with a "PE\\0\\0" header at e_lfanew (offset 0x3C) is a PE image."""
    if len(head) >= 0x40:
        pe_offset = int.from_bytes(head[0x3C:0x40], "little")
        if head.startswith(b"PE\x00\x00", pe_offset):
            return "application/vnd.microsoft.portable-executable"
    return "application/x-dosexec"


def _refine_cafebabe(head: bytes) -> str:
    """0xCAFEBABE is a Java class (major version >= 45) or a Mach-O fat binary (a small
    architecture count in the same place)."""
    if len(head) >= 8 and int.from_bytes(head[4:8], "big") < 45:
        return "application/x-mach-binary"
    return "application/java-vm"


def _sniff_text(head: bytes) -> str:
    if head.startswith(_UTF16_BOMS):
        return "text/plain"
    body = head[3:] if head.startswith(_UTF8_BOM) else head
    body = body.lstrip(_WHITESPACE)
    if body.startswith(b"<"):
        if _HTML_TAG.match(body, 0, _TAG_WINDOW) is not None:
            return "text/html"
        lowered = body[:_TAG_WINDOW].lower()
        if lowered.startswith(b"<svg"):
            return "image/svg+xml"
        if lowered.startswith(b"<?xml"):
            return "image/svg+xml" if b"<svg" in body.lower() else "application/xml"
    if not _is_text(head):
        return OCTET_STREAM
    if body[:1] in (b"{", b"["):
        return "application/json"
    return "text/plain"


def _is_text(head: bytes) -> bool:
    """No binary data byte, and UTF-8 (a sequence cut by the end of ``head`` is allowed)."""
    if len(head.translate(None, _BINARY_BYTES)) != len(head):
        return False
    if head.isascii():
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Only a multi-byte sequence cut by the end of ``head`` is forgiven.
        return exc.reason == "unexpected end of data" and exc.end == len(head)
    return True
