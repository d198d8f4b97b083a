"""The objects wiresift delivers: one JSON "passport" per object plus its content files.

The format is versioned (``SCHEMA_VERSION``) and documented in docs/objects.md; the JSON
Schema in ``wiresift/schema/object.schema.json`` validates every passport.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Final

import orjson

SCHEMA_ID: Final = "wiresift.object"
SCHEMA_VERSION: Final = 1

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


@functools.lru_cache(maxsize=64)
def _format_second(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_ts(ts_ns: int) -> str:
    """RFC 3339 UTC time with nanoseconds, e.g. ``2024-06-01T12:00:00.123456789Z``."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return f"{_format_second(seconds)}.{nanos:09d}Z"


def format_addr(packed: bytes) -> str:
    """Text form of a packed IPv4 or IPv6 address (RFC 5952 for IPv6)."""
    if len(packed) == 4:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    return str(ipaddress.IPv6Address(packed))


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRef:
    """The connection an object came from."""

    uid: str
    transport: str
    client_addr: str
    client_port: int
    server_addr: str
    server_port: int
    encapsulation: tuple[str, ...] = ()
    # The proxy the connection went through (SOCKS, HTTP CONNECT); server_* is then the
    # target the proxy was asked to reach.
    via: tuple[str, int] | None = None

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "uid": self.uid,
            "transport": self.transport,
            "client": {"addr": self.client_addr, "port": self.client_port},
            "server": {"addr": self.server_addr, "port": self.server_port},
            "encapsulation": list(self.encapsulation),
        }
        if self.via is not None:
            out["via"] = {"addr": self.via[0], "port": self.via[1]}
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRef:
    """Where the packets came from: a capture file or an interface, and the frame range."""

    kind: str  # "file" | "interface"
    name: str
    first_frame: int
    last_frame: int

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "type": self.kind,
            "name": self.name,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Bytes of a content item that were never captured."""

    offset: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentItem:
    """One stored piece of content of an object (a body, a part, an attachment)."""

    role: str
    name: str | None
    path: str | None  # relative to the output folder; None when content is not stored
    size: int
    sha256: str
    md5: str
    media_type: str | None  # sniffed from the bytes
    declared_type: str | None  # from the protocol (Content-Type)
    complete: bool
    gaps: tuple[Gap, ...] = ()
    truncated: str | None = None  # why storing stopped, if it did
    encodings: tuple[str, ...] = ()  # content codings that were decoded
    decode_error: str | None = None
    extra: dict[str, JsonValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "role": self.role,
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "md5": self.md5,
            "media_type": self.media_type,
            "declared_type": self.declared_type,
            "complete": self.complete,
            "gaps": [{"offset": g.offset, "size": g.size} for g in self.gaps] if self.gaps else [],
            "truncated": self.truncated,
            "encodings": list(self.encodings),
            "decode_error": self.decode_error,
        }
        if self.extra:
            out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRecord:
    """One application-level object: what the analyser receives."""

    id: str
    kind: str  # "http", "email", "chat", "file", "usage", ...
    protocol: str
    ts_first: int
    ts_last: int
    source: SourceRef
    flow: FlowRef
    direction: str  # "upload" | "download" | "both" | "none"
    complete: bool
    meta: dict[str, JsonValue]
    contents: tuple[ContentItem, ...] = ()
    parties: dict[str, JsonValue] = field(default_factory=dict)
    anomalies: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JsonValue]:
        """The passport: the JSON form described in docs/objects.md."""
        return {
            "schema": SCHEMA_ID,
            "version": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "protocol": self.protocol,
            "ts_first": format_ts(self.ts_first),
            "ts_last": format_ts(self.ts_last),
            "ts_first_ns": self.ts_first,
            "ts_last_ns": self.ts_last,
            "source": self.source.to_json(),
            "flow": self.flow.to_json(),
            "direction": self.direction,
            "complete": self.complete,
            "parties": self.parties,
            self.kind: self.meta,
            "contents": [c.to_json() for c in self.contents],
            "anomalies": list(self.anomalies),
        }


def encode_passport(record: ObjectRecord) -> bytes:
    """The passport as compact UTF-8 JSON (encoded once for every sink).

    orjson is used for its speed (several times the standard library's encoder on these
    documents, which are written once per object); its output is standard JSON.
    """
    return orjson.dumps(record.to_json())
