"""CPU cost per packet of each pipeline stage, cumulatively (not a test).

Loads the capture into memory first, so file reading is left out, then runs: decoding
only; decoding + flow table + TCP reassembly (stream bytes dropped); the whole engine
with no output (parsing, decoding of bodies, hashing); the whole engine writing passports
and content to a folder (use a tmpfs such as /dev/shm to leave the disk out).

Reproduce:

    .venv/bin/python bench/bench_stages.py bench-data/wiresift-bench-100M.pcap --out /dev/shm/ws
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wiresift.capture import open_source
from wiresift.capture.base import RawPacket
from wiresift.config import Config, Limits
from wiresift.decode import PacketDecoder
from wiresift.engine import Engine
from wiresift.extract.files import ContentStore, NullStore
from wiresift.flow.table import Flow, FlowConfig, FlowTable
from wiresift.outputs import Sink
from wiresift.outputs.filestore import FileContentStore, JsonLinesSink, PassportFileSink


class _Drop:
    """A flow handler that drops every stream event."""

    def flow_start(self, flow: Flow) -> None: ...
    def stream_data(self, flow: Flow, side: int, data: bytes, ts: int) -> None: ...
    def stream_gap(self, flow: Flow, side: int, size: int, ts: int) -> None: ...
    def flow_end(self, flow: Flow, ts: int, reason: str) -> None: ...
    def datagram(self, flow: Flow, side: int, data: bytes, ts: int) -> None: ...
    def flow_anomaly(self, flow: Flow, name: str, detail: str, ts: int) -> None: ...


def decode_only(packets: list[RawPacket]) -> None:
    decode = PacketDecoder().decode
    for _ts, linktype, data, _wirelen, _iface in packets:
        decode(linktype, data)


def decode_and_flows(packets: list[RawPacket]) -> None:
    decode = PacketDecoder().decode
    table = FlowTable(_Drop(), Limits(), FlowConfig())
    ts = 0
    for frame, (ts, linktype, data, _wirelen, _iface) in enumerate(packets, 1):
        decoded = decode(linktype, data)
        if decoded is not None:
            table.packet(decoded, ts, frame)
    table.flush(ts)


def engine(packets: list[RawPacket], sinks: list[Sink], store: ContentStore) -> None:
    eng = Engine(Config(), sinks, store=store)
    for ts, linktype, data, wirelen, _iface in packets:
        eng.process(ts, linktype, data, wirelen)
    eng.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/dev/shm/wiresift-bench-stages"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with open_source(args.capture) as source:
        packets = list(source)
    count = len(packets)

    def with_output() -> None:
        shutil.rmtree(args.out, ignore_errors=True)
        args.out.mkdir(parents=True)
        sinks: list[Sink] = [
            PassportFileSink(args.out),
            JsonLinesSink.to_path(args.out / "o.jsonl"),
        ]
        engine(packets, sinks, FileContentStore(args.out))

    stages: list[tuple[str, Callable[[], None]]] = [
        ("decode", lambda: decode_only(packets)),
        ("+ flow table and TCP reassembly", lambda: decode_and_flows(packets)),
        ("+ detection, HTTP, bodies, hashes", lambda: engine(packets, [], NullStore())),
        (f"+ passports and content in {args.out}", with_output),
    ]
    print(f"{args.capture}: {count:,} packets, median of {args.runs} runs")
    for label, run in stages:
        times = []
        for _ in range(args.runs):
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        print(f"  {label:<45} {statistics.median(times) / count * 1e6:6.2f} µs CPU/packet")
    shutil.rmtree(args.out, ignore_errors=True)
    print(f"reproduce: {sys.executable} {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
