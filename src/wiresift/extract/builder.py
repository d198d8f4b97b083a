"""What every object builder shares: the flow it describes and where its objects go.

A builder turns one flow's protocol events into objects (``on_event``, ``anomaly``,
``close``). The engine builds each with the same arguments; a builder sets up its own
state in ``_start`` instead of repeating the constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from wiresift.config import Config
from wiresift.extract.files import ContentStore
from wiresift.extract.ranges import RangeAssembler
from wiresift.model import FlowRef, ObjectRecord, SourceRef
from wiresift.protocols.base import Event

SourceFactory = Callable[[int, int], SourceRef]


class Builder:
    """Base of the builders (extract/web.py, mail.py, ftp.py, chat.py, usage.py...)."""

    def __init__(
        self,
        flow: FlowRef,
        store: ContentStore,
        config: Config,
        source: SourceFactory,
        object_ids: Iterator[int],
        ranges: RangeAssembler | None = None,
    ) -> None:
        self.flow = flow
        self.store = store
        self.config = config
        self._source = source
        self._ids = object_ids
        self.ranges = ranges  # byte ranges of one resource across flows (HTTP only)
        self._start()

    def _start(self) -> None:
        """Set up the builder's own state."""

    def _next_id(self) -> str:
        """The next object id of this flow (numbered across the flow's protocols)."""
        return f"{self.flow.uid}-{next(self._ids)}"

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        raise NotImplementedError

    def anomaly(self, name: str, detail: str) -> None:
        """An anomaly found while extracting content."""

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended: what is still open becomes objects."""
        raise NotImplementedError
