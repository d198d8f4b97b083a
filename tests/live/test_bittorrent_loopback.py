"""BitTorrent usage objects end to end: real peers on a namespace's loopback, captured by
tcpdump and read back by the engine.

aria2c seeds a torrent built here; a second aria2c downloads it from a magnet link, so the
info dict first comes over ut_metadata (BEP 9), then the pieces over the peer wire (BEP 3).
transmission-cli seeds and downloads another file over uTP (BEP 29). A small HTTP tracker
answers every announce with the seeder. The ground truth is the torrent, the downloaded
file and what the tracker received. Needs root, ``ip netns``, tcpdump, aria2c and
transmission-cli: skipped without them, except under CI=true, where their absence is a
failure. The captures are kept in ``$TMPDIR/wiresift-bittorrent-live``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.btpeers import (
    FILE_NAME,
    LEECHER_PORT,
    LOOPBACK,
    PIECE_LENGTH,
    SEEDER_PORT,
    TRACKER_PORT,
    TRANSMISSION_LEECHER,
    TRANSMISSION_SEEDER,
    Torrent,
    aria2_argv,
    make_torrent,
    sample_content,
    transmission_argv,
    wait_for_file,
    wait_for_seeder,
    wait_tcp_listening,
    write_transmission_settings,
)
from tests.live.mailservers import LoopbackNamespace, prerequisites_missing, which

PCAP_KEEP_DIR = Path(tempfile.gettempdir()) / "wiresift-bittorrent-live"
TRACKER_URL = f"http://{LOOPBACK}:{TRACKER_PORT}/announce"
ARIA2_FILE_SIZE = 1_000_003  # 62 pieces of 16 KiB, the last one short
UTP_FILE_SIZE = 300_007  # 19 pieces: enough to see many uTP data packets, quick to move
DEBIAN_PACKAGES = {"aria2c": "aria2", "transmission-cli": "transmission-cli"}


def require(tools: Sequence[str]) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(["ip", "ss", "tcpdump"])
    missing = [
        f"{tool} (Debian package {DEBIAN_PACKAGES[tool]})" for tool in tools if not which(tool)
    ]
    if reason is None and missing:
        reason = "missing tools: " + ", ".join(missing)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live BitTorrent tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture, the engine's reading of it, the torrent and what the tracker saw."""

    pcap: Path
    run: Run
    torrent: Torrent
    announces: list[dict[str, Any]]  # tracker log lines, values as hex
    version: str  # the client's version, as its peer id and "v" carry it


def keep(pcap: Path) -> Path:
    """A copy of ``pcap`` under the temporary folder, kept for looking at a failure."""
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    kept = PCAP_KEEP_DIR / pcap.name
    shutil.copy(pcap, kept)
    return kept


def tool_version(argv: Sequence[str], word: int) -> str:
    """Word ``word`` of the first line a ``--version`` call prints."""
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10)
    return (done.stdout or done.stderr).splitlines()[0].split()[word]


def start_tracker(namespace: LoopbackNamespace, work: Path, seeder: str, seeder_port: int) -> Path:
    """Start the HTTP tracker in the namespace; the path of its announce log."""
    log = work / "tracker.jsonl"
    log.touch()
    argv = [sys.executable, "-m", "tests.live.btpeers", "tracker", str(TRACKER_PORT)]
    tracker = namespace.spawn([*argv, seeder, str(seeder_port), str(log)], work / "tracker.log")
    wait_tcp_listening(namespace, [TRACKER_PORT], tracker)
    return log


