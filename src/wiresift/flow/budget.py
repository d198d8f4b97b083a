"""One memory budget for the stream data buffered across all flows (docs/service.md).

What grows with traffic is the out-of-order store of TCP reassembly: each direction may
hold up to ``max_reassembly_ooo_bytes`` while it waits for a hole to fill, and with many
connections that adds up. Every reassembler reports what it holds here. When the total
passes the budget, the buffers that have waited longest are released: their holes become
gaps, what they held is delivered behind the gaps, the flow gets the anomaly
``memory_budget_release`` (so its objects say why they are incomplete), and
``released`` counts it. Release stops once the total is back under ``LOW_WATER`` of the
budget, so one busy moment does not release buffers one at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Protocol

# Release down to this share of the budget.
LOW_WATER: Final = 0.75


class Releasable(Protocol):
    buffered: int

    def release(self, ts: int) -> int:
        """Deliver everything held (holes become gaps); return the bytes released."""
        ...


class BufferBudget:
    """Shared by every flow table of a process."""

    __slots__ = ("active", "limit", "released", "released_bytes", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.released = 0  # buffers released
        self.released_bytes = 0
        # Holders with data, least recently grown first.
        self.active: OrderedDict[Releasable, None] = OrderedDict()

    def grew(self, holder: Releasable, delta: int, ts: int) -> None:
        """``holder`` now holds ``delta`` bytes more (negative: less)."""
        self.used += delta
        active = self.active
        if holder.buffered:
            if delta > 0:
                active[holder] = None
                active.move_to_end(holder)
        else:
            active.pop(holder, None)
        if self.used > self.limit:
            self.enforce(ts)

    def enforce(self, ts: int) -> None:
        """Release the longest-waiting buffers until the total is under the low water."""
        target = int(self.limit * LOW_WATER)
        active = self.active
        while self.used > target and active:
            holder = next(iter(active))
            del active[holder]
            self.released += 1
            self.released_bytes += holder.release(ts)
