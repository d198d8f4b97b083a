"""Real BitTorrent peers on the loopback interface of a private network namespace.

The torrent is built here (BEP 3 "metainfo files": a bencoded dict whose ``info`` holds
``name``, ``piece length``, ``pieces`` (the SHA-1 of every piece, concatenated) and
``length``; the info-hash is the SHA-1 of the bencoded ``info``). The HTTP tracker is a
small server answering every announce (BEP 3 "trackers", compact peer list of BEP 23) with
the seeder's address, and logs each announce's query to a JSON lines file. The peers are
aria2c and transmission-cli processes, started by the tests with the options built here;
the tracker runs inside the namespace as ``python -m tests.live.btpeers tracker ...``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

from tests.live.mailservers import START_DEADLINE_S, LoopbackNamespace

TRACKER_PORT: Final = 8000
# Not the 6881-6889 of the first clients: the peer wire must be found by its content.
SEEDER_PORT: Final = 40001
LEECHER_PORT: Final = 40002
PIECE_LENGTH: Final = 16 * 1024
FILE_NAME: Final = "sample-payload.bin"
ANNOUNCE_INTERVAL_S: Final = 1800
LOOPBACK: Final = "127.0.0.1"
# Transmission refuses peers on 127.0.0.0/8, so its two peers get their own addresses on
# the namespace's ``lo`` (still a loopback path, captured by the same tcpdump).
TRANSMISSION_SEEDER: Final = "10.77.0.1"
TRANSMISSION_LEECHER: Final = "10.77.0.2"
DOWNLOAD_DEADLINE_S: Final = 40.0
_PEER: Final = struct.Struct(">4sH")

Bencodable = int | bytes | str | list["Bencodable"] | dict[bytes, "Bencodable"]


def bencode(value: Bencodable) -> bytes:
    """The bencoding of ``value`` (BEP 3 "bencoding"; dict keys sorted as raw bytes)."""
    if isinstance(value, bool):
        raise TypeError("bencoding has no booleans")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    items = sorted(value.items())
    return b"d" + b"".join(bencode(key) + bencode(item) for key, item in items) + b"e"


class Torrent(NamedTuple):
    """A single-file torrent: its metainfo file, bencoded info dict and content."""

    metainfo: bytes
    info: bytes
    content: bytes

    @property
    def info_hash(self) -> bytes:
        """The SHA-1 of the bencoded info dict (BEP 3)."""
        return hashlib.sha1(self.info).digest()

    def magnet(self, tracker: str) -> str:
        """A magnet link (BEP 9) naming the info-hash and the tracker only."""
        quoted = urllib.parse.quote(tracker, safe="")
        return f"magnet:?xt=urn:btih:{self.info_hash.hex()}&tr={quoted}"


def sample_content(size: int) -> bytes:
    """The shared file (fixed pseudo-random content)."""
    return random.Random(0x62747031).randbytes(size)


def make_torrent(content: bytes, name: str, announce: str) -> Torrent:
    """Build the metainfo of one file in ``PIECE_LENGTH`` pieces (BEP 3)."""
    pieces = b"".join(
        hashlib.sha1(content[at : at + PIECE_LENGTH]).digest()
        for at in range(0, len(content), PIECE_LENGTH)
    )
    info: dict[bytes, Bencodable] = {
        b"name": name,
        b"piece length": PIECE_LENGTH,
        b"pieces": pieces,
        b"length": len(content),
    }
    metainfo = bencode({b"announce": announce, b"info": info})
    return Torrent(metainfo, bencode(info), content)


def tracker_reply(seeder: str, seeder_port: int, requester_port: int) -> bytes:
    """The announce answer: the seeder as a compact peer (BEP 23), unless it is asking."""
    peers = b""
    if requester_port != seeder_port:
        peers = _PEER.pack(socket.inet_aton(seeder), seeder_port)
    return bencode({b"interval": ANNOUNCE_INTERVAL_S, b"peers": peers})


def serve_tracker(port: int, seeder: str, seeder_port: int, log: Path) -> None:
    """Answer announces and scrapes (BEP 48) on ``127.0.0.1:port``; log each query as hex."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            fields = urllib.parse.parse_qs(url.query, encoding="latin-1")
            query = {key: values[0].encode("latin-1").hex() for key, values in fields.items()}
            with open(log, "a") as out:
                out.write(json.dumps({"path": url.path, "query": query}) + "\n")
            if url.path == "/scrape":
                info_hash = bytes.fromhex(query.get("info_hash", ""))
                counts: dict[bytes, Bencodable] = {b"complete": 1, b"incomplete": 0}
                body = bencode({b"files": {info_hash: {b"downloaded": 0, **counts}}})
            else:
                port_text = bytes.fromhex(query.get("port", "")).decode() or "0"
                body = tracker_reply(seeder, seeder_port, int(port_text))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.HTTPServer((LOOPBACK, port), Handler)
    server.serve_forever()