def read_announces(log: Path) -> list[dict[str, Any]]:
    """The tracker's log lines."""
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def aria2_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """aria2c seeds; another aria2c downloads from a magnet link, under tcpdump."""
    require(["aria2c"])
    aria2c = which("aria2c") or "aria2c"
    work = tmp_path_factory.mktemp("aria2")
    torrent = make_torrent(sample_content(ARIA2_FILE_SIZE), FILE_NAME, TRACKER_URL)
    seed_dir, leech_dir = work / "seed", work / "leech"
    seed_dir.mkdir()
    leech_dir.mkdir()
    (seed_dir / FILE_NAME).write_bytes(torrent.content)
    (work / "sample.torrent").write_bytes(torrent.metainfo)
    pcap = work / "bittorrent-aria2.pcap"
    namespace = LoopbackNamespace()
    try:
        announce_log = start_tracker(namespace, work, LOOPBACK, SEEDER_PORT)
        namespace.start_capture(pcap)
        seeder = namespace.spawn(
            [
                *aria2_argv(aria2c, seed_dir, SEEDER_PORT),
                "--check-integrity=true",
                "--seed-ratio=0.0",  # seed until stopped
                str(work / "sample.torrent"),
            ],
            work / "seeder.log",
        )
        wait_tcp_listening(namespace, [SEEDER_PORT], seeder)
        namespace.run(
            [
                *aria2_argv(aria2c, leech_dir, LEECHER_PORT),
                "--seed-time=0",
                torrent.magnet(TRACKER_URL),
            ]
        )
        namespace.stop_capture()
    finally:
        namespace.close()
    assert (leech_dir / FILE_NAME).read_bytes() == torrent.content
    version = tool_version([aria2c, "--version"], 2)
    return Captured(keep(pcap), run_capture(pcap), torrent, read_announces(announce_log), version)


@pytest.fixture(scope="module")
def transmission_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """transmission-cli seeds; another transmission-cli downloads over uTP, under tcpdump."""
    require(["transmission-cli"])
    program = which("transmission-cli") or "transmission-cli"
    work = tmp_path_factory.mktemp("transmission")
    torrent = make_torrent(sample_content(UTP_FILE_SIZE), FILE_NAME, TRACKER_URL)
    seed_dir, leech_dir = work / "seed", work / "leech"
    seed_dir.mkdir()
    leech_dir.mkdir()
    (seed_dir / FILE_NAME).write_bytes(torrent.content)
    torrent_file = work / "sample.torrent"
    torrent_file.write_bytes(torrent.metainfo)
    write_transmission_settings(work / "seed-config", TRANSMISSION_SEEDER)
    write_transmission_settings(work / "leech-config", TRANSMISSION_LEECHER)
    pcap = work / "bittorrent-utp.pcap"
    namespace = LoopbackNamespace()
    try:
        for address in (TRANSMISSION_SEEDER, TRANSMISSION_LEECHER):
            namespace.run(["ip", "address", "add", f"{address}/32", "dev", "lo"])
        announce_log = start_tracker(namespace, work, TRANSMISSION_SEEDER, SEEDER_PORT)
        namespace.start_capture(pcap)
        seeder = namespace.spawn(
            transmission_argv(program, work / "seed-config", seed_dir, SEEDER_PORT, torrent_file),
            work / "seeder.log",
        )
        wait_for_seeder(announce_log, SEEDER_PORT, seeder)
        leecher = namespace.spawn(
            transmission_argv(
                program, work / "leech-config", leech_dir, LEECHER_PORT, torrent_file
            ),
            work / "leecher.log",
        )
        wait_for_file(leech_dir / FILE_NAME, torrent.content, leecher)
        namespace.stop_capture()
    finally:
        namespace.close()
    version = tool_version([program, "--version"], 1)
    return Captured(keep(pcap), run_capture(pcap), torrent, read_announces(announce_log), version)


def usage_objects(run: Run, protocol: str) -> list[dict[str, Any]]:
    """Usage passports of ``protocol`` in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == "usage" and p["protocol"] == protocol]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def peer_ids(captured: Captured) -> dict[int, str]:
    """Each peer's id (as wiresift spells it: Latin-1) by the port it announced."""
    ids: dict[int, str] = {}
    for announce in captured.announces:
        query = announce["query"]
        if announce["path"] == "/announce":
            port = int(bytes.fromhex(query["port"]))
            ids[port] = bytes.fromhex(query["peer_id"]).decode("latin-1")
    return ids


