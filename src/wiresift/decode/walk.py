"""The walk of one packet through the dispatch table, and what every layer decoder shares.

Theory of operation (Zeek's packet analysis, as data): a layer decoder is a plain function
``(walk, data, offset) -> int``. It reads its header from ``data`` at ``offset`` with a
precompiled ``struct.Struct``, records what it learned on the ``Walk`` (encapsulation items,
IP addresses, the end of the IP datagram), names the next header by setting ``walk.ns`` and
``walk.key``, and returns the offset of that header. It returns ``STOP`` when the walk ends:
either ``walk.result`` holds the finished ``Decoded``, or the packet carries nothing for the
flow table (it was counted, or an anomaly was recorded). ``PacketDecoder`` looks the next
decoder up in the table keyed by ``(Layer, key)``; tunnels are new table entries.

One ``Walk`` belongs to one ``PacketDecoder`` and is reset per packet, so the packet path
builds no per-layer objects.
"""

from __future__ import annotations

import enum
import ipaddress
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

from wiresift.decode.packet import Decoded

if TYPE_CHECKING:
    from wiresift.decode.ipfrag import FragmentReassembler

STOP: Final = -1

# Counter names bumped on the packet path; they exist from the start so "+= 1" needs no
# default.
COMMON_COUNTS: Final = (
    "ipv4",
    "ipv6",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "ip_other",
    "non_ip",
    "fragment",
    "esp",
    "no_next_header",
)

# Building a NamedTuple through tuple.__new__ skips its Python-level __new__ (half the cost).
_tuple_new: Final = tuple.__new__


class Layer(enum.IntEnum):
    """Namespaces of the dispatch table: what the key of the next header means."""

    LINKTYPE = 0  # pcap LINKTYPE_* number (tcpdump.org/linktypes.html)
    ETHERTYPE = 1  # IEEE 802 EtherType
    IPPROTO = 2  # IPv4 protocol / IPv6 next header (IANA protocol numbers)
    UDP_PORT = 3  # UDP port of a tunnel candidate (VXLAN 4789, ...); see Walk.udp_ports


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeLimits:
    """Caps of the packet decoder; past a cap the packet is dropped with an anomaly."""

    # Dispatch steps per packet. Suricata's decoder.max-layers defaults to 16.
    max_layers: int = 16
    # Stacked VLAN tags. Suricata raises vlan.too_many_layers past 3 (QinQinQ is seen).
    max_vlan_tags: int = 3
    # IPv6 extension headers per packet. RFC 8200 s4.1 recommends an order with at most 8
    # headers (destination options twice, each other type once).
    max_ipv6_ext_headers: int = 8
    # IP-in-IP (and later GRE/VXLAN...) encapsulations per packet (Zeek Tunnel::max_depth 2).
    max_tunnel_depth: int = 2
    # Anomalies kept for take_new_anomalies() between two calls; the counters see them all.
    max_new_anomalies: int = 64
    # Distinct encap tuples interned (each VLAN id / tunnel pair is one); past it the tuple
    # is built per packet, which is correct but slower.
    max_interned_encaps: int = 4096
    # Distinct unknown link types named in the counters; the rest count as "other".
    max_unknown_linktypes: int = 64
    # IP fragment reassembly (ipfrag.py). A datagram expires this long after its first
    # fragment, by packet time (Linux net.ipv4.ipfrag_time: 30 s).
    ipfrag_timeout_ns: int = 30_000_000_000
    # Bytes held for incomplete datagrams, data plus ipfrag.FRAGMENT_OVERHEAD per fragment;
    # past it the oldest datagrams are dropped (Linux ipfrag_high_thresh: 4 MiB).
    ipfrag_max_bytes: int = 4 * 1024 * 1024
    # Datagrams in progress; past it the oldest is dropped (bounds the per-datagram objects
    # of a flood of one-fragment datagrams, which the byte limit alone lets reach ~50000).
    ipfrag_max_datagrams: int = 4096
    # Fragments of one datagram; past it the datagram is dropped. A 65535-byte IPv4
    # datagram cut to RFC 791's 68-byte minimum MTU (48 data bytes each) takes 1366.
    ipfrag_max_fragments: int = 2048


class EncapNode:
    """One interned encapsulation tuple, and the nodes one item longer, by item key."""

    __slots__ = ("children", "encap")

    def __init__(self, encap: tuple[str, ...]) -> None:
        self.encap = encap
        self.children: dict[object, EncapNode] = {}


