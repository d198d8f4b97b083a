"""Packet decoder: captured bytes of one packet -> ``Decoded`` for the flow table, or None.

Theory of operation: ``DISPATCH`` maps ``(Layer, key)`` to a layer decoder (see walk.py):
``(LINKTYPE, 1)`` is Ethernet, ``(ETHERTYPE, 0x8100)`` a VLAN tag, ``(IPPROTO, 6)`` TCP.
``PacketDecoder.decode`` starts at ``(LINKTYPE, linktype)`` and follows the table until a
decoder ends the walk; a key with no entry goes to its namespace's ``FALLBACK`` (unknown
link type, non-IP EtherType, "other" IP protocol). Tunnels (GRE, VXLAN, MPLS, PPPoE) are new
entries, as IP-in-IP already is.

Most traffic is IPv4 without options or IPv6 without extension headers, unfragmented,
carrying TCP or UDP, behind Ethernet (perhaps one VLAN tag), a Linux cooked header or no
link header. ``decode`` first tries that shape with one precompiled ``struct`` read of the
IP and transport headers. Any packet it does not fully accept (options, extension headers,
stacked tags, truncation, any bad field) takes the table walk, which decides it and records
anomalies. Both give identical results (the tests compare them).

Nothing here raises on bad input: a malformed header is a named anomaly (``anomalies``,
``take_new_anomalies``) and the packet yields None. Anomaly names: ethernet_truncated,
vlan_truncated, vlan_too_many_tags, sll_truncated, sll2_truncated, null_truncated,
raw_truncated, raw_bad_version, unknown_linktype, ipv4_truncated, ipv4_bad_version,
ipv4_bad_header_length, ipv4_bad_total_length, ipv4_zero_total_length, ipv6_truncated,
ipv6_bad_version, ipv6_zero_payload_length, ipv6_too_many_ext_headers,
ipv6_ext_header_truncated, ipv6_misplaced_hop_by_hop, ah_truncated, tunnel_too_deep,
tcp_truncated, tcp_bad_data_offset, udp_truncated, udp_bad_length, udp_length_mismatch,
decode_too_many_layers; GRE and ERSPAN anomalies (gre.py); tunnels in UDP (udptunnels.py);
mpls_truncated, mpls_too_many_labels (mpls.py); pppoe_truncated,
pppoe_bad_version, pppoe_bad_code, pppoe_bad_length, ppp_truncated (pppoe.py);
nflog_truncated, nflog_bad_tlv_length, nflog_too_many_tlvs (nflog.py); radiotap_truncated,
radiotap_bad_version, radiotap_bad_length, wlan_truncated, wlan_bad_version (ieee80211.py);
IP fragment reassembly anomalies (ipfrag.py).
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from wiresift.capture.base import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IEEE802_11_RADIOTAP,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NFLOG,
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
from wiresift.decode.gre import (
    ETHERTYPE_TEB,
    GRE_HEADER_LEN,
    GRE_KEY,
    IPPROTO_GRE,
    decode_gre,
    decode_gre_udp,
)
from wiresift.decode.ieee80211 import LINKTYPE_IEEE802_11, decode_ieee80211, decode_radiotap
from wiresift.decode.ipfrag import FragmentReassembler
from wiresift.decode.ipip import IPPROTO_IPIP, IPPROTO_IPV6, decode_ipip
from wiresift.decode.ipsec import decode_ah, decode_esp
from wiresift.decode.ipv4 import decode_ipv4
from wiresift.decode.ipv6 import NH_AH, NH_NO_NEXT, decode_ipv6
from wiresift.decode.mpls import ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST, decode_mpls
from wiresift.decode.nflog import decode_nflog
from wiresift.decode.null import ENCAP_NULL, decode_loop, decode_null
from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, Decoded
from wiresift.decode.pppoe import (
    ETHERTYPE_PPP,
    ETHERTYPE_PPPOE_DISCOVERY,
    ETHERTYPE_PPPOE_SESSION,
    decode_ppp,
    decode_pppoe_discovery,
    decode_pppoe_session,
)
from wiresift.decode.raw import ENCAP_RAW, decode_raw
from wiresift.decode.sll import ARPHRD_NETLINK, ENCAP_SLL, ENCAP_SLL2, decode_sll, decode_sll2
from wiresift.decode.transport import (
    decode_ip_other,
    decode_no_next_header,
    decode_tcp,
    decode_udp,
    finish_udp,
)
from wiresift.decode.udptunnels import (
    UDP_PORT_AYIYA,
    UDP_PORT_GENEVE,
    UDP_PORT_GRE,
    UDP_PORT_GTPU,
    UDP_PORT_TEREDO,
    UDP_PORT_VXLAN,
    decode_ayiya,
    decode_geneve,
    decode_gtpu,
    decode_teredo,
    decode_vxlan,
)
from wiresift.decode.vlan import decode_vlan
from wiresift.decode.walk import (
    STOP,
    DecodeLimits,
    Decoder,
    EncapNode,
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
        (Layer.IPPROTO, IPPROTO_GRE): decode_gre,
        (Layer.UDP_PORT, UDP_PORT_VXLAN): decode_vxlan,
        (Layer.UDP_PORT, UDP_PORT_GENEVE): decode_geneve,
        (Layer.UDP_PORT, UDP_PORT_TEREDO): decode_teredo,
        (Layer.UDP_PORT, UDP_PORT_GTPU): decode_gtpu,
        (Layer.UDP_PORT, UDP_PORT_GRE): decode_gre_udp,
        (Layer.UDP_PORT, UDP_PORT_AYIYA): decode_ayiya,
        (Layer.LINKTYPE, LINKTYPE_NFLOG): decode_nflog,
        (Layer.LINKTYPE, LINKTYPE_IEEE802_11): decode_ieee80211,
        (Layer.LINKTYPE, LINKTYPE_IEEE802_11_RADIOTAP): decode_radiotap,
        (Layer.ETHERTYPE, ETHERTYPE_MPLS): decode_mpls,
        (Layer.ETHERTYPE, ETHERTYPE_MPLS_MULTICAST): decode_mpls,
        (Layer.ETHERTYPE, ETHERTYPE_PPPOE_SESSION): decode_pppoe_session,
        (Layer.ETHERTYPE, ETHERTYPE_PPPOE_DISCOVERY): decode_pppoe_discovery,
        (Layer.ETHERTYPE, ETHERTYPE_PPP): decode_ppp,
    }
)

# What a key with no DISPATCH entry means, per namespace.
FALLBACK: Final[Mapping[Layer, Decoder]] = MappingProxyType(
    {
        Layer.LINKTYPE: decode_unknown_linktype,
        Layer.ETHERTYPE: decode_non_ip,
        Layer.IPPROTO: decode_ip_other,
        Layer.UDP_PORT: finish_udp,
    }
)

# Encapsulation items that start a walk, mapped to their constant tuples so the common
# packets all share one tuple object.
_LINK_ENCAPS: Final = (ENCAP_ETH, ENCAP_SLL, ENCAP_SLL2, ENCAP_RAW, ENCAP_NULL)

# The table entries the fast path stands for; it is used only while they are unchanged.
_FAST_COVERS: Final = (
    (Layer.LINKTYPE, LINKTYPE_ETHERNET),
    (Layer.LINKTYPE, LINKTYPE_LINUX_SLL),
    (Layer.LINKTYPE, LINKTYPE_LINUX_SLL2),
    (Layer.LINKTYPE, LINKTYPE_RAW),
    (Layer.ETHERTYPE, ETHERTYPE_VLAN),
    (Layer.ETHERTYPE, ETHERTYPE_IPV4),
    (Layer.ETHERTYPE, ETHERTYPE_IPV6),
    (Layer.IPPROTO, IPPROTO_TCP),
    (Layer.IPPROTO, IPPROTO_UDP),
)

# One read at the start of the IP header gets, for IPv4: version/IHL, total length,
# flags/fragment offset, protocol, addresses; for IPv6: version/class, payload length, next
# header, addresses. Both then get the TCP ports, sequence, ack, data offset and flags (for
# UDP, "sequence" holds the length and the checksum).
_IPV4_L4: Final = struct.Struct("!BxH2xHxB2x4s4sHHIIBB")
_GRE_FIXED: Final = struct.Struct("!HH")  # flags and version, protocol type (RFC 2784 s2)
# A GRE tunnel as the fast path knows it: outer encapsulation, outer source and
# destination, key (-1 when none) and protocol type.
_GreKey = tuple[tuple[str, ...], bytes, bytes, int, int]
_IPV6_L4: Final = struct.Struct("!BxxxHBx16s16sHHIIBB")
_VLAN_TAG: Final = struct.Struct("!HH")
_SLL_FIELDS: Final = struct.Struct("!2xH10xH")  # ARPHRD type, protocol
_SLL2_FIELDS: Final = struct.Struct("!H6xH")  # protocol, ARPHRD type
_ETHERNET_LEN: Final = 14
_VLAN_TAGGED_LEN: Final = 18
_SLL_LEN: Final = 16
_SLL2_LEN: Final = 20
_FAST_ETHERNET_MIN_LEN: Final = 54  # Ethernet 14 + IPv4 20 + TCP 20
_FAST_IPV4_NEEDS: Final = 40  # IPv4 20 + TCP 20 (a UDP header fits in what TCP needs)
_FAST_IPV6_NEEDS: Final = 60  # IPv6 40 + TCP 20
_IPV4_HEADER_LEN: Final = 20
_IPV6_HEADER_LEN: Final = 40
_TCP_HEADER_LEN: Final = 20
_UDP_HEADER_LEN: Final = 8
_IPV4_NO_OPTIONS: Final = 0x45
_IPV4_FRAGMENT_MASK: Final = 0x3FFF  # MF and fragment offset
_VLAN_ID_MASK: Final = 0x0FFF
_FAST_MAX_STEPS: Final = 4  # Ethernet, VLAN, IP, transport
_tuple_new: Final = tuple.__new__


def _maybe_teredo(data: bytes, start: int, end: int) -> bool:
    """Cheap first test for Teredo on any port: the payload is an origin indication, or an
    IPv6 header whose payload length fills the datagram (the walk checks the rest)."""
    if end - start < 40:
        return False
    first = data[start]
    if first == 0:
        return True
    return first >> 4 == 6 and ((data[start + 4] << 8) | data[start + 5]) + 40 == end - start


class PacketDecoder:
    """Decodes packets of any supported link type; one instance per packet source.

    ``anomalies`` counts anomalies by name; ``counters`` counts what was seen ("ipv4",
    "ipv6", "tcp", "udp", "icmp", "icmpv6", "ip_other", "non_ip", "fragment", "esp",
    "no_next_header", "unknown_linktype:<n>", and for 802.11 frames without readable IP
    "wlan_encrypted", "wlan_fragment", "wlan_amsdu").
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
        # IP fragments are reassembled by packet time (ipfrag.py).
        self.reassembler = FragmentReassembler(self.limits)
        self._walk.defrag = self.reassembler
        for encap in _LINK_ENCAPS:
            self._walk.seed(encap[0], encap)
        # VLAN-tagged Ethernet encaps by VLAN id, shared with the walk (it fills them in).
        self._eth_children: dict[object, EncapNode] = self._walk.root.children["eth"].children
        self._tables: list[dict[int, Decoder]] = [{} for _ in Layer]
        for (layer, key), decoder in dispatch.items():
            self._tables[layer][key] = decoder
        self._fallbacks: list[Decoder] = [fallback[layer] for layer in Layer]
        # UDP ports with a tunnel decoder: both paths hand their datagrams to the table.
        self._walk.udp_ports = self._udp_tunnel_ports = frozenset(self._tables[Layer.UDP_PORT])
        self._steps = range(self.limits.max_layers)
        self.anomalies: Counter[str] = self._walk.anomalies
        # The fast path stands for a walk of at most 4 steps through one VLAN tag.
        self._fast = (
            all(dispatch.get(key) is DISPATCH[key] for key in _FAST_COVERS)
            and self.limits.max_layers >= _FAST_MAX_STEPS
            and self.limits.max_vlan_tags >= 1
        )
        # Packets decoded by the fast path, by (IP version, transport); see counters.
        self._fast_ipv4_tcp = 0
        self._fast_gre_packets = 0
        # (outer encapsulation, outer src, outer dst, GRE key or -1, protocol) -> the chain
        # the walk gave that tunnel; bounded like the interned encapsulations.
        self._gre_encaps: dict[_GreKey, tuple[str, ...]] = {}
        self._gre_miss: _GreKey | None = None  # the tunnel _fast_gre last failed to find
        self._fast_ipv4_udp = 0
        self._fast_ipv6_tcp = 0
        self._fast_ipv6_udp = 0

    @property
    def counters(self) -> Counter[str]:
        """Counts of what was seen, by name (a snapshot taken when read)."""
        counters = Counter({name: n for name, n in self._walk.counts.items() if n})
        # A packet through the GRE fast path counts its outer IPv4 header too.
        counters["ipv4"] += self._fast_ipv4_tcp + self._fast_ipv4_udp + self._fast_gre_packets
        counters["ipv6"] += self._fast_ipv6_tcp + self._fast_ipv6_udp
        counters["tcp"] += self._fast_ipv4_tcp + self._fast_ipv6_tcp
        counters["udp"] += self._fast_ipv4_udp + self._fast_ipv6_udp
        return +counters

    def expire_fragments(self, ts: int | None = None) -> None:
        """Drop fragmented datagrams still incomplete at packet time ``ts`` past their
        timeout (all of them when None, at the end of the input): ipfrag_timeout each."""
        self.reassembler.expire(self._walk, ts)

    def take_new_anomalies(self) -> list[tuple[str, str]]:
        """(name, detail) of the anomalies since the last call, at most
        ``limits.max_new_anomalies`` of them."""
        walk = self._walk
        if not walk.new_anomalies:
            return []
        new = walk.new_anomalies
        walk.new_anomalies = []
        return new

    def decode(self, linktype: int, data: bytes, ts: int = 0) -> Decoded | None:
        """Decode one captured packet; None when it carries nothing for the flow table.

        ``ts`` is the packet time in ns (fragment timeouts); the packet that completes a
        fragmented datagram returns the reassembled datagram's Decoded.
        """
        size = len(data)
        # Link layer of the fast path: where IP starts, its EtherType, the encapsulation.
        if linktype == LINKTYPE_ETHERNET and size >= _FAST_ETHERNET_MIN_LEN and self._fast:
            ethertype = data[12] << 8 | data[13]
            ip_at = _ETHERNET_LEN
            encap: tuple[str, ...] = ENCAP_ETH
            if ethertype == ETHERTYPE_VLAN:
                tci, ethertype = _VLAN_TAG.unpack_from(data, _ETHERNET_LEN)
                ip_at = _VLAN_TAGGED_LEN
                if tci & _VLAN_ID_MASK:
                    node = self._eth_children.get(tci & _VLAN_ID_MASK)
                    if node is None:  # first packet of this VLAN: the walk interns it
                        return self._decode_walk(linktype, data, ts)
                    encap = node.encap
        elif linktype == LINKTYPE_LINUX_SLL and size >= _SLL_LEN and self._fast:
            hatype, ethertype = _SLL_FIELDS.unpack_from(data)
            if hatype == ARPHRD_NETLINK:
                return self._decode_walk(linktype, data, ts)
            ip_at = _SLL_LEN
            encap = ENCAP_SLL
        elif linktype == LINKTYPE_LINUX_SLL2 and size >= _SLL2_LEN and self._fast:
            ethertype, hatype = _SLL2_FIELDS.unpack_from(data)
            if hatype == ARPHRD_NETLINK:
                return self._decode_walk(linktype, data, ts)
            ip_at = _SLL2_LEN
            encap = ENCAP_SLL2
        elif linktype == LINKTYPE_RAW and size and self._fast:
            version = data[0] >> 4
            ethertype = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6 if version == 6 else 0
            ip_at = 0
            encap = ENCAP_RAW
        else:
            return self._decode_walk(linktype, data, ts)

        tunnelled = False
        gre_miss: _GreKey | None = None
        while True:
            if ethertype == ETHERTYPE_IPV4:
                if size >= ip_at + _FAST_IPV4_NEEDS:
                    (
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
                    ) = _IPV4_L4.unpack_from(data, ip_at)
                    if version_ihl == _IPV4_NO_OPTIONS and not flags_offset & _IPV4_FRAGMENT_MASK:
                        l4_at = ip_at + _IPV4_HEADER_LEN
                        end = ip_at + total_length
                        if proto == IPPROTO_TCP:
                            payload_at = l4_at + (data_offset >> 4) * 4
                            if l4_at + _TCP_HEADER_LEN <= payload_at <= end <= size:
                                self._fast_ipv4_tcp += 1
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
                                        encap,
                                        False,
                                    ),
                                )
                        elif proto == IPPROTO_UDP:
                            udp_end = l4_at + (seq >> 16)
                            if (
                                l4_at + _UDP_HEADER_LEN <= udp_end <= end <= size
                                and sport not in self._udp_tunnel_ports
                                and dport not in self._udp_tunnel_ports
                                and not _maybe_teredo(data, l4_at + _UDP_HEADER_LEN, udp_end)
                            ):
                                self._fast_ipv4_udp += 1
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
                                        data[l4_at + _UDP_HEADER_LEN : udp_end],
                                        encap,
                                        False,
                                    ),
                                )
                        elif proto == IPPROTO_GRE and not tunnelled and end <= size:
                            # GRE around Ethernet or IP, the commonest tunnel: read on into
                            # the inner packet here instead of walking seven table entries.
                            inner = self._fast_gre(data, l4_at, end, encap, src, dst)
                            if inner is not None:
                                ethertype, ip_at, encap = inner
                                size = end
                                tunnelled = True
                                continue
                            gre_miss = self._gre_miss
            elif ethertype == ETHERTYPE_IPV6 and size >= ip_at + _FAST_IPV6_NEEDS:
                (
                    version_class,
                    payload_length,
                    proto,
                    src,
                    dst,
                    sport,
                    dport,
                    seq,
                    ack,
                    data_offset,
                    flags,
                ) = _IPV6_L4.unpack_from(data, ip_at)
                if version_class >> 4 == 6:
                    l4_at = ip_at + _IPV6_HEADER_LEN
                    end = l4_at + payload_length
                    if proto == IPPROTO_TCP:
                        payload_at = l4_at + (data_offset >> 4) * 4
                        if l4_at + _TCP_HEADER_LEN <= payload_at <= end <= size:
                            self._fast_ipv6_tcp += 1
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
                                    encap,
                                    False,
                                ),
                            )
                    elif proto == IPPROTO_UDP:
                        udp_end = l4_at + (seq >> 16)
                        if (
                            l4_at + _UDP_HEADER_LEN <= udp_end <= end <= size
                            and sport not in self._udp_tunnel_ports
                            and dport not in self._udp_tunnel_ports
                            and not _maybe_teredo(data, l4_at + _UDP_HEADER_LEN, udp_end)
                        ):
                            self._fast_ipv6_udp += 1
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
                                    data[l4_at + _UDP_HEADER_LEN : udp_end],
                                    encap,
                                    False,
                                ),
                            )
            break
        if tunnelled:
            return self._decode_walk(linktype, data, ts)
        result = self._decode_walk(linktype, data, ts)
        if gre_miss is not None and result is not None:
            self._learn_gre(gre_miss, result)
        return result

    def _fast_gre(
        self,
        data: bytes,
        gre_at: int,
        end: int,
        outer: tuple[str, ...],
        src: bytes,
        dst: bytes,
    ) -> tuple[int, int, tuple[str, ...]] | None:
        """A plain GRE header (version 0, at most a key; RFC 2784, RFC 2890) carrying
        Ethernet (0x6558) with IP inside, or IP itself: the inner EtherType, where the inner
        IP header starts, and the encapsulation the walk gave the same tunnel before. None
        sends the packet to the walk: anything unusual, or a tunnel not seen yet (then
        ``_gre_miss`` names it, so that the walk's result can be learnt)."""
        self._gre_miss = None
        if gre_at + GRE_HEADER_LEN > end:
            return None
        flags, protocol = _GRE_FIXED.unpack_from(data, gre_at)
        position = gre_at + GRE_HEADER_LEN
        key = -1
        if flags:
            if flags != GRE_KEY or position + 4 > end:
                return None
            key = int.from_bytes(data[position : position + 4], "big")
            position += 4
        if protocol == ETHERTYPE_TEB:
            if position + _ETHERNET_LEN > end:
                return None
            inner_type = data[position + 12] << 8 | data[position + 13]
            ip_at = position + _ETHERNET_LEN
        elif protocol in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            inner_type = protocol
            ip_at = position
        else:
            return None
        if inner_type != ETHERTYPE_IPV4 and inner_type != ETHERTYPE_IPV6:  # noqa: PLR1714
            return None
        tunnel = (outer, src, dst, key, protocol)
        encap = self._gre_encaps.get(tunnel)
        if encap is None:
            self._gre_miss = tunnel
            return None
        self._fast_gre_packets += 1
        return inner_type, ip_at, encap

    def _learn_gre(self, tunnel: _GreKey, result: Decoded) -> None:
        """Remember the encapsulation the walk gave a GRE tunnel, for the fast path."""
        if len(self._gre_encaps) >= self.limits.max_interned_encaps:
            return
        outer, _src, _dst, key, protocol = tunnel
        # The walk's chain for this shape: outer items, "gre:<low>-<high>", the key item if
        # any, and "eth" for bridged Ethernet; anything longer (inner VLANs, tunnels) is
        # left to the walk.
        length = len(outer) + 1 + (key >= 0) + (protocol == ETHERTYPE_TEB)
        encap = result.encap
        if len(encap) == length and encap[: len(outer)] == outer:
            self._gre_encaps[tunnel] = encap

    def _decode_walk(self, linktype: int, data: bytes, ts: int = 0) -> Decoded | None:
        """Follow the dispatch table from the link layer to the end of the walk."""
        walk = self._walk
        walk.ts = ts
        # Start the walk at the link layer (every packet the fast path leaves comes here).
        walk.data = data
        walk.ns = Layer.LINKTYPE
        walk.key = linktype
        walk.node = walk.root
        walk.truncated = False
        walk.result = None
        walk.vlan_tags = 0
        walk.tunnels = 0
        tables = self._tables
        fallbacks = self._fallbacks
        offset = 0
        for _ in self._steps:
            namespace = walk.ns
            decoder = tables[namespace].get(walk.key) or fallbacks[namespace]
            offset = decoder(walk, walk.data, offset)
            if offset == STOP:
                return walk.result
        walk.anomaly("decode_too_many_layers", f"more than {self.limits.max_layers}")
        return None
