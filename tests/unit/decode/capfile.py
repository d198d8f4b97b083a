"""Minimal pcap/pcapng reader for decoder tests, independent of wiresift.capture.

pcap: https://www.tcpdump.org/manpages/pcap-savefile.5.html; pcapng:
draft-ietf-opsawg-pcapng s4.1 (SHB), s4.2 (IDB), s4.3 (EPB), s4.4 (SPB), appendix A (PB).
It reads whole files (test captures are small) and yields (linktype, data) per packet.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Final

_PCAP_ORDERS: Final = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}
_PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"
_BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
_IDB: Final = 1
_PB: Final = 2
_SPB: Final = 3
_EPB: Final = 6
_SHB: Final = 0x0A0D0D0A


def read_packets(path: Path) -> Iterator[tuple[int, bytes]]:
    """(linktype, captured bytes) for every packet of a pcap or pcapng file."""
    blob = path.read_bytes()
    if blob[:4] == _PCAPNG_SHB:
        yield from _read_pcapng(blob)
        return
    order = _PCAP_ORDERS.get(blob[:4])
    if order is None:
        raise ValueError(f"{path}: not a pcap or pcapng file")
    linktype = struct.unpack_from(order + "I", blob, 20)[0] & 0x0FFFFFFF
    position = 24
    while position + 16 <= len(blob):
        caplen = struct.unpack_from(order + "I", blob, position + 8)[0]
        position += 16
        yield linktype, blob[position : position + caplen]
        position += caplen


def _read_pcapng(blob: bytes) -> Iterator[tuple[int, bytes]]:
    order = "<"
    linktypes: list[int] = []
    position = 0
    while position + 12 <= len(blob):
        if blob[position : position + 4] == _PCAPNG_SHB:
            magic = struct.unpack_from("<I", blob, position + 8)[0]
            order = "<" if magic == _BYTE_ORDER_MAGIC else ">"
            linktypes = []
        block_type, length = struct.unpack_from(order + "II", blob, position)
        if length < 12:
            return
        body = position + 8
        if block_type == _IDB:
            linktypes.append(struct.unpack_from(order + "H", blob, body)[0])
        elif block_type == _EPB:
            iface, _, _, caplen = struct.unpack_from(order + "IIII", blob, body)
            yield linktypes[iface], blob[body + 20 : body + 20 + caplen]
        elif block_type == _PB:
            iface, _, _, _, caplen = struct.unpack_from(order + "HHIII", blob, body)
            yield linktypes[iface], blob[body + 20 : body + 20 + caplen]
        elif block_type == _SPB:
            wirelen = struct.unpack_from(order + "I", blob, body)[0]
            caplen = min(wirelen, length - 16)
            yield linktypes[0], blob[body + 4 : body + 4 + caplen]
        position += length
