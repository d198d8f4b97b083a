"""Streaming reader for classic pcap files (draft-ietf-opsawg-pcap; pcap-savefile(5)).

Theory of operation: the input is read in large chunks into one ``bytes`` buffer and records
are cut out of it with one precompiled ``struct.Struct``; a record that straddles the end of
the buffer triggers a refill (the unread tail plus the next chunk). Slicing ``bytes`` gives
the immutable packet data with a single copy and no other object per packet.

Damage never raises once the file header is read: iteration stops, ``error`` names the byte
offset, and every packet before the damage has been yielded. Offsets count bytes of the
(decompressed, if gzip) capture, from 0.

This module also holds ``CaptureInput``, the chunked byte stream (plain or gzip) that the
pcapng reader shares.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Final, Self

from wiresift.capture.base import CaptureError, RawPacket

# Bytes requested per read. 64 KiB stays below glibc's 128 KiB mmap threshold, so buffers come
# from the heap instead of being mapped and faulted in at every refill (0.75 against 1.0 us per
# packet measured with 1 MiB), and refills stay rare.
CHUNK_SIZE: Final = 1 << 16

# Magic numbers (draft-ietf-opsawg-pcap s4), as read little-endian from the first 4 bytes.
MAGIC_MICROSECONDS: Final = 0xA1B2C3D4
MAGIC_NANOSECONDS: Final = 0xA1B23C4D
# Alexey Kuznetsov's patched libpcap: 8 more bytes per record header (ifindex, protocol,
# pkt_type, pad); libpcap reads it, so do we.
MAGIC_KUZNETZOV: Final = 0xA1B2CD34
PCAP_MAGICS: Final = frozenset(
    {
        MAGIC_MICROSECONDS,
        MAGIC_NANOSECONDS,
        MAGIC_KUZNETZOV,
        0xD4C3B2A1,
        0x4D3CB2A1,
        0x34CDB2A1,
    }
)

FILE_HEADER_LENGTH: Final = 24
RECORD_HEADER_LENGTH: Final = 16
KUZNETZOV_EXTRA_LENGTH: Final = 8
# libpcap's MAXIMUM_SNAPLEN: it rejects records longer than max(snaplen, this).
LIBPCAP_MAXIMUM_SNAPLEN: Final = 262144
# Whatever the header claims, a record longer than this is damage, not a packet.
MAX_CAPTURED_LENGTH: Final = 16 << 20
# The link type sits in the low 16 bits; the upper bits carry FCS-length information
# (draft-ietf-opsawg-pcap s4, "LinkType and additional information").
LINKTYPE_MASK: Final = 0xFFFF
NS_PER_SECOND: Final = 1_000_000_000

_FILE_HEADER: Final = {
    "<": struct.Struct("<IHHiIII"),
    ">": struct.Struct(">IHHiIII"),
}
_RECORD_HEADER: Final = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}


class CaptureInput:
    """The bytes of a capture file, plain or gzip-compressed, read in chunks.

    ``read`` never raises: a read or decompression failure ends the stream and is kept in
    ``failure`` (one line, without the offset, which the reader knows better).
    """

    def __init__(
        self,
        raw: BinaryIO,
        *,
        gzipped: bool,
        total: int | None,
        owns_raw: bool = True,
    ) -> None:
        self._raw = raw
        self._owns_raw = owns_raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else None
        self._total = total
        self._head = b""
        self._consumed = 0
        self.failure: str | None = None

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        """Up to ``size`` more bytes (fewer only at the end of the stream or on failure)."""
        data, self._head = self._head, b""
        if self.failure is not None:
            return data
        if self._gzip is None:
            try:
                more = self._raw.read(max(size - len(data), 0))
            except OSError as exc:
                self.failure = f"read failed: {exc}"
                return data
            self._consumed += len(more)
            return data + more if data else more
        # read1 decompresses step by step, so a damaged stream loses no decompressed data.
        pieces = [data]
        wanted = size - len(data)
        try:
            while wanted > 0:
                piece = self._gzip.read1(wanted)
                if not piece:
                    break
                pieces.append(piece)
                wanted -= len(piece)
        except (OSError, EOFError, zlib.error) as exc:
            self.failure = f"damaged gzip data: {exc}"
        return b"".join(pieces)

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left in place for the next ``read``."""
        self._head = self.read(size)
        return self._head

    def refill(self, buf: bytes, offset: int, needed: int) -> bytes:
        """``buf[offset:]`` extended by reads until it holds ``needed`` bytes or input ends."""
        tail = buf[offset:]
        # With no tail, a single chunk is returned as is, without a copy.
        pieces = [tail] if tail else []
        have = len(tail)
        while have < needed:
            more = self.read(max(CHUNK_SIZE, needed - have))
            if not more:
                break
            pieces.append(more)
            have += len(more)
        return b"".join(pieces)

    def consumed(self) -> int:
        """Bytes of the underlying (compressed, if gzip) file consumed so far."""
        if self._gzip is not None:
            try:
                return self._raw.tell()
            except (OSError, ValueError):
                return self._consumed
        return self._consumed

    def total(self) -> int | None:
        """Size of the underlying file, if known."""
        return self._total

    def close(self) -> None:
        """Close the decompressor and, if this input opened it, the file."""
        if self._gzip is not None:
            self._gzip.close()
        if self._owns_raw:
            self._raw.close()


