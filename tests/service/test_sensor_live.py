"""The sensor on live interfaces: real HTTP servers in network namespaces, real clients.

Each test builds its own namespace + veth pair(s), runs the sensor (in a thread, or as the
real ``wiresift service`` process), fetches files, and reads the objects it wrote. Needs
root, ``ip netns`` and tcpdump: skipped without them, failed under CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.service.netns import VethNamespace, netns_unavailable
from wiresift.service.sensor import PROTOCOL_NAMES, Sensor
from wiresift.service.settings import Settings, parse_settings

PORTS: Final = (8000, 8001)
FILES: Final = {name: hashlib.sha256(name.encode()).digest() * 700 for name in ("a", "b", "c")}


def _require() -> None:
    reason = netns_unavailable()
    if reason is None and shutil.which("tcpdump") is None:
        reason = "tcpdump is not installed"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live sensor tests cannot run under CI: {reason}")
    pytest.skip(reason)


def _wait_port(host: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{host}:{port} never listened")


class Site:
    """A namespace with HTTP servers on PORTS serving FILES."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for name, data in FILES.items():
            (root / name).write_bytes(data)
        self.pair = VethNamespace()
        for port in PORTS:
            self.pair.spawn(
                [sys.executable, "-m", "http.server", str(port), "--bind", self.pair.inner_addr],
                cwd=str(root),
            )
        for port in PORTS:
            _wait_port(self.pair.inner_addr, port)

    @property
    def iface(self) -> str:
        return self.pair.host_if

    def fetch(self, port: int, name: str) -> bytes:
        url = f"http://{self.pair.inner_addr}:{port}/{name}"
        with urllib.request.urlopen(url, timeout=5) as response:
            data: bytes = response.read()
        return data

    def close(self) -> None:
        self.pair.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    _require()
    made = Site(tmp_path / "www")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def site2(tmp_path: Path) -> Iterator[Site]:
    _require()
    made = Site(tmp_path / "www2")
    try:
        yield made
    finally:
        made.close()


def settings_for(out: Path, body: str) -> Settings:
    text = f'[output]\ndirectory = "{out}"\n[service]\nstate_directory = "{out}-state"\n' + body
    return parse_settings(text, "test", PROTOCOL_NAMES)


