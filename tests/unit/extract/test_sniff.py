"""sniff_media_type: magic numbers, container refinements, text rules."""

from __future__ import annotations

import gzip
import struct
import zipfile
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.extract.sniff import SIGNATURES, SNIFF_LENGTH, sniff_media_type


def _zip(first_name: str, content: bytes = b"x", *, stored: bool = False) -> bytes:
    buffer = BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(first_name, content)
        archive.writestr("other.txt", b"y")
    return buffer.getvalue()


def _pe() -> bytes:
    head = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80) + bytes(0x40))
    return bytes(head) + b"PE\x00\x00" + bytes(20)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "video/x-msvideo"),
        (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00", "image/bmp"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "image/vnd.microsoft.icon"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x1cftypqt  \x00\x00\x02\x00", "video/quicktime"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
        (_zip("a.txt"), "application/zip"),
        (b"PK\x05\x06" + bytes(18), "application/zip"),
        (_zip("META-INF/MANIFEST.MF"), "application/java-archive"),
        (_zip("AndroidManifest.xml"), "application/vnd.android.package-archive"),
        (
            _zip("mimetype", b"application/vnd.oasis.opendocument.text", stored=True),
            "application/vnd.oasis.opendocument.text",
        ),
        (_zip("mimetype", b"application/epub+zip", stored=True), "application/epub+zip"),
        (
            _zip("[Content_Types].xml", b"<Types/>") + b"word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (gzip.compress(b"x"), "application/gzip"),
        (b"BZh91AY&SY", "application/x-bzip2"),
        (b"\xfd7zXZ\x00\x00\x04", "application/x-xz"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "application/x-7z-compressed"),
        (b"Rar!\x1a\x07\x00\xcf\x90", "application/vnd.rar"),
        (b"Rar!\x1a\x07\x01\x00\x33\x92", "application/vnd.rar"),
        (b"\x28\xb5\x2f\xfd\x24\x05", "application/zstd"),
        (_pe(), "application/vnd.microsoft.portable-executable"),
        (b"MZ\x90\x00\x03\x00", "application/x-dosexec"),
        (b"\x7fELF\x02\x01\x01\x00", "application/x-executable"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "application/x-mach-binary"),
        (b"\xfe\xed\xfa\xce\x00\x00\x00\x12", "application/x-mach-binary"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02\x01\x00\x00\x07", "application/x-mach-binary"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x1d", "application/java-vm"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x23", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\x82\x84webm", "video/webm"),
        (b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska", "video/x-matroska"),
        (b"wOFF\x00\x01\x00\x00", "font/woff"),
        (b"wOF2\x00\x01\x00\x00", "font/woff2"),
        (b"\x00\x01\x00\x00\x00\x12\x01\x00", "font/ttf"),
        (b"OTTO\x00\x0c\x00\x80", "font/otf"),
        (b"SQLite format 3\x00\x10\x00", "application/vnd.sqlite3"),
        (b"%!PS-Adobe-3.0\n", "application/postscript"),
        (b"{\\rtf1\\ansi\\deff0", "application/rtf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "application/x-ole-storage"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "application/vnd.tcpdump.pcap"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", "application/x-pcapng"),
    ],
)
def test_binary_formats(head: bytes, expected: str) -> None:
    """Each format's published magic number gives its media type."""
    assert sniff_media_type(head) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"<!DOCTYPE html>\n<html>", "text/html"),
        (b"\xef\xbb\xbf  \r\n\t<HTML lang=en>", "text/html"),
        (b"<head><title>x</title>", "text/html"),
        (b"<script>alert(1)</script>", "text/html"),
        (b"<!-- comment -->", "text/html"),
        (b"<p>para", "text/html"),
        (b"<pre>text", "text/plain"),
        (b"<?xml version='1.0'?><feed/>", "application/xml"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b"<svg viewBox='0 0 1 1'/>", "image/svg+xml"),
        (b'{"a": [1, 2, "\xc3\xa9"]}', "application/json"),
        (b"  [1, 2, 3]", "application/json"),
        (b"[1, 2, \x00]", "application/octet-stream"),
        (b"plain ASCII text\r\n", "text/plain"),
        ("UTF-8 caf\u00e9 \u65e5\u672c\n".encode(), "text/plain"),
        ("cut inside a sequence \u65e5".encode()[:-1], "text/plain"),
        (b"\xfe\xff\x00h\x00i", "text/plain"),
        (b"ANSI \x1b[31mred\x1b[0m", "text/plain"),
        (b"latin-1 caf\xe9 au lait", "application/octet-stream"),
        (b"text with a NUL\x00", "application/octet-stream"),
        (b"\x01\x02\x03\x04", "application/octet-stream"),
        (b"BM is not a bitmap without zero reserved words", "text/plain"),
        (b"\x00", "application/octet-stream"),
    ],
)
def test_text_formats(head: bytes, expected: str) -> None:
    """HTML, XML, SVG, JSON and plain text by the WHATWG rules; the rest is octet-stream."""
    assert sniff_media_type(head) == expected


def test_empty_head_is_unknown() -> None:
    """No bytes, no type."""
    assert sniff_media_type(b"") is None


def test_only_the_first_512_bytes_count() -> None:
    """A NUL past SNIFF_LENGTH does not make text binary."""
    head = b"a" * SNIFF_LENGTH + b"\x00"
    assert sniff_media_type(head) == "text/plain"


def test_signature_table_is_data() -> None:
    """Every table row is offsets and magic bytes mapped to a type/subtype."""
    for checks, media_type in SIGNATURES:
        assert checks
        assert all(offset >= 0 and magic for offset, magic in checks)
        assert media_type.count("/") == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_head_gives_a_type(head: bytes) -> None:
    """Any non-empty head gives some type/subtype."""
    media_type = sniff_media_type(head)
    assert (media_type is None) == (not head)
    assert media_type is None or media_type.count("/") == 1
