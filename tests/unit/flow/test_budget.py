"""The memory budget across flows: longest-waiting reassembly buffers are released first."""

from __future__ import annotations

from wiresift.flow.budget import BufferBudget
from wiresift.flow.tcp import TcpReassembler

ISN = 1000


class Recorder:
    """Collects what one direction delivers."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.gaps: list[int] = []
        self.anomalies: list[str] = []

    def on_data(self, data: bytes, ts: int) -> None:
        self.data += data

    def on_gap(self, size: int, ts: int) -> None:
        self.gaps.append(size)
        self.data += b"\0" * size

    def on_anomaly(self, name: str, detail: str, ts: int) -> None:
        self.anomalies.append(name)


def direction(budget: BufferBudget) -> tuple[TcpReassembler, Recorder]:
    rec = Recorder()
    tcp = TcpReassembler(
        rec.on_data,
        rec.on_gap,
        rec.on_anomaly,
        max_ooo_bytes=1 << 20,
        max_ooo_segments=1024,
        budget=budget,
    )
    tcp.syn(ISN)
    return tcp, rec


def test_budget_counts_buffered_bytes_and_forgets_delivered_ones() -> None:
    """Out-of-order bytes count while held and stop counting once delivered."""
    budget = BufferBudget(10_000)
    tcp, rec = direction(budget)
    tcp.segment(ISN + 1 + 100, b"b" * 100, 1)
    assert (budget.used, tcp.buffered, len(budget.active)) == (100, 100, 1)
    tcp.segment(ISN + 1, b"a" * 100, 2)
    assert (budget.used, len(budget.active), bytes(rec.data)) == (0, 0, b"a" * 100 + b"b" * 100)
    assert budget.released == 0


def test_oldest_buffer_released_first_when_over_budget() -> None:
    """Past the budget, the buffer that waited longest becomes a gap plus its data."""
    budget = BufferBudget(1000)
    old, old_rec = direction(budget)
    new, new_rec = direction(budget)
    old.segment(ISN + 1 + 50, b"o" * 400, 1)
    new.segment(ISN + 1 + 50, b"n" * 400, 2)
    assert budget.used == 800
    new.segment(ISN + 1 + 450, b"m" * 300, 3)  # 1100 > 1000: release down to 750
    assert budget.released == 1
    assert old_rec.gaps == [50]
    assert bytes(old_rec.data) == b"\0" * 50 + b"o" * 400
    assert old_rec.anomalies == ["memory_budget_release"]
    assert (old.buffered, new.buffered, budget.used) == (0, 700, 700)
    assert new_rec.anomalies == []
    assert budget.released_bytes == 400


def test_finish_returns_its_bytes_to_the_budget() -> None:
    """A connection that ends gives back what it held."""
    budget = BufferBudget(10_000)
    tcp, rec = direction(budget)
    tcp.segment(ISN + 1 + 10, b"x" * 30, 1)
    assert budget.used == 30
    tcp.finish(2)
    assert (budget.used, len(budget.active), rec.gaps) == (0, 0, [10])


def test_budget_never_exceeded_by_many_flows() -> None:
    """Hundreds of flows each holding data never push the total past the budget."""
    budget = BufferBudget(50_000)
    flows = [direction(budget) for _ in range(300)]
    for index, (tcp, _) in enumerate(flows):
        tcp.segment(ISN + 1 + 10, bytes([index % 256]) * 1000, index)
        assert budget.used <= budget.limit
    assert budget.released >= 250
    assert budget.used == sum(tcp.buffered for tcp, _ in flows)