def check_tracker_announces(captured: Captured, user_agent: str) -> None:
    """Every request the tracker logged is an http object carrying the info-hash."""
    http = [p for p in captured.run.http() if p["flow"]["server"]["port"] == TRACKER_PORT]
    assert len(http) == len(captured.announces)
    for passport, logged in zip(http, captured.announces, strict=True):
        request = passport["http"]
        url = urllib.parse.urlsplit(request["uri"])
        query = urllib.parse.parse_qs(url.query, encoding="latin-1")
        assert url.path == logged["path"]
        assert query["info_hash"] == [captured.torrent.info_hash.decode("latin-1")]
        assert (request["method"], request["status"]) == ("GET", 200)
        assert request["user_agent"] == user_agent
        assert passport["complete"] is True


def test_aria2_capture_objects(aria2_capture: Captured) -> None:
    """The capture gives the two peer wire flows and one http object per tracker request."""
    stats = aria2_capture.run.stats
    assert stats.objects_by_protocol == Counter(
        {("http", "http"): len(aria2_capture.announces), ("usage", "bittorrent"): 2}
    )
    assert stats.anomalies == Counter()
    assert stats.errors == []


def test_aria2_peer_wire_names_the_torrent_and_both_peers(aria2_capture: Captured) -> None:
    """Both aria2 flows (metadata, then pieces) carry the info-hash, peer ids and client."""
    flows = usage_objects(aria2_capture.run, "bittorrent")
    ids = peer_ids(aria2_capture)
    software = f"aria2 {aria2_capture.version}"
    assert len(flows) == 2
    for passport in flows:
        meta = passport["usage"]["metadata"]
        assert passport["flow"]["transport"] == "tcp"
        assert passport["flow"]["server"] == {"addr": LOOPBACK, "port": SEEDER_PORT}
        assert passport["anomalies"] == []
        assert meta["info_hash"] == aria2_capture.torrent.info_hash.hex()
        assert meta["client_peer_id"] == ids[LEECHER_PORT]
        assert meta["server_peer_id"] == ids[SEEDER_PORT]
        assert (meta["client_software"], meta["server_software"]) == (software, software)
        assert meta["client_client_name"] == f"aria2/{aria2_capture.version}"
        assert meta["server_client_name"] == f"aria2/{aria2_capture.version}"
        assert (meta["client_listen_port"], meta["server_listen_port"]) == (
            LEECHER_PORT,
            SEEDER_PORT,
        )
        assert meta["server_metadata_size"] == len(aria2_capture.torrent.info)
        assert meta["client_extensions"] == meta["server_extensions"] == ["ut_metadata"]
        assert meta["client_features"] == meta["server_features"] == ["extension_protocol", "fast"]
        # aria2 opens with an MSE key exchange and both sides settle on plaintext
        assert (meta["client_encryption"], meta["server_encryption"]) == (
            "mse-plaintext",
            "mse-plaintext",
        )


