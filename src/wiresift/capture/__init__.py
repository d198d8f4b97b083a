"""Packets in: capture files (pcap, pcapng, either gzip-compressed) as PacketSources.

The format is recognised by its magic number, never by the file name: pcap
(draft-ietf-opsawg-pcap s4), pcapng (draft-ietf-opsawg-pcapng s4.1) and gzip (RFC 1952 s2.3.1,
bytes 1f 8b) wrapping either.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Final

from wiresift.capture.base import CaptureError, PacketSource, RawPacket
from wiresift.capture.pcap import PCAP_MAGICS, CaptureInput, PcapReader, file_size
from wiresift.capture.pcapng import BLOCK_SECTION_HEADER, PcapngReader

__all__ = [
    "CaptureError",
    "PacketSource",
    "PcapReader",
    "PcapngReader",
    "RawPacket",
    "open_source",
    "open_stream",
]

GZIP_MAGIC: Final = b"\x1f\x8b"
MAGIC_LENGTH: Final = 4


def open_source(path: str | os.PathLike[str]) -> PcapReader | PcapngReader:
    """Open a capture file for streaming; raise CaptureError (one line) if it cannot be read.

    Missing, unreadable and empty files and unknown formats are CaptureErrors; damage after
    a valid start is reported by the source's ``error`` once iteration stops.
    """
    name = os.fspath(path)
    try:
        raw = open(name, "rb")  # noqa: SIM115 - the returned source owns and closes it
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CaptureError(f"cannot open capture {name}: {reason}") from None
    total = file_size(raw)
    if total == 0:
        raw.close()
        raise CaptureError(f"capture {name} is empty (0 bytes)")
    return _open(raw, name, total, owns_raw=True)


def open_stream(
    stream: BinaryIO, name: str = "<stream>", total: int | None = None
) -> PcapReader | PcapngReader:
    """Read a capture from an open binary stream (the caller closes it).

    Gzip input must be seekable (the magic is read before decompression starts).
    """
    return _open(stream, name, total, owns_raw=False)


def _open(
    raw: BinaryIO, name: str, total: int | None, *, owns_raw: bool
) -> PcapReader | PcapngReader:
    source = CaptureInput(raw, gzipped=False, total=total, owns_raw=owns_raw)
    magic = source.peek(MAGIC_LENGTH)
    if source.failure is not None:
        source.close()
        raise CaptureError(f"cannot read capture {name}: {source.failure}")
    where = ""
    if magic.startswith(GZIP_MAGIC):
        try:
            raw.seek(0)
        except (OSError, ValueError) as exc:
            source.close()
            raise CaptureError(f"{name}: gzip input is not seekable: {exc}") from None
        source = CaptureInput(raw, gzipped=True, total=total, owns_raw=owns_raw)
        magic = source.peek(MAGIC_LENGTH)
        if source.failure is not None:
            source.close()
            raise CaptureError(f"cannot read capture {name}: {source.failure}")
        where = " inside gzip"
    if not magic:
        source.close()
        raise CaptureError(f"capture {name} is empty{where} (0 bytes)")
    if len(magic) == MAGIC_LENGTH:
        number = int.from_bytes(magic, "little")
        if number in PCAP_MAGICS:
            return PcapReader(source, name)
        if number == BLOCK_SECTION_HEADER:
            return PcapngReader(source, name)
    source.close()
    raise CaptureError(
        f"{name}: unknown capture format{where} (magic 0x{magic.hex()}; "
        "expected pcap a1b2c3d4/a1b23c4d, pcapng 0a0d0d0a or gzip 1f8b)"
    )