class Walk:
    """Mutable state of one packet's walk; one instance per decoder, reset per packet."""

    __slots__ = (
        "_interned",
        "anomalies",
        "counts",
        "data",
        "defrag",
        "dst",
        "ip_end",
        "ip_wire_end",
        "key",
        "limits",
        "new_anomalies",
        "node",
        "ns",
        "result",
        "root",
        "src",
        "truncated",
        "ts",
        "tunnels",
        "udp_ports",
        "vlan_tags",
    )

    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.anomalies: Counter[str] = Counter()
        # Plain dict rather than Counter: an exact dict's "+= 1" is 3x faster here.
        self.counts: dict[str, int] = dict.fromkeys(COMMON_COUNTS, 0)
        self.new_anomalies: list[tuple[str, str]] = []
        # Interned encapsulation tuples as a tree: the walk moves from the root (no
        # encapsulation) one item per push, so building the tuple costs one dict lookup.
        self.root = EncapNode(())
        self._interned = 0
        # The buffer being decoded; a decoder may replace it (an inner datagram cut to the
        # outer IP length, later a reassembled datagram) and return an offset into it.
        self.data = b""
        self.ns = Layer.LINKTYPE
        self.key = 0
        self.node = self.root
        # Packed addresses of the innermost IP header seen so far.
        self.src = b""
        self.dst = b""
        # End of the IP datagram within data (never past the captured bytes), and where the
        # IP header says it ends (past the captured bytes when the capture cut it short).
        self.ip_end = 0
        self.ip_wire_end = 0
        self.truncated = False
        self.result: Decoded | None = None
        self.vlan_tags = 0
        self.tunnels = 0
        # Packet time (ns), for fragment timeouts; the reassembler (None: fragments are
        # counted and dropped).
        self.ts = 0
        self.defrag: FragmentReassembler | None = None
        # UDP ports with a UDP_PORT table entry (set by PacketDecoder): a datagram to or
        # from one of them is offered to that entry, which checks the header.
        self.udp_ports: frozenset[int] = frozenset()

    def anomaly(self, name: str, detail: str = "") -> int:
        """Record a named anomaly of this packet; returns STOP so decoders can end with it."""
        self.anomalies[name] += 1
        if len(self.new_anomalies) < self.limits.max_new_anomalies:
            self.new_anomalies.append((name, detail))
        return STOP

    def count(self, name: str) -> int:
        """Count a packet that carries nothing for the flow table; returns STOP."""
        counts = self.counts
        counts[name] = counts.get(name, 0) + 1
        return STOP

    def push(self, item: str) -> None:
        """Append an encapsulation item (the same tuple object each time it recurs)."""
        node = self.node.children.get(item)
        self.node = node if node is not None else self._child(item, item)

    def push_vlan(self, vlan_id: int) -> None:
        """Append ``vlan:<id>`` without building the string once it was seen."""
        node = self.node.children.get(vlan_id)
        self.node = node if node is not None else self._child(vlan_id, f"vlan:{vlan_id}")

    def push_id(self, kind: str, value: int) -> None:
        """Append ``<kind>=<value>`` (e.g. "vxlan:vni=42") without building the string once
        it was seen."""
        key = (kind, value)
        node = self.node.children.get(key)
        self.node = node if node is not None else self._child(key, f"{kind}={value}")

    def push_tunnel(self, kind: str, a: bytes, b: bytes) -> None:
        """Append ``<kind>:<lower address>-<higher address>``: endpoints are sorted so both
        directions of a tunnel give the same item."""
        low, high = (a, b) if a <= b else (b, a)
        key = (kind, low, high)
        node = self.node.children.get(key)
        if node is None:
            item = f"{kind}:{ipaddress.ip_address(low)}-{ipaddress.ip_address(high)}"
            node = self._child(key, item)
        self.node = node

    def _child(self, key: object, item: str) -> EncapNode:
        """A node one item deeper, interned until ``max_interned_encaps`` nodes exist."""
        node = EncapNode((*self.node.encap, item))
        if self._interned < self.limits.max_interned_encaps:
            self.node.children[key] = node
            self._interned += 1
        return node

    def seed(self, item: str, encap: tuple[str, ...]) -> None:
        """Make push(item) at the start of a walk give the constant tuple ``encap``."""
        self.root.children[item] = EncapNode(encap)

    def fragment(self, proto: int, ident: int, offset: int, more: bool, payload_at: int) -> int:
        """An IP fragment (RFC 791 s2.3; RFC 8200 s4.5) of the datagram from src to dst.

        Counted, then held by the reassembler (ipfrag.py; data[payload_at:ip_end] at byte
        ``offset``): once the datagram is whole it sets ``data`` to it and ``ns``/``key`` to
        its next header and returns that header's offset, so the walk goes on. Without a
        reassembler fragments are counted and dropped.
        """
        self.counts["fragment"] += 1
        if self.defrag is None:
            return STOP
        return self.defrag.add(self, proto, ident, offset, more, payload_at)

    def finish(
        self, proto: int, sport: int, dport: int, flags: int, seq: int, ack: int, payload: bytes
    ) -> int:
        """End the walk with a Decoded for the innermost IP datagram; returns STOP."""
        self.result = _tuple_new(
            Decoded,
            (
                self.src,
                self.dst,
                proto,
                sport,
                dport,
                flags,
                seq,
                ack,
                payload,
                self.node.encap,
                self.truncated,
            ),
        )
        return STOP


# A layer decoder: read the header at the offset, return the next offset or STOP.
Decoder: TypeAlias = Callable[[Walk, bytes, int], int]


def decode_unknown_linktype(walk: Walk, data: bytes, offset: int) -> int:
    """Fallback of the LINKTYPE namespace: count per link type, one anomaly per link type."""
    del data, offset
    name = f"unknown_linktype:{walk.key}"
    if name not in walk.counts:
        unknown = sum(1 for seen in walk.counts if seen.startswith("unknown_linktype:"))
        if unknown >= walk.limits.max_unknown_linktypes:
            return walk.count("unknown_linktype:other")
        walk.anomaly("unknown_linktype", str(walk.key))
    return walk.count(name)
