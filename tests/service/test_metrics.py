"""The counters' two faces: Prometheus exposition and the periodic log line."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from wiresift.service.metrics import InputCounters, SensorCollector, Snapshot, log_line


def snapshot() -> Snapshot:
    return Snapshot(
        uptime_seconds=12.5,
        inputs=[
            InputCounters(
                name="eth0",
                kind="interface",
                state="capturing",
                packets=1_000,
                bytes=90_000,
                flows_open=100_000,
                flows_total=350_000,
                flows_evicted=250_000,
                objects={("http", "http"): 7},
                anomalies={"flow_evicted": 3},
            )
        ],
        memory_rss_bytes=140 << 20,
        buffered_bytes=0,
        memory_budget_bytes=256 << 20,
        buffers_released=0,
    )


def test_flow_limit_counters_are_exposed() -> None:
    """Flows seen, held and evicted reach the scrape with the input's labels."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SensorCollector(snapshot))
    text = generate_latest(registry).decode()
    label = 'input="eth0",kind="interface"'
    assert f"wiresift_flows_total{{{label}}} 350000.0" in text
    assert f"wiresift_flows_evicted_total{{{label}}} 250000.0" in text
    assert f"wiresift_flows_open{{{label}}} 100000.0" in text
    assert f'wiresift_anomalies_total{{{label},name="flow_evicted"}} 3.0' in text


def test_log_line_names_evicted_flows() -> None:
    """The periodic line says how many flows the limit ended, beside open/total."""
    line = log_line(snapshot())
    assert "eth0[capturing] pkts 1000 bytes 90000" in line
    assert "flows 100000/350000 evicted 250000 objects 7 anomalies 3" in line
    assert line.endswith("rss 140 MiB buffered 0/262144 KiB released 0")