class PcapReader:
    """Packets of one classic pcap file, as RawPacket tuples with ``iface`` 0.

    ``linktype``, ``snaplen``, ``nanosecond`` and ``big_endian`` describe the file header.
    Iterate once.
    """

    def __init__(self, source: CaptureInput, name: str) -> None:
        self.name = name
        self.error: str | None = None
        self._input = source
        self._iterated = False
        buf = source.refill(b"", 0, FILE_HEADER_LENGTH)
        if len(buf) < FILE_HEADER_LENGTH:
            source.close()
            raise CaptureError(
                f"{name}: truncated pcap file header ({len(buf)} of {FILE_HEADER_LENGTH} bytes)"
            )
        magic = int.from_bytes(buf[:4], "little")
        if magic not in PCAP_MAGICS:
            source.close()
            raise CaptureError(f"{name}: not a pcap file (magic 0x{buf[:4].hex()})")
        order = "<" if magic in (MAGIC_MICROSECONDS, MAGIC_NANOSECONDS, MAGIC_KUZNETZOV) else ">"
        magic, _major, _minor, _zone, _sigfigs, snaplen, linktype = _FILE_HEADER[order].unpack_from(
            buf
        )
        self.big_endian = order == ">"
        self.nanosecond = magic == MAGIC_NANOSECONDS
        self.snaplen: int = snaplen
        self.linktype: int = linktype & LINKTYPE_MASK
        self._record = _RECORD_HEADER[order]
        self._header_length = RECORD_HEADER_LENGTH + (
            KUZNETZOV_EXTRA_LENGTH if magic == MAGIC_KUZNETZOV else 0
        )
        self._caplen_limit = min(max(snaplen, LIBPCAP_MAXIMUM_SNAPLEN), MAX_CAPTURED_LENGTH)
        self._buf = buf[FILE_HEADER_LENGTH:]

    def __iter__(self) -> Iterator[RawPacket]:
        if self._iterated:
            raise RuntimeError(f"{self.name}: a capture can be iterated only once")
        self._iterated = True
        return self._packets()

    def _packets(self) -> Iterator[RawPacket]:
        source = self._input
        unpack = self._record.unpack_from
        linktype = self.linktype
        limit = self._caplen_limit
        header_length = self._header_length
        fraction_ns = 1 if self.nanosecond else 1000
        ns_per_second = NS_PER_SECOND
        buf, self._buf = self._buf, b""
        base = FILE_HEADER_LENGTH  # file offset of buf[0]
        off = 0
        end = len(buf)
        while True:
            data_start = off + header_length
            if data_start <= end:
                seconds, fraction, caplen, wirelen = unpack(buf, off)
                if caplen > limit:
                    self.error = (
                        f"corrupt packet record at offset {base + off}: captured length "
                        f"{caplen} exceeds the limit of {limit} bytes "
                        f"(snaplen {self.snaplen})"
                    )
                    return
                data_end = data_start + caplen
                if data_end <= end:
                    yield (
                        seconds * ns_per_second + fraction * fraction_ns,
                        linktype,
                        buf[data_start:data_end],
                        wirelen,
                        0,
                    )
                    off = data_end
                    continue
                needed = header_length + caplen
            else:
                needed = header_length
            # The record straddles the end of the buffer: refill, or stop at the end of input.
            buf = source.refill(buf, off, needed)
            base += off
            off = 0
            end = len(buf)
            if end < needed:
                self._stop_short(base, end, needed)
                return

    def _stop_short(self, offset: int, left: int, needed: int) -> None:
        """Record why the input ended inside (or exactly after) a record."""
        failure = self._input.failure
        if failure is not None:
            self.error = f"{failure} (capture offset {offset + left})"
        elif left:
            self.error = (
                f"truncated packet record at offset {offset}: {left} bytes left, "
                f"the record needs {needed}"
            )

    def bytes_read(self) -> int:
        """Bytes of the (compressed, if so) file consumed so far."""
        return self._input.consumed()

    def total_bytes(self) -> int | None:
        """Size of the file on disk."""
        return self._input.total()

    def close(self) -> None:
        """Release the file."""
        self._input.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def file_size(raw: BinaryIO) -> int | None:
    """Size of an open file, or None for a pipe or an in-memory stream without one."""
    try:
        return os.fstat(raw.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return None
