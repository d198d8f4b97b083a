"""BitTorrent captures of the shared corpus through the engine, against nDPI's per-flow
labels and info-hashes, Arkime's sessions and Suricata's DHT records (expected/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, corpus_path
from tests.engine.helpers import Run, run_capture
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import bittorrent

OURS = frozenset(spec.name for spec in bittorrent.SPECS)
_NDPI_FLOW = re.compile(
    r"^\s+\d+\s+(TCP|UDP) ([\d.]+):(\d+) <?-> ([\d.]+):(\d+) \[proto: [\d.]+/([\w.]+)\]"
    r"(?:.*?\[BT Hash: ([0-9a-f]{40})\])?",
    re.MULTILINE,
)


def run(capture: str) -> Run:
    path = corpus_path("pcaps", "bittorrent", capture)
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=bittorrent.SPECS, source_name="t")
    source = open_source(path)
    try:
        engine.run(source)
    finally:
        source.close()
    return Run(sink, store, engine.finish())


def usages(run_: Run) -> dict[tuple[str, ...], dict[str, Any]]:
    """Usage objects by their unordered endpoints."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for passport in run_.passports:
        if passport["kind"] == "usage" and passport["protocol"] in OURS:
            flow = passport["flow"]
            ends = sorted(
                [
                    f"{flow['client']['addr']}:{flow['client']['port']}",
                    f"{flow['server']['addr']}:{flow['server']['port']}",
                ]
            )
            out[tuple(ends)] = passport
    return out


def ndpi_flows(capture: str) -> list[tuple[tuple[str, ...], str, str | None]]:
    """(endpoints, nDPI label, BT hash) of every flow in nDPI's report."""
    (report,) = sorted((CORPUS / "expected").glob(f"{Path(capture).stem}__ndpi__*.out"))
    return [
        (tuple(sorted([f"{m[2]}:{m[3]}", f"{m[4]}:{m[5]}"])), m[6], m[7])
        for m in _NDPI_FLOW.finditer(report.read_text())
    ]


@pytest.mark.parametrize(
    "capture",
    ["ndpi-bittorrent.pcap", "ndpi-bittorrent-tcp-miss.pcapng", "ndpi-bittorrent-utp.pcapng"],
)
def test_every_ndpi_bittorrent_flow_is_detected(capture: str) -> None:
    """Each flow nDPI labels BitTorrent gives a usage object, with nDPI's info-hash."""
    found = usages(run(capture))
    expected = ndpi_flows(capture)
    assert expected
    for ends, label, bt_hash in expected:
        assert label == "BitTorrent"
        assert ends in found, ends
        if bt_hash is not None:
            assert found[ends]["usage"]["metadata"]["info_hash"] == bt_hash
    assert len(found) == len(expected)


def test_mse_plaintext_flow_names_both_sides() -> None:
    """The MSE flow (plaintext chosen) yields the server's handshake and both BEP 10 dicts."""
    (usage,) = usages(run("ndpi-bittorrent-tcp-miss.pcapng")).values()
    meta = usage["usage"]["metadata"]
    assert meta["server_software"] == "µTorrent Web 1.3.0"
    assert meta["server_client_name"] == "libtorrent/1.2.2.0"
    assert meta["client_listen_port"] == 41311
    assert (meta["client_encryption"], meta["server_encryption"]) == (
        "mse-plaintext",
        "mse-plaintext",
    )
    assert meta["server_piece_bytes"] == 98304


def test_utp_flows() -> None:
    """The DHT+uTP flow reads the peer wire inside uTP; the loopback flow is plain uTP."""
    found = usages(run("ndpi-bittorrent-utp.pcapng"))
    mixed = found[("192.168.1.5:40959", "82.243.113.43:64969")]
    meta = mixed["usage"]["metadata"]
    assert mixed["protocol"] == "bittorrent-dht"
    assert meta["info_hash"] == "0ca4c8e7fb26a354b1a7aa15baeaf26067c66811"
    assert meta["client_software"] == "libtorrent 1.1.0"
    assert meta["server_software"] == "µTorrent for Mac 1.8.6"
    assert meta["utp_packets"]["syn"] == 1
    loopback = found[("127.0.0.1:33333", "127.0.0.1:49861")]
    assert loopback["protocol"] == "utp"
    assert loopback["usage"]["metadata"]["utp_packets"] == {"syn": 1, "state": 3, "data": 2}
    assert loopback["anomalies"] == []


def test_suricata_dht_records() -> None:
    """Node ids, info-hash, token, returned peer and errors match Suricata's DHT records."""
    text = (CORPUS / "expected" / "suri-bittorrent-dht__suricata__test.yaml").read_text()
    found = usages(run("suri-bittorrent-dht.pcap"))
    assert len(found) == 2
    meta = found[("190.0.0.1:20000", "190.0.0.3:30000")]["usage"]["metadata"]
    assert meta["dht_client_node_id"] == "6162636465666768696a30313233343536373839"
    assert "6162636465666768696a30313233343536373839" in text
    assert meta["info_hashes"] == ["6d6e6f707172737475767778797a313233343536"]
    assert meta["dht_tokens"] == ["616f6575736e7468"]
    assert "97.120.106.101:11893" in meta["dht_peers"]
    assert meta["dht_errors"][0] == {"code": 201, "message": "A Generic Error Ocurred"}
    assert "A Generic Error Ocurred" in text


def test_arkime_sessions() -> None:
    """Arkime's three DHT sessions are found; of its two TCP ones, the peer wire one."""
    assert [p["protocol"] for p in usages(run("arkime-bt-udp.pcap")).values()] == [
        "bittorrent-dht"
    ] * 3
    tcp = usages(run("arkime-bt-tcp.pcap"))
    # The second Arkime session opens with "BSYNC" (Resilio/BitTorrent Sync), another
    # protocol than the peer wire; it is not claimed.
    assert list(tcp) == [("10.0.0.1:1203", "10.0.0.2:26001")]
    assert tcp[("10.0.0.1:1203", "10.0.0.2:26001")]["usage"]["metadata"]["info_hash"] == ("aa" * 20)


@pytest.mark.corpus
def test_http_tracker_announce_fields() -> None:
    """An HTTP tracker announce is an http object carrying the announce's fields (BEP 3)."""
    run = run_capture(corpus_path("pcaps", "bittorrent", "zeek-bt-tracker.pcap"))
    (announce,) = [p["http"]["bittorrent_tracker"] for p in run.passports if p["kind"] == "http"]
    assert announce == {
        "request": "announce",
        "info_hashes": ["e4be9e4db876e3e3179778b03e906297be5c8dbe"],
        "peer_id": "-DE13F0-VnpZRF8ZP9iv",
        "port": 63448,
        "uploaded": 0,
        "downloaded": 0,
        "left": 1921843200,
        "event": "started",
        "numwant": 200,
        "compact": 1,
    }
