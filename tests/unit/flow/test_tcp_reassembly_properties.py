"""TcpReassembler properties: random segmentation, order, duplication and loss."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.flow.tcp import SEQ_MASK, TcpReassembler

from .test_tcp_reassembly import Recorder

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)

# Segment = (offset, length) in the original data.
Segment = tuple[int, int]
# A step of a scenario: ("seg", offset, length), ("ack", offset, 0) or ("fin", offset, 0).
Step = tuple[str, int, int]


@st.composite
def segmentations(draw: st.DrawFn, data: bytes) -> list[Segment]:
    """Cut ``data`` into consecutive segments at random places."""
    cuts = draw(st.sets(st.integers(1, len(data) - 1), max_size=40)) if len(data) > 1 else set()
    bounds = [0, *sorted(cuts), len(data)]
    return [(begin, end - begin) for begin, end in pairwise(bounds)]


@st.composite
def extra_copies(draw: st.DrawFn, data: bytes, segments: list[Segment]) -> list[Segment]:
    """Duplicates of some segments plus retransmissions cut differently (overlapping)."""
    duplicates = draw(st.lists(st.sampled_from(segments), max_size=8))
    resegmented = draw(
        st.lists(
            st.tuples(st.integers(0, len(data) - 1), st.integers(1, 80)).map(
                lambda pair: (pair[0], min(pair[1], len(data) - pair[0]))
            ),
            max_size=8,
        )
    )
    return duplicates + resegmented


isns = st.one_of(st.integers(0, SEQ_MASK), st.integers(SEQ_MASK - 700, SEQ_MASK))


def run(
    isn: int, data: bytes, steps: list[Step], *, max_ooo_bytes: int, max_ooo_segments: int
) -> tuple[TcpReassembler, Recorder]:
    """Feed a SYN at ``isn``, then ``steps``, then finish()."""
    rec = Recorder()
    tcp = TcpReassembler(
        rec.on_data,
        rec.on_gap,
        rec.on_anomaly,
        max_ooo_bytes=max_ooo_bytes,
        max_ooo_segments=max_ooo_segments,
    )
    tcp.syn(isn)
    for ts, (kind, offset, length) in enumerate(steps, start=1):
        seq = (isn + 1 + offset) & SEQ_MASK
        if kind == "seg":
            tcp.segment(seq, data[offset : offset + length], ts)
        elif kind == "ack":
            tcp.ack(seq, ts)
        else:
            tcp.fin(seq, ts)
        assert tcp.buffered <= max_ooo_bytes
    tcp.finish(len(steps) + 1)
    return tcp, rec


@PROPERTY_SETTINGS
@given(data=st.data(), payload=st.binary(min_size=1, max_size=400), isn=isns)
def test_no_loss_reassembles_exactly(data: st.DataObject, payload: bytes, isn: int) -> None:
    """Any segmentation, order and duplication without loss gives the original bytes, no gap."""
    segments = data.draw(segmentations(payload))
    copies = data.draw(extra_copies(payload, segments))
    steps: list[Step] = [("seg", offset, length) for offset, length in segments + copies]
    steps.append(("fin", len(payload), 0))
    steps = data.draw(st.permutations(steps))
    tcp, rec = run(isn, payload, steps, max_ooo_bytes=1 << 20, max_ooo_segments=2048)
    assert rec.stream() == payload
    assert {kind for kind, _ in rec.events} == {"data"}
    assert (tcp.delivered, tcp.gap_bytes, tcp.buffered) == (len(payload), 0, 0)
    assert tcp.next_seq == isn + 1 + len(payload)


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    payload=st.binary(min_size=1, max_size=400),
    isn=isns,
    max_ooo_bytes=st.integers(0, 200),
    max_ooo_segments=st.integers(0, 6),
)
def test_loss_gives_exact_gaps_and_data_at_its_offset(
    data: st.DataObject, payload: bytes, isn: int, max_ooo_bytes: int, max_ooo_segments: int
) -> None:
    """With segments lost, data chunks sit at their original offsets and gaps fill the rest."""
    segments = data.draw(segmentations(payload))
    kept = [segment for segment in segments if data.draw(st.booleans())]
    copies = data.draw(extra_copies(payload, kept)) if kept else []
    steps: list[Step] = [("seg", offset, length) for offset, length in kept + copies]
    acks = data.draw(st.lists(st.integers(0, len(payload) + 1), max_size=6))
    steps += [("ack", offset, 0) for offset in acks]
    steps = data.draw(st.permutations(steps))
    steps.append(("fin", len(payload), 0))  # the FIN bounds the stream: tail loss is a gap
    tcp, rec = run(
        isn, payload, steps, max_ooo_bytes=max_ooo_bytes, max_ooo_segments=max_ooo_segments
    )
    position = 0
    for kind, value in rec.events:
        if kind == "data":
            assert isinstance(value, bytes)
            assert value
            assert value == payload[position : position + len(value)]
            position += len(value)
        elif kind == "gap":
            assert isinstance(value, int)
            assert value > 0
            position += value
        else:
            assert value == "tcp_ooo_limit"
    assert position == len(payload)
    assert tcp.delivered + tcp.gap_bytes == len(payload)
    assert tcp.buffered == 0


@PROPERTY_SETTINGS
@given(
    operations=st.lists(
        st.tuples(
            st.sampled_from(["syn", "seg", "ack", "fin"]),
            st.integers(0, SEQ_MASK),
            st.binary(max_size=40),
        ),
        max_size=40,
    ),
    max_ooo_bytes=st.integers(0, 100),
    max_ooo_segments=st.integers(0, 4),
)
def test_arbitrary_input_never_raises_and_stays_bounded(
    operations: list[tuple[str, int, bytes]], max_ooo_bytes: int, max_ooo_segments: int
) -> None:
    """Random sequence numbers and calls never raise; counters match the events; caps hold."""
    rec = Recorder()
    tcp = TcpReassembler(
        rec.on_data,
        rec.on_gap,
        rec.on_anomaly,
        max_ooo_bytes=max_ooo_bytes,
        max_ooo_segments=max_ooo_segments,
    )
    for ts, (kind, seq, payload) in enumerate(operations):
        if kind == "syn":
            tcp.syn(seq, ts)
        elif kind == "seg":
            tcp.segment(seq, payload, ts)
        elif kind == "ack":
            tcp.ack(seq, ts)
        else:
            tcp.fin(seq, ts)
        assert tcp.buffered <= max_ooo_bytes
    tcp.finish(len(operations))
    delivered = sum(len(v) for k, v in rec.events if k == "data" and isinstance(v, bytes))
    gaps = sum(v for k, v in rec.events if k == "gap" and isinstance(v, int))
    assert (tcp.delivered, tcp.gap_bytes, tcp.buffered) == (delivered, gaps, 0)