def aria2_argv(aria2c: str, workdir: Path, listen_port: int) -> list[str]:
    """aria2c options shared by both peers: no DHT, LSD, PEX, IPv6 or encryption demand."""
    return [
        aria2c,
        f"--dir={workdir}",
        f"--listen-port={listen_port}",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--bt-require-crypto=false",
        "--bt-save-metadata=false",
        "--file-allocation=none",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--no-conf=true",
    ]


def write_transmission_settings(config_dir: Path, bind_address: str) -> None:
    """A transmission config folder: bound to one address, uTP on, DHT, LSD and PEX off."""
    settings = {
        "bind-address-ipv4": bind_address,
        "dht-enabled": False,
        "lpd-enabled": False,
        "pex-enabled": False,
        "utp-enabled": True,
        "port-forwarding-enabled": False,
        "encryption": 0,  # prefer plaintext
        "message-level": 1,
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "settings.json").write_text(json.dumps(settings))


def transmission_argv(
    program: str, config_dir: Path, workdir: Path, listen_port: int, torrent: Path
) -> list[str]:
    """transmission-cli on ``torrent`` (it seeds when the file is already complete)."""
    return [
        program,
        "--config-dir",
        str(config_dir),
        "--port",
        str(listen_port),
        "--no-portmap",
        "--encryption-tolerated",
        "--download-dir",
        str(workdir),
        str(torrent),
    ]


def wait_for_seeder(log: Path, port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the tracker ``log`` has an announce from ``port`` with nothing left."""
    want = {"port": str(port).encode().hex(), "left": b"0".hex()}
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        for line in log.read_text().splitlines():
            query = json.loads(line)["query"]
            if all(query.get(key) == value for key, value in want.items()):
                return
        if process.poll() is not None:
            raise RuntimeError(f"seeder exited with {process.returncode} before announcing")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no seeder announce within {START_DEADLINE_S} s")
        time.sleep(0.05)


def wait_for_file(path: Path, content: bytes, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``path`` holds ``content`` (the download finished and checked out)."""
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    while not (path.exists() and path.stat().st_size == len(content)):
        if process.poll() is not None:
            raise RuntimeError(f"downloader exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} not downloaded within {DOWNLOAD_DEADLINE_S} s")
        time.sleep(0.1)
    if path.read_bytes() != content:
        raise RuntimeError(f"{path.name} was downloaded with other content")


def wait_tcp_listening(
    namespace: LoopbackNamespace, ports: Sequence[int], process: subprocess.Popen[bytes]
) -> None:
    """Wait until TCP ``ports`` listen (on any address) in the namespace."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"program exited with {process.returncode} before listening")
        listening = namespace.run(["ss", "-ltnH"]).stdout.decode()
        if all(f":{port} " in listening for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"ports {list(ports)} did not open within {START_DEADLINE_S} s")


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command, args = argv[0], argv[1:]
    if command == "tracker":
        serve_tracker(int(args[0]), args[1], int(args[2]), Path(args[3]))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
