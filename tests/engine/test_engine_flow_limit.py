"""The flow limit end to end: a scan cannot end a download, an evicted download is
delivered incomplete and says why, and the summary counts the evictions."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from tests.engine.helpers import body, run_frames
from tests.pcapgen import TcpSession
from wiresift.cli import _summary
from wiresift.config import Config
from wiresift.decode.packet import TCP_SYN
from wiresift.engine import RunStats

PAYLOAD = bytes(random.Random(11).randbytes(30_000))
REQUEST = b"GET /big.bin HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t/1\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n" + PAYLOAD


def scan(count: int, start_ns: int, step_ns: int) -> list[tuple[int, bytes]]:
    """``count`` SYNs to as many ports of the server, none answered."""
    frames = []
    for index in range(count):
        s = TcpSession(client=("10.66.0.1", 30000 + index), start_ns=start_ns + index * step_ns)
        s.emit(True, s.isn[True], 0, TCP_SYN)
        frames += s.frames
    return frames


def test_a_scan_past_the_flow_limit_does_not_touch_a_download_in_progress() -> None:
    """500 unanswered SYNs through a table of 50 flows, in the middle of a response body:
    the download ends complete and exact; 451 SYN-only flows were evicted, quietly."""
    s = TcpSession(step_ns=1_000_000)
    s.handshake()
    s.send(True, REQUEST)
    s.send(False, RESPONSE, 1448)
    s.fin(True)
    s.fin(False)
    half = 3 + 1 + 10  # handshake, request, ten response segments
    middle = s.frames[half - 1][0]
    frames = sorted(
        [*s.frames[:half], *scan(500, middle + 1, 1), *s.frames[half:]], key=lambda f: f[0]
    )
    run = run_frames(frames, Config(max_flows=50))
    (obj,) = run.http()
    item = body(obj)
    assert obj["complete"] is True
    assert item["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert run.stats.flows == 501
    assert run.stats.flows_evicted == 451
    assert "flow_evicted" not in run.stats.anomalies


def test_an_evicted_download_is_delivered_incomplete_with_the_reason() -> None:
    """A table of 2 flows and three busy connections: the least recently active download
    ends there, its object delivered with the bytes it had (incomplete, short of its
    Content-Length) and saying why; the anomaly is counted and logged too."""
    first = TcpSession(client=("10.0.0.1", 40001), step_ns=1_000)
    first.handshake()
    first.send(True, REQUEST)
    first.send(False, RESPONSE[:10_000], 1448)
    others = []
    for index in (2, 3):
        other = TcpSession(client=(f"10.0.0.{index}", 40000 + index), start_ns=index * 10**9)
        other.handshake()
        other.send(True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        others += other.frames
    logged: list[tuple[str, str]] = []
    run = run_frames(
        first.frames + others,
        Config(max_flows=2),
        anomaly_log=lambda uid, name, _detail, _ts: logged.append((uid, name)),
    )
    assert run.stats.flows_evicted == 1
    assert run.stats.anomalies["flow_evicted"] == 1
    evicted = [p for p in run.http() if p["flow"]["client"]["port"] == 40001]
    (obj,) = evicted
    assert (obj["flow"]["uid"], "flow_evicted") in logged
    assert "flow_evicted" in obj["anomalies"]
    assert obj["complete"] is False
    item = body(obj)
    received = len(RESPONSE[:10_000]) - RESPONSE.index(b"\r\n\r\n") - 4
    assert item["complete"] is False
    assert item["expected_size"] == len(PAYLOAD)
    assert item["size"] == received
    assert item["sha256"] == hashlib.sha256(PAYLOAD[:received]).hexdigest()


def test_summary_counts_evicted_flows() -> None:
    """The read summary says how many flows the limit ended early."""
    stats = RunStats(flows=300_000, flows_evicted=200_000)
    assert "flows     300,000 (200,000 evicted: max_flows reached)" in _summary(stats, Path("o"))
    assert "evicted" not in _summary(RunStats(flows=3), Path("o"))


def test_a_download_cut_by_the_memory_budget_says_why() -> None:
    """Out-of-order data past the memory budget is delivered behind a gap; the object in
    progress carries the transport anomaly (memory_budget_release), not only the log."""
    s = TcpSession(step_ns=1_000)
    s.handshake()
    s.send(True, REQUEST)
    head = RESPONSE.index(b"\r\n\r\n") + 4
    s.send(False, RESPONSE[: head + 1000])
    s.skip(False, 1000)  # a segment the capture never saw
    s.send(False, RESPONSE[head + 2000 :], 1448)  # held out of order, past the budget
    run = run_frames(s.frames, Config(memory_budget=8_000))
    (obj,) = run.http()
    assert "memory_budget_release" in obj["anomalies"]
    item = body(obj)
    assert item["gaps"] == [{"offset": 1000, "size": 1000}]
    assert item["complete"] is False
