"""Benchmark ``wiresift read`` with every output on (not a test).

Prints, per run and as the median of the runs: Mbit/s and packets/s of capture processed per
CPU second, CPU microseconds per packet, wall time, and the peak RSS of the process. With
``--www`` it also checks every extracted 200 response body against the file the server
served (the capture of ../shared/tools/make-bench-capture.sh keeps them in
/tmp/wiresift-capgen/www).

Reproduce (the reference capture: real nginx, curl and SMTP on loopback):

    ../shared/tools/make-bench-capture.sh        # writes ./bench-data/wiresift-bench.pcap
    .venv/bin/python bench/bench_read.py bench-data/wiresift-bench.pcap --runs 3 \\
        --www /tmp/wiresift-capgen/www
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def count_packets(path: Path) -> tuple[int, int]:
    """Packets and wire bytes of a capture (read once with wiresift's own reader)."""
    from wiresift.capture import open_source  # noqa: PLC0415 (bench-only import)

    packets = wire = 0
    with open_source(path) as source:
        for _ts, _lt, _data, wirelen, _iface in source:
            packets += 1
            wire += wirelen
    return packets, wire


def one_run(capture: Path, out: Path) -> dict[str, float]:
    """One ``wiresift read`` in a child process; CPU and RSS from the child's rusage."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "wiresift", "read", "-q", str(capture), "-o", str(out)],
        check=True,
    )
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    return {
        "cpu": user + system,
        "user": user,
        "sys": system,
        "wall": wall,
        "rss_mb": after.ru_maxrss / 1024,
    }


def verify(out: Path, www: Path) -> tuple[int, int, list[str]]:
    """Compare extracted 200 bodies with the served files: (checked, matched, mismatches)."""
    digests: dict[str, str] = {}
    for path in www.rglob("*"):
        if path.is_file():
            rel = "/" + path.relative_to(www).as_posix()
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    checked = matched = 0
    bad: list[str] = []
    with open(out / "objects.jsonl", "rb") as lines:
        for line in lines:
            obj = json.loads(line)
            http = obj.get("http", {})
            uri = (http.get("uri") or "").split("?", 1)[0]
            if http.get("status") != 200 or http.get("method") != "GET" or uri not in digests:
                continue
            bodies = [c for c in obj["contents"] if c["role"] == "response-body"]
            checked += 1
            if bodies and bodies[0]["sha256"] == digests[uri]:
                matched += 1
            elif len(bad) < 20:
                bad.append(f"{obj['id']} {uri}")
    return checked, matched, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--www", type=Path, help="served files, to verify the bodies")
    parser.add_argument(
        "--out",
        type=Path,
        help="output folder, emptied before each run (default: a temporary one); the file "
        "system matters: creating a file can cost far more CPU on a disk than on tmpfs",
    )
    args = parser.parse_args()
    packets, wire = count_packets(args.capture)
    out = args.out or Path(tempfile.mkdtemp(prefix="wiresift-bench-"))
    results = []
    for index in range(args.runs):
        r = one_run(args.capture, out)
        results.append(r)
        print(
            f"run {index + 1}: {wire * 8 / r['cpu'] / 1e6:,.0f} Mbit/s, "
            f"{packets / r['cpu']:,.0f} packets/s, {r['cpu'] * 1e6 / packets:.2f} µs CPU/packet, "
            f"({r['user']:.1f} s user, {r['sys']:.1f} s system), {r['wall']:.1f} s wall, "
            f"peak RSS {r['rss_mb']:.0f} MB"
        )
    cpu = statistics.median(r["cpu"] for r in results)
    wall = statistics.median(r["wall"] for r in results)
    rss = max(r["rss_mb"] for r in results)
    print(f"capture: {args.capture} ({packets:,} packets, {wire / 1e6:,.0f} MB on the wire)")
    print(
        f"median of {args.runs}: {wire * 8 / cpu / 1e6:,.0f} Mbit/s, "
        f"{packets / cpu:,.0f} packets/s, {cpu * 1e6 / packets:.2f} µs CPU/packet, "
        f"{wall:.1f} s wall, peak RSS {rss:.0f} MB (max of runs)"
    )
    if args.www:
        checked, matched, bad = verify(out, args.www)
        print(f"bodies checked against served files: {matched}/{checked} identical")
        for line in bad:
            print(f"  mismatch {line}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    print(f"reproduce: {sys.executable} {' '.join(sys.argv)}  (cwd {os.getcwd()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