def test_aria2_ut_metadata_gives_the_torrent_name_and_size(aria2_capture: Captured) -> None:
    """The info dict fetched over ut_metadata is reassembled, verified and summarised."""
    metadata_flow, _ = usage_objects(aria2_capture.run, "bittorrent")
    meta = metadata_flow["usage"]["metadata"]
    assert meta["server_extended_messages"] == {"handshake": 1, "ut_metadata": 1}
    assert meta["torrent_verified"] is True
    assert meta["torrent_size"] == len(aria2_capture.torrent.info)
    assert meta["torrent_name"] == FILE_NAME
    assert meta["torrent_files"] == [{"path": FILE_NAME, "length": ARIA2_FILE_SIZE}]
    assert (meta["torrent_file_count"], meta["torrent_total_length"]) == (1, ARIA2_FILE_SIZE)
    assert meta["torrent_piece_length"] == PIECE_LENGTH
    assert meta["torrent_pieces"] == -(-ARIA2_FILE_SIZE // PIECE_LENGTH)
    assert (meta["client_piece_bytes"], meta["server_piece_bytes"]) == (0, 0)


def test_aria2_piece_bytes_cover_the_file(aria2_capture: Captured) -> None:
    """The second flow carries the whole file from seeder to leecher in piece messages."""
    _, piece_flow = usage_objects(aria2_capture.run, "bittorrent")
    meta = piece_flow["usage"]["metadata"]
    assert meta["server_piece_bytes"] >= ARIA2_FILE_SIZE
    assert meta["client_piece_bytes"] == 0
    assert meta["server_messages"]["piece"] >= -(-ARIA2_FILE_SIZE // PIECE_LENGTH)
    assert meta["client_messages"]["request"] >= -(-ARIA2_FILE_SIZE // PIECE_LENGTH)
    assert "torrent_name" not in meta


def test_aria2_tracker_announces_are_http_objects(aria2_capture: Captured) -> None:
    """Each announce the tracker received is an http object whose query has the info-hash."""
    assert len(aria2_capture.announces) >= 3  # the seeder's, the leecher's start and stop
    check_tracker_announces(aria2_capture, f"aria2/{aria2_capture.version}")


def test_transmission_capture_objects(transmission_capture: Captured) -> None:
    """The capture gives the uTP flow and one http object per tracker request."""
    stats = transmission_capture.run.stats
    assert stats.objects_by_protocol == Counter(
        {("http", "http"): len(transmission_capture.announces), ("usage", "utp"): 1}
    )
    assert stats.anomalies == Counter()
    assert stats.errors == []


def test_transmission_utp_flow(transmission_capture: Captured) -> None:
    """The uTP flow gives the peer wire fields, with the pieces counted inside uTP."""
    (flow,) = usage_objects(transmission_capture.run, "utp")
    meta = flow["usage"]["metadata"]
    ids = peer_ids(transmission_capture)
    software = f"Transmission {transmission_capture.version}"
    assert flow["flow"]["transport"] == "udp"
    assert flow["flow"]["client"] == {"addr": TRANSMISSION_LEECHER, "port": LEECHER_PORT}
    assert flow["flow"]["server"] == {"addr": TRANSMISSION_SEEDER, "port": SEEDER_PORT}
    assert flow["anomalies"] == []
    assert meta["info_hash"] == transmission_capture.torrent.info_hash.hex()
    assert meta["client_peer_id"] == ids[LEECHER_PORT]
    assert meta["server_peer_id"] == ids[SEEDER_PORT]
    assert (meta["client_software"], meta["server_software"]) == (software, software)
    assert (meta["client_client_name"], meta["server_client_name"]) == (software, software)
    assert (meta["client_listen_port"], meta["server_listen_port"]) == (
        LEECHER_PORT,
        SEEDER_PORT,
    )
    assert meta["server_metadata_size"] == len(transmission_capture.torrent.info)
    assert (meta["client_encryption"], meta["server_encryption"]) == ("none", "none")
    assert meta["server_piece_bytes"] >= UTP_FILE_SIZE
    assert meta["client_piece_bytes"] == 0
    assert meta["utp_packets"]["syn"] == 1
    first_id, second_id = meta["utp_connection_ids"]
    assert second_id == first_id + 1  # BEP 29: the SYN's id receives, one more sends
    assert meta["utp_payload_bytes"]["server"] > UTP_FILE_SIZE
    assert meta["datagrams"] == {"utp": sum(flow["usage"]["packets"].values())}


def test_transmission_tracker_requests_are_http_objects(transmission_capture: Captured) -> None:
    """Transmission's announces and scrapes are http objects carrying the info-hash."""
    paths = {announce["path"] for announce in transmission_capture.announces}
    assert paths == {"/announce", "/scrape"}
    check_tracker_announces(transmission_capture, f"Transmission/{transmission_capture.version}")