class Running:
    """A sensor running in a thread until ``stop``."""

    def __init__(self, settings: Settings) -> None:
        self.sensor = Sensor(settings)
        self.thread = threading.Thread(target=self.sensor.run, daemon=True)
        self.thread.start()

    def wait_capturing(self, *names: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            inputs = dict(self.sensor.inputs)
            if all(n in inputs and inputs[n].state == "capturing" for n in names):
                return
            time.sleep(0.02)
        raise AssertionError(f"never capturing on {names}")

    def stop(self) -> None:
        time.sleep(0.5)  # the last packets reach the kernel buffer
        self.sensor.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def passports(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in sorted((out / "objects").glob("*.json"))]


def summary(items: list[dict[str, Any]]) -> list[tuple[str, int, str, int, str]]:
    """(uri, server port, input, status, body sha256) per HTTP object, sorted."""
    rows = []
    for p in items:
        body = next(c for c in p["contents"] if c["role"] == "response-body")
        rows.append(
            (
                p["http"]["uri"],
                p["flow"]["server"]["port"],
                p["source"]["name"],
                p["http"]["status"],
                body["sha256"],
            )
        )
    return sorted(rows)


def expected_rows(
    iface: str, fetched: list[tuple[int, str]]
) -> list[tuple[str, int, str, int, str]]:
    return sorted(
        (f"/{name}", port, iface, 200, hashlib.sha256(FILES[name]).hexdigest())
        for port, name in fetched
    )


def test_live_objects_match_the_same_traffic_from_a_pcap(site: Site, tmp_path: Path) -> None:
    """What the sensor extracts live equals what ``wiresift read`` gets from tcpdump's pcap."""
    pcap = tmp_path / "same.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", site.iface, "-w", str(pcap), "-U", "-s", "0", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = tmp_path / "out"
    running = Running(settings_for(out, f'[capture]\ninterfaces = ["{site.iface}"]\n'))
    try:
        running.wait_capturing(site.iface)
        time.sleep(0.5)  # tcpdump is up too
        fetched = [(port, name) for port in PORTS for name in FILES]
        for port, name in fetched:
            assert site.fetch(port, name) == FILES[name]
    finally:
        running.stop()
        time.sleep(0.2)
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
    live = passports(out)
    assert summary(live) == expected_rows(site.iface, fetched)
    offline = tmp_path / "offline"
    subprocess.run(
        [sys.executable, "-m", "wiresift", "read", str(pcap), "-o", str(offline), "-q"],
        check=True,
        timeout=60,
    )
    from_file = [
        (uri, port, site.iface, status, digest)
        for uri, port, _, status, digest in summary(passports(offline))
    ]
    assert from_file == summary(live)
    assert all(p["source"]["type"] == "interface" for p in live)
    assert all(p["complete"] for p in live)


def test_bpf_filter_and_reject_rule_each_exclude_traffic(
    site: Site, site2: Site, tmp_path: Path
) -> None:
    """A BPF filter on one interface and a reject rule on the other keep their traffic out."""
    out = tmp_path / "out"
    body = f"""
[capture]
interfaces = ["{site.iface}", "{site2.iface}"]
[[interface]]
name = "{site.iface}"
filter = "not tcp port {PORTS[1]}"
[[interface]]
name = "{site2.iface}"
rules = [{{ action = "reject", dst_port = {PORTS[0]} }}]
"""
    running = Running(settings_for(out, body))
    try:
        running.wait_capturing(site.iface, site2.iface)
        for port in PORTS:
            assert site.fetch(port, "a") == FILES["a"]
            assert site2.fetch(port, "b") == FILES["b"]
    finally:
        running.stop()
    assert summary(passports(out)) == sorted(
        expected_rows(site.iface, [(PORTS[0], "a")]) + expected_rows(site2.iface, [(PORTS[1], "b")])
    )
    counters = {c.name: c for c in running.sensor.snapshot().inputs}
    assert counters[site2.iface].rejected >= 6  # the handshake, request, response, close
    assert counters[site.iface].rejected == 0


def test_protocol_switched_off_on_one_interface(site: Site, site2: Site, tmp_path: Path) -> None:
    """HTTP off on one interface: its traffic gives no object there, the other still does."""
    out = tmp_path / "out"
    body = f"""
[capture]
interfaces = ["{site.iface}", "{site2.iface}"]
[[interface]]
name = "{site2.iface}"
protocols = ["*", "-http"]
"""
    running = Running(settings_for(out, body))
    try:
        running.wait_capturing(site.iface, site2.iface)
        assert site.fetch(PORTS[0], "c") == FILES["c"]
        assert site2.fetch(PORTS[0], "c") == FILES["c"]
    finally:
        running.stop()
    assert summary(passports(out)) == expected_rows(site.iface, [(PORTS[0], "c")])
    counters = {c.name: c for c in running.sensor.snapshot().inputs}
    assert counters[site2.iface].flows_total == 1
    assert counters[site2.iface].objects == {}


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_service_reloads_filter_on_sighup_and_drains_on_sigterm(site: Site, tmp_path: Path) -> None:
    """``wiresift service``: SIGHUP swaps the filter without losing flows, SIGTERM drains."""
    out = tmp_path / "out"
    config = tmp_path / "wiresift.toml"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    base = f"""
[output]
directory = "{out}"
[service]
state_directory = "{tmp_path / "state"}"
stats_interval = 1
metrics_listen = "127.0.0.1:{metrics_port}"
[capture]
interfaces = ["{site.iface}"]
"""
    config.write_text(base)
    log = tmp_path / "service.log"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.1)
    messages: list[str] = []
    listening = threading.Event()
    listening.set()

    def listen() -> None:  # systemd reads its socket all the time; so must the test
        while listening.is_set():
            try:
                messages.append(notify.recv(4096).decode())
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "400000",
    }
    with log.open("wb") as stderr:
        service = subprocess.Popen(
            [sys.executable, "-m", "wiresift", "service", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        _wait(lambda: "ready:" in log.read_text(), 20, "the service to be ready")
        # A connection open across the reload: its request before, its response after.
        slow = socket.create_connection((site.pair.inner_addr, PORTS[1]), timeout=5)
        slow.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n")
        assert site.fetch(PORTS[0], "a") == FILES["a"]
        assert site.fetch(PORTS[1], "a") == FILES["a"]
        time.sleep(0.5)
        config.write_text(base + f'[capture.defaults]\nfilter = "not tcp port {PORTS[0]}"\n')
        service.send_signal(signal.SIGHUP)
        _wait(lambda: "configuration reloaded" in log.read_text(), 10, "the reload")
        time.sleep(0.3)
        slow.sendall(b"Connection: close\r\n\r\n")
        received = b""
        while chunk := slow.recv(65536):
            received += chunk
        slow.close()
        assert received.endswith(FILES["c"])
        assert site.fetch(PORTS[0], "b") == FILES["b"]  # filtered out now
        assert site.fetch(PORTS[1], "b") == FILES["b"]
        time.sleep(0.5)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            metrics = response.read().decode()
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)
    time.sleep(0.2)
    listening.clear()
    listener.join(5)
    notify.close()
    states = [m.split("\n")[0] for m in messages if not m.startswith("WATCHDOG")]
    assert states == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
    assert messages.count("WATCHDOG=1") >= 5  # every 0.2 s over a few seconds
    text = log.read_text()
    assert "filter now 'not tcp port 8000'" in text
    label = f'input="{site.iface}",kind="interface"'
    assert f"wiresift_input_up{{{label}}} 1.0" in metrics
    assert f'wiresift_objects_total{{{label},object_kind="http",protocol="http"}} 4.0' in metrics
    assert f"wiresift_kernel_dropped_total{{{label}}} 0.0" in metrics
    assert f"wiresift_flows_evicted_total{{{label}}} 0.0" in metrics
    assert summary(passports(out)) == expected_rows(
        site.iface, [(PORTS[0], "a"), (PORTS[1], "a"), (PORTS[1], "c"), (PORTS[1], "b")]
    )


def test_interface_down_and_back_does_not_disturb_the_others(
    site: Site, site2: Site, tmp_path: Path
) -> None:
    """One interface goes down and comes back: it is reopened; the other never stops."""
    out = tmp_path / "out"
    body = f'[capture]\ninterfaces = ["{site.iface}", "{site2.iface}"]\nrescan_seconds = 1\n'
    running = Running(settings_for(out, body))
    try:
        running.wait_capturing(site.iface, site2.iface)
        assert site2.fetch(PORTS[0], "a") == FILES["a"]
        site2.pair.set_host_if_down()
        _wait(lambda: running.sensor.inputs[site2.iface].state == "down", 10, "down")
        assert site.fetch(PORTS[0], "b") == FILES["b"]
        subprocess.run(["ip", "link", "set", site2.iface, "up"], check=True, timeout=10)
        running.wait_capturing(site2.iface)
        _wait(lambda: _reachable(site2), 10, "the route back")
        assert site2.fetch(PORTS[1], "c") == FILES["c"]
    finally:
        running.stop()
    assert summary(passports(out)) == sorted(
        expected_rows(site2.iface, [(PORTS[0], "a"), (PORTS[1], "c")])
        + expected_rows(site.iface, [(PORTS[0], "b")])
    )


def _reachable(site: Site) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((site.pair.inner_addr, PORTS[1])) == 0
