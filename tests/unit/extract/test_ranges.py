"""RangeAssembler: pieces of one resource joined, bounded in memory."""

from __future__ import annotations

import pytest

from wiresift.extract import ranges
from wiresift.extract.ranges import RangeAssembler
from wiresift.model import FlowRef, SourceRef

FLOW = FlowRef(
    uid="W1", transport="tcp", client_addr="a", client_port=1, server_addr="b", server_port=80
)
SOURCE = SourceRef(kind="file", name="t", first_frame=1, last_frame=2)


def add(assembler: RangeAssembler, key: tuple[str, str, str, int], start: int, data: bytes):  # type: ignore[no-untyped-def]
    return assembler.add(
        key,
        start,
        data,
        source=f"id{start}",
        name=None,
        declared_type=None,
        ts_first=start,
        ts_last=start,
        flow=FLOW,
        source_ref=SOURCE,
    )


def test_pieces_in_any_order_complete_the_download() -> None:
    """Overlapping pieces in any order complete the file exactly once."""
    key = ("h", "/f", '"e"', 10)
    assembler = RangeAssembler()
    assert add(assembler, key, 6, b"6789") == []
    assert add(assembler, key, 0, b"0123") == []
    (done,) = add(assembler, key, 3, b"3456")
    assert done.complete()
    assert done.spans() == [(0, 10)]
    assert assembler.held == 0


def test_different_validators_are_different_downloads() -> None:
    """A changed ETag means another version of the resource: pieces are not mixed."""
    assembler = RangeAssembler()
    assert add(assembler, ("h", "/f", '"a"', 4), 0, b"01") == []
    assert add(assembler, ("h", "/f", '"b"', 4), 2, b"23") == []
    assert len(assembler.drain()) == 0  # one piece each: nothing was joined


def test_pieces_outside_the_length_are_ignored() -> None:
    """A piece past the announced total is not taken."""
    assembler = RangeAssembler()
    assert add(assembler, ("h", "/f", "", 4), 3, b"345") == []
    assert assembler.held == 0


def test_memory_cap_ends_the_oldest_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_RANGE_MEMORY the oldest download is given up and handed back."""
    monkeypatch.setattr(ranges, "MAX_RANGE_MEMORY", 10)
    assembler = RangeAssembler()
    assert add(assembler, ("h", "/a", "", 100), 0, b"x" * 8) == []
    (ended,) = add(assembler, ("h", "/b", "", 100), 0, b"y" * 8)
    assert ended.key[1] == "/a"
    assert not ended.complete()
    assert assembler.held == 8
