"""The sensor: every live interface and the drop directory, one loop, one output folder.

One thread runs everything cooperatively, so the stages stay single-threaded and a capture
gives the same objects whichever way it arrived:

- each live interface has its own libpcap handle (BPF filter in the kernel), its own
  accept/reject rules and protocol set, and its own ``Engine`` (flow table) whose objects go
  straight to the shared output folder;
- the drop directory is one more input with its own settings; its files are read a slice
  of packets per turn (live interfaces are polled between slices, so a large file never
  starves the kernel buffers), and its objects reach the output through the exactly-once
  staging of ``service/capdrop.py``;
- between turns: idle flows are expired by the clock (packet time stands still when an
  interface is quiet), interfaces that went down are reopened, new ones are picked up, the
  periodic log line is written and the systemd watchdog is fed.

``stop()`` (SIGTERM) ends every flow and flushes every object before returning;
``reload(settings)`` (SIGHUP) swaps filters, rules and protocol sets without losing flows.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final, TextIO

from wiresift.capture import open_source
from wiresift.capture.base import CaptureError, PacketSource, RawPacket
from wiresift.capture.live import (
    InterfaceGone,
    LiveCapture,
    OfflineFilter,
    default_capture_interfaces,
    list_interfaces,
)
from wiresift.engine import Engine
from wiresift.extract.files import ContentStore, NullStore
from wiresift.flow.budget import BufferBudget
from wiresift.outputs import Sink
from wiresift.outputs.filestore import FileContentStore, JsonLinesSink, PassportFileSink
from wiresift.protocols import REGISTRY
from wiresift.service.capdrop import CapdropJournal, DropDirectory, DropFile, StagedOutput
from wiresift.service.capdrop import recover as recover_capdrop
from wiresift.service.metrics import InputCounters, Snapshot, log_line
from wiresift.service.rules import compile_rules
from wiresift.service.settings import (
    CapdropSettings,
    Settings,
    enabled_protocols,
)

log = logging.getLogger("wiresift")

# Packets read from one interface per turn before the others get theirs.
LIVE_BATCH: Final = 512
LIVE_BATCHES_PER_TURN: Final = 8
# Packets of a drop-directory file per turn.
FILE_SLICE: Final = 4096
# Longest wait for packets when nothing is pending, in seconds.
IDLE_WAIT: Final = 0.2
# How long an interface that went down is still read (its last capture block), in seconds.
GONE_GRACE: Final = 0.5
# How long the captured packets are still read at shutdown, in seconds (a few block timeouts).
DRAIN_SECONDS: Final = 0.3
# Idle flows are expired by the clock this often, in seconds.
EXPIRE_INTERVAL: Final = 1.0

PROTOCOL_NAMES: Final = tuple(spec.name for spec in REGISTRY)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class OutputHub:
    """The shared output folder: content store, passport and JSON-lines sinks, anomaly log."""

    def __init__(self, settings: Settings) -> None:
        out = settings.output
        self.root = Path(out.directory)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store: ContentStore = FileContentStore(self.root) if out.store_content else NullStore()
        self.jsonl: JsonLinesSink | None = (
            JsonLinesSink.to_path(self.root / "objects.jsonl") if out.jsonl else None
        )
        self.sinks: list[Sink] = [PassportFileSink(self.root)]
        if self.jsonl is not None:
            self.sinks.append(self.jsonl)
        self._anomalies: TextIO = open(  # noqa: SIM115 (closed in close())
            self.root / "anomalies.jsonl", "a", encoding="utf-8"
        )

    def anomaly_log(self, input_name: str) -> Callable[[str, str, str, int], None]:
        write = self._anomalies.write

        def log_anomaly(uid: str, name: str, detail: str, ts: int) -> None:
            record = {"input": input_name, "flow": uid, "name": name, "detail": detail}
            write(json.dumps({**record, "ts_ns": ts}) + "\n")

        return log_anomaly

    def flush(self) -> None:
        """Everything emitted so far reaches the files (before a drop file is published)."""
        if self.jsonl is not None:
            self.jsonl.flush()
        self._anomalies.flush()

    def close(self) -> None:
        for sink in self.sinks:
            with contextlib.suppress(OSError):
                sink.close()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
        with contextlib.suppress(OSError):
            self._anomalies.close()


def _engine_for(
    settings: Settings,
    protocols: tuple[str, ...],
    sinks: list[Sink],
    store: ContentStore,
    *,
    name: str,
    kind: str,
    anomaly_log: Callable[[str, str, str, int], None],
    budget: BufferBudget,
) -> Engine:
    enabled = enabled_protocols(protocols, PROTOCOL_NAMES)
    config = settings.engine_config(enabled, PROTOCOL_NAMES)
    return Engine(
        config,
        sinks,
        store=store,
        source_name=name,
        source_kind=kind,
        anomaly_log=anomaly_log,
        uid_salt=name,
        budget=budget,
    )


class LiveInput:
    """One network interface: its capture handle, rules, protocol set and flow table."""

    def __init__(self, name: str, settings: Settings, hub: OutputHub, budget: BufferBudget) -> None:
        self.name = name
        self.iface = settings.capture.for_interface(name)
        self.engine = _engine_for(
            settings,
            self.iface.protocols,
            hub.sinks,
            hub.store,
            name=name,
            kind="interface",
            anomaly_log=hub.anomaly_log(name),
            budget=budget,
        )
        self.engine.packet_filter = compile_rules(self.iface.rules, self.iface.default_action)
        self.capture: LiveCapture | None = None
        self.state = "disabled" if not self.iface.enabled else "down"
        self.error = ""
        self.kernel_dropped = 0
        self.interface_dropped = 0
        self.dropped_ours = 0
        self.gone_since: float | None = None  # when reads first said the interface left

    def open(self) -> bool:
        """Start capturing; False (and the reason in ``error``) when the interface refuses."""
        if not self.iface.enabled:
            self.state = "disabled"
            return False
        capture = LiveCapture(
            self.name,
            snaplen=self.iface.snaplen,
            promiscuous=self.iface.promiscuous,
            buffer_size=self.iface.buffer_size,
            bpf_filter=self.iface.filter,
        )
        try:
            capture.open()
        except CaptureError as exc:
            if self.error != str(exc):
                log.warning("%s: cannot capture: %s", self.name, exc)
            self.error = str(exc)
            self.state = "error"
            return False
        self.capture = capture
        self.state = "capturing"
        self.error = ""
        log.info("%s: capturing (filter %r)", self.name, self.iface.filter or "none")
        return True

    def poll(self) -> int:
        """Read what is ready (a few batches at most); return the packet count."""
        capture = self.capture
        if capture is None:
            return 0
        total = 0
        try:
            for _ in range(LIVE_BATCHES_PER_TURN):
                batch = capture.read_batch(LIVE_BATCH)
                if not batch:
                    break
                total += self.engine.feed(batch)
            self.gone_since = None
        except InterfaceGone as exc:
            # The kernel hands over a capture block only when it is full or its timeout
            # passes: keep reading a little longer so the last packets are not lost.
            now = time.monotonic()
            if self.gone_since is None:
                self.gone_since = now
            if now - self.gone_since < GONE_GRACE:
                return total
            log.warning("%s: interface gone: %s", self.name, exc)
            self.gone_since = None
            self._close_capture()
            self.state = "down"
        except CaptureError as exc:
            log.warning("%s: capture error: %s", self.name, exc)
            self.dropped_ours += 1
            self._close_capture()
            self.state = "error"
        return total

    def _close_capture(self) -> None:
        if self.capture is not None:
            self._read_stats()
            with contextlib.suppress(CaptureError, OSError):
                self.capture.close()
            self.capture = None

    def _read_stats(self) -> None:
        if self.capture is None:
            return
        with contextlib.suppress(CaptureError, OSError):
            stats = self.capture.stats()
            self.kernel_dropped = self._base_kernel + stats.kernel_dropped
            self.interface_dropped = self._base_iface + stats.interface_dropped

    _base_kernel = 0
    _base_iface = 0

    def apply(self, settings: Settings) -> None:
        """New settings (SIGHUP): flows and the flow table stay; the handle is reopened
        only when a setting of the handle itself changed."""
        new = settings.capture.for_interface(self.name)
        old = self.iface
        self.iface = new
        self.engine.packet_filter = compile_rules(new.rules, new.default_action)
        self.engine.set_protocols(
            frozenset(PROTOCOL_NAMES) - enabled_protocols(new.protocols, PROTOCOL_NAMES)
        )
        handle_changed = (old.snaplen, old.promiscuous, old.buffer_size, old.enabled) != (
            new.snaplen,
            new.promiscuous,
            new.buffer_size,
            new.enabled,
        )
        if self.capture is not None and handle_changed:
            self.stop_capture()
            self.open()
        elif self.capture is not None and old.filter != new.filter:
            try:
                self.capture.set_filter(new.filter)
                log.info("%s: filter now %r", self.name, new.filter or "none")
            except CaptureError as exc:
                log.warning("%s: new filter refused, old one kept: %s", self.name, exc)
        elif self.capture is None and new.enabled:
            self.open()

    def stop_capture(self) -> None:
        self._close_capture()
        self._base_kernel = self.kernel_dropped
        self._base_iface = self.interface_dropped
        self.state = "down" if self.iface.enabled else "disabled"

    def counters(self) -> InputCounters:
        self._read_stats()
        stats = self.engine.stats
        return InputCounters(
            name=self.name,
            kind="interface",
            state=self.state,
            packets=stats.packets,
            bytes=stats.bytes,
            rejected=stats.rejected,
            kernel_dropped=self.kernel_dropped,
            interface_dropped=self.interface_dropped,
            dropped_ours=self.dropped_ours,
            flows_open=len(self.engine.flows),
            flows_total=self.engine.flows.flows_total,
            flows_evicted=self.engine.flows.flows_evicted,
            objects=dict(stats.objects_by_protocol),
            anomalies=dict(stats.anomalies) | dict(self.engine.decoder.anomalies),
        )


class _FileJob:
    """One drop-directory file being read."""

    def __init__(self, drop_file: DropFile, source: PacketSource, engine: Engine) -> None:
        self.file = drop_file
        self.source = source
        self.engine = engine
        self.packets: Iterator[RawPacket] = iter(source)
        self.staging_sinks: list[Sink] = []


class CapdropInput:
    """The drop directory as an input: files oldest first, each exactly once."""

    name = "capdrop"

    def __init__(self, settings: Settings, hub: OutputHub, budget: BufferBudget) -> None:
        self.settings = settings
        self.budget = budget
        self.cfg: CapdropSettings = settings.capdrop
        self.hub = hub
        cfg = self.cfg
        directory = Path(cfg.directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.drop = DropDirectory(
            directory,
            recursive=cfg.recursive,
            patterns=cfg.patterns,
            stable_seconds=cfg.stable_seconds,
            after=cfg.after,
            done_directory=Path(cfg.done_directory) if cfg.done_directory else None,
            failed_directory=Path(cfg.failed_directory) if cfg.failed_directory else None,
        )
        state = Path(settings.service.state_directory)
        state.mkdir(parents=True, exist_ok=True)
        self.journal = CapdropJournal(state, keep_finished=cfg.after == "leave")
        self.staged = StagedOutput(hub.root, state, jsonl=hub.jsonl is not None)
        self.queue: list[DropFile] = []
        self.job: _FileJob | None = None
        self.carried: Engine | None = None  # flow state kept across files (carry_flows)
        self.next_scan = 0.0
        self.state = "idle"
        self.files_done = 0
        self.files_failed = 0
        self.totals = InputCounters(name=self.name, kind="capdrop", state="idle")
        self._filters: dict[int, OfflineFilter] = {}
        self.hub.flush()
        self.queue.extend(recover_capdrop(self.journal, self.drop, self.staged))

    # -- scheduling ---------------------------------------------------------------------

    def busy(self) -> bool:
        return self.job is not None or bool(self.queue)

    def step(self, now: float) -> None:
        """One turn: scan when due, then read one slice of the current file."""
        if self.job is None and not self.queue and now >= self.next_scan:
            self.next_scan = now + self.cfg.poll_seconds
            self.queue.extend(self.drop.ready(now, skip=lambda f: self.journal.is_finished(f.key)))
        if self.job is None and self.queue:
            self._start(self.queue.pop(0))
        job = self.job
        if job is None:
            self.state = "idle"
            return
        self.state = "processing"
        before = job.engine.stats.packets
        try:
            job.engine.feed(self._filtered(itertools.islice(job.packets, FILE_SLICE)))
        except OSError:  # the output failed: the journal has the file as begun
            log.critical("capdrop: %s: output error", job.file.path)
            raise
        if job.source.error or job.engine.stats.packets - before < FILE_SLICE:
            self._finish(job)

    def _filtered(self, packets: Iterator[RawPacket]) -> Iterator[RawPacket]:
        expr = self.cfg.filter
        if not expr:
            yield from packets
            return
        filters = self._filters
        for packet in packets:
            linktype = packet[1]
            bpf = filters.get(linktype)
            if bpf is None:
                bpf = filters[linktype] = OfflineFilter(expr, linktype, 262144)
            if bpf.matches(packet[2], packet[3]):
                yield packet

    # -- one file -------------------------------------------------------------------------

    def _start(self, drop_file: DropFile) -> None:
        try:
            source = open_source(str(drop_file.path))
        except CaptureError as exc:
            self._fail_unread(drop_file, str(exc))
            return
        except FileNotFoundError:
            return
        self.journal.begin(drop_file)
        staging = self.staged.staging_dir(drop_file.key)
        staging.mkdir(parents=True, exist_ok=True)
        sinks: list[Sink] = [PassportFileSink(staging, self.hub.root)]
        if self.hub.jsonl is not None:
            sinks.append(JsonLinesSink.to_path(staging / "objects.jsonl"))
        engine = self.carried
        if engine is None:
            engine = _engine_for(
                self.settings,
                self.cfg.protocols,
                sinks,
                self.hub.store,
                name=str(drop_file.path),
                kind="file",
                anomaly_log=self.hub.anomaly_log(self.name),
                budget=self.budget,
            )
            engine.packet_filter = compile_rules(self.cfg.rules, self.cfg.default_action)
        else:
            engine.sinks = sinks
            engine.source_name = str(drop_file.path)
        job = _FileJob(drop_file, source, engine)
        job.staging_sinks = sinks
        self.job = job
        log.info("capdrop: reading %s (%d bytes)", drop_file.path, drop_file.size)

    def _finish(self, job: _FileJob) -> None:
        engine = job.engine
        if self.cfg.carry_flows and not job.source.error:
            self.carried = engine
            engine.decoder.expire_fragments()
        else:
            engine.finish(close_outputs=False)
            self.carried = None
        for sink in job.staging_sinks:
            sink.close()
        error = job.source.error
        job.source.close()
        self._count(engine)
        drop_file = job.file
        self.staged.sync(drop_file.key)
        self.hub.flush()
        os.sync()  # content files too: the journal must not get ahead of the disk
        offset = self.staged.current_jsonl_offset()
        self.journal.committed(drop_file, offset)
        published = self.staged.publish(drop_file.key, offset)
        if error:
            self.journal.failed(drop_file, error)
            self.drop.fail(drop_file, error)
            self.files_failed += 1
            log.warning("capdrop: %s: %s (%d objects kept)", drop_file.path, error, published)
        else:
            self.journal.done(drop_file)
            self.drop.finish(drop_file)
            self.files_done += 1
            log.info("capdrop: %s done, %d objects", drop_file.path, published)
        self.job = None

    def _fail_unread(self, drop_file: DropFile, reason: str) -> None:
        self.journal.failed(drop_file, reason)
        self.drop.fail(drop_file, reason)
        self.files_failed += 1
        log.warning("capdrop: %s cannot be read: %s", drop_file.path, reason)

    def _count(self, engine: Engine) -> None:
        """Fold a finished file's counters into the input's totals."""
        totals = self.totals
        stats = engine.stats
        if engine is self.carried:
            return  # still counting; read live in counters()
        totals.packets += stats.packets
        totals.bytes += stats.bytes
        totals.rejected += stats.rejected
        totals.flows_total += engine.flows.flows_total
        totals.flows_evicted += engine.flows.flows_evicted
        for key, count in stats.objects_by_protocol.items():
            totals.objects[key] = totals.objects.get(key, 0) + count
        for name, count in stats.anomalies.items():
            totals.anomalies[name] = totals.anomalies.get(name, 0) + count

    def stop(self) -> None:
        """SIGTERM: a file being read is abandoned (the journal has it as begun, so the next
        start reads it again from the beginning and publishes its objects once)."""
        job = self.job
        if job is not None:
            for sink in job.staging_sinks:
                with contextlib.suppress(OSError):
                    sink.close()
            job.source.close()
            self.job = None
            log.info("capdrop: %s left for the next start", job.file.path)

    def counters(self) -> InputCounters:
        totals = self.totals
        out = InputCounters(
            name=self.name,
            kind="capdrop",
            state=self.state,
            packets=totals.packets,
            bytes=totals.bytes,
            rejected=totals.rejected,
            flows_total=totals.flows_total,
            flows_evicted=totals.flows_evicted,
            objects=dict(totals.objects),
            anomalies=dict(totals.anomalies),
            files_done=self.files_done,
            files_failed=self.files_failed,
        )
        engine = self.job.engine if self.job is not None else self.carried
        if engine is not None:
            out.packets += engine.stats.packets
            out.bytes += engine.stats.bytes
            out.flows_open = len(engine.flows)
            out.flows_total += engine.flows.flows_total
            out.flows_evicted += engine.flows.flows_evicted
        return out


class Sensor:
    """Every input, one loop (see the module docstring)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.started = clock()
        self.hub = OutputHub(settings)
        # One budget for the stream data buffered by every input (flow/budget.py).
        self.budget = BufferBudget(settings.flows.memory_budget)
        self.inputs: dict[str, LiveInput] = {}
        self.capdrop: CapdropInput | None = (
            CapdropInput(settings, self.hub, self.budget) if settings.capdrop.enabled else None
        )
        self._stop = False
        self._reload: Settings | None = None
        self.next_rescan = 0.0
        self.next_expire = 0.0
        self.next_stats = self.started + settings.service.stats_interval
        self.on_tick: Callable[[], None] | None = None  # the service feeds the watchdog here
        self.reloads = 0

    # -- inputs ---------------------------------------------------------------------------

    def wanted_interfaces(self) -> list[str]:
        configured = list(self.settings.capture.interfaces)
        if configured:
            return configured
        if not self.settings.capture.interfaces and self._live_capture_disabled():
            return []
        return default_capture_interfaces(list_interfaces())

    def _live_capture_disabled(self) -> bool:
        return not self.settings.capture.defaults.enabled and not any(
            o.enabled for o in self.settings.capture.overrides
        )

    def rescan(self) -> None:
        """Open new interfaces, reopen those that came back; keep flows of the others."""
        wanted = self.wanted_interfaces()
        for name in wanted:
            item = self.inputs.get(name)
            if item is None:
                item = self.inputs[name] = LiveInput(name, self.settings, self.hub, self.budget)
                item.open()
            elif item.capture is None and item.iface.enabled:
                item.open()
        for name, item in self.inputs.items():
            if name not in wanted and item.capture is not None:
                log.info("%s: no longer configured, capture stopped", name)
                item.stop_capture()

    # -- the loop ------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop = True

    def request_reload(self, settings: Settings) -> None:
        self._reload = settings

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Run until ``request_stop`` (or ``until()`` is true), then drain and flush."""
        try:
            while not self._stop and not (until is not None and until()):
                self.turn()
        finally:
            self.shutdown()

    def turn(self) -> None:
        """One pass over every input and the periodic work."""
        now = self.clock()
        if self._reload is not None:
            settings, self._reload = self._reload, None
            self.reload(settings)
        if now >= self.next_rescan:
            self.next_rescan = now + self.settings.capture.rescan_seconds
            self.rescan()
        capdrop = self.capdrop
        wait = 0.0 if capdrop is not None and capdrop.busy() else IDLE_WAIT
        handles = {item.capture.fileno(): item for item in self.inputs.values() if item.capture}
        if handles:
            try:
                ready, _, _ = select.select(list(handles), [], [], wait)
            except (OSError, ValueError):
                ready = list(handles)
            for fd in ready:
                handles[fd].poll()
            for item in handles.values():
                if item.gone_since is not None:
                    item.poll()  # leaving: read until its grace ends, readable or not
        elif wait:
            time.sleep(wait)
        if capdrop is not None:
            capdrop.step(now)
        if now >= self.next_expire:
            self.next_expire = now + EXPIRE_INTERVAL
            now_ns = int(now * 1e9)
            for item in self.inputs.values():
                item.engine.expire(now_ns)
        if now >= self.next_stats:
            self.next_stats = now + self.settings.service.stats_interval
            log.info("%s", log_line(self.snapshot()))
        if self.on_tick is not None:
            self.on_tick()

    def reload(self, settings: Settings) -> None:
        """Apply new settings: filters, rules, protocols, the interface list; flows stay."""
        old = self.settings
        if settings.output != old.output:
            log.warning("output settings changed: they take effect at the next start")
            settings = _with_output(settings, old)
        self.settings = settings
        for item in self.inputs.values():
            item.apply(settings)
        if self.capdrop is not None and settings.capdrop != old.capdrop:
            log.warning("drop directory settings changed: they take effect at the next start")
        self.next_rescan = 0.0
        self.reloads += 1
        log.info("configuration reloaded")

    def shutdown(self) -> None:
        """End every flow and flush every object (SIGTERM, end of a test)."""
        # Packets already captured sit in kernel blocks handed over within their timeout.
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.inputs and time.monotonic() < deadline:
            for item in self.inputs.values():
                item.poll()
            time.sleep(0.02)
        for item in self.inputs.values():
            item.stop_capture()
            item.engine.finish(close_outputs=False)
        if self.capdrop is not None:
            self.capdrop.stop()
            if self.capdrop.carried is not None:
                self.capdrop.carried.finish(close_outputs=False)
        self.hub.close()
        log.info("stopped: %s", _final_line(self))

    # -- counters ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        inputs = [item.counters() for item in self.inputs.values()]
        if self.capdrop is not None:
            inputs.append(self.capdrop.counters())
        return Snapshot(
            uptime_seconds=self.clock() - self.started,
            inputs=inputs,
            memory_rss_bytes=_rss_bytes(),
            buffered_bytes=self.budget.used,
            memory_budget_bytes=self.budget.limit,
            buffers_released=self.budget.released,
        )


def _with_output(settings: Settings, old: Settings) -> Settings:
    return replace(settings, output=old.output)


def _final_line(sensor: Sensor) -> str:
    totals: dict[str, int] = {}
    for item in sensor.inputs.values():
        for (kind, _), count in item.engine.stats.objects_by_protocol.items():
            totals[kind] = totals.get(kind, 0) + count
    if sensor.capdrop is not None:
        for (kind, _), count in sensor.capdrop.totals.objects.items():
            totals[kind] = totals.get(kind, 0) + count
    return ", ".join(f"{kind} {count}" for kind, count in sorted(totals.items())) or "no objects"
