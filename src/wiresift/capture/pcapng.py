"""Streaming reader for pcapng files (draft-ietf-opsawg-pcapng).

Theory of operation: blocks are cut out of one large ``bytes`` buffer refilled in chunks, as
in the pcap reader. Each Section Header Block (s4.1) sets the byte order and starts a new set
of interfaces. Interface Description Blocks (s4.2) give the link type, snap length and the
timestamp options ``if_tsresol`` (s4.2, option 9: a power of ten, or of two when the high
bit is set) and ``if_tsoffset`` (option 14: whole seconds added). Packets come from Enhanced
Packet Blocks (s4.3), Simple Packet Blocks (s4.4) and the obsolete Packet Block (appendix A);
every other block (NRB, ISB, DSB, custom, unknown) is skipped. Every block's trailing length
must repeat its leading one.

Timestamps become integer nanoseconds with integer arithmetic (finer resolutions round
down). A Simple Packet Block has no timestamp: it takes the previous packet's, so time never
runs backwards (0 before any timestamped packet). ``iface`` numbers every (section,
interface) pair from 0 in file order.

Damage never raises once the first section header is read: iteration stops, ``error`` names
the byte offset, and every packet before the damage has been yielded.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from types import TracebackType
from typing import Final, Self

from wiresift.capture.base import CaptureError, RawPacket
from wiresift.capture.pcap import MAX_CAPTURED_LENGTH, CaptureInput

BLOCK_SECTION_HEADER: Final = 0x0A0D0D0A
BLOCK_INTERFACE_DESCRIPTION: Final = 0x00000001
BLOCK_OBSOLETE_PACKET: Final = 0x00000002
BLOCK_SIMPLE_PACKET: Final = 0x00000003
BLOCK_ENHANCED_PACKET: Final = 0x00000006
BYTE_ORDER_LITTLE: Final = b"\x4d\x3c\x2b\x1a"
BYTE_ORDER_BIG: Final = b"\x1a\x2b\x3c\x4d"
SUPPORTED_MAJOR_VERSION: Final = 1

OPTION_END: Final = 0
OPTION_IF_TSRESOL: Final = 9
OPTION_IF_TSOFFSET: Final = 14
DEFAULT_TSRESOL: Final = 6  # microseconds when if_tsresol is absent (s4.2)

BLOCK_OVERHEAD: Final = 12  # type, leading and trailing length
SECTION_HEADER_MIN_LENGTH: Final = 28
# type, length, interface id, timestamp (2 words), captured and original length: 28 bytes.
PACKET_HEADER_LENGTH: Final = 28
SIMPLE_PACKET_HEADER_LENGTH: Final = 12
# A block longer than this is damage (a packet is capped lower, by MAX_CAPTURED_LENGTH).
MAX_BLOCK_LENGTH: Final = 64 << 20
NS_PER_SECOND: Final = 1_000_000_000


class _Structs:
    """Precompiled layouts for one byte order."""

    __slots__ = ("block_header", "enhanced", "i64", "interface", "obsolete", "option", "u32")

    def __init__(self, order: str) -> None:
        # Type, length, then the EPB fields: one unpack per packet on the fast path.
        self.enhanced = struct.Struct(order + "IIIIIII")
        self.obsolete = struct.Struct(order + "HHIIII")
        self.block_header = struct.Struct(order + "II")
        self.interface = struct.Struct(order + "HHI")
        self.option = struct.Struct(order + "HH")
        self.u32 = struct.Struct(order + "I")
        self.i64 = struct.Struct(order + "q")


_LITTLE: Final = _Structs("<")
_BIG: Final = _Structs(">")

# Per interface: (linktype, ts multiplier, ts divisor, tsoffset in ns, snaplen, file-wide iface)
_Interface = tuple[int, int, int, int, int, int]


def timestamp_scale(tsresol: int) -> tuple[int, int]:
    """``(multiplier, divisor)`` turning if_tsresol units into nanoseconds (s4.2)."""
    exponent = tsresol & 0x7F
    if tsresol & 0x80:
        return NS_PER_SECOND, 1 << exponent
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)


class PcapngReader:
    """Packets of one pcapng file, as RawPacket tuples. Iterate once."""

    def __init__(self, source: CaptureInput, name: str) -> None:
        self.name = name
        self.error: str | None = None
        self._input = source
        self._iterated = False
        buf = source.refill(b"", 0, SECTION_HEADER_MIN_LENGTH)
        problem = None
        if len(buf) < SECTION_HEADER_MIN_LENGTH:
            problem = f"truncated section header ({len(buf)} bytes)"
        elif buf[8:12] not in (BYTE_ORDER_LITTLE, BYTE_ORDER_BIG):
            problem = f"bad byte-order magic 0x{buf[8:12].hex()} in the section header"
        if problem is not None:
            source.close()
            raise CaptureError(f"{name}: not a readable pcapng file: {problem}")
        self._buf = buf
        #: Interfaces seen so far (file-wide numbering), for callers that want link types.
        self.interface_linktypes: list[int] = []

    def __iter__(self) -> Iterator[RawPacket]:
        if self._iterated:
            raise RuntimeError(f"{self.name}: a capture can be iterated only once")
        self._iterated = True
        return self._packets()

    def _packets(self) -> Iterator[RawPacket]:
        source = self._input
        buf, self._buf = self._buf, b""
        base = 0  # file offset of buf[0]
        off = 0
        end = len(buf)
        layout = _LITTLE
        unpack_enhanced = layout.enhanced.unpack_from
        unpack_u32 = layout.u32.unpack_from
        interfaces: list[_Interface] = []
        interface_count = 0
        last_ts = 0
        # Locals, not module globals, on the per-packet path.
        enhanced_type = BLOCK_ENHANCED_PACKET
        header_length = PACKET_HEADER_LENGTH
        packet_overhead = PACKET_HEADER_LENGTH + 4
        while True:
            # Fast path: a whole, consistent Enhanced Packet Block in the buffer.
            if off + header_length <= end:
                block_type, total, iface_id, ts_high, ts_low, caplen, wirelen = unpack_enhanced(
                    buf, off
                )
                block_end = off + total
                if (
                    block_type == enhanced_type
                    and block_end <= end
                    and caplen <= total - packet_overhead
                    and not total & 3
                    and iface_id < interface_count
                    and unpack_u32(buf, block_end - 4)[0] == total
                ):
                    linktype, multiplier, divisor, offset_ns, _snaplen, iface = interfaces[iface_id]
                    last_ts = ((ts_high << 32) | ts_low) * multiplier // divisor + offset_ns
                    data_start = off + header_length
                    yield (last_ts, linktype, buf[data_start : data_start + caplen], wirelen, iface)
                    off = block_end
                    continue
            # Slow path: any block, validated, refilling as needed.
            if off + BLOCK_OVERHEAD > end:
                buf = source.refill(buf, off, BLOCK_OVERHEAD)
                base += off
                off = 0
                end = len(buf)
                if end < BLOCK_OVERHEAD:
                    self._stop_short(base, end, BLOCK_OVERHEAD, "block header")
                    return
            block_type = unpack_u32(buf, off)[0]
            if block_type == BLOCK_SECTION_HEADER:
                magic = buf[off + 8 : off + 12]
                if magic == BYTE_ORDER_LITTLE:
                    layout = _LITTLE
                elif magic == BYTE_ORDER_BIG:
                    layout = _BIG
                else:
                    self.error = (
                        f"corrupt section header at offset {base + off}: "
                        f"byte-order magic 0x{magic.hex()}"
                    )
                    return
                unpack_enhanced = layout.enhanced.unpack_from
                unpack_u32 = layout.u32.unpack_from
            total = unpack_u32(buf, off + 4)[0]
            if total < BLOCK_OVERHEAD or total & 3 or total > MAX_BLOCK_LENGTH:
                self.error = (
                    f"corrupt block at offset {base + off}: block total length {total} "
                    f"(type 0x{block_type:08x}) is not a multiple of 4 between "
                    f"{BLOCK_OVERHEAD} and {MAX_BLOCK_LENGTH}"
                )
                return
            if off + total > end:
                buf = source.refill(buf, off, total)
                base += off
                off = 0
                end = len(buf)
                if end < total:
                    self._stop_short(base, end, total, f"block (type 0x{block_type:08x})")
                    return
            trailer = unpack_u32(buf, off + total - 4)[0]
            if trailer != total:
                self.error = (
                    f"corrupt block at offset {base + off}: trailing length {trailer} "
                    f"does not match leading length {total} (type 0x{block_type:08x})"
                )
                return
            problem: str | None = None
            if block_type == BLOCK_SECTION_HEADER:
                problem = self._section_header(buf, off, total, layout)
                interfaces = []
                interface_count = 0
            elif block_type == BLOCK_INTERFACE_DESCRIPTION:
                problem = self._interface(buf, off, total, layout, interfaces)
                interface_count = len(interfaces)
            elif block_type in (BLOCK_ENHANCED_PACKET, BLOCK_OBSOLETE_PACKET):
                if total < PACKET_HEADER_LENGTH + 4:
                    problem = f"packet block length {total} is below {PACKET_HEADER_LENGTH + 4}"
                else:
                    if block_type == BLOCK_ENHANCED_PACKET:
                        _, _, iface_id, ts_high, ts_low, caplen, wirelen = unpack_enhanced(buf, off)
                    else:
                        iface_id, _drops, ts_high, ts_low, caplen, wirelen = (
                            layout.obsolete.unpack_from(buf, off + 8)
                        )
                    if iface_id >= len(interfaces):
                        problem = (
                            f"packet refers to interface {iface_id}, but the section "
                            f"defines {len(interfaces)}"
                        )
                    elif caplen > total - PACKET_HEADER_LENGTH - 4 or caplen > MAX_CAPTURED_LENGTH:
                        problem = f"captured length {caplen} exceeds the block (length {total})"
                    else:
                        linktype, multiplier, divisor, offset_ns, _snaplen, iface = interfaces[
                            iface_id
                        ]
                        last_ts = ((ts_high << 32) | ts_low) * multiplier // divisor + offset_ns
                        data_start = off + PACKET_HEADER_LENGTH
                        yield (
                            last_ts,
                            linktype,
                            buf[data_start : data_start + caplen],
                            wirelen,
                            iface,
                        )
            elif block_type == BLOCK_SIMPLE_PACKET:
                if not interfaces:
                    problem = "simple packet block before any interface description"
                elif total < SIMPLE_PACKET_HEADER_LENGTH + 4:
                    problem = f"simple packet block length {total} is too short"
                else:
                    linktype, _m, _d, _o, snaplen, iface = interfaces[0]
                    wirelen = unpack_u32(buf, off + 8)[0]
                    # s4.4: captured length = min(original length, snaplen, block room).
                    caplen = min(wirelen, total - SIMPLE_PACKET_HEADER_LENGTH - 4)
                    if snaplen:
                        caplen = min(caplen, snaplen)
                    data_start = off + SIMPLE_PACKET_HEADER_LENGTH
                    yield (last_ts, linktype, buf[data_start : data_start + caplen], wirelen, iface)
            # Other blocks (NRB, ISB, DSB, custom, unknown) carry no packets: skipped.
            if problem is not None:
                self.error = f"corrupt block at offset {base + off}: {problem}"
                return
            off += total

    def _section_header(self, buf: bytes, off: int, total: int, layout: _Structs) -> str | None:
        """Check a Section Header Block (s4.1); return a problem or None."""
        if total < SECTION_HEADER_MIN_LENGTH:
            return f"section header length {total} is below {SECTION_HEADER_MIN_LENGTH}"
        major = layout.option.unpack_from(buf, off + 12)[0]
        if major != SUPPORTED_MAJOR_VERSION:
            return f"unsupported pcapng major version {major}"
        return None

    def _interface(
        self, buf: bytes, off: int, total: int, layout: _Structs, interfaces: list[_Interface]
    ) -> str | None:
        """Add an Interface Description Block (s4.2) to ``interfaces``; return a problem."""
        if total < 20:
            return f"interface description length {total} is below 20"
        linktype, _reserved, snaplen = layout.interface.unpack_from(buf, off + 8)
        tsresol = DEFAULT_TSRESOL
        tsoffset = 0
        position = off + 16
        options_end = off + total - 4
        unpack_option = layout.option.unpack_from
        while position + 4 <= options_end:
            code, length = unpack_option(buf, position)
            value = position + 4
            if code == OPTION_END or value + length > options_end:
                break  # a malformed option list only loses the options
            if code == OPTION_IF_TSRESOL and length == 1:
                tsresol = buf[value]
            elif code == OPTION_IF_TSOFFSET and length == 8:
                tsoffset = layout.i64.unpack_from(buf, value)[0]
            position = value + length + (-length & 3)
        multiplier, divisor = timestamp_scale(tsresol)
        iface = len(self.interface_linktypes)
        self.interface_linktypes.append(linktype)
        interfaces.append((linktype, multiplier, divisor, tsoffset * NS_PER_SECOND, snaplen, iface))
        return None

    def _stop_short(self, offset: int, left: int, needed: int, what: str) -> None:
        """Record why the input ended inside (or exactly after) a block."""
        failure = self._input.failure
        if failure is not None:
            self.error = f"{failure} (capture offset {offset + left})"
        elif left:
            self.error = (
                f"truncated {what} at offset {offset}: {left} bytes left, the block needs {needed}"
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
