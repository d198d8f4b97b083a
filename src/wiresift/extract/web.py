"""HTTP events -> one "http" object per request/response exchange.

Each exchange becomes one passport holding the request and response metadata and content
items: the decoded response body (the object a user wants), its still-encoded wire form
when a Content-Encoding was applied, the request body, and each part of a multipart body
(RFC 7578 uploads, RFC 7233 byteranges). Bodies stream through decoders and hashes into the
content store as they arrive; nothing holds a whole body in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_to_bytes

from wiresift.config import Config
from wiresift.extract.builder import Builder
from wiresift.extract.content import ContentDecoder, parse_content_encoding
from wiresift.extract.files import ContentStore, ContentTracker
from wiresift.extract.multipart import (
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
    content_disposition_filename,
)
from wiresift.extract.names import filename_from_uri, safe_filename
from wiresift.extract.ranges import MAX_RANGE_FILE, MAX_RANGE_PIECE, Download
from wiresift.model import ContentItem, JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Direction, Event
from wiresift.protocols.http1.events import (
    BodyData,
    BodyGap,
    MessageEnd,
    RequestHead,
    ResponseHead,
)

Headers = tuple[tuple[bytes, bytes], ...]
# Every value of each header of one message by lower-case name, in order.
HeaderIndex = dict[bytes, list[bytes]]

_NOTHING: Final[list[ObjectRecord]] = []  # shared empty result, never mutated
# Anomalies listed on one object at most.
MAX_OBJECT_ANOMALIES: Final = 32
_CONTENT_RANGE = re.compile(rb"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
# The index of a message without headers (shared, never mutated).
_NO_HEADERS: Final[HeaderIndex] = {}
# ``index.get(name, _ABSENT)[0]``: the first value of a header, or None.
_ABSENT: Final = (None,)


def text(value: bytes) -> str:
    """Header bytes as text: UTF-8 when valid, else Latin-1 (RFC 9110 s5.5 obs-text)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (lower-case)."""
    return [value for key, value in headers if key.lower() == name]


def header_index(headers: Headers) -> HeaderIndex:
    """The values of each header by lower-case name (RFC 9110 s5.1: names are
    case-insensitive), built once per message instead of scanning the list per lookup."""
    index: HeaderIndex = {}
    for key, value in headers:
        name = key.lower()
        found = index.get(name)
        if found is None:
            index[name] = [value]
        else:
            found.append(value)
    return index


def header_pairs(headers: Headers) -> list[JsonValue]:
    """Every header as a ``[name, value]`` pair of text (see ``text``)."""
    try:
        return [[key.decode("utf-8"), value.decode("utf-8")] for key, value in headers]
    except UnicodeDecodeError:
        return [[text(key), text(value)] for key, value in headers]


def cookie_names(values: Iterable[bytes], *, set_cookie: bool) -> list[str]:
    """Names of cookies in Cookie (RFC 6265 s5.4) or Set-Cookie (s5.2) values, never values."""
    names: list[str] = []
    for value in values:
        pieces = [value.split(b";", 1)[0]] if set_cookie else value.split(b";")
        for piece in pieces:
            name = piece.split(b"=", 1)[0].strip()
            if name:
                names.append(text(name))
    return names


def content_length(headers: Headers) -> int | None:
    """The Content-Length of a message that is not chunked (RFC 9112 s6.3), or None."""
    return _content_length(header_index(headers))


def _content_length(index: HeaderIndex) -> int | None:
    if b"transfer-encoding" in index:
        return None
    found = index.get(b"content-length")
    if found is None:
        return None
    value = found[0].split(b",", 1)[0].strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def media_type(value: bytes | None) -> str | None:
    """The media type of a Content-Type value, lower-cased, without parameters."""
    if not value:
        return None
    return text(value.split(b";", 1)[0].strip().lower()) or None


class _Body:
    """The content pipeline of one message body."""

    __slots__ = (
        "_builder",
        "_decoder",
        "_multipart",
        "_parts",
        "_plain",
        "declared",
        "decode_error",
        "encodings",
        "expected",
        "items",
        "main",
        "name",
        "raw",
        "role",
        "tee",
        "wire_bytes",
    )

    def __init__(
        self,
        builder: HttpBuilder,
        role: str,
        headers: HeaderIndex,
        name: str | None,
    ) -> None:
        self._builder = builder
        self.role = role
        self.name = name
        content_type = headers.get(b"content-type", _ABSENT)[0]
        declared = self.declared = media_type(content_type)
        self.expected = _content_length(headers)
        limits = builder.config.limits
        codings = headers.get(b"content-encoding")
        self.encodings = (
            [e for e in parse_content_encoding(codings) if e != "identity"] if codings else []
        )
        self._decoder: ContentDecoder | None = None
        if self.encodings:
            self._decoder = ContentDecoder(
                self.encodings,
                max_output=limits.max_stored_body,
                max_ratio=limits.max_decompression_ratio,
                max_layers=limits.max_content_encodings,
            )
        self._multipart: MultipartParser | None = None
        boundary = (
            boundary_from_content_type(content_type)
            if content_type and declared is not None and declared.startswith("multipart/")
            else None
        )
        if boundary is not None:
            self._multipart = MultipartParser(
                boundary,
                max_depth=limits.max_mime_depth,
                max_parts=limits.max_multipart_parts,
                max_header_block=limits.max_header_block,
            )
        self._plain = self._decoder is None and self._multipart is None
        self._parts: dict[int, ContentTracker] = {}
        self.raw: ContentTracker | None = None
        self.main: ContentTracker | None = None
        self.items: list[ContentItem] = []
        self.decode_error: str | None = None
        self.wire_bytes = 0
        # A copy of the body for joining byte ranges (206 pieces only), else None.
        self.tee: bytearray | None = None

    def _tracker(self, role: str, name: str | None, declared: str | None) -> ContentTracker:
        return ContentTracker(
            self._builder.store.open(),
            role=role,
            name=name,
            declared_type=declared,
            limit=self._builder.config.limits.max_stored_body,
        )

    def feed(self, data: bytes) -> None:
        self.wire_bytes += len(data)
        main = self.main
        if main is not None and self._plain:
            main.write(data)  # the common case: neither encoded nor multipart
            if self.tee is not None:
                self.tee += data
            return
        output = self._builder.config.output
        if self._decoder is not None:
            if self.raw is None and output.keep_encoded_body:
                self.raw = self._tracker(self.role + "-encoded", self.name, self.declared)
            if self.raw is not None:
                self.raw.write(data)
            if self.decode_error is None:
                data = self._decoder.feed(data)
                if self._decoder.failed:
                    self.decode_error = self._describe_decoder_failure()
        self._decoded(data)

    def _decoded(self, data: bytes) -> None:
        if not data:
            return
        if self.main is None and (
            self._multipart is None or self._builder.config.output.keep_multipart_body
        ):
            self.main = self._tracker(self.role, self.name, self.declared)
            self.main.encodings = tuple(self.encodings)
        if self.main is not None:
            self.main.write(data)
        if self.tee is not None:
            self.tee += data
        if self._multipart is not None:
            self._parts_events(self._multipart.feed(data))

    def _parts_events(self, events: list[PartStart | PartData | PartEnd]) -> None:
        for event in events:
            if isinstance(event, PartData):
                tracker = self._parts.get(event.index)
                if tracker is not None:
                    tracker.write(event.data)
            elif isinstance(event, PartStart):
                if event.container:
                    continue  # a nested multipart: its own parts follow
                name = safe_filename(event.filename) if event.filename else None
                tracker = self._tracker(self.role + "-part", name, event.content_type)
                tracker.extra = {
                    "part_index": event.index,
                    "part_path": list(event.path),
                    "field_name": event.name,
                    "wire_name": event.filename,
                }
                self._parts[event.index] = tracker
            else:
                tracker = self._parts.pop(event.index, None)
                if tracker is not None:
                    self.items.append(tracker.finish(complete=event.complete))
        if self._multipart is not None:
            for name, detail in self._multipart.anomalies:
                self._builder.anomaly(name, detail)
            self._multipart.anomalies.clear()

    def gap(self, size: int) -> None:
        self.wire_bytes += size
        self.tee = None  # a piece with a hole cannot be joined
        if self.raw is not None:
            self.raw.gap(size)
        if self._decoder is not None:
            # A compressed stream cannot be decoded past a hole.
            if self.decode_error is None:
                self.decode_error = "gap in encoded body"
            if self.main is not None:
                self.main.gap(0)
            return
        if self.main is None:
            self.main = self._tracker(self.role, self.name, self.declared)
        self.main.gap(size)
        for tracker in self._parts.values():
            tracker.gap(size)

    def _describe_decoder_failure(self) -> str:
        assert self._decoder is not None
        details = [f"{name}: {detail}" for name, detail in self._decoder.anomalies]
        return "; ".join(details) or "content decoding failed"

    def finish(self, *, complete: bool) -> list[ContentItem]:
        if self._decoder is not None and self.decode_error is None:
            self._decoded(self._decoder.finish())
            if self._decoder.failed:
                self.decode_error = self._describe_decoder_failure()
            for name, detail in self._decoder.anomalies:
                self._builder.anomaly(name, detail)
        if self._multipart is not None:
            self._parts_events(self._multipart.finish())
            for tracker in self._parts.values():
                self.items.append(tracker.finish(complete=False))
            self._parts.clear()
        items: list[ContentItem] = []
        if self.main is not None:
            if self._decoder is not None and self._decoder.truncated:
                self.main.truncated = self.main.truncated or "decompression_limit"
            items.append(
                self.main.finish(
                    complete=complete,
                    decode_error=self.decode_error,
                    expected_size=None if self._decoder is not None else self.expected,
                )
            )
        if self.raw is not None:
            items.append(self.raw.finish(complete=complete, expected_size=self.expected))
        items.extend(self.items)
        return items


class _Exchange:
    """One request and its response."""

    __slots__ = (
        "_req_index",
        "_resp_index",
        "anomalies",
        "first_frame",
        "in_interim",
        "interim",
        "last_frame",
        "req_body",
        "req_complete",
        "req_done",
        "request",
        "resp_body",
        "resp_complete",
        "resp_done",
        "response",
        "ts_first",
        "ts_last",
        "tx",
    )

    def __init__(self, tx: int, ts: int, frame: int) -> None:
        self.tx = tx
        self.request: RequestHead | None = None
        self.response: ResponseHead | None = None
        # The headers of ``request`` and ``response`` by name (``header_index``), built on
        # first use: an exchange waiting for its response holds only the head itself.
        self._req_index: HeaderIndex | None = None
        self._resp_index: HeaderIndex | None = None
        self.interim: list[int] = []
        self.in_interim = False  # the last response head was a 1xx; its end is not the end
        self.req_body: _Body | None = None
        self.resp_body: _Body | None = None
        self.req_done = False
        self.resp_done = False
        self.req_complete = False
        self.resp_complete = False
        self.ts_first = self.ts_last = ts
        self.first_frame = self.last_frame = frame
        self.anomalies: list[str] = []

    def drop_indexes(self) -> None:
        """Forget the header indexes (rebuilt on demand)."""
        self._req_index = self._resp_index = None

    @property
    def req_headers(self) -> HeaderIndex:
        index = self._req_index
        if index is None:
            request = self.request
            index = self._req_index = header_index(request.headers) if request else _NO_HEADERS
        return index

    @property
    def resp_headers(self) -> HeaderIndex:
        index = self._resp_index
        if index is None:
            response = self.response
            index = self._resp_index = header_index(response.headers) if response else _NO_HEADERS
        return index


class HttpBuilder(Builder):
    """Turns one flow's HTTP events into objects."""

    protocol: str = "http"  # the passport's protocol; Http2Builder says "http2"

    def _start(self) -> None:
        self._open: dict[int, _Exchange] = {}
        self._current: list[_Exchange | None] = [None, None]
        self._last_anomaly_target: _Exchange | None = None

    # -- events ---------------------------------------------------------------------

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if type(event) is BodyData:  # the common case first: one per body segment
            ex = self._open.get(event.tx)
            if ex is not None:
                body = ex.resp_body if event.direction else ex.req_body
                if body is None:
                    body = self._body(ex, event.direction)
                else:
                    self._last_anomaly_target = ex
                body.feed(event.data)
                ex.ts_last = event.ts
                ex.last_frame = frame
            return _NOTHING
        if isinstance(event, RequestHead):
            ex = self._exchange(event.tx, event.ts, frame)
            ex.request = event
            self._current[Direction.ORIG] = ex
            return []
        if isinstance(event, ResponseHead):
            ex = self._exchange(event.tx, event.ts, frame)
            self._current[Direction.RESP] = ex
            ex.in_interim = event.interim
            if event.interim:
                ex.interim.append(event.status)
            else:
                ex.response = event
            ex.ts_last = event.ts
            ex.last_frame = frame
            return []
        if isinstance(event, BodyGap):
            ex = self._open.get(event.tx)
            if ex is not None:
                self._body(ex, event.direction).gap(event.size)
            return []
        if isinstance(event, MessageEnd):
            return self._message_end(event, frame)
        if isinstance(event, Anomaly):
            target = self._current[event.direction]
            if target is not None and len(target.anomalies) < MAX_OBJECT_ANOMALIES:
                target.anomalies.append(event.name)
        return []

    def anomaly(self, name: str, detail: str) -> None:
        """An anomaly found while extracting content (decoders, multipart)."""
        target = self._last_anomaly_target
        if target is not None and len(target.anomalies) < MAX_OBJECT_ANOMALIES:
            target.anomalies.append(name)

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended: every exchange still open becomes an object, marked incomplete."""
        records = [r for ex in list(self._open.values()) for r in self._finish(ex)]
        self._open.clear()
        return records

    # -- internals ------------------------------------------------------------------

    def _exchange(self, tx: int, ts: int, frame: int) -> _Exchange:
        ex = self._open.get(tx)
        if ex is None:
            ex = self._open[tx] = _Exchange(tx, ts, frame)
        return ex

    def _body(self, ex: _Exchange, direction: Direction) -> _Body:
        self._last_anomaly_target = ex
        if direction == Direction.ORIG:
            if ex.req_body is None:
                ex.req_body = _Body(self, "request-body", ex.req_headers, None)
            return ex.req_body
        if ex.resp_body is None:
            name = self._response_name(ex)
            body = ex.resp_body = _Body(self, "response-body", ex.resp_headers, name)
            piece = self._range_piece(ex)
            if (
                piece is not None
                and body._plain
                and piece[2] <= MAX_RANGE_FILE
                and piece[1] - piece[0] < MAX_RANGE_PIECE
            ):
                body.tee = bytearray()
        return ex.resp_body

    def _response_name(self, ex: _Exchange) -> str | None:
        if ex.response is not None:
            disposition = ex.resp_headers.get(b"content-disposition", _ABSENT)[0]
            if disposition:
                name = content_disposition_filename(disposition)
                if name:
                    return safe_filename(name)
        if ex.request is not None:
            name = filename_from_uri(ex.request.target)
            if name:
                return safe_filename(name)
        return None

    def _message_end(self, event: MessageEnd, frame: int) -> list[ObjectRecord]:
        ex = self._open.get(event.tx)
        if ex is None:
            return []
        ex.ts_last = max(ex.ts_last, event.ts)
        ex.last_frame = frame
        if event.direction == Direction.RESP and ex.in_interim:
            ex.in_interim = False
            return []
        if event.direction == Direction.ORIG:
            ex.req_done = True
            ex.req_complete = event.complete
        else:
            ex.resp_done = True
            ex.resp_complete = event.complete
        if ex.resp_done and (ex.req_done or ex.request is None):
            del self._open[ex.tx]
            return self._finish(ex)
        return []

    def _finish(self, ex: _Exchange) -> list[ObjectRecord]:
        record = self._exchange_record(ex)
        records = [record]
        piece = self._range_piece(ex)
        body = ex.resp_body
        if (
            piece is not None
            and self.ranges is not None
            and body is not None
            and body.tee is not None
            and ex.resp_complete
            and len(body.tee) == piece[1] - piece[0] + 1
        ):
            start, _end, total = piece
            request = ex.request
            response = ex.response
            assert request is not None
            assert response is not None
            host = ex.req_headers.get(b"host", _ABSENT)[0] or b""
            validator = (
                ex.resp_headers.get(b"etag", _ABSENT)[0]
                or ex.resp_headers.get(b"last-modified", _ABSENT)[0]
                or b""
            )
            key = (text(host).lower(), text(request.target), text(validator), total)
            ended = self.ranges.add(
                key,
                start,
                bytes(body.tee),
                source=record.id,
                name=body.name,
                declared_type=body.declared,
                ts_first=ex.ts_first,
                ts_last=ex.ts_last,
                flow=self.flow,
                source_ref=record.source,
            )
            records.extend(range_file_record(d, self.store, self.config) for d in ended)
        if body is not None:
            body.tee = None
        # The exchange may stay referenced (the last anomaly target) on an idle keep-alive
        # connection: it keeps its heads, not the indexes built from them.
        ex.drop_indexes()
        return records

    @staticmethod
    def _range_piece(ex: _Exchange) -> tuple[int, int, int] | None:
        """(first, last, total) of a 206 response with one byte range and a known total."""
        response = ex.response
        if response is None or response.status != 206 or ex.request is None:
            return None
        value = ex.resp_headers.get(b"content-range", _ABSENT)[0]
        match = _CONTENT_RANGE.match(value) if value is not None else None
        if match is None or match.group(3) == b"*":
            return None
        first, last, total = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if not first <= last < total:
            return None
        return first, last, total

    def _exchange_record(self, ex: _Exchange) -> ObjectRecord:
        self._last_anomaly_target = ex
        contents: list[ContentItem] = []
        if ex.req_body is not None:
            contents.extend(ex.req_body.finish(complete=ex.req_complete))
        if ex.resp_body is not None:
            contents.extend(ex.resp_body.finish(complete=ex.resp_complete))
        upload = any(c.role.startswith("request") for c in contents)
        download = any(c.role.startswith("response") for c in contents)
        direction = (
            "both"
            if upload and download
            else "upload"
            if upload
            else "download"
            if download
            else "none"
        )
        complete = (
            ex.request is not None
            and ex.req_complete
            and ex.response is not None
            and ex.resp_complete
            and all(c.complete for c in contents)
        )
        return ObjectRecord(
            id=self._next_id(),
            kind="http",
            protocol=self.protocol,
            ts_first=ex.ts_first,
            ts_last=ex.ts_last,
            source=self._source(ex.first_frame, ex.last_frame),
            flow=self.flow,
            direction=direction,
            complete=complete,
            meta=self._meta(ex),
            contents=tuple(contents),
            anomalies=tuple(ex.anomalies),
        )

    def _meta(self, ex: _Exchange) -> dict[str, JsonValue]:
        meta: dict[str, JsonValue] = {"tx": ex.tx}
        if self.protocol == "http2":
            meta["stream_id"] = ex.tx  # HTTP/2 numbers exchanges by stream (RFC 9113 s5.1.1)
        req = ex.request
        resp = ex.response
        if req is not None:
            headers = ex.req_headers
            # HTTP/2 names the host in :authority (RFC 9113 s8.3.1), Host only when proxied.
            host = headers.get(b"host", _ABSENT)[0] or headers.get(b":authority", _ABSENT)[0]
            target = text(req.target)
            meta["method"] = text(req.method)
            meta["uri"] = target
            if b"info_hash=" in req.target:
                tracker = tracker_request(req.target)
                if tracker is not None:
                    meta["bittorrent_tracker"] = tracker
            meta["version"] = text(req.version)
            meta["host"] = text(host) if host is not None else None
            meta["url"] = self._url(target, host)
            meta["user_agent"] = _opt_text(headers.get(b"user-agent", _ABSENT)[0])
            meta["referer"] = _opt_text(headers.get(b"referer", _ABSENT)[0])
            meta["request_content_type"] = media_type(headers.get(b"content-type", _ABSENT)[0])
            cookies = headers.get(b"cookie")
            meta["cookie_names"] = (
                list[JsonValue](cookie_names(cookies, set_cookie=False)) if cookies else []
            )
            meta["request_headers"] = header_pairs(req.headers)
            meta["request_body_bytes"] = ex.req_body.wire_bytes if ex.req_body else 0
            meta["request_complete"] = ex.req_complete
            range_header = headers.get(b"range", _ABSENT)[0]
            if range_header is not None:
                meta["range"] = text(range_header)
        else:
            meta.update(method=None, uri=None, host=None, url=None, request_complete=False)
        if resp is not None:
            headers = ex.resp_headers
            codings = headers.get(b"content-encoding")
            set_cookies = headers.get(b"set-cookie")
            meta["status"] = resp.status
            meta["reason"] = text(resp.reason)
            meta["response_version"] = text(resp.version)
            meta["response_content_type"] = media_type(headers.get(b"content-type", _ABSENT)[0])
            meta["content_encoding"] = (
                list[JsonValue](parse_content_encoding(codings)) if codings else []
            )
            meta["set_cookie_names"] = (
                list[JsonValue](cookie_names(set_cookies, set_cookie=True)) if set_cookies else []
            )
            meta["response_headers"] = header_pairs(resp.headers)
            meta["response_body_bytes"] = ex.resp_body.wire_bytes if ex.resp_body else 0
            meta["response_complete"] = ex.resp_complete
            content_range = headers.get(b"content-range", _ABSENT)[0]
            if content_range is not None:
                match = _CONTENT_RANGE.match(content_range)
                if match:
                    total = match.group(3)
                    meta["content_range"] = {
                        "start": int(match.group(1)),
                        "end": int(match.group(2)),
                        "total": None if total == b"*" else int(total),
                    }
                else:
                    meta["content_range"] = {"raw": text(content_range)}
        else:
            meta.update(status=None, response_complete=False)
        if ex.interim:
            meta["interim_statuses"] = list(ex.interim)
        return meta

    @staticmethod
    def _url(target: str, host: bytes | None) -> str | None:
        if "://" in target:
            return target
        if host is None:
            return None
        if target.startswith("/"):
            return f"http://{text(host)}{target}"
        return None


class Http2Builder(HttpBuilder):
    """HTTP/2 streams (the same events, ``tx`` = stream id) into "http" objects."""

    protocol = "http2"


def _opt_text(value: bytes | None) -> str | None:
    return None if value is None else text(value)


def range_file_record(download: Download, store: ContentStore, config: Config) -> ObjectRecord:
    """The file joined from a resource's byte ranges: holes where no piece came."""
    assert download.flow is not None
    assert download.source is not None
    tracker = ContentTracker(
        store.open(),
        role="joined-ranges",
        name=download.name,
        declared_type=download.declared_type,
        limit=config.limits.max_stored_body,
    )
    position = 0
    for start in sorted(download.pieces):
        piece = download.pieces[start]
        end = start + len(piece)
        if end <= position:
            continue
        if start > position:
            tracker.gap(start - position)
            position = start
        tracker.write(piece[position - start :])
        position = end
    tracker.gap(download.total - position)
    item = tracker.finish(complete=True)
    host, target, validator, total = download.key
    spans = download.spans()
    meta: dict[str, JsonValue] = {
        "host": host,
        "uri": target,
        "url": f"http://{host}{target}" if target.startswith("/") else target,
        "validator": validator or None,
        "total": total,
        "ranges": [[first, end - 1] for first, end in spans],
        "sources": list[JsonValue](download.sources),
    }
    return ObjectRecord(
        id=f"{download.sources[-1]}-ranges",
        kind="file",
        protocol="http",
        ts_first=download.ts_first,
        ts_last=download.ts_last,
        source=download.source,
        flow=download.flow,
        direction="download",
        complete=item.complete,
        meta=meta,
        contents=(item,),
    )


