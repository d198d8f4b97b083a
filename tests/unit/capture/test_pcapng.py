"""pcapng reader: sections, interfaces, timestamp options, every packet block, damage."""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pcapgen import PcapngWriter
from wiresift.capture import PcapngReader, RawPacket, open_source, open_stream
from wiresift.capture.pcap import CHUNK_SIZE
from wiresift.capture.pcapng import timestamp_scale

TS_NS = 1_700_000_000_123_456_789
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113


def build(steps: Callable[[PcapngWriter], None], *, big_endian: bool = False) -> bytes:
    """pcapng bytes written by ``steps`` after the first section header."""
    out = io.BytesIO()
    steps(PcapngWriter(out, big_endian=big_endian))
    return out.getvalue()


def read_all(data: bytes) -> tuple[list[RawPacket], str | None]:
    """Every packet of an in-memory pcapng, and the reader's error."""
    source = open_stream(io.BytesIO(data), name="mem")
    packets = list(source)
    return packets, source.error


@pytest.mark.parametrize("big_endian", [False, True])
def test_enhanced_packets_in_microseconds(big_endian: bool) -> None:
    """Default resolution is microseconds (no if_tsresol option), in both byte orders."""

    def steps(writer: PcapngWriter) -> None:
        iface = writer.add_interface(1)
        writer.write_epb(iface, TS_NS, b"frame-1")
        writer.write_epb(iface, TS_NS + 5_000, b"fr2", wirelen=1500)

    packets, error = read_all(build(steps, big_endian=big_endian))
    assert error is None
    assert packets == [
        (1_700_000_000_123_456_000, 1, b"frame-1", 7, 0),
        (1_700_000_000_123_461_000, 1, b"fr2", 1500, 0),
    ]


