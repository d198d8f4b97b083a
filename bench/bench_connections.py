"""Memory held per open TCP connection (not a test).

Feeds N connections into one engine and keeps them all open (no FIN, no timeout, the flow
limit raised to N), then reports the growth of the process's RSS (tracemalloc off) or of
its traced Python memory, divided by N. Five states are measured on fresh engines: an
unanswered SYN (a scan or a flood); after the handshake only; after a request is waiting
for its response (detector done, HTTP parser and builder allocated); idle on a
keep-alive connection after a whole exchange; and in the middle of a response body
(content being hashed).

Reproduce (each state and measure in a fresh process):

    for m in rss traced; do for s in syn handshake request keepalive body; do
        .venv/bin/python bench/bench_connections.py --connections 100000 --stages $s \
            --measure $m; done; done
"""

from __future__ import annotations

import argparse
import gc
import resource
import struct
import sys
import tracemalloc

from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.files import NullStore

ETH = struct.Struct("!6s6sH")
IP = struct.Struct("!BBHHHBBH4s4s")
TCP = struct.Struct("!HHIIBBHHH")
SYN, ACK, PSH = 0x02, 0x10, 0x08


def frame(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
) -> bytes:
    tcp = TCP.pack(sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = IP.pack(0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst) + tcp
    return ETH.pack(b"\x02" * 6, b"\x04" * 6, 0x0800) + ip


REQUEST = b"GET /object HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench/1\r\n\r\n"
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n"
# What the server has sent when the connection is left open, per measured state.
RESPONSES = {
    "keepalive": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",  # a whole response
    "body": RESPONSE_HEAD + b"x" * 1000,  # the first kilobyte of a 100 kB body
}


STAGES = ("syn", "handshake", "request", "keepalive", "body")


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def measure(count: int, stage: str, how: str) -> float:
    """Bytes per connection: RSS growth (``how == "rss"``, tracemalloc off, since its own
    bookkeeping is larger than many of the blocks it traces) or traced Python memory."""
    engine = Engine(Config(max_flows=max(count, Config().max_flows)), [], store=NullStore())
    server = bytes([10, 1, 0, 1])
    gc.collect()
    if how == "traced":
        tracemalloc.start()
    base_traced = tracemalloc.get_traced_memory()[0]
    base_rss = rss_kb()
    ts = 1_700_000_000 * 10**9
    for i in range(count):
        client = bytes([10, 2, (i >> 8) & 0xFF, i & 0xFF])
        sport = 1024 + (i >> 16)
        isn_c, isn_s = 1000, 5000
        ts += 1000
        engine.process(ts, 1, frame(client, server, sport, 80, isn_c, 0, SYN))
        if stage == "syn":
            continue
        engine.process(ts, 1, frame(server, client, 80, sport, isn_s, isn_c + 1, SYN | ACK))
        engine.process(ts, 1, frame(client, server, sport, 80, isn_c + 1, isn_s + 1, ACK))
        if stage in ("request", "keepalive", "body"):
            engine.process(
                ts, 1, frame(client, server, sport, 80, isn_c + 1, isn_s + 1, PSH | ACK, REQUEST)
            )
        response = RESPONSES.get(stage)
        if response is not None:
            ack = isn_c + 1 + len(REQUEST)
            engine.process(
                ts, 1, frame(server, client, 80, sport, isn_s + 1, ack, PSH | ACK, response)
            )
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base_traced
    tracemalloc.stop()
    rss = rss_kb() - base_rss
    assert len(engine.flows) == count, len(engine.flows)
    return (traced if how == "traced" else rss * 1024) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma-separated states to measure, in this process (one per process gives "
        "RSS figures free of the heap the others leave)",
    )
    parser.add_argument(
        "--measure",
        choices=["rss", "traced"],
        default="rss",
        help="RSS growth with tracemalloc off, or traced Python memory",
    )
    args = parser.parse_args()
    for stage in args.stages.split(","):
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
        per_connection = measure(args.connections, stage, args.measure)
        what = "RSS" if args.measure == "rss" else "traced Python memory"
        print(
            f"{args.connections:,} open connections, {stage:<9}: "
            f"{per_connection:,.0f} bytes/connection {what}"
        )
    print(f"reproduce: {sys.executable} {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
