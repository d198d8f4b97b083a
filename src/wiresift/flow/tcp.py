"""Per-direction TCP stream reassembly (RFC 9293).

One ``TcpReassembler`` follows one direction of one connection. It is sans-IO: the flow
table calls ``syn``/``segment``/``fin``/``ack``/``finish`` with packet fields and packet
time, and the reassembler answers through three callbacks, so the packet path builds no
list per packet:

- ``on_data(data, ts)``: the next in-order bytes of the stream;
- ``on_gap(size, ts)``: ``size`` bytes of the stream that were never seen. A hole is
  always reported with its exact size at its exact place; bytes are never glued across it;
- ``on_anomaly(name, detail, ts)``: misbehaviour of the peer or of the capture.

``ts`` is the packet time (integer ns) of the call that made the bytes available, so
buffered data delivered when a hole fills carries the time of the filling segment.

Rules:

- Sequence numbers are 32-bit and wrap; they are compared modulo 2**32 (RFC 9293 s3.4):
  a segment is placed within 2**31 of the next expected byte. Positions are tracked as an
  unbounded absolute number (``next_seq``: the stream's first 32-bit sequence number,
  extended past each wrap), so streams longer than 4 GiB keep working.
- Start: ``syn(seq)`` starts the stream at seq+1 (the SYN occupies one sequence number,
  RFC 9293 s3.4). Without a SYN (capture started mid-connection) the other side's first
  acknowledgement sets the start when it comes first (it names the first byte not yet
  received, so data the capture shows out of order ahead of it is buffered), else the first
  segment with payload does; a SYN seen later still overrides either. A later segment that
  begins before the start is old data: the bytes before the start are dropped with
  ``tcp_data_before_start`` (the rest of the segment is kept). A segment that begins more
  than ``MAX_WINDOW`` (1 GiB, the largest window a TCP can advertise, RFC 7323 s2.3) before
  the start cannot have been in flight when the stream started: it is dropped with
  ``tcp_seq_out_of_window``.
- In order: delivered at once. When the whole segment is new, ``on_data`` receives the
  very bytes object that was passed in (no copy).
- Retransmissions: bytes already delivered are dropped and counted in ``retransmitted``.
  Delivered bytes are not kept, so a retransmission that differs from them cannot be
  detected. A segment that is partly new delivers only its new tail.
- Overlaps with buffered out-of-order data: the first bytes seen win and are kept. The
  overlapping part is compared; when it differs the anomaly is ``tcp_overlap_mismatch``
  (one per segment; the detail gives the stream offset of the first differing byte).
  Overlapping bytes count in ``retransmitted``.
- Out of order: segments are kept sorted and non-overlapping (bisect on their start) and
  delivered when the hole before them fills. The store is bounded: when the buffered bytes
  exceed ``max_ooo_bytes`` or the buffered segments exceed ``max_ooo_segments``, the
  anomaly ``tcp_ooo_limit`` is reported, the hole before the first buffered segment is
  declared a gap, and the data that follows it is delivered; this repeats until the store
  is within both limits again. The store is created only when first needed and dropped
  when it empties.
- Acknowledgements of the other side (``ack``) declare holes: when the peer acknowledges
  beyond ``next_seq`` and buffered data starts at or before that ack, the peer received
  the missing bytes and the capture lost them, so the hole is declared a gap (counted,
  no anomaly) and the contiguous buffered data is delivered. An ack beyond ``next_seq``
  with nothing buffered is only remembered: captures sometimes show the ack before the
  data. A later out-of-order segment that starts at or below the remembered ack then
  fills its hole with a gap at once. Bytes acknowledged but never seen after the last
  byte seen are not reported at ``finish``: an ack also counts a FIN that may not have
  been captured (RFC 9293 s3.4), so their size would not be exact.
- FIN: ``fin(seq)`` records the end of the stream (``seq`` is the FIN's own sequence
  number, after the data of its segment). A hole before the FIN is reported as a gap at
  ``finish``. Data at or beyond the FIN, arriving or already buffered, is dropped with
  ``tcp_data_after_fin``. A second FIN elsewhere, or a FIN inside data already delivered,
  is ignored with ``tcp_fin_mismatch``.
- ``finish``: every remaining hole becomes a gap followed by the buffered data, in order,
  then the hole before a known FIN.
- Keep-alive probes (RFC 9293 s3.8.4: zero or one byte at ``next_seq - 1``) are old data
  and are dropped quietly, including one sent before any data (at the SYN's sequence
  number). Zero-window probes (RFC 9293 s3.8.6.1) carry the next byte of the stream: it is
  delivered once and its later retransmission dropped. Segments without payload are
  ignored.
- A SYN whose sequence number disagrees with a stream already under way is ignored with
  ``tcp_syn_mismatch``; before any byte was seen a new SYN restarts the stream.

Counters: ``delivered`` (bytes passed to on_data), ``gap_bytes`` (bytes reported as gaps),
``buffered`` (out-of-order bytes held) and ``retransmitted`` (bytes dropped because they
were already delivered or buffered, keep-alive bytes included). ``next_seq - start`` is
always ``delivered + gap_bytes``, so ``delivered`` is derived rather than counted.

Anomalies: ``tcp_data_before_start``, ``tcp_seq_out_of_window``, ``tcp_overlap_mismatch``,
``tcp_ooo_limit``, ``tcp_data_after_fin``, ``tcp_fin_mismatch``, ``tcp_syn_mismatch``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from wiresift.flow.budget import BufferBudget

# 32-bit sequence space and its half, for modular comparison (RFC 9293 s3.4).
SEQ_MASK: Final = 0xFFFF_FFFF
_SEQ_HALF: Final = 0x8000_0000
# Largest receive window a TCP can advertise: 65535 << 14 < 2**30 (RFC 7323 s2.3).
MAX_WINDOW: Final = 1 << 30

DataCallback = Callable[[bytes, int], None]
GapCallback = Callable[[int, int], None]
AnomalyCallback = Callable[[str, str, int], None]


class TcpReassembler:
    """Reassembles one direction of a TCP connection into in-order bytes and exact gaps."""

    __slots__ = (
        "_accounted",
        "_acked",
        "_budget",
        "_fin",
        "_max_ooo_bytes",
        "_max_ooo_segments",
        "_on_anomaly",
        "_on_data",
        "_on_gap",
        "_ooo",
        "_start",
        "buffered",
        "gap_bytes",
        "next_seq",
        "retransmitted",
    )

    next_seq: int | None  # next expected absolute sequence number (None before any)
    gap_bytes: int  # bytes reported through on_gap
    buffered: int  # out-of-order bytes held
    retransmitted: int  # bytes dropped because they were already delivered or buffered

    def __init__(
        self,
        on_data: DataCallback,
        on_gap: GapCallback,
        on_anomaly: AnomalyCallback,
        *,
        max_ooo_bytes: int,
        max_ooo_segments: int,
        budget: BufferBudget | None = None,
    ) -> None:
        self._on_data = on_data
        self._budget = budget
        self._accounted = 0  # buffered bytes already reported to the budget
        self._on_gap = on_gap
        self._on_anomaly = on_anomaly
        self._max_ooo_bytes = max_ooo_bytes
        self._max_ooo_segments = max_ooo_segments
        self.next_seq = None
        self.gap_bytes = 0
        self.buffered = 0
        self.retransmitted = 0
        self._start = 0  # absolute position of the first byte; meaningful once next_seq is set
        self._fin: int | None = None  # absolute position of the FIN
        self._acked: int | None = None  # highest ack beyond next_seq seen from the peer
        # Out-of-order store, created on first use and dropped when empty: parallel lists
        # (starts, payloads) sorted by start, never overlapping, every start > next_seq.
        self._ooo: tuple[list[int], list[bytes]] | None = None

    @property
    def delivered(self) -> int:
        """Bytes passed to on_data (derived, so the packet path updates one counter less)."""
        nxt = self.next_seq
        return 0 if nxt is None else nxt - self._start - self.gap_bytes

    # -- inputs ---------------------------------------------------------------------------

    def syn(self, seq: int, ts: int = 0) -> None:
        """A SYN of this direction at ``seq``: the stream's first byte is at seq+1."""
        first = seq + 1
        nxt = self.next_seq
        if nxt is None or (nxt == self._start and self._ooo is None and self._fin is None):
            self._start = self.next_seq = first
            self._acked = None
            return
        if nxt + ((first - nxt + _SEQ_HALF) & SEQ_MASK) - _SEQ_HALF != self._start:
            self._on_anomaly(
                "tcp_syn_mismatch",
                f"SYN at seq {seq & SEQ_MASK} in a stream that started at seq "
                f"{self._start & SEQ_MASK}",
                ts,
            )

    def segment(self, seq: int, data: bytes, ts: int) -> None:
        """A segment of this direction whose payload ``data`` starts at ``seq``."""
        nxt = self.next_seq
        # Hot path: the next expected segment, nothing buffered, no FIN yet.
        if nxt is not None and seq == nxt & SEQ_MASK and self._ooo is None and self._fin is None:
            size = len(data)
            if size:
                self.next_seq = nxt + size
                self._on_data(data, ts)
            return
        self._segment(seq, data, ts)

    def fin(self, seq: int, ts: int) -> None:
        """A FIN of this direction at ``seq`` (after the data its segment carried)."""
        nxt = self.next_seq
        if nxt is None:
            self._start = self.next_seq = self._fin = seq
            return
        end = nxt + ((seq - nxt + _SEQ_HALF) & SEQ_MASK) - _SEQ_HALF
        fin = self._fin
        if fin is not None:
            if end != fin:
                self._on_anomaly(
                    "tcp_fin_mismatch",
                    f"FIN at offset {end - self._start} after a FIN at offset {fin - self._start}",
                    ts,
                )
            return
        if end < nxt:
            self._on_anomaly(
                "tcp_fin_mismatch",
                f"FIN at offset {end - self._start} inside data delivered up to offset "
                f"{nxt - self._start}",
                ts,
            )
            return
        self._fin = end
        acked = self._acked
        if acked is not None and acked > end:
            self._acked = end
        ooo = self._ooo
        if ooo is None:
            return
        starts, datas = ooo
        if starts[-1] + len(datas[-1]) <= end:
            return
        dropped = 0
        while starts and starts[-1] >= end:
            starts.pop()
            dropped += len(datas.pop())
        if starts:
            keep = end - starts[-1]
            last = datas[-1]
            if keep < len(last):
                dropped += len(last) - keep
                datas[-1] = last[:keep]
        else:
            self._ooo = None
        self.buffered -= dropped
        self._on_anomaly("tcp_data_after_fin", f"{dropped} buffered bytes after the FIN", ts)
        if self._budget is not None:
            self._account(ts)

    def ack(self, ack: int, ts: int) -> None:
        """The other direction acknowledged every byte of this one before ``ack``.

        Before anything of this direction was seen (a capture that started mid-connection),
        the acknowledgement marks where the stream stands: the first byte not yet received.
        It becomes the tentative start, so data the capture shows out of order ahead of it is
        buffered instead of being taken for the start (a later SYN still overrides it).
        """
        nxt = self.next_seq
        if nxt is None:
            self._start = self.next_seq = ack
            return
        if ack == nxt & SEQ_MASK:
            return
        acked = nxt + ((ack - nxt + _SEQ_HALF) & SEQ_MASK) - _SEQ_HALF
        fin = self._fin
        if fin is not None and acked > fin:
            acked = fin  # the ack of a FIN counts the FIN's own sequence number
        if acked <= nxt:
            return
        if self._acked is None or acked > self._acked:
            self._acked = acked
        ooo = self._ooo
        if ooo is not None and ooo[0][0] <= acked:
            self._fill_holes_up_to(acked, nxt, ooo, ts)
            if self._budget is not None:
                self._account(ts)

    def finish(self, ts: int) -> None:
        """The connection is over: report every remaining hole and buffered byte, in order."""
        nxt = self.next_seq
        if nxt is None:
            return
        ooo = self._ooo
        self._ooo = None
        if ooo is not None:
            on_data = self._on_data
            for begin, data in zip(*ooo, strict=True):
                if begin > nxt:
                    self._gap(nxt, begin - nxt, ts)
                size = len(data)
                nxt = begin + size
                self.next_seq = nxt
                self.buffered -= size
                on_data(data, ts)
        fin = self._fin
        if fin is not None and fin > nxt:
            self._gap(nxt, fin - nxt, ts)
        if self._budget is not None:
            self._account(ts)

    def release(self, ts: int) -> int:
        """The memory budget needs room: every hole becomes a gap and what was held is
        delivered behind it (flow/budget.py). Returns the bytes released."""
        held = self.buffered
        ooo = self._ooo
        if ooo is not None:
            self._on_anomaly(
                "memory_budget_release",
                f"{held} out-of-order bytes delivered behind their holes to stay in the budget",
                ts,
            )
            nxt = self.next_seq
            assert nxt is not None
            while self._ooo is not None:
                nxt = self._fill_hole(nxt, ooo, ts)
        budget = self._budget
        if budget is not None:
            budget.used -= self._accounted - self.buffered
            self._accounted = self.buffered
        return held

    def _account(self, ts: int) -> None:
        """Tell the budget what this direction holds now."""
        delta = self.buffered - self._accounted
        if delta:
            self._accounted = self.buffered
            assert self._budget is not None
            self._budget.grew(self, delta, ts)

    # -- internals ------------------------------------------------------------------------

    def _segment(self, seq: int, data: bytes, ts: int) -> None:
        """Everything but the next in-order segment of an unbuffered stream."""
        size = len(data)
        if not size:
            return
        nxt = self.next_seq
        if nxt is None:  # mid-stream start: the first segment seen sets the start
            self._start = seq
            self.next_seq = seq + size
            self._on_data(data, ts)
            return
        begin = nxt + ((seq - nxt + _SEQ_HALF) & SEQ_MASK) - _SEQ_HALF
        end = begin + size
        first = self._start
        if begin < first:
            if size == 1 and end == first:
                self.retransmitted += 1  # keep-alive probe before any data (RFC 9293 s3.8.4)
                return
            if first - begin > MAX_WINDOW:
                self._on_anomaly(
                    "tcp_seq_out_of_window",
                    f"{size} bytes starting {first - begin} bytes before the stream start",
                    ts,
                )
                return
            self._on_anomaly(
                "tcp_data_before_start",
                f"{min(end, first) - begin} bytes before the stream start",
                ts,
            )
            if end <= first:
                return
            data = data[first - begin :]
            begin = first
        if begin < nxt:
            if end <= nxt:
                self.retransmitted += size
                return
            self.retransmitted += nxt - begin
            data = data[nxt - begin :]
            begin = nxt
        fin = self._fin
        if fin is not None and end > fin:
            self._on_anomaly(
                "tcp_data_after_fin", f"{end - max(begin, fin)} bytes after the FIN", ts
            )
            if begin >= fin:
                return
            data = data[: fin - begin]
            end = fin
        ooo = self._ooo
        if ooo is None:
            if begin == nxt:
                self.next_seq = end
                self._on_data(data, ts)
                return
            ooo = self._ooo = ([begin], [data])
            self.buffered = len(data)
        else:
            self._insert(ooo, begin, end, data, ts)
            if begin == nxt:
                nxt = self._deliver_contiguous(nxt, ooo, ts)
        acked = self._acked
        if acked is not None and self._ooo is not None and ooo[0][0] <= acked:
            nxt = self._fill_holes_up_to(acked, nxt, ooo, ts)
        if self._ooo is not None and (
            self.buffered > self._max_ooo_bytes or len(ooo[0]) > self._max_ooo_segments
        ):
            self._on_anomaly(
                "tcp_ooo_limit",
                f"{self.buffered} bytes in {len(ooo[0])} out-of-order segments exceed "
                f"{self._max_ooo_bytes} bytes or {self._max_ooo_segments} segments",
                ts,
            )
            while self._ooo is not None and (
                self.buffered > self._max_ooo_bytes or len(ooo[0]) > self._max_ooo_segments
            ):
                nxt = self._fill_hole(nxt, ooo, ts)
        if self._budget is not None:
            self._account(ts)

    def _insert(
        self, ooo: tuple[list[int], list[bytes]], begin: int, end: int, data: bytes, ts: int
    ) -> None:
        """Store the parts of [begin, end) not yet buffered; first data wins on overlap."""
        starts, datas = ooo
        index = bisect_right(starts, begin)
        pos = begin
        mismatch: int | None = None
        overlap = 0
        if index:
            prev_begin = starts[index - 1]
            prev = datas[index - 1]
            prev_end = prev_begin + len(prev)
            if prev_end > begin:
                pos = min(prev_end, end)
                overlap += pos - begin
                mismatch = _first_difference(
                    data[: pos - begin], prev[begin - prev_begin : pos - prev_begin], begin
                )
        added = 0
        while pos < end:
            if index < len(starts) and starts[index] < end:
                held_begin = starts[index]
                if held_begin > pos:
                    starts.insert(index, pos)
                    datas.insert(index, data[pos - begin : held_begin - begin])
                    added += held_begin - pos
                    index += 1
                held = datas[index]
                held_end = min(held_begin + len(held), end)
                overlap += held_end - held_begin
                if mismatch is None:
                    mismatch = _first_difference(
                        data[held_begin - begin : held_end - begin],
                        held[: held_end - held_begin],
                        held_begin,
                    )
                pos = held_end
                index += 1
            else:
                starts.insert(index, pos)
                datas.insert(index, data if pos == begin else data[pos - begin :])
                added += end - pos
                pos = end
        self.buffered += added
        self.retransmitted += overlap
        if mismatch is not None:
            self._on_anomaly(
                "tcp_overlap_mismatch",
                f"bytes at offset {mismatch - self._start} differ from buffered data; "
                "the buffered bytes are kept",
                ts,
            )

    def _deliver_contiguous(self, nxt: int, ooo: tuple[list[int], list[bytes]], ts: int) -> int:
        """Deliver the buffered segments that start at ``nxt``; return the new next_seq."""
        starts, datas = ooo
        on_data = self._on_data
        count = 0
        for begin, data in zip(starts, datas, strict=True):
            if begin != nxt:
                break
            size = len(data)
            nxt += size
            self.next_seq = nxt
            self.buffered -= size
            count += 1
            on_data(data, ts)
        if count == len(starts):
            self._ooo = None
        elif count:
            del starts[:count]
            del datas[:count]
        return nxt

    def _fill_hole(self, nxt: int, ooo: tuple[list[int], list[bytes]], ts: int) -> int:
        """Declare the hole before the first buffered segment a gap, deliver what follows."""
        first = ooo[0][0]
        self._gap(nxt, first - nxt, ts)
        return self._deliver_contiguous(first, ooo, ts)

    def _fill_holes_up_to(
        self, acked: int, nxt: int, ooo: tuple[list[int], list[bytes]], ts: int
    ) -> int:
        """Fill every hole followed by buffered data that starts at or before ``acked``."""
        while self._ooo is not None and ooo[0][0] <= acked:
            nxt = self._fill_hole(nxt, ooo, ts)
        return nxt

    def _gap(self, nxt: int, size: int, ts: int) -> None:
        """Report ``size`` unseen bytes at ``nxt`` and move past them."""
        self.next_seq = nxt + size
        self.gap_bytes += size
        self._on_gap(size, ts)


def _first_difference(new: bytes, held: bytes, at: int) -> int | None:
    """Absolute position of the first byte where ``new`` differs from ``held`` (same length)."""
    if new == held:
        return None
    return at + next(i for i, (a, b) in enumerate(zip(new, held, strict=True)) if a != b)
