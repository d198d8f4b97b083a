"""TcpReassembler: generated segments for every reassembly case, exact event lists."""

from __future__ import annotations

import random
import sys

import pytest

from wiresift.flow.tcp import MAX_WINDOW, SEQ_MASK, TcpReassembler

ISN = 1000  # SYN sequence number of most tests; the stream starts at ISN + 1
DATA = bytes(range(256)) * 4  # 1024 distinct-enough bytes
Event = tuple[str, object]


class Recorder:
    """Turns the three callbacks into a list like [("data", b"..."), ("gap", 5)]."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.times: list[int] = []
        self.details: list[str] = []

    def on_data(self, data: bytes, ts: int) -> None:
        self.events.append(("data", data))
        self.times.append(ts)

    def on_gap(self, size: int, ts: int) -> None:
        self.events.append(("gap", size))
        self.times.append(ts)

    def on_anomaly(self, name: str, detail: str, ts: int) -> None:
        self.events.append(("anomaly", name))
        self.times.append(ts)
        self.details.append(detail)

    def stream(self) -> bytes:
        """Every delivered byte, in order."""
        return b"".join(value for kind, value in self.events if isinstance(value, bytes))

    def merged(self) -> list[Event]:
        """The events with neighbouring data chunks joined."""
        out: list[Event] = []
        for kind, value in self.events:
            if kind == "data" and out and out[-1][0] == "data":
                previous = out[-1][1]
                assert isinstance(previous, bytes)
                assert isinstance(value, bytes)
                out[-1] = ("data", previous + value)
            else:
                out.append((kind, value))
        return out


def make(
    *, max_ooo_bytes: int = 1 << 20, max_ooo_segments: int = 2048
) -> tuple[TcpReassembler, Recorder]:
    """A reassembler wired to a fresh recorder."""
    rec = Recorder()
    tcp = TcpReassembler(
        rec.on_data,
        rec.on_gap,
        rec.on_anomaly,
        max_ooo_bytes=max_ooo_bytes,
        max_ooo_segments=max_ooo_segments,
    )
    return tcp, rec


def started(**limits: int) -> tuple[TcpReassembler, Recorder]:
    """A reassembler that saw the SYN at ISN."""
    tcp, rec = make(**limits)
    tcp.syn(ISN)
    return tcp, rec


def send(tcp: TcpReassembler, offset: int, data: bytes, ts: int = 0, isn: int = ISN) -> None:
    """A segment carrying ``data`` at stream offset ``offset`` (after a SYN at ``isn``)."""
    tcp.segment((isn + 1 + offset) & SEQ_MASK, data, ts)


def chunks(data: bytes, size: int) -> list[tuple[int, bytes]]:
    """(offset, bytes) segments of ``data``, ``size`` bytes each."""
    return [(i, data[i : i + size]) for i in range(0, len(data), size)]


# -- in order ------------------------------------------------------------------------------


def test_in_order_segments_are_delivered_at_once_without_copy() -> None:
    """In-order segments come out immediately, as the very same bytes objects."""
    tcp, rec = started()
    first, second = DATA[:100], DATA[100:250]
    send(tcp, 0, first)
    assert rec.events == [("data", first)]
    assert rec.events[0][1] is first
    send(tcp, 100, second)
    assert rec.events == [("data", first), ("data", second)]
    assert rec.events[1][1] is second
    assert (tcp.next_seq, tcp.delivered, tcp.gap_bytes, tcp.buffered) == (ISN + 251, 250, 0, 0)


def test_byte_by_byte_segments_reassemble() -> None:
    """One-byte segments deliver one byte each, in order."""
    tcp, rec = started()
    for offset in range(len(DATA)):
        send(tcp, offset, DATA[offset : offset + 1])
    assert rec.merged() == [("data", DATA)]
    assert len(rec.events) == len(DATA)
    assert tcp.delivered == len(DATA)


def test_syn_then_data_starts_after_the_syn() -> None:
    """The first byte of the stream is at the SYN's sequence number plus one."""
    tcp, rec = make()
    assert tcp.next_seq is None
    tcp.syn(ISN)
    assert tcp.next_seq == ISN + 1
    tcp.segment(ISN + 1, b"hello", 7)
    assert rec.events == [("data", b"hello")]
    assert rec.times == [7]


