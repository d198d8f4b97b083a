"""What every packet source yields, and the link-type numbers the decoder understands.

A packet on the hot path is a plain tuple, not an object (see docs/architecture.md,
"the packet path allocates nothing it does not need"):

    (ts_ns, linktype, data, wirelen, iface)

``ts_ns`` is integer nanoseconds since the epoch (the file's precision is kept),
``linktype`` a LINKTYPE_* number (https://www.tcpdump.org/linktypes.html), ``data`` the
captured bytes, ``wirelen`` the original length on the wire, ``iface`` the interface index
within the source (pcapng interface id, 0 for pcap).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Protocol

RawPacket = tuple[int, int, bytes, int, int]

# LINKTYPE_* values (tcpdump.org/linktypes.html).
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IEEE802_11_RADIOTAP: Final = 127
LINKTYPE_NFLOG: Final = 239
LINKTYPE_LINUX_SLL2: Final = 276
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
# OpenBSD/FreeBSD pcap files write DLT_RAW as 12 or 14.
LINKTYPE_RAW_BSD12: Final = 12
LINKTYPE_RAW_BSD14: Final = 14


class CaptureError(Exception):
    """A capture file is unreadable from the start (not a capture, wrong magic, unreadable)."""


class PacketSource(Protocol):
    """Anything that yields packets: a capture file, a live interface, a drop directory.

    Iteration ends normally at the end of the input. A source that stops early because the
    input is damaged sets ``error`` to one line naming the byte offset of the damage;
    every packet before the damage has been yielded.
    """

    name: str
    error: str | None

    def __iter__(self) -> Iterator[RawPacket]: ...

    def bytes_read(self) -> int:
        """Bytes of the (compressed, if so) input consumed so far, for progress display."""
        ...

    def total_bytes(self) -> int | None:
        """Size of the input if known (files), else None (live capture)."""
        ...

    def close(self) -> None: ...
