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
from typing import Final, TypeAlias

from wiresift.decode.packet import Decoded

STOP: Final = -1


class Layer(enum.IntEnum):
    """Namespaces of the dispatch table: what the key of the next header means."""

    LINKTYPE = 0  # pcap LINKTYPE_* number (tcpdump.org/linktypes.html)
    ETHERTYPE = 1  # IEEE 802 EtherType
    IPPROTO = 2  # IPv4 protocol / IPv6 next header (IANA protocol numbers)


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


class Walk:
    """Mutable state of one packet's walk; one instance per decoder, reset per packet."""

    __slots__ = (
        "_encaps",
        "anomalies",
        "counters",
        "data",
        "dst",
        "encap",
        "ip_end",
        "ip_wire_end",
        "key",
        "limits",
        "new_anomalies",
        "ns",
        "result",
        "src",
        "truncated",
        "tunnels",
        "vlan_tags",
    )

    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.anomalies: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.new_anomalies: list[tuple[str, str]] = []
        # (outer encap, item or key) -> interned encap tuple; see push().
        self._encaps: dict[tuple[object, ...], tuple[str, ...]] = {}
        # The buffer being decoded; a decoder may replace it (an inner datagram cut to the
        # outer IP length, later a reassembled datagram) and return an offset into it.
        self.data = b""
        self.ns = Layer.LINKTYPE
        self.key = 0
        self.encap: tuple[str, ...] = ()
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

    def reset(self, linktype: int, data: bytes) -> None:
        """Start the walk of a new packet at its link layer."""
        self.data = data
        self.ns = Layer.LINKTYPE
        self.key = linktype
        self.encap = ()
        self.truncated = False
        self.result = None
        self.vlan_tags = 0
        self.tunnels = 0

    def anomaly(self, name: str, detail: str = "") -> int:
        """Record a named anomaly of this packet; returns STOP so decoders can end with it."""
        self.anomalies[name] += 1
        if len(self.new_anomalies) < self.limits.max_new_anomalies:
            self.new_anomalies.append((name, detail))
        return STOP

    def count(self, name: str) -> int:
        """Count a packet that carries nothing for the flow table; returns STOP."""
        self.counters[name] += 1
        return STOP

    def push(self, item: str) -> None:
        """Append an encapsulation item, reusing one interned tuple per distinct result."""
        key = (self.encap, item)
        encap = self._encaps.get(key)
        if encap is None:
            encap = (*self.encap, item)
            self._intern(key, encap)
        self.encap = encap

    def push_vlan(self, vlan_id: int) -> None:
        """Append ``vlan:<id>`` without building the string once it was seen."""
        key = (self.encap, vlan_id)
        encap = self._encaps.get(key)
        if encap is None:
            encap = (*self.encap, f"vlan:{vlan_id}")
            self._intern(key, encap)
        self.encap = encap

    def push_tunnel(self, kind: str, a: bytes, b: bytes) -> None:
        """Append ``<kind>:<lower address>-<higher address>``: endpoints are sorted so both
        directions of a tunnel give the same item."""
        low, high = (a, b) if a <= b else (b, a)
        key = (self.encap, kind, low, high)
        encap = self._encaps.get(key)
        if encap is None:
            item = f"{kind}:{ipaddress.ip_address(low)}-{ipaddress.ip_address(high)}"
            encap = (*self.encap, item)
            self._intern(key, encap)
        self.encap = encap

    def _intern(self, key: tuple[object, ...], encap: tuple[str, ...]) -> None:
        if len(self._encaps) < self.limits.max_interned_encaps:
            self._encaps[key] = encap

    def seed(self, item: str, encap: tuple[str, ...]) -> None:
        """Make push(item) on an empty encap return the given constant tuple."""
        self._encaps[((), item)] = encap

    def fragment(self, proto: int, ident: int, offset: int, more: bool, payload_at: int) -> int:
        """An IP fragment (RFC 791 s2.3; RFC 8200 s4.5) of the datagram from src to dst.

        This is where reassembly slots in: it would hold the fragment (data[payload_at:
        ip_end], at byte ``offset``), and once the datagram is whole, set ``data`` to it,
        ``ns``/``key`` to (IPPROTO, proto) and return 0 to walk on. For now fragments are
        counted and dropped.
        """
        del proto, ident, offset, more, payload_at
        return self.count("fragment")

    def finish(  # noqa: PLR0917 - the Decoded fields, in order
        self, proto: int, sport: int, dport: int, flags: int, seq: int, ack: int, payload: bytes
    ) -> int:
        """End the walk with a Decoded for the innermost IP datagram; returns STOP."""
        self.result = Decoded(
            self.src,
            self.dst,
            proto,
            sport,
            dport,
            flags,
            seq,
            ack,
            payload,
            self.encap,
            self.truncated,
        )
        return STOP


# A layer decoder: read the header at the offset, return the next offset or STOP.
Decoder: TypeAlias = Callable[[Walk, bytes, int], int]


def decode_unknown_linktype(walk: Walk, data: bytes, offset: int) -> int:
    """Fallback of the LINKTYPE namespace: count per link type, one anomaly per link type."""
    del data, offset
    name = f"unknown_linktype:{walk.key}"
    if name not in walk.counters:
        unknown = sum(1 for seen in walk.counters if seen.startswith("unknown_linktype:"))
        if unknown >= walk.limits.max_unknown_linktypes:
            return walk.count("unknown_linktype:other")
        walk.anomaly("unknown_linktype", str(walk.key))
    return walk.count(name)
