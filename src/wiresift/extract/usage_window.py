"""Usage objects summed over flows: one per client, server and protocol per time window.

With ``Config.usage_window`` set (seconds), the per-flow ``usage`` objects of a window are
not delivered one by one: the flows that share a key are summed into one object when the
window is over (by packet time) or the input ends. The key is the protocol, the client
address and the server address; for BitTorrent it is the protocol family, the client
address and the info-hash, so a client's traffic in one swarm is one object whatever
peers it talked to (the swarm is the "server"). The summed object lists its flows, adds
their packets and bytes, keeps the metadata of the first flow and unions the list values
of the others (capped), and stores each certificate once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from wiresift.model import ContentItem, JsonValue, ObjectRecord

NS: Final = 1_000_000_000
# Flows named in one summed object; past it they are counted only.
MAX_FLOWS_LISTED: Final = 1000
# Values kept per metadata list when lists of several flows are joined.
MAX_LIST_VALUES: Final = 256
# Keys summed at once (open windows); past it the oldest window is delivered early.
MAX_OPEN_KEYS: Final = 100_000
_BITTORRENT: Final = frozenset(
    {"bittorrent", "bittorrent-dht", "bittorrent-tracker-udp", "utp", "bittorrent-lsd"}
)


@dataclass(slots=True)
class _Sum:
    first: ObjectRecord
    window_start: int
    ts_first: int
    ts_last: int
    packets: list[int]
    bytes: list[int]
    flows: list[str] = field(default_factory=list)
    flow_count: int = 0
    complete: bool = True
    metadata: dict[str, JsonValue] = field(default_factory=dict)
    contents: dict[str, ContentItem] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    last_frame: int = 0


def _counts(meta: dict[str, JsonValue], key: str) -> tuple[int, int]:
    value = meta.get(key)
    if isinstance(value, dict):
        client, server = value.get("client", 0), value.get("server", 0)
        return (client if isinstance(client, int) else 0, server if isinstance(server, int) else 0)
    return 0, 0


def usage_key(record: ObjectRecord) -> tuple[str, str, str]:
    """What a flow's usage is summed under: (protocol, client, server or swarm)."""
    if record.protocol in _BITTORRENT:
        metadata = record.meta.get("metadata")
        swarm = ""
        if isinstance(metadata, dict):
            value = metadata.get("info_hash")
            if not isinstance(value, str):
                hashes = metadata.get("info_hashes")
                value = hashes[0] if isinstance(hashes, list) and hashes else None
            swarm = value if isinstance(value, str) else ""
        return ("bittorrent", record.flow.client_addr, f"swarm:{swarm}" if swarm else "")
    return (record.protocol, record.flow.client_addr, record.flow.server_addr)


class UsageWindows:
    """Sums usage objects per key and window; ``add`` and ``flush`` return what is done."""

    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds * NS
        self._open: dict[tuple[str, str, str, int], _Sum] = {}

    def add(self, record: ObjectRecord) -> list[ObjectRecord]:
        """Take a flow's usage object; return the summed objects of windows now over."""
        start = record.ts_first - record.ts_first % self.window
        key = (*usage_key(record), start)
        meta = record.meta
        total = self._open.get(key)
        if total is None:
            metadata = meta.get("metadata")
            total = self._open[key] = _Sum(
                first=record,
                window_start=start,
                ts_first=record.ts_first,
                ts_last=record.ts_last,
                packets=[0, 0],
                bytes=[0, 0],
                metadata=dict(metadata) if isinstance(metadata, dict) else {},
            )
        else:
            self._merge(total.metadata, meta.get("metadata"))
        total.ts_first = min(total.ts_first, record.ts_first)
        total.ts_last = max(total.ts_last, record.ts_last)
        for index, value in enumerate(_counts(meta, "packets")):
            total.packets[index] += value
        for index, value in enumerate(_counts(meta, "bytes")):
            total.bytes[index] += value
        total.flow_count += 1
        if len(total.flows) < MAX_FLOWS_LISTED:
            total.flows.append(record.flow.uid)
        total.complete = total.complete and record.complete
        total.last_frame = max(total.last_frame, record.source.last_frame)
        for item in record.contents:
            total.contents.setdefault(item.sha256, item)
        for name in record.anomalies:
            if name not in total.anomalies:
                total.anomalies.append(name)
        done = self.expire(record.ts_first)
        if len(self._open) > MAX_OPEN_KEYS:
            oldest = min(self._open, key=lambda k: self._open[k].window_start)
            done.append(self._record(self._open.pop(oldest)))
        return done

    def expire(self, now: int) -> list[ObjectRecord]:
        """The summed objects of every window that ended before ``now`` (packet time)."""
        over = [k for k, total in self._open.items() if total.window_start + self.window <= now]
        return [self._record(self._open.pop(k)) for k in sorted(over, key=lambda k: k[3])]

    def flush(self) -> list[ObjectRecord]:
        """Everything still summed (the end of the input)."""
        keys = sorted(self._open, key=lambda k: (k[3], k[:3]))
        return [self._record(self._open.pop(k)) for k in keys]

    @staticmethod
    def _merge(metadata: dict[str, JsonValue], other: JsonValue) -> None:
        if not isinstance(other, dict):
            return
        for key, value in other.items():
            old = metadata.get(key)
            if key not in metadata:
                metadata[key] = value
            elif isinstance(old, list) and isinstance(value, list):
                joined = list(old)
                for item in value:
                    if len(joined) >= MAX_LIST_VALUES:
                        break
                    if item not in joined:
                        joined.append(item)
                metadata[key] = joined

    def _record(self, total: _Sum) -> ObjectRecord:
        first = total.first
        meta = dict(first.meta)
        meta["metadata"] = total.metadata
        meta["packets"] = {"client": total.packets[0], "server": total.packets[1]}
        meta["bytes"] = {"client": total.bytes[0], "server": total.bytes[1]}
        window: dict[str, JsonValue] = {
            "start_ns": total.window_start,
            "seconds": self.window // NS,
            "flows": total.flow_count,
            "flow_uids": list(total.flows),
        }
        protocol, _client, server = usage_key(first)
        if server.startswith("swarm:"):
            window["swarm"] = server[len("swarm:") :]
        meta["window"] = window
        return replace(
            first,
            id=f"{first.id}-w{total.window_start // NS}",
            protocol=first.protocol if protocol != "bittorrent" else "bittorrent",
            ts_first=total.ts_first,
            ts_last=total.ts_last,
            source=replace(first.source, last_frame=max(total.last_frame, first.source.last_frame)),
            complete=total.complete,
            meta=meta,
            contents=tuple(total.contents.values()),
            anomalies=tuple(total.anomalies),
        )
