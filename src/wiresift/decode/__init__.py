"""Packet decoder: captured bytes of one packet -> ``Decoded`` for the flow table, or None.

Theory of operation: ``DISPATCH`` maps ``(Layer, key)`` to a layer decoder (see walk.py):
``(LINKTYPE, 1)`` is Ethernet, ``(ETHERTYPE, 0x8100)`` a VLAN tag, ``(IPPROTO, 6)`` TCP.
``PacketDecoder.decode`` starts at ``(LINKTYPE, linktype)`` and follows the table until a
decoder ends the walk; a key with no entry goes to its namespace's ``FALLBACK`` (unknown
link type, non-IP EtherType, "other" IP protocol). Tunnels (GRE, VXLAN, MPLS, PPPoE) are new
entries, as IP-in-IP already is.

Most traffic is Ethernet / IPv4 (no options, not fragmented) / TCP or UDP, so ``decode``
first tries that path in a few precompiled ``struct`` reads; any packet the fast path does
not fully accept (VLAN, options, truncation, a bad field) takes the table walk, which
decides it and records anomalies. Both give identical results.

Nothing here raises on bad input: a malformed header is a named anomaly (``anomalies``,
``take_new_anomalies``) and the packet yields None. Anomaly names: ethernet_truncated,
vlan_truncated, vlan_too_many_tags, sll_truncated, sll2_truncated, null_truncated,
raw_truncated, raw_bad_version, unknown_linktype, ipv4_truncated, ipv4_bad_version,
ipv4_bad_header_length, ipv4_bad_total_length, ipv4_zero_total_length, ipv6_truncated,
ipv6_bad_version, ipv6_zero_payload_length, ipv6_too_many_ext_headers,
ipv6_ext_header_truncated, ipv6_misplaced_hop_by_hop, ah_truncated, tunnel_too_deep,
tcp_truncated, tcp_bad_data_offset, udp_truncated, udp_bad_length, udp_length_mismatch,
decode_too_many_layers.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from wiresift.capture.base import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD12,
    LINKTYPE_RAW_BSD14,
)
from wiresift.decode.ethernet import (
    ENCAP_ETH,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_QINQ,
    ETHERTYPE_QINQ_OLD,
    ETHERTYPE_VLAN,
    decode_ethernet,
    decode_non_ip,
)
from wiresift.decode.ipip import IPPROTO_IPIP, IPPROTO_IPV6, decode_ipip
from wiresift.decode.ipsec import decode_ah, decode_esp
from wiresift.decode.ipv4 import decode_ipv4
from wiresift.decode.ipv6 import NH_AH, NH_NO_NEXT, decode_ipv6
from wiresift.decode.null import ENCAP_NULL, decode_loop, decode_null
from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, Decoded
from wiresift.decode.raw import ENCAP_RAW, decode_raw
from wiresift.decode.sll import ENCAP_SLL, ENCAP_SLL2, decode_sll, decode_sll2
from wiresift.decode.transport import (
    decode_ip_other,
    decode_no_next_header,
    decode_tcp,
    decode_udp,
)
from wiresift.decode.vlan import decode_vlan
from wiresift.decode.walk import (
    STOP,
    DecodeLimits,
    Decoder,
    Layer,
    Walk,
    decode_unknown_linktype,
)

__all__ = [
    "DISPATCH",
    "FALLBACK",
    "DecodeLimits",
    "Decoded",
    "Decoder",
    "Layer",
    "PacketDecoder",
    "Walk",
]

IPPROTO_ESP: Final = 50

DISPATCH: Final[Mapping[tuple[Layer, int], Decoder]] = MappingProxyType(
    {
        (Layer.LINKTYPE, LINKTYPE_ETHERNET): decode_ethernet,
        (Layer.LINKTYPE, LINKTYPE_LINUX_SLL): decode_sll,
        (Layer.LINKTYPE, LINKTYPE_LINUX_SLL2): decode_sll2,
        (Layer.LINKTYPE, LINKTYPE_RAW): decode_raw,
        (Layer.LINKTYPE, LINKTYPE_RAW_BSD12): decode_raw,
        (Layer.LINKTYPE, LINKTYPE_RAW_BSD14): decode_raw,
        (Layer.LINKTYPE, LINKTYPE_IPV4): decode_raw,
        (Layer.LINKTYPE, LINKTYPE_IPV6): decode_raw,
        (Layer.LINKTYPE, LINKTYPE_NULL): decode_null,
        (Layer.LINKTYPE, LINKTYPE_LOOP): decode_loop,
        (Layer.ETHERTYPE, ETHERTYPE_IPV4): decode_ipv4,
        (Layer.ETHERTYPE, ETHERTYPE_IPV6): decode_ipv6,
        (Layer.ETHERTYPE, ETHERTYPE_VLAN): decode_vlan,
        (Layer.ETHERTYPE, ETHERTYPE_QINQ): decode_vlan,
        (Layer.ETHERTYPE, ETHERTYPE_QINQ_OLD): decode_vlan,
        (Layer.IPPROTO, IPPROTO_TCP): decode_tcp,
        (Layer.IPPROTO, IPPROTO_UDP): decode_udp,
        (Layer.IPPROTO, IPPROTO_IPIP): decode_ipip,
        (Layer.IPPROTO, IPPROTO_IPV6): decode_ipip,
        (Layer.IPPROTO, NH_AH): decode_ah,
        (Layer.IPPROTO, IPPROTO_ESP): decode_esp,
        (Layer.IPPROTO, NH_NO_NEXT): decode_no_next_header,
    }
)

# What a key with no DISPATCH entry means, per namespace.
FALLBACK: Final[Mapping[Layer, Decoder]] = MappingProxyType(
    {
        Layer.LINKTYPE: decode_unknown_linktype,
        Layer.ETHERTYPE: decode_non_ip,
        Layer.IPPROTO: decode_ip_other,
    }
)

# Encapsulation items that start a walk, mapped to their constant tuples so the common
# packets all share one tuple object.
_LINK_ENCAPS: Final = (ENCAP_ETH, ENCAP_SLL, ENCAP_SLL2, ENCAP_RAW, ENCAP_NULL)

# The fast path reads, from offset 12 of an Ethernet frame: EtherType; IPv4 version/IHL,
# total length, flags/fragment offset, protocol, addresses; TCP ports, sequence, ack, data
# offset and flags (for UDP, "sequence" holds length and checksum).
_ETHER_IPV4_L4: Final = struct.Struct("!HBxH2xHxB2x4s4sHHIIBB")
_FAST_MIN_LEN: Final = 54  # Ethernet 14 + IPv4 20 + TCP 20
_FAST_IPV4_AT: Final = 14
_FAST_L4_AT: Final = 34
_FAST_IPV4_NO_OPTIONS: Final = 0x45
_FAST_FRAGMENT_MASK: Final = 0x3FFF
_UDP_HEADER_LEN: Final = 8
_tuple_new: Final = tuple.__new__


class PacketDecoder:
    """Decodes packets of any supported link type; one instance per packet source.

    ``anomalies`` counts anomalies by name; ``counters`` counts what was seen ("ipv4",
    "ipv6", "tcp", "udp", "icmp", "icmpv6", "ip_other", "non_ip", "fragment", "esp",
    "no_next_header", "unknown_linktype:<n>").
    """

    def __init__(
        self,
        *,
        limits: DecodeLimits | None = None,
        dispatch: Mapping[tuple[Layer, int], Decoder] = DISPATCH,
        fallback: Mapping[Layer, Decoder] = FALLBACK,
    ) -> None:
        self.limits = limits or DecodeLimits()
        self._walk = Walk(self.limits)
        for encap in _LINK_ENCAPS:
            self._walk.seed(encap[0], encap)
        self._tables: list[dict[int, Decoder]] = [{} for _ in Layer]
        for (layer, key), decoder in dispatch.items():
            self._tables[layer][key] = decoder
        self._fallbacks: list[Decoder] = [fallback[layer] for layer in Layer]
        self._steps = range(self.limits.max_layers)
        self.anomalies: Counter[str] = self._walk.anomalies
        # The fast path is only valid while the table holds the decoders it stands for.
        self._fast = (
            dispatch.get((Layer.LINKTYPE, LINKTYPE_ETHERNET)) is decode_ethernet
            and dispatch.get((Layer.ETHERTYPE, ETHERTYPE_IPV4)) is decode_ipv4
            and dispatch.get((Layer.IPPROTO, IPPROTO_TCP)) is decode_tcp
            and dispatch.get((Layer.IPPROTO, IPPROTO_UDP)) is decode_udp
        )
        # Fast-path packet counts, folded into the counters when they are read.
        self._fast_tcp = 0
        self._fast_udp = 0

    @property
    def counters(self) -> Counter[str]:
        """Counts of what was seen, by name (one live Counter, brought up to date on read)."""
        counters = self._walk.counters
        if self._fast_tcp:
            counters["ipv4"] += self._fast_tcp
            counters["tcp"] += self._fast_tcp
            self._fast_tcp = 0
        if self._fast_udp:
            counters["ipv4"] += self._fast_udp
            counters["udp"] += self._fast_udp
            self._fast_udp = 0
        return counters

    def take_new_anomalies(self) -> list[tuple[str, str]]:
        """(name, detail) of the anomalies since the last call, at most
        ``limits.max_new_anomalies`` of them."""
        walk = self._walk
        if not walk.new_anomalies:
            return []
        new = walk.new_anomalies
        walk.new_anomalies = []
        return new

    def decode(self, linktype: int, data: bytes) -> Decoded | None:
        """Decode one captured packet; None when it carries nothing for the flow table."""
        if linktype == LINKTYPE_ETHERNET and len(data) >= _FAST_MIN_LEN and self._fast:
            (
                ethertype,
                version_ihl,
                total_length,
                flags_offset,
                proto,
                src,
                dst,
                sport,
                dport,
                seq,
                ack,
                data_offset,
                flags,
            ) = _ETHER_IPV4_L4.unpack_from(data, 12)
            if (
                ethertype == ETHERTYPE_IPV4
                and version_ihl == _FAST_IPV4_NO_OPTIONS
                and not flags_offset & _FAST_FRAGMENT_MASK
            ):
                end = _FAST_IPV4_AT + total_length
                if proto == IPPROTO_TCP:
                    payload_at = _FAST_L4_AT + (data_offset >> 4) * 4
                    if _FAST_MIN_LEN <= payload_at <= end <= len(data):
                        self._fast_tcp += 1
                        return _tuple_new(
                            Decoded,
                            (
                                src,
                                dst,
                                IPPROTO_TCP,
                                sport,
                                dport,
                                flags,
                                seq,
                                ack,
                                data[payload_at:end],
                                ENCAP_ETH,
                                False,
                            ),
                        )
                elif proto == IPPROTO_UDP:
                    udp_end = _FAST_L4_AT + (seq >> 16)
                    if _FAST_L4_AT + _UDP_HEADER_LEN <= udp_end <= end <= len(data):
                        self._fast_udp += 1
                        return _tuple_new(
                            Decoded,
                            (
                                src,
                                dst,
                                IPPROTO_UDP,
                                sport,
                                dport,
                                0,
                                0,
                                0,
                                data[_FAST_L4_AT + _UDP_HEADER_LEN : udp_end],
                                ENCAP_ETH,
                                False,
                            ),
                        )
        return self._decode_walk(linktype, data)

    def _decode_walk(self, linktype: int, data: bytes) -> Decoded | None:
        """Follow the dispatch table from the link layer to the end of the walk."""
        walk = self._walk
        walk.reset(linktype, data)
        tables = self._tables
        fallbacks = self._fallbacks
        offset = 0
        for _ in self._steps:
            decoder = tables[walk.ns].get(walk.key) or fallbacks[walk.ns]
            offset = decoder(walk, walk.data, offset)
            if offset == STOP:
                return walk.result
        walk.anomaly("decode_too_many_layers", f"more than {self.limits.max_layers}")
        return None
