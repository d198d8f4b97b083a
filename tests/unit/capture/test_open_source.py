"""open_source: format detection by magic number, and one-line errors for unusable files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tests.pcapgen import PcapngWriter, PcapWriter
from wiresift.capture import (
    CaptureError,
    PacketSource,
    PcapngReader,
    PcapReader,
    open_source,
    open_stream,
)


def pcap_bytes() -> bytes:
    """A one-packet pcap."""
    out = io.BytesIO()
    PcapWriter(out).write(1_000_000_000, b"packet")
    return out.getvalue()


def pcapng_bytes() -> bytes:
    """A one-packet pcapng."""
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.write_epb(writer.add_interface(1), 1_000_000_000, b"packet")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "reader"),
    [
        ("a.pcapng", pcap_bytes(), PcapReader),
        ("b.pcap", pcapng_bytes(), PcapngReader),
        ("c.txt", gzip.compress(pcap_bytes(), mtime=0), PcapReader),
        ("d", gzip.compress(pcapng_bytes(), mtime=0), PcapngReader),
    ],
    ids=["pcap-named-pcapng", "pcapng-named-pcap", "gzip-pcap", "gzip-pcapng"],
)
def test_format_follows_magic_not_extension(
    tmp_path: Path, name: str, content: bytes, reader: type[PcapReader | PcapngReader]
) -> None:
    """The reader is chosen by the magic number, whatever the file is called."""
    path = tmp_path / name
    path.write_bytes(content)
    with open_source(path) as source:
        assert type(source) is reader
        assert list(source) == [(1_000_000_000, 1, b"packet", 6, 0)]
        assert source.error is None


def test_readers_satisfy_the_packet_source_protocol(tmp_path: Path) -> None:
    """Both readers can be used wherever a PacketSource is expected."""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes())
    with open_source(path) as source:
        typed: PacketSource = source
        assert typed.total_bytes() == len(pcap_bytes())


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a one-line CaptureError naming the path."""
    path = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == f"cannot open capture {path}: No such file or directory"


def test_unreadable_file(tmp_path: Path) -> None:
    """A path that cannot be read as a file is a one-line CaptureError."""
    with pytest.raises(CaptureError) as caught:
        open_source(tmp_path)
    assert str(caught.value) == f"cannot open capture {tmp_path}: Is a directory"


def test_zero_length_file(tmp_path: Path) -> None:
    """An empty file is a CaptureError, not an empty capture."""
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == f"capture {path} is empty (0 bytes)"


def test_empty_gzip(tmp_path: Path) -> None:
    """A gzip file holding nothing is reported as empty inside gzip."""
    path = tmp_path / "empty.pcap.gz"
    path.write_bytes(gzip.compress(b"", mtime=0))
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == f"capture {path} is empty inside gzip (0 bytes)"


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (b"GET / HTTP/1.1\r\n", "47455420"),
        (b"\x00\x01", "0001"),
        (b"\xd4\xc3\xb2\xa2" + bytes(40), "d4c3b2a2"),
    ],
    ids=["http-text", "two-bytes", "near-pcap-magic"],
)
def test_garbage_names_the_magic(tmp_path: Path, content: bytes, shown: str) -> None:
    """A file of another kind is a CaptureError that shows the magic seen."""
    path = tmp_path / "garbage.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == (
        f"{path}: unknown capture format (magic 0x{shown}; expected pcap a1b2c3d4/a1b23c4d, "
        "pcapng 0a0d0d0a or gzip 1f8b)"
    )


def test_gzip_of_garbage_says_inside_gzip(tmp_path: Path) -> None:
    """The magic seen inside a gzip wrapper is reported as such."""
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"PK\x03\x04 a zip, not a capture", mtime=0))
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == (
        f"{path}: unknown capture format inside gzip (magic 0x504b0304; expected pcap "
        "a1b2c3d4/a1b23c4d, pcapng 0a0d0d0a or gzip 1f8b)"
    )


def test_damaged_gzip_header(tmp_path: Path) -> None:
    """A gzip magic followed by nonsense is a CaptureError naming the gzip problem."""
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b\x63" + bytes(20))
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == (
        f"cannot read capture {path}: damaged gzip data: Unknown compression method"
    )


def test_truncated_pcap_header(tmp_path: Path) -> None:
    """A pcap magic without a whole file header is a CaptureError."""
    path = tmp_path / "short.pcap"
    path.write_bytes(pcap_bytes()[:10])
    with pytest.raises(CaptureError) as caught:
        open_source(path)
    assert str(caught.value) == f"{path}: truncated pcap file header (10 of 24 bytes)"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (pcapng_bytes()[:20], "truncated section header (20 bytes)"),
        (
            pcapng_bytes()[:8] + b"\x01\x02\x03\x04" + pcapng_bytes()[12:],
            "bad byte-order magic 0x01020304 in the section header",
        ),
    ],
    ids=["truncated", "bad-byte-order"],
)
def test_unreadable_first_section_header(content: bytes, problem: str) -> None:
    """A pcapng whose first section header is unusable is a CaptureError."""
    with pytest.raises(CaptureError) as caught:
        open_stream(io.BytesIO(content), name="mem")
    assert str(caught.value) == f"mem: not a readable pcapng file: {problem}"


def test_open_stream_leaves_the_stream_open() -> None:
    """open_stream reads a caller's stream and does not close it."""
    stream = io.BytesIO(pcap_bytes())
    source = open_stream(stream)
    assert (source.name, source.total_bytes(), len(list(source))) == ("<stream>", None, 1)
    source.close()
    assert not stream.closed
