"""Packet decoder throughput on a capture: packets/s and µs per packet (not gating).

All packets are read into memory first, so only ``PacketDecoder.decode`` is timed. Each run
uses a fresh decoder; the median of the runs is reported.

Reproduce (from the repository root)::

    .venv/bin/python bench/bench_decode.py ../bench-data/wiresift-bench-100M.pcap --runs 5

The reference capture is made by ../shared/tools/make-bench-capture.sh.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from wiresift.decode import PacketDecoder

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}


def _read_pcap(path: Path) -> Iterator[tuple[int, bytes]]:
    """Tiny classic-pcap reader: (linktype, data) per record."""
    with path.open("rb") as capture:
        header = capture.read(24)
        order = _PCAP_MAGICS.get(header[:4])
        if order is None:
            raise SystemExit(f"{path}: not a classic pcap file")
        linktype = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
        record = struct.Struct(order + "IIII")
        while len(head := capture.read(16)) == 16:
            caplen = record.unpack(head)[2]
            yield linktype, capture.read(caplen)


def load_packets(path: Path) -> list[tuple[int, bytes]]:
    """Every packet of the capture as (linktype, data), with wiresift's reader if present."""
    try:
        from wiresift.capture import open_source  # noqa: PLC0415 - optional at bench time
    except ImportError:
        return list(_read_pcap(path))
    source = open_source(path)
    try:
        return [(packet[1], bytes(packet[2])) for packet in source]
    finally:
        source.close()


def run_once(packets: list[tuple[int, bytes]]) -> tuple[float, PacketDecoder, int]:
    """Decode every packet with a fresh decoder; return (seconds, decoder, Decoded count)."""
    decoder = PacketDecoder()
    decode = decoder.decode
    decoded = 0
    start = time.perf_counter()
    for linktype, data in packets:
        if decode(linktype, data) is not None:
            decoded += 1
    return time.perf_counter() - start, decoder, decoded


def main(argv: list[str] | None = None) -> int:
    """Load the capture, time the decoder, print the median run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    packets = load_packets(args.capture)
    if not packets:
        print(f"{args.capture}: no packets", file=sys.stderr)
        return 1
    linktypes = sorted({linktype for linktype, _ in packets})
    total_bytes = sum(len(data) for _, data in packets)
    times = []
    decoder = PacketDecoder()
    decoded = 0
    for _ in range(args.runs):
        seconds, decoder, decoded = run_once(packets)
        times.append(seconds)
    median = statistics.median(times)
    count = len(packets)
    print(f"capture: {args.capture} ({count} packets, {total_bytes} bytes, linktypes {linktypes})")
    print(f"decoded: {decoded} packets; counters {dict(sorted(decoder.counters.items()))}")
    print(f"anomalies: {dict(sorted(decoder.anomalies.items()))}")
    print(f"runs: {', '.join(f'{t:.3f}s' for t in times)}")
    for label, seconds in ((f"median of {args.runs}", median), ("best run", min(times))):
        print(
            f"{label}: {count / seconds:,.0f} packets/s, "
            f"{seconds / count * 1e6:.3f} µs per packet, "
            f"{total_bytes * 8 / seconds / 1e6:,.0f} Mbit/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
