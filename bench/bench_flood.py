"""A SYN flood, a port scan and a stream of one-datagram UDP flows through the default
flow limit (not a test).

Builds the packets in memory, feeds them to one engine with the default configuration and
prints CPU microseconds per packet, flows seen and evicted, flows held at the end, and the
process's peak RSS. The flow table must stay at ``max_flows`` and the RSS flat whatever the
number of packets.

Reproduce:

    .venv/bin/python bench/bench_flood.py --kind syn --packets 1000000
    .venv/bin/python bench/bench_flood.py --kind scan --packets 500000
    .venv/bin/python bench/bench_flood.py --kind udp --packets 300000 --rate 1000
"""

from __future__ import annotations

import argparse
import resource
import struct
import sys
import time
from collections.abc import Iterator

from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.files import NullStore

ETH = struct.Struct("!6s6sH")
IP = struct.Struct("!BBHHHBBH4s4s")
TCP = struct.Struct("!HHIIBBHHH")
UDP = struct.Struct("!HHHH")
SYN, RST, ACK = 0x02, 0x04, 0x10
DNS_QUERY = bytes.fromhex("12340100000100000000000003777777076578616d706c6503636f6d0000010001")
SERVER = bytes([192, 168, 0, 1])


def ip_frame(src: bytes, proto: int, transport: bytes) -> bytes:
    ip = IP.pack(0x45, 0, 20 + len(transport), 0, 0, 64, proto, 0, src, SERVER) + transport
    return ETH.pack(b"\x02" * 6, b"\x04" * 6, 0x0800) + ip


def syn_flood(count: int) -> Iterator[bytes]:
    """Unanswered SYNs from spoofed sources to every port, as a flood or a scan sends."""
    for i in range(count):
        src = bytes([10, 9 + (i >> 16) % 200, (i >> 8) & 0xFF, i & 0xFF])
        yield ip_frame(
            src, 6, TCP.pack(40000 + i % 20000, 1 + i % 65535, i, 0, 5 << 4, SYN, 0, 0, 0)
        )


def port_scan(count: int) -> Iterator[bytes]:
    """A SYN scan of closed ports: each SYN answered by RST/ACK (count is SYNs)."""
    scanner = bytes([10, 8, 0, 1])
    for i in range(count):
        sport, dport = 40000 + i % 20000, 1 + i % 65535
        yield ip_frame(scanner, 6, TCP.pack(sport, dport, i, 0, 5 << 4, SYN, 1024, 0, 0))
        reply = TCP.pack(dport, sport, 0, i + 1, 5 << 4, RST | ACK, 0, 0, 0)
        ip = IP.pack(0x45, 0, 40, 0, 0, 64, 6, 0, SERVER, scanner) + reply
        yield ETH.pack(b"\x04" * 6, b"\x02" * 6, 0x0800) + ip


def udp_queries(count: int) -> Iterator[bytes]:
    """One-datagram UDP flows (DNS queries from ever new source ports), after one TCP
    connection that carries a few bytes and then stays open and quiet (a network always has
    some): each timeout class must expire on its own."""
    client = bytes([10, 1, 1, 1])
    yield ip_frame(client, 6, TCP.pack(5000, 22, 1, 0, 5 << 4, SYN, 1024, 0, 0))
    yield ip_frame(client, 6, TCP.pack(5000, 22, 2, 0, 5 << 4, ACK, 1024, 0, 0) + b"SSH-2.0-x\r\n")
    for i in range(count):
        src = bytes([10, 2, (i >> 8) & 0xFF, i & 0xFF])
        udp = UDP.pack(1024 + i % 60000, 53, 8 + len(DNS_QUERY), 0) + DNS_QUERY
        yield ip_frame(src, 17, udp)


def run(name: str, frames: Iterator[bytes], rate: int) -> None:
    """Feed ``frames`` at ``rate`` packets per second of packet time."""
    engine = Engine(Config(), [], store=NullStore())
    ts = 1_700_000_000 * 10**9
    step = 10**9 // rate
    packets = 0
    cpu0 = time.process_time()
    for frame in frames:
        ts += step
        engine.process(ts, 1, frame)
        packets += 1
    held = len(engine.flows)
    stats = engine.finish()
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name:<12} {packets:,} packets at {rate:,}/s of packet time: "
        f"{cpu / packets * 1e6:.1f} us/packet, {stats.flows:,} flows, "
        f"{stats.flows_evicted:,} evicted, {held:,} held at the end, peak RSS {peak:,.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--kind", choices=["syn", "scan", "udp"], default="syn")
    parser.add_argument("--rate", type=int, default=100_000, help="packets per second")
    args = parser.parse_args()
    kinds = {"syn": syn_flood, "scan": port_scan, "udp": udp_queries}
    frames = kinds[args.kind](args.packets)
    run(args.kind, frames, args.rate)
    print(f"reproduce: {sys.executable} {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
