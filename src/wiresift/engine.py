"""The one place where the stages meet: packets -> flows -> detection -> parsers -> objects.

``Engine.run`` is the hot loop. It keeps per-packet work to tuple unpacking, one decoder
call and one flow-table call; everything protocol-specific happens per stream chunk, and
everything that allocates records happens per application message.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from wiresift.capture.base import PacketSource, RawPacket
from wiresift.config import Config
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, Decoded
from wiresift.detect.detector import DatagramDetector, Detection, StreamDetector
from wiresift.detect.signatures import Confidence
from wiresift.extract.builder import Builder
from wiresift.extract.chat import ChatBuilder
from wiresift.extract.files import ContentStore, NullStore
from wiresift.extract.ftp import FtpBuilder
from wiresift.extract.icap import IcapBuilder
from wiresift.extract.mail import MailBuilder
from wiresift.extract.ranges import RangeAssembler
from wiresift.extract.usage import UsageBuilder
from wiresift.extract.usage_window import UsageWindows
from wiresift.extract.web import Http2Builder, HttpBuilder, range_file_record
from wiresift.extract.websocket import WebSocketBuilder
from wiresift.flow.budget import BufferBudget
from wiresift.flow.expect import Endpoint, Expectation, ExpectationTable
from wiresift.flow.table import Flow, FlowConfig, FlowTable
from wiresift.model import FlowRef, ObjectRecord, SourceRef, encode_passport, format_addr
from wiresift.outputs import Sink
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import (
    Anomaly,
    Direction,
    Event,
    FlowInfo,
    Parser,
    ProtocolSpec,
    SwitchProtocol,
)
from wiresift.protocols.expect_events import ExpectConnection

_DIRECTIONS = (Direction.ORIG, Direction.RESP)
# Event classes that are none of Anomaly, SwitchProtocol, ExpectConnection (or their
# subclasses): the engine only hands them to the builder. Filled as they are first seen,
# so it holds at most every Event class there is.
_PLAIN_EVENT_TYPES: Final[set[type[Event]]] = set()
# Anomalies kept per flow for its objects (the global counter counts them all).
MAX_FLOW_ANOMALIES = 64
BUILDERS: dict[str, type[Builder]] = {
    "http": HttpBuilder,
    "http2": Http2Builder,
    "icap": IcapBuilder,
    "tls": UsageBuilder,
    "dtls": UsageBuilder,
    "ftp": FtpBuilder,
    "ftp-data": FtpBuilder,
    "websocket": WebSocketBuilder,
    "smtp": MailBuilder,
    "pop3": MailBuilder,
    "imap": MailBuilder,
    "irc": ChatBuilder,
    "irc-dcc": ChatBuilder,
    "xmpp": ChatBuilder,
    "xmpp-s5b": ChatBuilder,
    "nmdc": ChatBuilder,
    "adc": ChatBuilder,
    "stun": UsageBuilder,
    "skype": UsageBuilder,
    "notes": UsageBuilder,
    "oscar": ChatBuilder,
    "oscar-oft": ChatBuilder,
    "mrim": ChatBuilder,
    "mrim-ft": ChatBuilder,
    "msn": ChatBuilder,
    "msnftp": ChatBuilder,
    "msnp2p": ChatBuilder,
    "ymsg": ChatBuilder,
    "bittorrent": UsageBuilder,
    "bittorrent-dht": UsageBuilder,
    "bittorrent-tracker-udp": UsageBuilder,
    "bittorrent-lsd": UsageBuilder,
    "utp": UsageBuilder,
}


class ParserCrashError(Exception):
    """A parser raised: a bug in wiresift, re-raised only under ``strict``."""


@dataclass(slots=True)
class RunStats:
    """What a run did (the CLI prints it)."""

    packets: int = 0
    bytes: int = 0
    flows: int = 0
    flows_evicted: int = 0  # ended early to keep the flow table under max_flows
    rejected: int = 0  # packets the accept/reject rules turned away
    objects: Counter[str] = field(default_factory=Counter)
    objects_by_protocol: Counter[tuple[str, str]] = field(default_factory=Counter)
    anomalies: Counter[str] = field(default_factory=Counter)
    protocols: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class _FlowApp:
    """Application-layer state of one flow (detector, then parser and builder)."""

    __slots__ = (
        "anomalies",
        "builder",
        "detection",
        "detector",
        "held",
        "hold_direction",
        "hold_run",
        "info",
        "object_ids",
        "parser",
        "protocol",
        "sealed",
    )

    def __init__(self) -> None:
        self.detector: StreamDetector | DatagramDetector | None = None
        self.parser: Parser | None = None
        self.builder: Builder | None = None
        self.detection: tuple[str, str] = ("", "")  # how the protocol was found
        self.protocol: str | None = None
        self.info: FlowInfo | None = None
        self.anomalies: list[str] = []
        self.object_ids = itertools.count()  # numbers the flow's objects across protocols
        self.sealed = False  # nothing more to do with this flow's bytes
        # Body segments joined before they are fed (Engine.stream_data): the direction,
        # how many more bytes the parser takes as plain body (Parser.body_run; 0: feed
        # every segment now), and what is held right now.
        self.hold_direction: Direction | None = None
        self.hold_run = 0
        self.held: _Held | None = None


class _Held:
    """Consecutive body segments of one direction, joined before the parser sees them."""

    __slots__ = ("chunks", "frame", "size", "ts")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.ts = 0  # of the last segment held
        self.frame = 0


AnomalyLog = Callable[[str, str, str, int], None]  # flow uid, name, detail, ts


class Engine:
    """Runs packets through every stage and hands objects to the sinks."""

    def __init__(
        self,
        config: Config | None = None,
        sinks: Sequence[Sink] = (),
        *,
        store: ContentStore | None = None,
        registry: Sequence[ProtocolSpec] = REGISTRY,
        source_name: str = "",
        source_kind: str = "file",
        anomaly_log: AnomalyLog | None = None,
        uid_salt: str = "",
        budget: BufferBudget | None = None,
    ) -> None:
        self.config = config or Config()
        self.sinks = list(sinks)
        self.store: ContentStore = store or NullStore()
        self.registry = tuple(registry)
        self.specs: tuple[ProtocolSpec, ...] = ()
        self.udp_specs: tuple[ProtocolSpec, ...] = ()
        self._specs_by_name: dict[str, ProtocolSpec] = {}
        self.set_protocols(self.config.disabled_protocols)
        self.decoder = PacketDecoder()
        # Accept/reject rules of the input (service/rules.py); None accepts everything.
        self.packet_filter: Callable[[Decoded], bool] | None = None
        # One budget for every engine of a process (the sensor passes its own).
        self.budget = budget if budget is not None else BufferBudget(self.config.memory_budget)
        self.flows = FlowTable(
            self,
            self.config.limits,
            FlowConfig(
                tcp_idle_timeout=self.config.tcp_idle_timeout,
                tcp_new_timeout=self.config.tcp_new_timeout,
                udp_idle_timeout=self.config.udp_idle_timeout,
                max_flows=self.config.max_flows,
                key_vlan=self.config.key_vlan,
                key_tunnel=self.config.key_tunnel,
                uid_salt=uid_salt,
            ),
            self.budget,
        )
        self.stats = RunStats()
        self.source_name = source_name
        self.source_kind = source_kind
        self.anomaly_log = anomaly_log
        self.last_ts = 0
        self.detections: list[tuple[Flow, Detection]] = []
        self.ranges = RangeAssembler()  # byte ranges of one resource, across flows
        window = self.config.output.usage_window
        self.usage_windows = UsageWindows(window) if window else None
        self.keep_detections = False
        # Connections announced by other flows (FTP data): flow/expect.py.
        self.expectations: ExpectationTable[Flow] = ExpectationTable(_flow_endpoints)
        # Body segments a parser passes through untouched are joined before they are fed
        # (one parser call, hash update and write per join instead of per segment).
        self._held = 0  # bytes in every flow's _Held
        self._join_flow = self.config.limits.join_body_bytes
        self._join_total = self.config.limits.join_body_total

    @property
    def held_bytes(self) -> int:
        """Body bytes held right now to be fed joined (``Limits.join_body_*``)."""
        return self._held

    # -- running ---------------------------------------------------------------------

    def run(self, source: PacketSource, progress: Callable[[], None] | None = None) -> RunStats:
        """Read every packet of ``source``; flows stay open for the next source."""
        self.feed(source, progress)
        if source.error:
            self.stats.errors.append(f"{source.name}: {source.error}")
        return self.stats

    def feed(self, packets: Iterable[RawPacket], progress: Callable[[], None] | None = None) -> int:
        """Take packets (a whole capture, or one batch of a live interface); return how many."""
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        decode = self.decoder.decode
        table_packet = self.flows.packet
        accept = self.packet_filter
        stats = self.stats
        first = frame = stats.packets
        nbytes = 0
        rejected = 0
        ts = self.last_ts
        try:
            for ts, linktype, data, wirelen, _iface in packets:
                frame += 1
                nbytes += wirelen
                d = decode(linktype, data, ts)
                if d is not None:
                    if accept is None or accept(d):
                        table_packet(d, ts, frame)
                    else:
                        rejected += 1
                if not frame & 0xFFF:
                    self._drain_decoder_anomalies(ts)
                    if progress is not None and not frame & 0x3FFF:
                        stats.packets = frame
                        progress()
        finally:
            stats.packets = frame
            stats.bytes += nbytes
            stats.rejected += rejected
            self.last_ts = max(self.last_ts, ts)
            stats.cpu_seconds += time.process_time() - cpu0
            stats.wall_seconds += time.perf_counter() - wall0
        return frame - first

    def expire(self, now: int) -> None:
        """End flows idle past their timeout at ``now`` (ns): a live interface calls this
        from its clock when no packets come, since packet time then stands still."""
        self.last_ts = max(self.last_ts, now)
        self.flows.expire(self.last_ts)
        self._drain_decoder_anomalies(self.last_ts)
        if self.usage_windows is not None:
            self._deliver(self.usage_windows.expire(self.last_ts))

    def set_protocols(self, disabled: frozenset[str]) -> None:
        """Change which protocols are parsed; flows already identified keep their parser."""
        self.config = replace(self.config, disabled_protocols=disabled)
        self.specs = tuple(
            s for s in self.registry if s.transport == "tcp" and s.name not in disabled
        )
        self.udp_specs = tuple(
            s for s in self.registry if s.transport == "udp" and s.name not in disabled
        )
        self._specs_by_name = {s.name: s for s in (*self.specs, *self.udp_specs)}

    def process(self, ts: int, linktype: int, data: bytes, wirelen: int | None = None) -> None:
        """One packet (tests and embedding)."""
        self.stats.packets += 1
        self.stats.bytes += len(data) if wirelen is None else wirelen
        d = self.decoder.decode(linktype, data, ts)
        if d is not None:
            self.flows.packet(d, ts, self.stats.packets)
        self.last_ts = max(self.last_ts, ts)
        self._drain_decoder_anomalies(ts)

    def finish(self, *, close_outputs: bool = True) -> RunStats:
        """End every flow, close the sinks (unless they are shared with other engines), and
        return the totals."""
        cpu0 = time.process_time()
        self.decoder.expire_fragments()  # datagrams still incomplete are counted and reported
        self._drain_decoder_anomalies(self.last_ts)
        self.flows.flush(self.last_ts)
        self._emit(
            range_file_record(download, self.store, self.config) for download in self.ranges.drain()
        )
        if self.usage_windows is not None:
            self._deliver(self.usage_windows.flush())
        if close_outputs:
            for sink in self.sinks:
                sink.close()
            close = getattr(self.store, "close", None)
            if close is not None:
                close()
        self.stats.flows = self.flows.flows_total
        self.stats.flows_evicted = self.flows.flows_evicted
        for name, count in self.decoder.anomalies.items():
            self.stats.anomalies[name] += count
        self.stats.cpu_seconds += time.process_time() - cpu0
        return self.stats

    @staticmethod
    def _app(flow: Flow) -> _FlowApp:
        app: _FlowApp | None = flow.app
        if app is None:
            app = flow.app = _FlowApp()
        return app

    # -- FlowHandler -------------------------------------------------------------------

    def flow_start(self, flow: Flow) -> None:
        return None

    def stream_data(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        app: _FlowApp | None = flow.app
        if app is None:
            app = self._app(flow)
        elif app.sealed:
            return
        direction = _DIRECTIONS[side ^ flow.flipped]
        parser = app.parser
        if parser is not None:
            run = app.hold_run
            if run:
                size = len(data)
                if app.hold_direction is direction and size <= run:
                    # The hottest path: a body segment is only put aside.
                    app.hold_run = run = run - size
                    held = app.held
                    if held is None:
                        held = app.held = _Held()
                    held.chunks.append(data)
                    held.size += size
                    held.ts = ts
                    held.frame = self.flows.current_frame
                    self._held += size
                    # Held bytes always come with a run left (what the guards rely on).
                    if not run or held.size >= self._join_flow or self._held > self._join_total:
                        self._release(flow, app)
                    return
                self._release_flow(flow, app)
                if app.parser is None:
                    return
            self._feed_parser(flow, app, parser, direction, data, ts)
            parser = app.parser
            if parser is not None:
                run = parser.body_run(direction)
                if run > 0:
                    app.hold_run = run
                    app.hold_direction = direction
            return
        if app.sealed:
            return
        detector = app.detector
        if detector is None:
            if self.expectations and self._expected(flow, app, ts):
                self._feed(flow, app, direction, data, ts)  # announced by another flow
                return
            if not self.specs:
                app.sealed = True
                return
            server_port = flow.port0 if flow.flipped else flow.port1
            detector = app.detector = StreamDetector(self.specs, self.config.limits, server_port)
            # An announcement captured after these first bytes may still claim the flow.
            self.expectations.remember(flow, ts)
        detection = detector.data(direction, data)
        if detection is not None:
            self._decided(flow, app, detection, ts)

    def _feed_parser(
        self,
        flow: Flow,
        app: _FlowApp,
        parser: Parser,
        direction: Direction,
        data: bytes,
        ts: int,
    ) -> None:
        """Feed the parser and hand on its events: one call per in-order chunk of an
        identified stream (the hot path), and the replays of detection and hand-overs."""
        try:
            events = parser.feed(direction, data, ts)
        except Exception as exc:  # a wiresift bug: contain it to this flow
            self._crashed(flow, app, exc)
            return
        if events:
            builder = app.builder
            if len(events) == 1 and builder is not None:
                event = events[0]
                if type(event) in _PLAIN_EVENT_TYPES:
                    # One event the engine has nothing to do with (a body piece):
                    # straight to the builder, as _dispatch would hand it.
                    records = builder.on_event(event, self.flows.current_frame)
                    if records:
                        self._emit(records)
                    return
            self._dispatch(flow, app, events, ts)

    def _release(self, flow: Flow, app: _FlowApp) -> None:
        """Feed what the flow held, as one chunk with the time and frame of its last
        segment (the last byte's, which is all a body records of its continuation)."""
        held = app.held
        direction = app.hold_direction
        if held is None or direction is None:
            return
        app.held = None
        chunks = held.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._held -= held.size
        parser = app.parser
        if parser is None or app.sealed:
            return
        frames = self.flows
        current = frames.current_frame
        frames.current_frame = held.frame
        try:
            self._feed_parser(flow, app, parser, direction, data, held.ts)
        finally:
            frames.current_frame = current

    def _release_flow(self, flow: Flow, app: _FlowApp) -> None:
        """Anything but the next body segment happens to the flow: held bytes first."""
        app.hold_run = 0
        self._release(flow, app)

    def stream_gap(self, flow: Flow, side: int, size: int, ts: int) -> None:
        app = self._app(flow)
        if app.hold_run:
            self._release_flow(flow, app)
        self._note_anomaly(flow, app, "tcp_content_gap", f"{size} bytes", ts)
        if app.sealed:
            return
        direction = _DIRECTIONS[side ^ flow.flipped]
        if app.parser is not None:
            self._gap(flow, app, direction, size, ts)
        elif app.detector is not None:
            app.detector.gap(direction, size)

    def datagram(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        """One UDP datagram: a parser of a datagram protocol gets each one whole."""
        app: _FlowApp | None = flow.app
        if app is None:
            app = self._app(flow)
        elif app.sealed:
            return
        direction = _DIRECTIONS[side ^ flow.flipped]
        if app.parser is not None:
            self._feed(flow, app, direction, data, ts)
            return
        detector = app.detector
        if detector is None:
            if not self.udp_specs:
                app.sealed = True
                return
            server_port = flow.port0 if flow.flipped else flow.port1
            detector = app.detector = DatagramDetector(
                self.udp_specs, self.config.limits, server_port
            )
        detection = detector.data(direction, data)
        if detection is not None:
            self._decided(flow, app, detection, ts)

    def flow_anomaly(self, flow: Flow, name: str, detail: str, ts: int) -> None:
        """A transport-level anomaly (reassembly, memory budget, flow limit): counted and
        logged, and carried by the objects the flow has in progress, which it concerns."""
        app = self._app(flow)
        if app.hold_run:
            self._release_flow(flow, app)
        self._note_anomaly(flow, app, name, detail, ts)
        if app.builder is not None:
            app.builder.anomaly(name, detail)

    def flow_end(self, flow: Flow, ts: int, reason: str) -> None:
        app = flow.app
        if self.expectations and (
            app is None
            or (isinstance(app, _FlowApp) and app.detector is None and app.parser is None)
        ):
            # An announced connection that carried no byte (an empty file) is still one.
            app = self._app(flow)
            if app.sealed or not self._expected(flow, app, ts):
                app = flow.app = None
        if not isinstance(app, _FlowApp):
            return
        if app.hold_run:
            self._release_flow(flow, app)
        if app.parser is None and app.detector is not None and not app.sealed:
            self._decided(flow, app, app.detector.end(), ts)
        if app.parser is not None and not app.sealed:
            for direction in (Direction.ORIG, Direction.RESP):
                self._end(flow, app, direction, ts)
        if app.builder is not None:
            self._close_builder(flow, app, ts)
        flow.app = None

    # -- detection and parsing ------------------------------------------------------------

    def _decided(self, flow: Flow, app: _FlowApp, detection: Detection, ts: int) -> None:
        detector = app.detector
        app.detector = None
        if self.keep_detections:
            self.detections.append((flow, detection))
        if detection.protocol is None:
            app.sealed = True
            return
        if detection.reversed:
            flow.flipped ^= 1
        self.stats.protocols[detection.protocol] += 1
        confidence = detection.confidence.name.lower() if detection.confidence else ""
        app.detection = (detection.reason, confidence)
        self._start_parser(flow, app, self._specs_by_name[detection.protocol], ts)
        if detector is None:
            return
        flip = detection.reversed
        for direction, chunk in detector.chunks:
            if app.sealed or app.parser is None:
                break
            real = Direction(direction ^ flip)
            if isinstance(chunk, int):
                self._gap(flow, app, real, chunk, ts)
            else:
                self._feed(flow, app, real, chunk, ts)

    # -- expected connections (flow/expect.py) ------------------------------------------

    def _expect(self, flow: Flow, app: _FlowApp, event: ExpectConnection) -> None:
        """Register a connection announced by ``flow``; claim it if it already started."""
        if event.protocol not in self._specs_by_name:
            return
        try:
            server = ipaddress.ip_address(event.server_addr).packed
            client = event.client_addr
            client_addr = None if client is None else ipaddress.ip_address(client).packed
        except ValueError:
            self._note_anomaly(flow, app, "expect_bad_address", event.server_addr, event.ts)
            return
        expectation = Expectation(
            protocol=event.protocol,
            transport=IPPROTO_TCP if event.transport == "tcp" else IPPROTO_UDP,
            server_addr=server,
            server_port=event.server_port,
            deadline=event.ts + event.within_ns,
            client_addr=client_addr,
            peer_addr=flow.orig[0],
            context=event.context,
            source_uid=flow.uid,
        )
        for candidate in self.expectations.add(expectation, event.ts):
            other = candidate.app
            if (
                candidate is flow
                or not isinstance(other, _FlowApp)
                or other.parser is not None
                or other.detector is None
                or other.sealed
            ):
                continue  # ended, or decided meanwhile
            _, orig, resp = _flow_endpoints(candidate)
            swapped = not (expectation.accepts(orig, resp) or expectation.accepts_nat(orig, resp))
            self.expectations.consume(expectation)
            self.expectations.forget(candidate)
            self._start_expected(candidate, other, expectation, swapped, event.ts)
            return

    def _expected(self, flow: Flow, app: _FlowApp, ts: int) -> bool:
        """Start the announced protocol on a flow that shows its first bytes, if announced."""
        _, orig, resp = _flow_endpoints(flow)
        found = self.expectations.match(flow.proto, orig, resp, ts)
        swapped = False
        if found is None and flow.mid_stream:
            found = self.expectations.match(flow.proto, resp, orig, ts)
            swapped = found is not None
        if found is None or found.protocol not in self._specs_by_name:
            return False
        self._start_expected(flow, app, found, swapped, ts)
        return True

    def _start_expected(
        self, flow: Flow, app: _FlowApp, found: Expectation, swapped: bool, ts: int
    ) -> None:
        """Detection is skipped (reason "expected"); buffered bytes, if any, are replayed."""
        flipped = flow.flipped ^ swapped
        orig_addr, orig_port = (flow.addr1, flow.port1) if flipped else (flow.addr0, flow.port0)
        resp_addr, resp_port = (flow.addr0, flow.port0) if flipped else (flow.addr1, flow.port1)
        app.info = FlowInfo(
            uid=flow.uid,
            orig_addr=format_addr(orig_addr),
            orig_port=orig_port,
            resp_addr=format_addr(resp_addr),
            resp_port=resp_port,
            transport="tcp" if flow.proto == IPPROTO_TCP else "udp",
            mid_stream=flow.mid_stream,
            context=found.context,
        )
        if app.detector is None:
            app.detector = StreamDetector((), self.config.limits, resp_port)
        detection = Detection(
            found.protocol,
            Confidence.EXPECTED,
            swapped,
            f"expected: announced by flow {found.source_uid}",
        )
        self._decided(flow, app, detection, ts)

    def _start_parser(self, flow: Flow, app: _FlowApp, spec: ProtocolSpec, ts: int) -> None:
        orig_addr, orig_port = flow.orig
        resp_addr, resp_port = flow.resp
        if app.info is None:
            app.info = FlowInfo(
                uid=flow.uid,
                orig_addr=format_addr(orig_addr),
                orig_port=orig_port,
                resp_addr=format_addr(resp_addr),
                resp_port=resp_port,
                transport="tcp" if flow.proto == IPPROTO_TCP else "udp",
                mid_stream=flow.mid_stream,
            )
        app.protocol = spec.name
        app.parser = parser = spec.parser(app.info, self.config.limits)
        if hasattr(parser, "fallback_charset"):
            parser.fallback_charset = self.config.output.fallback_charset
        if hasattr(parser, "hub_charset"):
            parser.hub_charset = self.config.output.fallback_charset
        if self.config.output.keep_secrets and hasattr(parser, "keep_secrets"):
            parser.keep_secrets = True  # mail and FTP parsers record passwords only if asked
        if app.builder is not None:
            # The stream changed hands (CONNECT, Upgrade): what the old protocol left open
            # ends here, and the new one numbers its objects on from the same flow counter.
            self._close_builder(flow, app, ts)
            app.builder = None
        builder_type = BUILDERS.get(spec.name)
        if builder_type is not None:
            app.builder = builder_type(
                self._flow_ref(flow, app.info),
                self.store,
                self.config,
                self._source_ref,
                app.object_ids,
                self.ranges,
            )
            if isinstance(app.builder, WebSocketBuilder):
                app.builder.per_connection = self.config.output.websocket_per_connection
                app.builder.use_handshake(app.info.context)
            elif isinstance(app.builder, ChatBuilder):
                app.builder.protocol = spec.name

    def _source_ref(self, first_frame: int, last_frame: int) -> SourceRef:
        return SourceRef(
            kind=self.source_kind,
            name=self.source_name,
            first_frame=first_frame,
            last_frame=last_frame,
        )

    def _flow_ref(self, flow: Flow, info: FlowInfo) -> FlowRef:
        return FlowRef(
            uid=flow.uid,
            transport=info.transport,
            client_addr=info.orig_addr,
            client_port=info.orig_port,
            server_addr=info.resp_addr,
            server_port=info.resp_port,
            encapsulation=(
                *flow.encap,
                "ipv4" if len(flow.addr0) == 4 else "ipv6",
                "tcp" if flow.proto == IPPROTO_TCP else "udp",
                *info.tunnels,
            ),
            via=info.via,
        )

    def _feed(self, flow: Flow, app: _FlowApp, direction: Direction, data: bytes, ts: int) -> None:
        if app.parser is not None:
            self._feed_parser(flow, app, app.parser, direction, data, ts)

    def _gap(self, flow: Flow, app: _FlowApp, direction: Direction, size: int, ts: int) -> None:
        if app.parser is not None:
            self._guarded(flow, app, ts, app.parser.gap, direction, size, ts)

    def _end(self, flow: Flow, app: _FlowApp, direction: Direction, ts: int) -> None:
        if app.parser is not None:
            self._guarded(flow, app, ts, app.parser.end, direction, ts)

    def _guarded(
        self,
        flow: Flow,
        app: _FlowApp,
        ts: int,
        call: Callable[..., list[Event]],
        *args: object,
    ) -> None:
        """Call the parser; an exception (a wiresift bug) switches it off for this flow only.
        (_feed_parser does the same for feed, with a shortcut for a lone body event.)"""
        try:
            events = call(*args)
        except Exception as exc:
            self._crashed(flow, app, exc)
            return
        if events:
            self._dispatch(flow, app, events, ts)

    def _crashed(self, flow: Flow, app: _FlowApp, exc: Exception) -> None:
        if self.config.strict:
            raise ParserCrashError(f"{app.protocol} parser failed on flow {flow.uid}") from exc
        self._note_anomaly(
            flow, app, "parser_crash", f"{app.protocol}: {type(exc).__name__}: {exc}", 0
        )
        app.parser = None
        app.sealed = True

    def _dispatch(self, flow: Flow, app: _FlowApp, events: list[Event], ts: int) -> None:
        if not events:
            return
        builder = app.builder
        on_event = builder.on_event if builder is not None else None
        frame = self.flows.current_frame
        plain = _PLAIN_EVENT_TYPES
        for event in events:
            if type(event) in plain:
                pass
            elif isinstance(event, Anomaly):
                self._note_anomaly(flow, app, event.name, event.detail, event.ts)
            elif isinstance(event, SwitchProtocol):
                self._switch(flow, app, event, ts)
            elif isinstance(event, ExpectConnection):
                self._expect(flow, app, event)
            else:
                plain.add(type(event))
            if on_event is not None:
                records = on_event(event, frame)
                if records:
                    self._emit(records)

    def _close_builder(self, flow: Flow, app: _FlowApp, ts: int) -> None:
        """The builder's objects still open; a usage builder first gets the flow's counts."""
        builder = app.builder
        if builder is None:
            return
        if isinstance(builder, UsageBuilder):
            orig = flow.flipped  # side index of the initiator
            packets, sizes = (flow.pkts0, flow.pkts1), (flow.bytes0, flow.bytes1)
            builder.set_counters(
                packets[orig], packets[1 - orig], sizes[orig], sizes[1 - orig], *app.detection
            )
        self._emit(builder.close(ts))

    def _switch(self, flow: Flow, app: _FlowApp, event: SwitchProtocol, ts: int) -> None:
        """Hand the stream to another protocol, or to detection again (CONNECT, SOCKS)."""
        if app.info is not None and (event.tunnel is not None or event.context is not None):
            info = app.info
            if event.tunnel is not None:
                # Objects of the tunnelled stream name the proxy's target as their server.
                label, host, port = event.tunnel
                info = replace(
                    info,
                    resp_addr=host,
                    resp_port=port,
                    tunnels=(*info.tunnels, label),
                    via=info.via or (info.resp_addr, info.resp_port),
                )
            app.info = replace(info, context=event.context)
        if event.to is not None and event.to in self._specs_by_name:
            app.detection = (f"switched from {app.protocol}", "certain")
            self._start_parser(flow, app, self._specs_by_name[event.to], ts)
            parser = app.parser
            assert parser is not None
            for direction, data in (
                (event.direction, event.leftover),
                (Direction(1 - event.direction), event.leftover_other),
            ):
                if data:
                    self._feed(flow, app, direction, data, ts)
            return
        if event.to is not None:
            # A protocol we do not parse (yet): the rest of the stream is left alone.
            self.stats.protocols[f"{event.to} (not parsed)"] += 1
            app.parser = None
            app.sealed = True
            return
        app.parser = None
        server_port = flow.port0 if flow.flipped else flow.port1
        if event.tunnel is not None:
            server_port = event.tunnel[2]  # the port hint is the proxy target's
        app.detector = StreamDetector(self.specs, self.config.limits, server_port)
        for direction, data in (
            (event.direction, event.leftover),
            (Direction(1 - event.direction), event.leftover_other),
        ):
            if data and app.detector is not None:
                detection = app.detector.data(direction, data)
                if detection is not None:
                    self._decided(flow, app, detection, ts)

    def _note_anomaly(self, flow: Flow, app: _FlowApp, name: str, detail: str, ts: int) -> None:
        self.stats.anomalies[name] += 1
        if len(app.anomalies) < MAX_FLOW_ANOMALIES:
            app.anomalies.append(name)
        if self.anomaly_log is not None:
            self.anomaly_log(flow.uid, name, detail, ts)
        if self.config.strict:
            raise ParserCrashError(f"anomaly {name} on flow {flow.uid}: {detail}")

    def _drain_decoder_anomalies(self, ts: int) -> None:
        """Packet-level anomalies (no flow yet) go to the anomaly log; the decoder keeps at
        most ``DecodeLimits.max_new_anomalies`` between two drains, its counters all."""
        if self.anomaly_log is None:
            return
        for name, detail in self.decoder.take_new_anomalies():
            self.anomaly_log("", name, detail, ts)

    def _emit(self, records: Iterable[ObjectRecord]) -> None:
        windows = self.usage_windows
        for record in records:
            if windows is not None and record.kind == "usage":
                self._deliver(windows.add(record))
                continue
            self._deliver((record,))

    def _deliver(self, records: Iterable[ObjectRecord]) -> None:
        for record in records:
            self.stats.objects[record.kind] += 1
            self.stats.objects_by_protocol[record.kind, record.protocol] += 1
            encoded = encode_passport(record)
            for sink in self.sinks:
                sink.emit(record, encoded)


def _flow_endpoints(flow: Flow) -> tuple[int, Endpoint, Endpoint]:
    """(IP protocol, initiator, responder) of a flow, for the expectation table."""
    return flow.proto, flow.orig, flow.resp
