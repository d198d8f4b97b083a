"""Classic pcap reader: every header variant, exact timestamps, damage handling."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import pytest

from tests.pcapgen import PcapWriter
from wiresift.capture import PcapReader, RawPacket, open_source, open_stream
from wiresift.capture.pcap import CHUNK_SIZE

TS_NS = 1_700_000_000_123_456_789
PACKETS: list[tuple[int, bytes, int]] = [
    (TS_NS, b"\x01" * 60, 60),
    (TS_NS + 1_000_000_001, b"\x02" * 1514, 9000),  # snapped: wirelen > caplen
    (TS_NS + 2_999_999_999, b"", 0),
]


def make_pcap(
    packets: list[tuple[int, bytes, int]] = PACKETS,
    *,
    nanosecond: bool = False,
    big_endian: bool = False,
    linktype: int = 1,
    snaplen: int = 262144,
) -> bytes:
    """Pcap bytes holding ``packets`` as (ts_ns, data, wirelen)."""
    out = io.BytesIO()
    writer = PcapWriter(
        out, linktype=linktype, nanosecond=nanosecond, big_endian=big_endian, snaplen=snaplen
    )
    for ts_ns, data, wirelen in packets:
        writer.write(ts_ns, data, wirelen)
    return out.getvalue()


def read_all(data: bytes) -> tuple[list[RawPacket], str | None]:
    """Every packet of an in-memory capture, and the reader's error."""
    source = open_stream(io.BytesIO(data), name="mem", total=len(data))
    packets = list(source)
    return packets, source.error


@pytest.mark.parametrize("big_endian", [False, True])
def test_microsecond_pcap_yields_exact_tuples(big_endian: bool) -> None:
    """A microsecond pcap keeps the microseconds and drops nothing else, in both byte orders."""
    packets, error = read_all(make_pcap(big_endian=big_endian))
    assert error is None
    assert packets == [
        (1_700_000_000_123_456_000, 1, b"\x01" * 60, 60, 0),
        (1_700_000_001_123_456_000, 1, b"\x02" * 1514, 9000, 0),
        (1_700_000_003_123_456_000, 1, b"", 0, 0),
    ]


@pytest.mark.parametrize("big_endian", [False, True])
def test_nanosecond_pcap_keeps_nanoseconds(big_endian: bool) -> None:
    """The a1b23c4d magic means nanosecond fractions, in both byte orders."""
    packets, error = read_all(make_pcap(nanosecond=True, big_endian=big_endian))
    assert error is None
    assert [packet[0] for packet in packets] == [
        1_700_000_000_123_456_789,
        1_700_000_001_123_456_790,
        1_700_000_003_123_456_788,
    ]


@pytest.mark.parametrize(("nanosecond", "big_endian"), [(False, True), (True, False)])
def test_header_fields_are_exposed(nanosecond: bool, big_endian: bool) -> None:
    """The reader reports the header's resolution, byte order, snaplen and link type."""
    data = make_pcap(nanosecond=nanosecond, big_endian=big_endian, snaplen=65535, linktype=113)
    reader = open_stream(io.BytesIO(data))
    assert isinstance(reader, PcapReader)
    assert (reader.nanosecond, reader.big_endian, reader.snaplen, reader.linktype) == (
        nanosecond,
        big_endian,
        65535,
        113,
    )


def test_linktype_upper_bits_are_masked() -> None:
    """FCS-length bits above the low 16 bits of the link type field are ignored."""
    packets, error = read_all(make_pcap(linktype=0x44000001))
    assert error is None
    assert {packet[1] for packet in packets} == {1}


def test_yielded_data_is_immutable_bytes() -> None:
    """Packet data is ``bytes``, not a view into the reader's buffer."""
    packets, _ = read_all(make_pcap())
    assert [type(packet[2]) for packet in packets] == [bytes, bytes, bytes]


def test_kuznetzov_records_are_read() -> None:
    """The a1b2cd34 variant has 24-byte record headers; the extra bytes are skipped."""
    header = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 10, 20, 4, 4) + b"\x00" * 8 + b"abcd"
    packets, error = read_all(header + record + record)
    assert error is None
    assert packets == [(10_000_020_000, 1, b"abcd", 4, 0)] * 2


def test_packets_straddling_chunks_and_larger_than_a_chunk() -> None:
    """Records crossing refill boundaries, and one bigger than a chunk, come out whole."""
    sizes = [(index * 37) % 1600 for index in range(3000)] + [CHUNK_SIZE * 2 + 3, 5]
    packets_in = [
        (index * 1000, bytes([index % 256]) * size, size) for index, size in enumerate(sizes)
    ]
    packets, error = read_all(make_pcap(packets_in))
    assert error is None
    assert packets == [(ts, 1, data, wirelen, 0) for ts, data, wirelen in packets_in]


