"""Wrap every packet of a capture in VLAN + GRE + Ethernet, to measure tunnel decoding.

Each Ethernet frame of INPUT (classic pcap, link type Ethernet) becomes
Ethernet / VLAN 100 / IPv4 (10.99.0.1 <-> 10.99.0.2) / GRE 0x6558 (RFC 2784, transparent
Ethernet bridging) / Ethernet (the original addresses, VLAN tags dropped) / the original
IP packet. The outer addresses follow the inner direction (the lower inner source sends
from 10.99.0.1), so both directions of a flow share one tunnel. Captured and wire lengths
grow by the same 56 bytes; the outer IPv4 header checksum is correct (RFC 791 s3.1).

Reproduce (from the repository root)::

    .venv/bin/python bench/wrap_capture.py ../bench-data/wiresift-bench-100M.pcap \\
        ../bench-data/wiresift-bench-100M-gre.pcap
    .venv/bin/python bench/bench_decode.py ../bench-data/wiresift-bench-100M-gre.pcap
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path
from typing import Final

_PCAP_MAGICS: Final = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}
_LINKTYPE_ETHERNET: Final = 1
_VLAN_TPIDS: Final = (0x8100, 0x88A8, 0x9100)
_OUTER_VLAN: Final = 100
_OUTER_LOW: Final = bytes((10, 99, 0, 1))
_OUTER_HIGH: Final = bytes((10, 99, 0, 2))
_OUTER_MAC_A: Final = bytes.fromhex("020000000001")
_OUTER_MAC_B: Final = bytes.fromhex("020000000002")
_ETHERTYPE_VLAN: Final = 0x8100
_ETHERTYPE_IPV4: Final = 0x0800
_ETHERTYPE_IPV6: Final = 0x86DD
_ETHERTYPE_TEB: Final = 0x6558
_IPPROTO_GRE: Final = 47
_IPV4_HEADER_LEN: Final = 20
_GRE_HEADER_LEN: Final = 4
_OVERHEAD: Final = 14 + 4 + _IPV4_HEADER_LEN + _GRE_HEADER_LEN  # + inner 14 - original 14

_OUTER_ETH_VLAN: Final = struct.Struct("!6s6sHHH")
_OUTER_IPV4: Final = struct.Struct("!BBHHHBBH4s4s")
_GRE: Final = struct.Struct("!HH")


def _checksum(header: bytes) -> int:
    """Internet checksum of a header (RFC 1071)."""
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _inner_addresses(ethertype: int, ip_packet: bytes) -> tuple[bytes, bytes]:
    """Inner source and destination addresses (empty for non-IP) to pick the direction."""
    if ethertype == _ETHERTYPE_IPV4 and len(ip_packet) >= 20:
        return ip_packet[12:16], ip_packet[16:20]
    if ethertype == _ETHERTYPE_IPV6 and len(ip_packet) >= 40:
        return ip_packet[8:24], ip_packet[24:40]
    return b"", b""


def wrap_frame(frame: bytes) -> bytes:
    """One Ethernet frame wrapped as Ethernet/VLAN/IPv4/GRE/Ethernet."""
    position = 12
    ethertype = int.from_bytes(frame[12:14], "big")
    while ethertype in _VLAN_TPIDS and len(frame) >= position + 6:
        position += 4
        ethertype = int.from_bytes(frame[position : position + 2], "big")
    ip_packet = frame[position + 2 :]
    inner = frame[:12] + struct.pack("!H", ethertype) + ip_packet
    src, dst = _inner_addresses(ethertype, ip_packet)
    outer_src, outer_dst = (_OUTER_LOW, _OUTER_HIGH) if src <= dst else (_OUTER_HIGH, _OUTER_LOW)
    total_length = _IPV4_HEADER_LEN + _GRE_HEADER_LEN + len(inner)
    header = _OUTER_IPV4.pack(
        0x45, 0, total_length, 0, 0x4000, 64, _IPPROTO_GRE, 0, outer_src, outer_dst
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    macs = (_OUTER_MAC_A, _OUTER_MAC_B) if src <= dst else (_OUTER_MAC_B, _OUTER_MAC_A)
    link = _OUTER_ETH_VLAN.pack(macs[1], macs[0], _ETHERTYPE_VLAN, _OUTER_VLAN, _ETHERTYPE_IPV4)
    return link + header + _GRE.pack(0, _ETHERTYPE_TEB) + inner


def wrap_capture(source: Path, target: Path) -> int:
    """Rewrite ``source`` into ``target`` with every frame wrapped; returns the packet count."""
    count = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        header = reader.read(24)
        order = _PCAP_MAGICS.get(header[:4])
        if order is None:
            raise SystemExit(f"{source}: not a classic pcap file")
        linktype = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
        if linktype != _LINKTYPE_ETHERNET:
            raise SystemExit(f"{source}: link type {linktype}, only Ethernet (1) is wrapped")
        snaplen = struct.unpack(order + "I", header[16:20])[0]
        writer.write(header[:16] + struct.pack(order + "I", snaplen + _OVERHEAD) + header[20:])
        record = struct.Struct(order + "IIII")
        while len(head := reader.read(16)) == 16:
            seconds, fraction, caplen, wirelen = record.unpack(head)
            wrapped = wrap_frame(reader.read(caplen))
            extra = len(wrapped) - caplen
            writer.write(record.pack(seconds, fraction, len(wrapped), wirelen + extra))
            writer.write(wrapped)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """Command line: wrap_capture.py INPUT OUTPUT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    count = wrap_capture(args.input, args.output)
    print(f"{args.output}: {count} packets wrapped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