def test_retransmitted_syn_changes_nothing() -> None:
    """A SYN seen again with the same sequence number is ignored quietly."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.syn(ISN, 5)
    send(tcp, 3, b"def")
    assert rec.events == [("data", b"abc"), ("data", b"def")]


def test_syn_with_other_seq_after_data_is_an_anomaly() -> None:
    """A SYN that contradicts a stream under way is reported and ignored."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.syn(ISN + 500, 9)
    send(tcp, 3, b"def")
    assert rec.events == [("data", b"abc"), ("anomaly", "tcp_syn_mismatch"), ("data", b"def")]
    assert rec.times[1] == 9


def test_new_syn_before_any_data_restarts_the_stream() -> None:
    """Before any byte was seen, a later SYN with a new number defines the stream."""
    tcp, rec = started()
    tcp.syn(ISN + 500)
    tcp.segment(ISN + 501, b"abc", 0)
    assert rec.events == [("data", b"abc")]
    assert tcp.next_seq == ISN + 504


# -- out of order --------------------------------------------------------------------------


def test_out_of_order_segment_waits_for_the_hole() -> None:
    """A segment after a hole is held, then delivered right after the filling segment."""
    tcp, rec = started()
    send(tcp, 0, b"aaaa")
    send(tcp, 8, b"cccc", ts=2)
    assert rec.events == [("data", b"aaaa")]
    assert tcp.buffered == 4
    send(tcp, 4, b"bbbb", ts=3)
    assert rec.events == [("data", b"aaaa"), ("data", b"bbbb"), ("data", b"cccc")]
    assert rec.times == [0, 3, 3]
    assert (tcp.buffered, tcp.delivered, tcp.next_seq) == (0, 12, ISN + 13)


def test_buffered_segment_is_delivered_without_copy() -> None:
    """A buffered segment that was wholly new is delivered as the same object."""
    tcp, rec = started()
    later = DATA[10:20]
    send(tcp, 10, later)
    send(tcp, 0, DATA[:10])
    assert rec.events == [("data", DATA[:10]), ("data", later)]
    assert rec.events[1][1] is later


def test_random_permutations_reassemble_to_the_same_bytes() -> None:
    """Many permutations (fixed seed) of 24 segments give the original bytes, no gap."""
    rng = random.Random(20240601)
    segments = chunks(DATA, 43)
    for _ in range(300):
        order = segments[:]
        rng.shuffle(order)
        tcp, rec = started()
        for offset, data in order:
            send(tcp, offset, data)
        assert rec.stream() == DATA
        assert [kind for kind, _ in rec.events] == ["data"] * len(segments)
        assert (tcp.delivered, tcp.buffered, tcp.gap_bytes) == (len(DATA), 0, 0)
        tcp.finish(0)
        assert len(rec.events) == len(segments)


def test_random_permutations_with_overlapping_resegmentation() -> None:
    """Permuted segments of two different segmentations (overlapping) reassemble exactly."""
    rng = random.Random(7)
    segments = chunks(DATA, 50) + [(17 + offset, data) for offset, data in chunks(DATA[17:], 31)]
    for _ in range(200):
        rng.shuffle(segments)
        tcp, rec = started()
        for offset, data in segments:
            send(tcp, offset, data)
        assert rec.stream() == DATA
        assert {kind for kind, _ in rec.events} == {"data"}
        assert tcp.retransmitted == len(DATA) - 17
        assert (tcp.buffered, tcp.gap_bytes) == (0, 0)


# -- retransmissions and overlaps ----------------------------------------------------------


def test_retransmission_of_delivered_data_is_dropped_and_counted() -> None:
    """Data already delivered is dropped quietly and counted in retransmitted."""
    tcp, rec = started()
    send(tcp, 0, b"abcd")
    send(tcp, 4, b"efgh")
    send(tcp, 0, b"abcd")
    send(tcp, 2, b"XXXX")  # differs, but delivered bytes are not kept: cannot be compared
    assert rec.events == [("data", b"abcd"), ("data", b"efgh")]
    assert tcp.retransmitted == 8


def test_partially_new_segment_delivers_only_its_new_tail() -> None:
    """A segment overlapping delivered data delivers its new part only."""
    tcp, rec = started()
    send(tcp, 0, b"abcd")
    send(tcp, 2, b"cdefgh")
    assert rec.events == [("data", b"abcd"), ("data", b"efgh")]
    assert (tcp.retransmitted, tcp.delivered) == (2, 8)


