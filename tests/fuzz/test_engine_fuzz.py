"""The whole engine on damaged real traffic: never raises, every passport stays valid."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.helpers import run_frames
from wiresift.capture import open_source

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "http-sample.pcap"
with open_source(SAMPLE) as _source:
    FRAMES = [(ts, data) for ts, _lt, data, _wl, _if in _source]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(FRAMES) - 1),
            st.integers(0, 1600),
            st.integers(0, 255),
            st.booleans(),
        ),
        max_size=60,
    ),
)
def test_damaged_frames_never_crash_the_engine(damage: list[tuple[int, int, int, bool]]) -> None:
    """Flipped bytes, cut frames, dropped and reordered packets: no exception, valid output."""
    frames = list(FRAMES)
    for index, position, value, cut in damage:
        ts, data = frames[index]
        if cut:
            frames[index] = (ts, data[: position % (len(data) + 1)])
        elif data:
            pos = position % len(data)
            frames[index] = (ts, data[:pos] + bytes([value]) + data[pos + 1 :])
    if damage:
        del frames[damage[0][0] % len(frames)]
        first, second = damage[-1][0] % len(frames), damage[0][1] % len(frames)
        frames[first], frames[second] = frames[second], frames[first]
    run = run_frames(frames)
    assert run.stats.anomalies["parser_crash"] == 0
    assert len(run.http()) <= 40