def test_caplen_above_wirelen_is_tolerated() -> None:
    """A captured length above the original length is odd but readable."""
    packets, error = read_all(make_pcap([(0, b"xyz", 1)]))
    assert error is None
    assert packets == [(0, 1, b"xyz", 1, 0)]


def test_impossible_caplen_stops_with_offset() -> None:
    """A record claiming 4 GiB stops reading there; earlier packets are kept."""
    good = make_pcap(PACKETS[:1])
    damaged = good + struct.pack("<IIII", 1, 0, 0xFFFFFFFF, 60) + b"\x00" * 64
    packets, error = read_all(damaged)
    assert len(packets) == 1
    assert error == (
        "corrupt packet record at offset 100: captured length 4294967295 exceeds the limit "
        "of 262144 bytes (snaplen 262144)"
    )


def test_caplen_above_libpcap_maximum_is_corrupt_even_below_snaplen_cap() -> None:
    """With a small snaplen the limit is libpcap's 262144, not the snaplen."""
    big = b"\x00" * 262145
    packets, error = read_all(make_pcap([(0, b"a", 1), (0, big, len(big))], snaplen=1500))
    assert [packet[2] for packet in packets] == [b"a"]
    assert error == (
        "corrupt packet record at offset 41: captured length 262145 exceeds the limit "
        "of 262144 bytes (snaplen 1500)"
    )


def test_large_snaplen_allows_records_up_to_it() -> None:
    """A 300000-byte record is fine when the header's snaplen allows it."""
    big = b"\x07" * 300_000
    packets, error = read_all(make_pcap([(0, big, len(big))], snaplen=400_000))
    assert error is None
    assert packets == [(0, 1, big, 300_000, 0)]


@pytest.mark.parametrize(
    ("cut", "kept", "error"),
    [
        (24, 0, None),
        (30, 0, "truncated packet record at offset 24: 6 bytes left, the record needs 16"),
        (50, 0, "truncated packet record at offset 24: 26 bytes left, the record needs 76"),
        (100, 1, None),
        (115, 1, "truncated packet record at offset 100: 15 bytes left, the record needs 16"),
        (1000, 1, "truncated packet record at offset 100: 900 bytes left, the record needs 1530"),
        (1630, 2, None),
        (1645, 2, "truncated packet record at offset 1630: 15 bytes left, the record needs 16"),
    ],
)
def test_truncated_file_keeps_earlier_packets(cut: int, kept: int, error: str | None) -> None:
    """A file cut anywhere yields the whole records before the cut and names the offset."""
    packets, got_error = read_all(make_pcap()[:cut])
    assert packets == [
        (ts - ts % 1000, 1, data, wirelen, 0) for ts, data, wirelen in PACKETS[:kept]
    ]
    assert got_error == error


def test_gzip_pcap_reads_like_the_plain_file(tmp_path: Path) -> None:
    """A gzip-compressed pcap yields the same packets; progress counts compressed bytes."""
    path = tmp_path / "capture.bin"
    path.write_bytes(gzip.compress(make_pcap(nanosecond=True), mtime=0))
    with open_source(path) as source:
        packets = list(source)
        assert source.error is None
        assert source.bytes_read() == source.total_bytes() == path.stat().st_size
    assert [(packet[0], packet[2]) for packet in packets] == [(ts, data) for ts, data, _ in PACKETS]


def test_truncated_gzip_keeps_decompressed_packets(tmp_path: Path) -> None:
    """A gzip stream cut short yields what decompressed and reports the damage."""
    many = [(index * 1000, bytes([index % 256]) * 200, 200) for index in range(2000)]
    compressed = gzip.compress(make_pcap(many), compresslevel=1, mtime=0)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with open_source(path) as source:
        packets = list(source)
        error = source.error
    assert 0 < len(packets) < len(many)
    assert packets == [(ts, 1, data, wirelen, 0) for ts, data, wirelen in many[: len(packets)]]
    assert error is not None
    assert error.startswith("damaged gzip data: Compressed file ended before the end-of-stream")


def test_progress_and_name_of_a_plain_file(tmp_path: Path) -> None:
    """``name`` is the path, ``total_bytes`` the size, ``bytes_read`` reaches it at the end."""
    path = tmp_path / "a.pcap"
    path.write_bytes(make_pcap())
    with open_source(path) as source:
        assert (source.name, source.total_bytes()) == (str(path), 1646)
        assert len(list(source)) == 3
        assert source.bytes_read() == 1646


def test_second_iteration_is_refused() -> None:
    """A capture is a stream: iterating it twice is a programming error."""
    source = open_stream(io.BytesIO(make_pcap()))
    list(source)
    with pytest.raises(RuntimeError, match="iterated only once"):
        iter(source)