def test_overlap_with_buffered_identical_bytes_is_quiet() -> None:
    """A duplicate of buffered data is dropped and counted, without anomaly."""
    tcp, rec = started()
    send(tcp, 4, b"efgh")
    send(tcp, 4, b"efgh")
    send(tcp, 6, b"ghij")
    assert tcp.buffered == 6
    send(tcp, 0, b"abcd")
    assert rec.events == [("data", b"abcd"), ("data", b"efgh"), ("data", b"ij")]
    assert tcp.retransmitted == 6


def test_overlap_with_buffered_differing_bytes_keeps_the_first() -> None:
    """Buffered bytes win over later different bytes, with tcp_overlap_mismatch."""
    tcp, rec = started()
    send(tcp, 4, b"efgh", ts=1)
    send(tcp, 2, b"cdeXghij", ts=2)
    assert rec.events == [("anomaly", "tcp_overlap_mismatch")]
    assert rec.details == [
        "bytes at offset 5 differ from buffered data; the buffered bytes are kept"
    ]
    assert rec.times == [2]
    send(tcp, 0, b"ab", ts=3)
    assert rec.merged()[1:] == [("data", b"abcdefghij")]
    assert (tcp.buffered, tcp.retransmitted, tcp.delivered) == (0, 4, 10)


def test_segment_spanning_several_buffered_pieces_fills_between_them() -> None:
    """A long segment fills the holes between buffered pieces; the pieces stay as they were."""
    tcp, rec = started()
    send(tcp, 2, b"CD")
    send(tcp, 6, b"GH")
    send(tcp, 0, b"abcdefghij")
    assert rec.events == [
        ("anomaly", "tcp_overlap_mismatch"),
        ("data", b"ab"),
        ("data", b"CD"),
        ("data", b"ef"),
        ("data", b"GH"),
        ("data", b"ij"),
    ]
    assert rec.details == [
        "bytes at offset 2 differ from buffered data; the buffered bytes are kept"
    ]


def test_segment_inside_a_buffered_one_reports_the_first_differing_byte() -> None:
    """A segment within a buffered one is compared to it byte for byte."""
    tcp, rec = started()
    send(tcp, 10, b"0123456789")
    send(tcp, 12, b"23x5")
    send(tcp, 12, b"2345")
    assert rec.events == [("anomaly", "tcp_overlap_mismatch")]
    assert rec.details == [
        "bytes at offset 14 differ from buffered data; the buffered bytes are kept"
    ]
    assert (tcp.buffered, tcp.retransmitted) == (10, 8)


# -- holes -----------------------------------------------------------------------------------


def test_hole_is_reported_at_finish_with_its_size_and_place() -> None:
    """finish() reports data, gap(n), data: the hole keeps its exact size and position."""
    tcp, rec = started()
    send(tcp, 0, b"0123456789")
    send(tcp, 15, b"fghij")
    send(tcp, 30, b"uvw")
    assert rec.events == [("data", b"0123456789")]
    tcp.finish(99)
    assert rec.events == [
        ("data", b"0123456789"),
        ("gap", 5),
        ("data", b"fghij"),
        ("gap", 10),
        ("data", b"uvw"),
    ]
    assert rec.times[1:] == [99, 99, 99, 99]
    assert (tcp.delivered, tcp.gap_bytes, tcp.buffered, tcp.next_seq) == (18, 15, 0, ISN + 34)


def test_hole_at_the_very_start_is_reported_at_finish() -> None:
    """With the SYN seen, missing first bytes are a gap before the data."""
    tcp, rec = started()
    send(tcp, 6, b"later")
    tcp.finish(0)
    assert rec.events == [("gap", 6), ("data", b"later")]


def test_ack_beyond_a_hole_declares_it_a_gap() -> None:
    """An ack covering buffered data turns the hole before it into a gap at once."""
    tcp, rec = started()
    send(tcp, 0, b"0123456789")
    send(tcp, 15, b"fghij")
    send(tcp, 30, b"uvw")
    tcp.ack((ISN + 1 + 12) & SEQ_MASK, 5)  # inside the hole: nothing yet
    assert rec.events == [("data", b"0123456789")]
    tcp.ack((ISN + 1 + 20) & SEQ_MASK, 6)
    assert rec.events == [("data", b"0123456789"), ("gap", 5), ("data", b"fghij")]
    assert rec.times[1:] == [6, 6]
    assert (tcp.gap_bytes, tcp.buffered) == (5, 3)
    tcp.ack((ISN + 1 + 33) & SEQ_MASK, 7)
    assert rec.events[3:] == [("gap", 10), ("data", b"uvw")]
    assert (tcp.gap_bytes, tcp.buffered, tcp.next_seq) == (15, 0, ISN + 34)