# Query fields of a BitTorrent tracker request kept as numbers (BEP 3 "Trackers").
_TRACKER_NUMBERS: Final = ("port", "uploaded", "downloaded", "left", "numwant", "compact")


def tracker_request(target: bytes) -> dict[str, JsonValue] | None:
    """The fields of a BitTorrent HTTP tracker announce or scrape (BEP 3, BEP 48): the
    info-hashes (hex), the peer id, the event and the transfer counters."""
    path, _, query = target.partition(b"?")
    kind = path.rsplit(b"/", 1)[-1]
    if kind not in (b"announce", b"scrape") and not kind.startswith((b"announce", b"scrape")):
        return None
    hashes: list[JsonValue] = []
    fields: dict[str, JsonValue] = {}
    for pair in query.split(b"&")[:64]:
        name, _, value = pair.partition(b"=")
        raw = unquote_to_bytes(value)
        if name == b"info_hash" and len(raw) in (20, 32):
            hashes.append(raw.hex())
        elif name == b"peer_id":
            fields["peer_id"] = raw.decode("latin-1")
        elif name == b"event":
            fields["event"] = raw.decode("latin-1")[:32]
        elif name.decode("latin-1") in _TRACKER_NUMBERS and raw.isdigit() and len(raw) < 20:
            fields[name.decode("latin-1")] = int(raw)
    if not hashes:
        return None
    return {
        "request": "announce" if kind.startswith(b"announce") else "scrape",
        "info_hashes": hashes,
        **fields,
    }
