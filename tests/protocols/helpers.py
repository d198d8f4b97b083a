"""Scenario feeding for parser tests (h11's ``tr()`` and ``normalize_data_events``).

A scenario is a list of steps: ``(direction, bytes)`` for data, ``Gap`` for a hole and
``End`` for a closed direction. ``split_feed`` runs it whole, one byte at a time and cut at
random points from fixed seeds, and requires the same events every time, once adjacent
data pieces are merged. Step ``i`` runs at ``ts=i``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeAlias

from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser, SwitchProtocol

ORIG = Direction.ORIG
RESP = Direction.RESP

FLOW = FlowInfo(
    uid="C1",
    orig_addr="192.0.2.1",
    orig_port=49152,
    resp_addr="198.51.100.7",
    resp_port=80,
    transport="tcp",
)
MID_STREAM_FLOW = dataclasses.replace(FLOW, mid_stream=True)
SEEDS = (1, 2, 3)


@dataclasses.dataclass(frozen=True, slots=True)
class Gap:
    """``size`` bytes of ``direction`` were not captured."""

    direction: Direction
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class End:
    """``direction`` is closed."""

    direction: Direction


Step: TypeAlias = tuple[Direction, bytes] | Gap | End
Scenario: TypeAlias = Sequence[Step]
ParserFactory: TypeAlias = Callable[[FlowInfo, Limits], Parser]
Cutter: TypeAlias = Callable[[bytes], Iterator[bytes]]


class SplitFeed(Protocol):
    """The ``split_feed`` fixture's signature."""

    def __call__(
        self,
        parser: ParserFactory,
        scenario: Scenario,
        *,
        flow: FlowInfo = ...,
        limits: Limits | None = ...,
        strict: bool = ...,
    ) -> list[Event]: ...


def whole(data: bytes) -> Iterator[bytes]:
    """The step's bytes in one piece."""
    yield data


def bytewise(data: bytes) -> Iterator[bytes]:
    """The step's bytes one at a time."""
    for index in range(len(data)):
        yield data[index : index + 1]


def random_cuts(seed: int) -> Cutter:
    """Cut each step at random points drawn from ``seed``."""
    rng = random.Random(seed)

    def cut(data: bytes) -> Iterator[bytes]:
        start = 0
        while start < len(data):
            stop = start + rng.randint(1, max(1, len(data) // 3))
            yield data[start:stop]
            start = stop

    return cut


def run_scenario(parser: Parser, scenario: Scenario, cutter: Cutter) -> list[Event]:
    """Feed ``scenario`` to ``parser`` with each data step cut by ``cutter``.

    After a ``SwitchProtocol`` the parser is done, as in the engine: later bytes are what
    the next parser would get, so they are appended to the event's leftovers instead.
    """
    events: list[Event] = []
    switch: SwitchProtocol | None = None
    handed_over = {ORIG: b"", RESP: b""}
    for ts, step in enumerate(scenario):
        if isinstance(step, Gap | End):
            if switch is None:
                if isinstance(step, Gap):
                    events += parser.gap(step.direction, step.size, ts)
                else:
                    events += parser.end(step.direction, ts)
            continue
        direction, data = step
        for piece in cutter(data):
            if switch is not None:
                handed_over[direction] += piece
                continue
            new_events = parser.feed(direction, piece, ts)
            events += new_events
            switch = next((e for e in new_events if isinstance(e, SwitchProtocol)), None)
    if switch is not None:
        own = switch.direction
        other = ORIG if own is RESP else RESP
        events[events.index(switch)] = dataclasses.replace(
            switch,
            leftover=switch.leftover + handed_over[own],
            leftover_other=switch.leftover_other + handed_over[other],
        )
    return events


def _mergeable(first: Event, second: Event) -> bool:
    if type(first) is not type(second) or not hasattr(first, "data"):
        return False
    return dataclasses.replace(second, ts=first.ts, data=first.data) == first  # type: ignore[call-arg]


def normalize_events(events: Sequence[Event]) -> list[Event]:
    """Merge adjacent data events that differ only in their bytes (and time)."""
    merged: list[Event] = []
    for event in events:
        if merged and _mergeable(merged[-1], event):
            previous = merged[-1]
            merged[-1] = dataclasses.replace(
                previous,
                data=previous.data + event.data,  # type: ignore[attr-defined,call-arg]
            )
        else:
            merged.append(event)
    return merged


def split_feed(
    parser: ParserFactory,
    scenario: Scenario,
    *,
    flow: FlowInfo = FLOW,
    limits: Limits | None = None,
    strict: bool = False,
) -> list[Event]:
    """Run ``scenario`` whole, byte by byte and cut at random; all runs must agree.

    Returns the normalised events of the whole run. ``strict`` fails on any ``Anomaly``.
    """
    limits = limits if limits is not None else Limits()
    reference = normalize_events(run_scenario(parser(flow, limits), scenario, whole))
    cutters: list[tuple[str, Cutter]] = [("byte by byte", bytewise)]
    cutters += [(f"random cuts, seed {seed}", random_cuts(seed)) for seed in SEEDS]
    for label, cutter in cutters:
        events = normalize_events(run_scenario(parser(flow, limits), scenario, cutter))
        if events != reference:
            _fail_difference(label, reference, events)
    if strict:
        anomalies = [event for event in reference if isinstance(event, Anomaly)]
        assert not anomalies, f"unexpected anomalies: {anomalies}"
    return reference


def _fail_difference(label: str, reference: list[Event], events: list[Event]) -> None:
    for index, (expected, got) in enumerate(zip(reference, events, strict=False)):
        if expected != got:
            raise AssertionError(
                f"{label}: event {index} differs from the whole run:\n"
                f"  whole: {expected!r}\n  split: {got!r}"
            )
    raise AssertionError(
        f"{label}: {len(events)} events, the whole run has {len(reference)}:\n"
        f"  whole: {reference[len(events) :]!r}\n  split: {events[len(reference) :]!r}"
    )