def test_ack_before_the_data_is_remembered_not_reported() -> None:
    """An ack beyond everything seen emits nothing; later in-order data is normal."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.ack(ISN + 1 + 9, 1)
    assert rec.events == [("data", b"abc")]
    send(tcp, 3, b"def")
    send(tcp, 6, b"ghi")
    assert rec.merged() == [("data", b"abcdefghi")]
    tcp.finish(2)
    assert tcp.gap_bytes == 0


def test_segment_below_a_remembered_ack_fills_its_hole_at_once() -> None:
    """After an ack beyond next_seq, an out-of-order segment under it makes a gap at once."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.ack(ISN + 1 + 20, 1)
    send(tcp, 10, b"klm", ts=2)
    assert rec.events == [("data", b"abc"), ("gap", 7), ("data", b"klm")]
    send(tcp, 25, b"z", ts=3)  # beyond the ack: waits
    assert rec.events[3:] == []
    assert tcp.buffered == 1


def test_ack_exactly_at_buffered_data_declares_the_hole() -> None:
    """An ack equal to the first buffered byte, or a segment starting at the ack, fills."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    send(tcp, 10, b"klm")
    tcp.ack(ISN + 1 + 10, 1)
    assert rec.events == [("data", b"abc"), ("gap", 7), ("data", b"klm")]
    tcp.ack(ISN + 1 + 20, 2)
    send(tcp, 20, b"uvw", ts=3)
    assert rec.events[3:] == [("gap", 7), ("data", b"uvw")]
    assert rec.times[3:] == [3, 3]


def test_ack_equal_to_next_seq_or_behind_changes_nothing() -> None:
    """Acks at or behind next_seq, and acks before any data, are ignored."""
    tcp, rec = make()
    tcp.ack(5000, 0)
    tcp.syn(ISN)
    send(tcp, 0, b"abc")
    send(tcp, 10, b"klm")
    tcp.ack(ISN + 4, 1)
    tcp.ack(ISN + 2, 1)
    assert rec.events == [("data", b"abc")]
    assert tcp.buffered == 3


def test_ack_of_the_fin_adds_no_gap() -> None:
    """The FIN's own sequence number in an ack is not a missing byte."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.fin(ISN + 4, 1)
    tcp.ack(ISN + 5, 2)
    tcp.finish(3)
    assert rec.events == [("data", b"abc")]


# -- out-of-order limits ---------------------------------------------------------------------


def test_ooo_segment_limit_declares_the_first_hole() -> None:
    """Past max_ooo_segments: anomaly, gap of the first hole, the data after it."""
    tcp, rec = started(max_ooo_segments=2)
    send(tcp, 0, b"0123456789")
    send(tcp, 20, b"k" * 10)
    send(tcp, 40, b"u" * 10)
    assert rec.events == [("data", b"0123456789")]
    send(tcp, 60, b"z" * 10, ts=4)
    assert rec.events[1:] == [("anomaly", "tcp_ooo_limit"), ("gap", 10), ("data", b"k" * 10)]
    assert rec.times[1:] == [4, 4, 4]
    assert (tcp.buffered, tcp.gap_bytes, tcp.next_seq) == (20, 10, ISN + 31)
    send(tcp, 30, b"t" * 10)
    assert rec.events[4:] == [("data", b"t" * 10), ("data", b"u" * 10)]


def test_ooo_byte_limit_flushes_until_within_the_limit() -> None:
    """Past max_ooo_bytes, holes are declared one by one until the store fits again."""
    tcp, rec = started(max_ooo_bytes=15)
    send(tcp, 10, b"a" * 5)
    send(tcp, 20, b"b" * 5)
    send(tcp, 30, b"c" * 5)
    assert tcp.buffered == 15
    send(tcp, 40, b"d" * 5)
    assert rec.events == [
        ("anomaly", "tcp_ooo_limit"),
        ("gap", 10),
        ("data", b"a" * 5),
    ]
    assert rec.details == ["20 bytes in 4 out-of-order segments exceed 15 bytes or 2048 segments"]
    send(tcp, 50, b"e" * 40)
    assert rec.events[3:] == [
        ("anomaly", "tcp_ooo_limit"),
        ("gap", 5),
        ("data", b"b" * 5),
        ("gap", 5),
        ("data", b"c" * 5),
        ("gap", 5),
        ("data", b"d" * 5),
        ("gap", 5),
        ("data", b"e" * 40),
    ]
    assert (tcp.buffered, tcp.gap_bytes, tcp.delivered) == (0, 30, 60)


