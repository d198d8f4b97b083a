"""Operational counters: one snapshot type, shown as Prometheus metrics and as a log line.

The sensor builds a ``Snapshot`` on demand (a scrape, a periodic log line); nothing is
counted twice. Prometheus exposition uses the official ``prometheus_client`` with a custom
collector, so a scrape reads the live counters and no metric objects sit on the packet path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry


@dataclass(slots=True, kw_only=True)
class InputCounters:
    """Counters of one input: a live interface or the drop directory."""

    name: str
    kind: str  # "interface" | "capdrop"
    state: str  # "capturing", "down", "disabled", "idle", "processing", "error"
    packets: int = 0
    bytes: int = 0
    rejected: int = 0  # turned away by the accept/reject rules
    kernel_dropped: int = 0  # libpcap ps_drop: no room in the kernel buffer
    interface_dropped: int = 0  # libpcap ps_ifdrop: dropped by the interface or driver
    dropped_ours: int = 0  # packets wiresift could not take (read errors, memory budget)
    flows_open: int = 0
    flows_total: int = 0
    flows_evicted: int = 0  # ended early at the max_flows limit
    objects: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, protocol)
    anomalies: dict[str, int] = field(default_factory=dict)
    files_done: int = 0
    files_failed: int = 0


@dataclass(slots=True, kw_only=True)
class Snapshot:
    """Everything the sensor counts, at one instant."""

    uptime_seconds: float
    inputs: list[InputCounters]
    memory_rss_bytes: int
    buffered_bytes: int
    memory_budget_bytes: int
    buffers_released: int  # stream buffers released because the budget was reached


def _families(snap: Snapshot) -> Iterator[Metric]:
    labels = ["input", "kind"]
    counters = {
        "packets": ("wiresift_packets", "Packets read"),
        "bytes": ("wiresift_bytes", "Bytes read (wire length)"),
        "rejected": ("wiresift_packets_rejected", "Packets rejected by the input's rules"),
        "kernel_dropped": ("wiresift_kernel_dropped", "Packets the kernel dropped (ps_drop)"),
        "interface_dropped": (
            "wiresift_interface_dropped",
            "Packets the interface dropped (ps_ifdrop)",
        ),
        "dropped_ours": ("wiresift_dropped", "Packets wiresift could not process"),
        "flows_total": ("wiresift_flows", "Flows seen"),
        "flows_evicted": (
            "wiresift_flows_evicted",
            "Flows ended early because the flow table was full (max_flows)",
        ),
        "files_done": ("wiresift_capdrop_files_done", "Drop-directory files processed"),
        "files_failed": ("wiresift_capdrop_files_failed", "Drop-directory files that failed"),
    }
    for attr, (name, doc) in counters.items():
        family = CounterMetricFamily(name, doc, labels=labels)
        for item in snap.inputs:
            family.add_metric([item.name, item.kind], getattr(item, attr))
        yield family
    flows_open = GaugeMetricFamily("wiresift_flows_open", "Flows open now", labels=labels)
    up = GaugeMetricFamily(
        "wiresift_input_up", "1 while the input captures or processes", labels=labels
    )
    objects = CounterMetricFamily(
        "wiresift_objects", "Objects delivered", labels=[*labels, "object_kind", "protocol"]
    )
    anomalies = CounterMetricFamily(
        "wiresift_anomalies", "Anomalies recorded", labels=[*labels, "name"]
    )
    for item in snap.inputs:
        flows_open.add_metric([item.name, item.kind], item.flows_open)
        up.add_metric(
            [item.name, item.kind], 1 if item.state in ("capturing", "idle", "processing") else 0
        )
        for (kind, protocol), count in sorted(item.objects.items()):
            objects.add_metric([item.name, item.kind, kind, protocol], count)
        for name, count in sorted(item.anomalies.items()):
            anomalies.add_metric([item.name, item.kind, name], count)
    yield flows_open
    yield up
    yield objects
    yield anomalies
    yield GaugeMetricFamily(
        "wiresift_memory_rss_bytes", "Resident memory of the process", value=snap.memory_rss_bytes
    )
    yield GaugeMetricFamily(
        "wiresift_buffered_bytes",
        "Stream data buffered across all flows",
        value=snap.buffered_bytes,
    )
    yield GaugeMetricFamily(
        "wiresift_memory_budget_bytes",
        "Budget for buffered stream data",
        value=snap.memory_budget_bytes,
    )
    yield CounterMetricFamily(
        "wiresift_buffers_released",
        "Stream buffers released because the memory budget was reached",
        value=snap.buffers_released,
    )
    yield GaugeMetricFamily(
        "wiresift_uptime_seconds", "Seconds since start", value=snap.uptime_seconds
    )


class SensorCollector(Collector):
    """Reads a fresh snapshot at each scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        return _families(self._snapshot())


class MetricsServer:
    """Prometheus metrics over HTTP on a local address (off unless configured)."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SensorCollector(snapshot))
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def log_line(snap: Snapshot) -> str:
    """The periodic one-line summary (per input, then the process)."""
    parts = []
    for item in snap.inputs:
        objects = sum(item.objects.values())
        anomalies = sum(item.anomalies.values())
        drops = f"drop k{item.kernel_dropped}/i{item.interface_dropped}/w{item.dropped_ours}"
        extra = (
            f" files {item.files_done} done {item.files_failed} failed"
            if item.kind == "capdrop"
            else ""
        )
        parts.append(
            f"{item.name}[{item.state}] pkts {item.packets} bytes {item.bytes} {drops} "
            f"rej {item.rejected} flows {item.flows_open}/{item.flows_total} "
            f"evicted {item.flows_evicted} "
            f"objects {objects} anomalies {anomalies}{extra}"
        )
    parts.append(
        f"rss {snap.memory_rss_bytes // (1 << 20)} MiB buffered "
        f"{snap.buffered_bytes // 1024}/{snap.memory_budget_bytes // 1024} KiB "
        f"released {snap.buffers_released}"
    )
    return "; ".join(parts)
