"""WebSocket events -> "websocket" objects.

By default each data message becomes one object (RFC 6455 s5.4: a message is the unit the
application sees) holding the payload as a ``message`` content item and the handshake
facts (URL, Origin, subprotocol, extensions). With ``per_connection`` set, the whole
connection becomes one object whose content items are its messages in order, with ping,
pong and close frames counted.
"""

from __future__ import annotations

from typing import Final

from wiresift.extract.builder import Builder
from wiresift.extract.files import ContentTracker
from wiresift.model import ContentItem, JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Direction, Event
from wiresift.protocols.websocket.events import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsControl,
    WsMessage,
)

_NOTHING: Final[list[ObjectRecord]] = []  # shared empty result, never mutated
# Anomalies listed on one object at most (as for HTTP objects).
MAX_OBJECT_ANOMALIES: Final = 32
# Close frames recorded per connection object (two are normal: one from each side).
MAX_CLOSES: Final = 8
_OPCODES: Final = {OP_TEXT: "text", OP_BINARY: "binary"}
_SENDERS: Final = ("client", "server")


def _context_text(context: object, key: str) -> str | None:
    if isinstance(context, dict):
        value = context.get(key)
        if isinstance(value, str):
            return value
    return None


class WebSocketBuilder(Builder):
    """Turns one connection's WebSocket events into objects."""

    # One object per connection (messages as ordered content items) instead of per message.
    per_connection: bool = False  # set by the engine from OutputConfig

    def _start(self) -> None:
        self._handshake: dict[str, JsonValue] = {}
        self.use_handshake(None)
        self._index = 0
        self._anomalies: list[str] = []
        self._first_frame = 0
        self._last_frame = 0
        self._ts_first = 0
        self._ts_last = 0
        # per-connection mode
        self._items: list[ContentItem] = []
        self._messages: list[JsonValue] = []
        self._pings = 0
        self._pongs = 0
        self._closes: list[JsonValue] = []
        self._all_complete = True
        self._directions: set[Direction] = set()

    def use_handshake(self, context: object | None) -> None:
        """Take the handshake facts the HTTP parser handed on (``FlowInfo.context``)."""
        self._handshake = {
            "url": _context_text(context, "url"),
            "origin": _context_text(context, "origin"),
            "subprotocol": _context_text(context, "subprotocol"),
            "extensions": _context_text(context, "extensions"),
        }

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if not self._first_frame:
            self._first_frame = frame
            self._ts_first = event.ts
        self._last_frame = frame
        self._ts_last = max(self._ts_last, event.ts)
        if isinstance(event, WsMessage):
            return self._message(event, frame)
        if isinstance(event, WsControl):
            if event.opcode == OP_PING:
                self._pings += 1
            elif event.opcode == OP_PONG:
                self._pongs += 1
            elif event.opcode == OP_CLOSE and len(self._closes) < MAX_CLOSES:
                self._closes.append(
                    {
                        "sender": _SENDERS[event.direction],
                        "code": event.close_code,
                        "reason": event.close_reason,
                    }
                )
        elif isinstance(event, Anomaly) and len(self._anomalies) < MAX_OBJECT_ANOMALIES:
            self._anomalies.append(event.name)
        return _NOTHING

    def close(self, ts: int) -> list[ObjectRecord]:
        """The connection ended: in per-connection mode its object is emitted now."""
        if not self.per_connection or not (self._items or self._pings or self._closes):
            return _NOTHING
        meta = dict(self._handshake)
        meta.update(
            messages=self._messages,
            pings=self._pings,
            pongs=self._pongs,
            closes=self._closes,
        )
        directions = self._directions
        return [
            self._record(
                ts_first=self._ts_first,
                ts_last=max(self._ts_last, ts) if self._ts_last else ts,
                first_frame=self._first_frame,
                last_frame=self._last_frame,
                direction="both"
                if len(directions) == 2
                else "upload"
                if Direction.ORIG in directions
                else "download"
                if directions
                else "none",
                complete=self._all_complete and bool(self._closes),
                meta=meta,
                contents=tuple(self._items),
                anomalies=tuple(self._anomalies),
            )
        ]

    def _message(self, event: WsMessage, frame: int) -> list[ObjectRecord]:
        index = self._index
        self._index += 1
        tracker = ContentTracker(
            self.store.open(),
            role="message",
            name=None,
            declared_type="text/plain" if event.opcode == OP_TEXT else None,
            limit=self.config.limits.max_stored_body,
        )
        tracker.write(event.payload)
        if event.truncated is not None:
            tracker.truncated = event.truncated
        if event.compressed:
            tracker.encodings = ("permessage-deflate",)
        facts: dict[str, JsonValue] = {
            "index": index,
            "opcode": _OPCODES.get(event.opcode, "reserved"),
            "sender": _SENDERS[event.direction],
            "size": event.size,
            "wire_size": event.wire_size,
            "compressed": event.compressed,
            "fragments": event.fragments,
        }
        if self.per_connection:
            item = tracker.finish(complete=event.complete)
            self._items.append(item)
            self._messages.append({**facts, "sha256": item.sha256})
            self._all_complete = self._all_complete and item.complete
            self._directions.add(event.direction)
            return _NOTHING
        item = tracker.finish(complete=event.complete)
        meta = dict(self._handshake)
        meta.update(facts)
        anomalies = tuple(self._anomalies)
        self._anomalies.clear()
        record = self._record(
            ts_first=event.ts_first,
            ts_last=event.ts,
            first_frame=self._first_frame,
            last_frame=frame,
            direction="upload" if event.direction == Direction.ORIG else "download",
            complete=item.complete,
            meta=meta,
            contents=(item,),
            anomalies=anomalies,
        )
        self._first_frame = 0
        return [record]

    def _record(
        self,
        *,
        ts_first: int,
        ts_last: int,
        first_frame: int,
        last_frame: int,
        direction: str,
        complete: bool,
        meta: dict[str, JsonValue],
        contents: tuple[ContentItem, ...],
        anomalies: tuple[str, ...],
    ) -> ObjectRecord:
        return ObjectRecord(
            id=self._next_id(),
            kind="websocket",
            protocol="websocket",
            ts_first=ts_first,
            ts_last=ts_last,
            source=self._source(first_frame, last_frame),
            flow=self.flow,
            direction=direction,
            complete=complete,
            meta=meta,
            contents=contents,
            anomalies=anomalies,
        )