def test_zero_ooo_limit_turns_every_hole_into_a_gap_at_once() -> None:
    """With no out-of-order room, every out-of-order segment comes after a gap."""
    tcp, rec = started(max_ooo_bytes=0)
    send(tcp, 3, b"def")
    assert rec.events == [("anomaly", "tcp_ooo_limit"), ("gap", 3), ("data", b"def")]
    send(tcp, 0, b"abc")
    assert len(rec.events) == 3
    assert tcp.retransmitted == 3


# -- sequence wrap and long streams ----------------------------------------------------------


def test_sequence_numbers_wrap_across_2_to_32() -> None:
    """An ISN near 0xFFFFFFFF reassembles across the wrap, in and out of order."""
    isn = 0xFFFF_FFF0
    tcp, rec = make()
    tcp.syn(isn)
    send(tcp, 0, DATA[:10], isn=isn)  # 0xFFFFFFF1 .. 0xFFFFFFFA
    send(tcp, 20, DATA[20:40], isn=isn)  # seq 5, after the wrap
    send(tcp, 10, DATA[10:20], isn=isn)  # straddles 2**32
    assert rec.merged() == [("data", DATA[:40])]
    assert tcp.next_seq == isn + 41
    assert tcp.next_seq > 1 << 32
    send(tcp, 5, DATA[5:15], isn=isn)  # retransmission before the wrap
    tcp.ack((isn + 1 + 60) & SEQ_MASK, 0)
    send(tcp, 50, DATA[50:60], isn=isn)
    assert rec.merged() == [("data", DATA[:40]), ("gap", 10), ("data", DATA[50:60])]


def test_syn_at_the_top_of_the_sequence_space() -> None:
    """A SYN at 0xFFFFFFFF puts the first byte at sequence number 0."""
    tcp, rec = make()
    tcp.syn(0xFFFF_FFFF)
    tcp.segment(0, b"abc", 0)
    assert rec.events == [("data", b"abc")]
    assert tcp.next_seq == (1 << 32) + 3


def test_stream_longer_than_4_gib_keeps_working() -> None:
    """Past two wraps of the 32-bit space, positions stay exact (absolute next_seq)."""
    rec = Recorder()
    block = bytes(1 << 16)
    blocks = (1 << 17) + 3  # 8 GiB and a bit: the sequence number wraps twice
    seq = ISN + 1
    deliveries = 0

    def count(data: bytes, ts: int) -> None:
        nonlocal deliveries
        deliveries += 1

    tcp = TcpReassembler(count, rec.on_gap, rec.on_anomaly, max_ooo_bytes=1, max_ooo_segments=1)
    tcp.syn(ISN)
    for _ in range(blocks):
        tcp.segment(seq & SEQ_MASK, block, 0)
        seq += len(block)
    assert tcp.next_seq == ISN + 1 + blocks * len(block)
    assert (deliveries, tcp.delivered) == (blocks, blocks * len(block))
    tcp.segment((seq + 5) & SEQ_MASK, b"x", 0)  # held: one segment, one byte
    tcp.segment((seq + 10) & SEQ_MASK, b"y", 0)  # two: over the limits
    assert rec.events == [("anomaly", "tcp_ooo_limit"), ("gap", 5)]
    assert deliveries == blocks + 1
    assert tcp.next_seq == seq + 6
    assert tcp.buffered == 1


# -- start and end ---------------------------------------------------------------------------


def test_mid_stream_start_takes_the_first_segment_as_start() -> None:
    """Without a SYN the first segment with payload starts the stream."""
    tcp, rec = make()
    tcp.segment(123_456, b"", 0)  # no payload: does not start the stream
    assert tcp.next_seq is None
    tcp.segment(5_000_000, b"middle", 1)
    tcp.segment(5_000_006, b"-more", 2)
    assert rec.events == [("data", b"middle"), ("data", b"-more")]
    assert tcp.next_seq == 5_000_011


