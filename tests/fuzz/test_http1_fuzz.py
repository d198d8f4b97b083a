"""Fuzz invariants of the HTTP/1 parser: arbitrary input never raises, buffers stay within
their limits, every head gets exactly one MessageEnd, and split points change nothing."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, End, Gap, Scenario, Step
from tests.protocols.helpers import split_feed as run_split_feed
from wiresift.config import Limits
from wiresift.protocols.base import Event, FlowInfo
from wiresift.protocols.http1 import HttpParser, MessageEnd, RequestHead, ResponseHead

# Small caps so that the limits are reached often.
SMALL = Limits(max_line=64, max_header_block=256, max_pending_tx=4, detect_buffer_bytes=128)

# Pieces of HTTP that make random input reach the deeper states.
FRAGMENTS = [
    b"GET / HTTP/1.1\r\n",
    b"HEAD /h HTTP/1.0\n",
    b"POST /p HTTP/1.1\r\n",
    b"CONNECT host:443 HTTP/1.1\r\n",
    b"GET /\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.0 204 \r\n",
    b"http/1.1 304\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 3, 4\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Upgrade: websocket\r\n",
    b" folded\r\n",
    b"Bad Name : v\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"3;x=y\r\nabc\r\n",
    b"0\r\n\r\n",
    b"zz\r\n",
    b"hello",
]
data = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=40)), max_size=12).map(
    b"".join
)
directions = st.sampled_from([ORIG, RESP])
steps: st.SearchStrategy[Step] = st.one_of(
    st.tuples(directions, data),
    st.tuples(directions, data),
    st.tuples(directions, data),
    st.builds(Gap, directions, st.integers(min_value=0, max_value=300)),
    st.builds(End, directions),
)
scenarios = st.lists(steps, max_size=12)
flows = st.sampled_from([FLOW, MID_STREAM_FLOW])
limits = st.sampled_from([SMALL, Limits(), Limits(max_line=300, max_header_block=100)])
cuts = st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=8)


def _bound(limit: Limits) -> int:
    """Most bytes the parser may hold between calls, both directions together."""
    return 2 * max(limit.max_line, limit.max_header_block, limit.detect_buffer_bytes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, cuts, flows, limits)
def test_random_input_never_raises_and_stays_bounded(
    scenario: Scenario, sizes: list[int], flow: FlowInfo, limit: Limits
) -> None:
    """Any bytes, gaps and ends, cut anywhere: no exception, bounded buffers, paired ends."""
    parser = HttpParser(flow, limit)
    events: list[Event] = []
    for ts, step in enumerate(scenario):
        if isinstance(step, Gap):
            events += parser.gap(step.direction, step.size, ts)
        elif isinstance(step, End):
            events += parser.end(step.direction, ts)
        else:
            direction, payload = step
            start = 0
            for index in range(len(payload)):
                size = sizes[index % len(sizes)]
                events += parser.feed(direction, payload[start : start + size], ts)
                start += size
                if start >= len(payload):
                    break
        assert parser.buffered_bytes() <= _bound(limit)
    events += parser.end(ORIG, len(scenario))
    events += parser.end(RESP, len(scenario))
    assert parser.buffered_bytes() == 0
    heads = Counter(
        (event.direction, event.tx)
        for event in events
        if isinstance(event, RequestHead | ResponseHead)
    )
    ends = Counter((event.direction, event.tx) for event in events if isinstance(event, MessageEnd))
    assert heads == ends


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, flows)
def test_split_points_do_not_change_events(scenario: Scenario, flow: FlowInfo) -> None:
    """Whole, byte-by-byte and randomly cut feeding give the same events on any input."""
    run_split_feed(HttpParser, [*scenario, End(ORIG), End(RESP)], flow=flow, limits=SMALL)
