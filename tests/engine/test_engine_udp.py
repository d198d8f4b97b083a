"""UDP flows: datagram protocols are detected per datagram and parsed one datagram at a time."""

from __future__ import annotations

from typing import ClassVar

from tests.pcapgen import udp_datagram
from wiresift.config import Config
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols.base import Direction, Event, Parser, ProtocolSpec

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 7777)


class Recorder(Parser):
    """Remembers every datagram it is given (class-level, per test)."""

    name = "toy"
    seen: ClassVar[list[tuple[str, Direction, bytes]]] = []

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        self.seen.append((self.flow.transport, direction, data))
        return []


def probe(direction: Direction, data: bytes) -> Verdict:
    if data.startswith(b"TOY"):
        return Verdict.MATCH if direction is Direction.ORIG else Verdict.NO_MATCH
    return Verdict.NO_MATCH


TOY = ProtocolSpec(
    name="toy",
    transport="udp",
    ports=frozenset({9999}),
    parser=Recorder,
    probe=probe,
    mid_stream=True,
)


def run(datagrams: list[tuple[bool, bytes]], server: tuple[str, int] = SERVER) -> Engine:
    Recorder.seen = []
    engine = Engine(
        Config(), [MemorySink()], store=MemoryContentStore(), registry=(TOY,), source_name="t"
    )
    engine.keep_detections = True
    for index, (from_client, payload) in enumerate(datagrams):
        src, dst = (CLIENT, server) if from_client else (server, CLIENT)
        engine.process(1_000_000 * (index + 1), 1, udp_datagram(src, dst, payload))
    engine.finish()
    return engine


def test_datagrams_before_the_match_are_replayed_in_order() -> None:
    """Undecided datagrams are held and replayed whole, then later ones go straight in."""
    engine = run(
        [(True, b"hello"), (False, b"who"), (True, b"TOY 1"), (False, b"ok"), (True, b"x")]
    )
    assert Recorder.seen == [
        ("udp", Direction.ORIG, b"hello"),
        ("udp", Direction.RESP, b"who"),
        ("udp", Direction.ORIG, b"TOY 1"),
        ("udp", Direction.RESP, b"ok"),
        ("udp", Direction.ORIG, b"x"),
    ]
    (_flow, detection) = engine.detections[0]
    assert (detection.protocol, detection.reason) == ("toy", "probe matched an initiator datagram")
    assert engine.stats.protocols == {"toy": 1}


def test_no_match_seals_the_flow_after_the_detection_budget() -> None:
    """A UDP flow that never matches is given up after detect_max_packets datagrams."""
    engine = run([(True, b"nothing %d" % i) for i in range(150)])
    assert Recorder.seen == []
    assert engine.detections[0][1].protocol is None


def test_port_hint_decides_at_the_end_of_an_undecided_flow() -> None:
    """With no content match, the flow's end lets the port pick a mid-stream protocol."""
    run([(True, b"a"), (False, b"b")], server=("10.0.0.2", 9999))
    assert [d for _, _, d in Recorder.seen] == [b"a", b"b"]


WEAK = ProtocolSpec(
    name="toy",
    transport="udp",
    ports=frozenset(),
    parser=Recorder,
    probe=probe,
    extra={"first_datagrams": 2},
)


def test_weak_heuristic_is_only_tried_on_the_first_datagrams() -> None:
    """A spec limited to its first datagrams cannot match a long flow's later datagram."""
    Recorder.seen = []
    engine = Engine(Config(), [], store=MemoryContentStore(), registry=(WEAK,), source_name="t")
    engine.keep_detections = True
    payloads = [b"x", b"y", b"TOY late", b"z"]
    for index, payload in enumerate(payloads):
        engine.process(1_000_000 * (index + 1), 1, udp_datagram(CLIENT, SERVER, payload))
    engine.finish()
    assert Recorder.seen == []
    assert engine.detections[0][1].protocol is None