def test_data_before_a_mid_stream_start_is_ignored() -> None:
    """Earlier data arriving after the start is dropped with tcp_data_before_start."""
    tcp, rec = make()
    tcp.segment(5000, b"start", 0)
    tcp.segment(4990, b"0123456789", 1)
    assert rec.events == [("data", b"start"), ("anomaly", "tcp_data_before_start")]
    assert rec.details == ["10 bytes before the stream start"]
    tcp.segment(4997, b"abcstartMORE", 2)  # straddles the start: the tail is kept
    assert rec.events[2:] == [("anomaly", "tcp_data_before_start"), ("data", b"MORE")]
    assert rec.details[1] == "3 bytes before the stream start"
    assert (tcp.delivered, tcp.retransmitted) == (9, 5)


def test_data_far_before_the_start_is_out_of_window() -> None:
    """A segment more than the largest window before the start is unrelated data."""
    tcp, rec = make()
    tcp.segment(0x9000_0000, b"start", 0)
    tcp.segment(0x9000_0000 - MAX_WINDOW - 1, b"x", 1)
    tcp.segment(0x9000_0000 - MAX_WINDOW, b"y", 1)
    assert rec.events == [
        ("data", b"start"),
        ("anomaly", "tcp_seq_out_of_window"),
        ("anomaly", "tcp_data_before_start"),
    ]


def test_data_before_the_syn_start_is_an_anomaly() -> None:
    """With the SYN seen, data at or before the SYN's number is old data."""
    tcp, rec = started()
    tcp.segment(ISN - 3, b"abcd", 0)
    assert rec.events == [("anomaly", "tcp_data_before_start")]


def test_fin_with_a_hole_before_it_reports_a_gap_at_finish() -> None:
    """A hole before the FIN becomes a gap of its exact size when the connection ends."""
    tcp, rec = started()
    send(tcp, 0, b"0123456789")
    send(tcp, 15, b"fghij")
    tcp.fin(ISN + 1 + 30, 1)
    assert rec.events == [("data", b"0123456789")]
    tcp.finish(2)
    assert rec.events == [
        ("data", b"0123456789"),
        ("gap", 5),
        ("data", b"fghij"),
        ("gap", 10),
    ]
    assert tcp.next_seq == ISN + 31


def test_fin_before_its_data_lets_the_data_through() -> None:
    """Data below a FIN seen first is delivered normally."""
    tcp, rec = started()
    tcp.fin(ISN + 1 + 6, 0)
    send(tcp, 0, b"abc")
    send(tcp, 3, b"def")
    tcp.finish(1)
    assert rec.events == [("data", b"abc"), ("data", b"def")]