@pytest.mark.parametrize(
    ("tsresol", "ticks", "expected_ns"),
    [
        (9, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        (3, 1_700_000_000_123, 1_700_000_000_123_000_000),
        (0, 1_700_000_000, 1_700_000_000_000_000_000),
        (12, 123_456_789_999, 123_456_789),
        (0x80 | 20, (1_700_000_000 << 20) + (1 << 19), 1_700_000_000_500_000_000),
        # 2**-30 s units: 3 ticks = 2.79 ns, rounded down to 2.
        (0x80 | 30, 3, 2),
        (0x80 | 0, 7, 7_000_000_000),
    ],
)
def test_if_tsresol_gives_exact_nanoseconds(tsresol: int, ticks: int, expected_ns: int) -> None:
    """Power-of-ten and power-of-two resolutions convert exactly, rounding down."""

    def steps(writer: PcapngWriter) -> None:
        iface = writer.add_interface(1, tsresol=tsresol)
        writer.write_epb(iface, 0, b"x", ticks=ticks)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [(expected_ns, 1, b"x", 1, 0)]


def test_timestamp_scale_table() -> None:
    """The (multiplier, divisor) pairs for typical if_tsresol bytes."""
    assert [timestamp_scale(value) for value in (6, 9, 3, 12, 0x80 | 10)] == [
        (1000, 1),
        (1, 1),
        (1_000_000, 1),
        (1, 1000),
        (1_000_000_000, 1024),
    ]


@pytest.mark.parametrize("tsoffset", [3600, -3600])
def test_if_tsoffset_adds_seconds(tsoffset: int) -> None:
    """if_tsoffset seconds are added to every timestamp of the interface."""

    def steps(writer: PcapngWriter) -> None:
        iface = writer.add_interface(1, tsresol=9, tsoffset=tsoffset)
        writer.write_epb(iface, 0, b"x", ticks=1_000_000_000)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [((1 + tsoffset) * 1_000_000_000, 1, b"x", 1, 0)]


def test_several_interfaces_keep_their_link_type_and_resolution() -> None:
    """Each IDB has its own link type and resolution; ``iface`` follows the IDB order."""

    def steps(writer: PcapngWriter) -> None:
        ether = writer.add_interface(1, tsresol=9)
        raw = writer.add_interface(LINKTYPE_RAW)
        sll = writer.add_interface(LINKTYPE_LINUX_SLL, tsresol=0x80 | 10)
        writer.write_epb(raw, TS_NS, b"raw")
        writer.write_epb(ether, TS_NS, b"eth")
        writer.write_epb(sll, TS_NS, b"sll")

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [
        (1_700_000_000_123_456_000, LINKTYPE_RAW, b"raw", 3, 1),
        (1_700_000_000_123_456_789, 1, b"eth", 3, 0),
        # 126 / 1024 s = 123046875 ns, below the written 123456789 ns.
        (1_700_000_000_123_046_875, LINKTYPE_LINUX_SLL, b"sll", 3, 2),
    ]


def test_sections_of_mixed_byte_order_number_interfaces_across_the_file() -> None:
    """Each SHB resets interface ids; ``iface`` keeps counting across sections."""

    def steps(writer: PcapngWriter) -> None:
        first = writer.add_interface(1)
        second = writer.add_interface(LINKTYPE_RAW, tsresol=9)
        writer.write_epb(second, TS_NS, b"a")
        writer.new_section(big_endian=True)
        only = writer.add_interface(LINKTYPE_LINUX_SLL, tsresol=9)
        writer.write_epb(only, TS_NS + 1, b"b")
        writer.new_section(big_endian=False)
        again = writer.add_interface(1, tsresol=9)
        writer.write_epb(again, TS_NS + 2, b"c")
        assert (first, second, only, again) == (0, 1, 0, 0)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [
        (TS_NS, LINKTYPE_RAW, b"a", 1, 1),
        (TS_NS + 1, LINKTYPE_LINUX_SLL, b"b", 1, 2),
        (TS_NS + 2, 1, b"c", 1, 3),
    ]


def test_interface_linktypes_lists_every_idb() -> None:
    """The reader lists each interface's link type, numbered like ``iface``."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(1)
        writer.new_section(big_endian=True)
        writer.add_interface(LINKTYPE_RAW)
        writer.add_interface(LINKTYPE_LINUX_SLL)

    source = open_stream(io.BytesIO(build(steps)))
    assert isinstance(source, PcapngReader)
    assert list(source) == []
    assert source.interface_linktypes == [1, LINKTYPE_RAW, LINKTYPE_LINUX_SLL]


def test_simple_packet_block_uses_interface_zero_and_previous_time() -> None:
    """An SPB belongs to interface 0, is cut to min(original length, snaplen) and has no
    timestamp of its own: it takes the previous packet's."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(LINKTYPE_RAW, tsresol=9, snaplen=64)
        writer.write_spb(b"s" * 10)
        writer.write_epb(0, TS_NS, b"e")
        writer.write_spb(b"t" * 100, wirelen=100)
        writer.write_spb(b"u" * 6, wirelen=3)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [
        (0, LINKTYPE_RAW, b"s" * 10, 10, 0),
        (TS_NS, LINKTYPE_RAW, b"e", 1, 0),
        (TS_NS, LINKTYPE_RAW, b"t" * 64, 100, 0),
        (TS_NS, LINKTYPE_RAW, b"uuu", 3, 0),
    ]


def test_simple_packet_block_without_snaplen_keeps_the_whole_packet() -> None:
    """snaplen 0 means no limit; padding bytes are never part of the packet."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(1, snaplen=0)
        writer.write_spb(b"abcde")

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [(0, 1, b"abcde", 5, 0)]


def test_obsolete_packet_block_is_read() -> None:
    """The type-2 Packet Block (16-bit interface id, drops count) yields a packet."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(1)
        writer.add_interface(LINKTYPE_RAW, tsresol=9)
        writer.write_obsolete_pb(1, TS_NS, b"old", wirelen=40)

    packets, error = read_all(build(steps, big_endian=True))
    assert error is None
    assert packets == [(TS_NS, LINKTYPE_RAW, b"old", 40, 1)]


def test_non_packet_blocks_are_skipped() -> None:
    """NRB, ISB, DSB, custom and unknown blocks between packets are skipped."""

    def steps(writer: PcapngWriter) -> None:
        writer.write_unknown_block(0x00000004, b"\x00\x00\x00\x00")  # NRB, end of records
        iface = writer.add_interface(1, tsresol=9)
        writer.write_epb(iface, 1, b"a")
        writer.write_unknown_block(0x00000005, b"\x00" * 12)  # ISB
        writer.write_unknown_block(0x0000000A, b"TLSK" + b"\x00" * 4)  # DSB
        writer.write_unknown_block(0x00000BAD, b"\x00\x00\x7e\x7e custom")
        writer.write_unknown_block(0x12345678, b"")
        writer.write_epb(iface, 2, b"b")

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [(1, 1, b"a", 1, 0), (2, 1, b"b", 1, 0)]


def test_idb_options_before_tsresol_are_walked() -> None:
    """Options such as if_name before if_tsresol are skipped by their padded length."""
    idb_options = (
        struct.pack("<HH", 2, 5)
        + b"eth0\x00\x00\x00\x00"  # if_name, padded to 8
        + struct.pack("<HH", 9, 1)
        + b"\x09\x00\x00\x00"  # if_tsresol = 9
        + struct.pack("<HH", 0, 0)
    )

    def steps(writer: PcapngWriter) -> None:
        writer.write_unknown_block(1, struct.pack("<HHI", 1, 0, 0) + idb_options)
        writer.write_epb(0, 0, b"z", ticks=42)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [(42, 1, b"z", 1, 0)]


def test_blocks_larger_than_a_read_chunk() -> None:
    """A packet block bigger than the read chunk, and many crossing refills, come out whole."""
    payloads = [bytes([index % 256]) * ((index * 53) % 2000) for index in range(1500)]
    payloads.insert(700, b"\xaa" * (CHUNK_SIZE + 17))

    def steps(writer: PcapngWriter) -> None:
        iface = writer.add_interface(1, tsresol=9)
        for index, payload in enumerate(payloads):
            writer.write_epb(iface, index, payload)

    packets, error = read_all(build(steps))
    assert error is None
    assert packets == [(index, 1, data, len(data), 0) for index, data in enumerate(payloads)]


def two_packet_file() -> bytes:
    """SHB (28 bytes), IDB (20), EPB 'abcd' at 48 (36 bytes), EPB 'efghi' at 84 (40 bytes)."""

    def steps(writer: PcapngWriter) -> None:
        iface = writer.add_interface(1)
        writer.write_epb(iface, 1_000, b"abcd")
        writer.write_epb(iface, 2_000, b"efghi")

    data = build(steps)
    assert len(data) == 124
    return data


@pytest.mark.parametrize(
    ("cut", "kept", "error"),
    [
        (48, 0, None),
        (52, 0, "truncated block header at offset 48: 4 bytes left, the block needs 12"),
        (
            70,
            0,
            "truncated block (type 0x00000006) at offset 48: 22 bytes left, the block needs 36",
        ),
        (84, 1, None),
        (
            123,
            1,
            "truncated block (type 0x00000006) at offset 84: 39 bytes left, the block needs 40",
        ),
        (124, 2, None),
    ],
)
def test_truncated_file_keeps_earlier_packets(cut: int, kept: int, error: str | None) -> None:
    """A file cut anywhere yields the whole blocks before the cut and names the offset."""
    packets, got_error = read_all(two_packet_file()[:cut])
    assert packets == [(1_000, 1, b"abcd", 4, 0), (2_000, 1, b"efghi", 5, 0)][:kept]
    assert got_error == error


def test_trailing_length_mismatch_is_corrupt() -> None:
    """A block whose trailing length differs from its leading one stops reading there."""
    data = bytearray(two_packet_file())
    data[120:124] = struct.pack("<I", 44)
    packets, error = read_all(bytes(data))
    assert packets == [(1_000, 1, b"abcd", 4, 0)]
    assert error == (
        "corrupt block at offset 84: trailing length 44 does not match leading length 40 "
        "(type 0x00000006)"
    )


def test_block_length_not_multiple_of_four_is_corrupt() -> None:
    """A block total length that is not a multiple of 4 stops reading there."""
    data = bytearray(two_packet_file())
    data[88:92] = struct.pack("<I", 41)
    packets, error = read_all(bytes(data))
    assert packets == [(1_000, 1, b"abcd", 4, 0)]
    assert error == (
        "corrupt block at offset 84: block total length 41 (type 0x00000006) is not a "
        "multiple of 4 between 12 and 67108864"
    )


def test_captured_length_beyond_block_is_corrupt() -> None:
    """An EPB whose captured length overruns its block stops reading there."""
    data = bytearray(two_packet_file())
    data[104:108] = struct.pack("<I", 9)
    packets, error = read_all(bytes(data))
    assert packets == [(1_000, 1, b"abcd", 4, 0)]
    assert error == "corrupt block at offset 84: captured length 9 exceeds the block (length 40)"


def test_packet_on_undefined_interface_is_corrupt() -> None:
    """An EPB naming an interface the section never described stops reading there."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(1)
        writer.write_epb(0, 0, b"ok")
        writer.new_section()
        writer.add_interface(1)
        writer.write_epb(0, 0, b"ok")
        writer.write_raw(struct.pack("<IIIIIII", 6, 36, 1, 0, 0, 4, 4) + b"abcd" + b"\x24\0\0\0")

    packets, error = read_all(build(steps))
    assert [packet[4] for packet in packets] == [0, 1]
    assert error == (
        "corrupt block at offset 168: packet refers to interface 1, but the section defines 1"
    )


def test_simple_packet_before_any_interface_is_corrupt() -> None:
    """An SPB needs interface 0 to exist."""
    packets, error = read_all(build(lambda writer: writer.write_spb(b"abc")))
    assert packets == []
    assert error == (
        "corrupt block at offset 28: simple packet block before any interface description"
    )


def test_unsupported_major_version_is_corrupt() -> None:
    """A section of major version 2 is not read."""
    data = bytearray(two_packet_file())
    data[12:14] = struct.pack("<H", 2)
    packets, error = read_all(bytes(data))
    assert packets == []
    assert error == "corrupt block at offset 0: unsupported pcapng major version 2"


def test_bad_byte_order_magic_in_later_section_is_corrupt() -> None:
    """A later SHB without a valid byte-order magic stops reading there."""

    def steps(writer: PcapngWriter) -> None:
        writer.add_interface(1)
        writer.write_epb(0, 0, b"ok")
        writer.write_raw(struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x11223344, 1, 0, -1))
        writer.write_raw(struct.pack("<I", 28))

    packets, error = read_all(build(steps))
    assert len(packets) == 1
    assert error == "corrupt section header at offset 84: byte-order magic 0x44332211"


def test_gzip_pcapng_by_magic(tmp_path: Path) -> None:
    """A gzip-compressed pcapng named .pcap is recognised by its magic numbers."""
    path = tmp_path / "capture.pcap"
    path.write_bytes(gzip.compress(two_packet_file(), mtime=0))
    with open_source(path) as source:
        assert isinstance(source, PcapngReader)
        assert list(source) == [(1_000, 1, b"abcd", 4, 0), (2_000, 1, b"efghi", 5, 0)]
        assert source.error is None