def test_data_after_fin_is_dropped() -> None:
    """Bytes at or beyond the FIN are dropped with tcp_data_after_fin; the part before it stays."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    tcp.fin(ISN + 1 + 6, 0)
    send(tcp, 6, b"zz")
    send(tcp, 3, b"defXY")
    tcp.finish(0)
    assert rec.events == [
        ("data", b"abc"),
        ("anomaly", "tcp_data_after_fin"),
        ("anomaly", "tcp_data_after_fin"),
        ("data", b"def"),
    ]
    assert rec.details == ["2 bytes after the FIN", "2 bytes after the FIN"]


def test_fin_trims_buffered_data_beyond_it() -> None:
    """A FIN below buffered data drops the buffered bytes past it."""
    tcp, rec = started()
    send(tcp, 0, b"ab")
    send(tcp, 4, b"efgh")
    send(tcp, 10, b"kl")
    tcp.fin(ISN + 1 + 6, 1)
    assert rec.events == [("data", b"ab"), ("anomaly", "tcp_data_after_fin")]
    assert rec.details == ["4 buffered bytes after the FIN"]
    assert tcp.buffered == 2
    tcp.finish(2)
    assert rec.events[2:] == [("gap", 2), ("data", b"ef")]


def test_fin_contradicting_the_stream_is_ignored() -> None:
    """A second FIN elsewhere, or a FIN inside delivered data, is reported and ignored."""
    tcp, rec = started()
    send(tcp, 0, b"abcdef")
    tcp.fin(ISN + 3, 0)
    tcp.fin(ISN + 7, 0)
    tcp.fin(ISN + 7, 0)  # retransmitted FIN
    tcp.fin(ISN + 9, 0)
    tcp.finish(0)
    assert rec.events == [
        ("data", b"abcdef"),
        ("anomaly", "tcp_fin_mismatch"),
        ("anomaly", "tcp_fin_mismatch"),
    ]
    assert rec.details == [
        "FIN at offset 2 inside data delivered up to offset 6",
        "FIN at offset 8 after a FIN at offset 6",
    ]


def test_fin_without_any_data_is_an_empty_stream() -> None:
    """A FIN alone starts and ends the stream; data before it is old data."""
    tcp, rec = make()
    tcp.fin(777, 0)
    tcp.finish(1)
    assert rec.events == []
    assert (tcp.next_seq, tcp.delivered) == (777, 0)


def test_finish_before_anything_is_quiet() -> None:
    """A direction that saw nothing finishes without events."""
    tcp, rec = make()
    tcp.finish(0)
    assert rec.events == []


# -- probes and empty segments ---------------------------------------------------------------


def test_keepalive_probes_are_dropped_quietly() -> None:
    """Keep-alives (0 or 1 byte at next_seq - 1, RFC 9293 s3.8.4) cause no event."""
    tcp, rec = started()
    tcp.segment(ISN, b"\x00", 0)  # before any data: at the SYN's sequence number
    tcp.segment(ISN, b"", 0)
    send(tcp, 0, b"abc")
    send(tcp, 2, b"\x00")
    send(tcp, 2, b"")
    send(tcp, 3, b"def")
    assert rec.merged() == [("data", b"abcdef")]
    assert tcp.retransmitted == 2


def test_zero_window_probe_byte_is_delivered_once() -> None:
    """A zero-window probe carries the next byte; its retransmission is dropped."""
    tcp, rec = started()
    send(tcp, 0, b"abc")
    send(tcp, 3, b"d")  # probe (RFC 9293 s3.8.6.1)
    send(tcp, 3, b"d")  # probe again
    send(tcp, 3, b"defgh")  # the window opened
    assert rec.events == [("data", b"abc"), ("data", b"d"), ("data", b"efgh")]
    assert tcp.retransmitted == 2


def test_zero_length_segments_change_nothing() -> None:
    """Segments without payload are ignored wherever they fall."""
    tcp, rec = started()
    for offset in (-5, 0, 3, 100):
        send(tcp, offset, b"")
    send(tcp, 0, b"abc")
    send(tcp, 50, b"")
    assert rec.events == [("data", b"abc")]
    assert (tcp.next_seq, tcp.buffered, tcp.retransmitted) == (ISN + 4, 0, 0)


# -- memory ----------------------------------------------------------------------------------


def idle_size(tcp: TcpReassembler) -> int:
    """Bytes of the object and of the slot values it owns (callbacks belong to the caller)."""
    owned = [getattr(tcp, name) for name in TcpReassembler.__slots__ if "on_" not in name]
    return sys.getsizeof(tcp) + sum(sys.getsizeof(value) for value in owned)


@pytest.mark.parametrize("state", ["new", "after_traffic"])
def test_idle_reassembler_is_small(state: str) -> None:
    """An idle direction holds no list: both directions stay well under 1 KB."""
    tcp, _ = started()
    if state == "after_traffic":
        send(tcp, 10, DATA[10:100])
        send(tcp, 0, DATA[:10])
    assert tcp._ooo is None
    assert not hasattr(tcp, "__dict__")
    assert 2 * idle_size(tcp) < 1024


def test_ack_before_any_data_marks_the_start_of_a_mid_stream_capture() -> None:
    """The peer's ACK seen first sets the start: later data shown earlier is buffered."""
    tcp, rec = make()
    tcp.ack(5000, 0)
    tcp.segment(5000 + 100, DATA[100:200], 1)
    assert rec.events == []
    tcp.segment(5000, DATA[:100], 2)
    assert rec.merged() == [("data", DATA[:200])]


def test_ack_start_is_overridden_by_a_later_syn() -> None:
    """A SYN that arrives after the peer's ACK (reordered handshake) still sets the start."""
    tcp, rec = make()
    tcp.ack(ISN + 1, 0)
    tcp.syn(ISN, 1)
    send(tcp, 0, DATA[:10])
    assert rec.events == [("data", DATA[:10])]


def test_ack_start_with_the_bytes_never_captured_reports_a_leading_gap() -> None:
    """Data acked-from but never seen becomes a gap of its size before the first bytes."""
    tcp, rec = make()
    tcp.ack(5000, 0)
    tcp.segment(5030, DATA[:10], 1)
    tcp.finish(2)
    assert rec.events == [("gap", 30), ("data", DATA[:10])]
