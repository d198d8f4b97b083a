"""GRE (IP protocol 47): version 0 (RFC 2784, key and sequence RFC 2890, routing RFC 1701),
version 1 as PPTP's enhanced GRE (RFC 2637 s4.1), and ERSPAN types I, II and III
(draft-foschiano-erspan-03 s4) carried in it.

Theory of operation: the version 0 header is 4 bytes (flags, protocol type) and then, by
flag, checksum and offset (C or R, RFC 1701 s2.1), key (K, RFC 2890 s2.1) and sequence
number (S, RFC 2890 s2.2); with R (deprecated, RFC 1701 s2.1) source route entries follow,
each address family, offset, length, routing data, up to the null entry (family 0, length
0). The protocol type is an EtherType and is looked up in the ETHERTYPE table (IPv4, IPv6,
MPLS 0x8847, PPP 0x880B, ...), except transparent Ethernet bridging (0x6558), which goes to
the Ethernet decoder, and ERSPAN. ERSPAN type II (0x88BE, S set) has an 8-byte header,
type I (0x88BE, S clear) none; type III (0x22EB) has 12 bytes plus an 8-byte platform
subheader when O is set, and carries Ethernet (frame type 0) or IP (frame type 2).
Version 1 (RFC 2637 s4.1) must have K set, C and R clear and protocol PPP: its key field
holds the payload length and the call id, then come the optional sequence (S) and
acknowledgment (A) numbers; an acknowledgment with no payload is counted ("gre_ack").

The tunnel adds ``gre:<lower address>-<higher address>`` (the outer IP endpoints sorted,
as ipip.py does), then ``gre:key=<key>`` when a version 0 key is present (tunnels use one
key both ways; PPTP call ids differ per direction and are left out), then for ERSPAN
``erspan:session=<id>`` (type II/III) or ``erspan`` (type I). Each GRE header counts
toward ``DecodeLimits.max_tunnel_depth``; the inner packet is cut to the outer datagram.

Anomalies: gre_truncated, gre_bad_version, gre_bad_pptp_header, gre_routing_truncated,
gre_too_many_sres, gre_bad_payload_length, erspan_truncated, erspan_bad_version,
erspan_bad_frame_type, tunnel_too_deep; GRE over UDP (RFC 8086) adds gre_udp_bad_header.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.capture.base import LINKTYPE_ETHERNET
from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.transport import finish_udp
from wiresift.decode.walk import STOP, Layer, Walk

IPPROTO_GRE: Final = 47
ETHERTYPE_TEB: Final = 0x6558  # transparent Ethernet bridging (RFC 1701 s3)
ETHERTYPE_PPP: Final = 0x880B  # PPP, as PPTP carries it (RFC 2637 s4.1)
ETHERTYPE_MPLS: Final = 0x8847  # MPLS unicast (RFC 4023 s3, MPLS in GRE)
ETHERTYPE_ERSPAN_II: Final = 0x88BE  # ERSPAN type I and II (draft-foschiano-erspan s4.1)
ETHERTYPE_ERSPAN_III: Final = 0x22EB  # ERSPAN type III (draft-foschiano-erspan s4.2)

GRE_HEADER_LEN: Final = 4
GRE_CHECKSUM: Final = 0x8000  # C (RFC 2784 s2.1)
GRE_ROUTING: Final = 0x4000  # R (RFC 1701 s2.1, deprecated by RFC 2784)
GRE_KEY: Final = 0x2000  # K (RFC 2890 s2)
GRE_SEQUENCE: Final = 0x1000  # S (RFC 2890 s2)
GRE_STRICT_ROUTE: Final = 0x0800  # s (RFC 1701 s2.1)
GRE_RECURSION: Final = 0x0700  # recursion control (RFC 1701 s2.1)
GRE_ACK: Final = 0x0080  # A, version 1 only (RFC 2637 s4.1)
GRE_VERSION_MASK: Final = 0x0007

ERSPAN_II_HEADER_LEN: Final = 8
ERSPAN_III_HEADER_LEN: Final = 12
ERSPAN_III_PLATFORM_LEN: Final = 8  # optional platform-specific subheader (O bit)
ERSPAN_FRAME_ETHERNET: Final = 0
ERSPAN_FRAME_IP: Final = 2

# Source route entries skipped per packet. RFC 1701 sets no bound; a route of 16 hops is
# already far beyond what routers used when the option was alive.
MAX_GRE_SRES: Final = 16

_GRE: Final = struct.Struct("!HH")  # flags and version, protocol type
_WORD: Final = struct.Struct("!I")
_PPTP_KEY: Final = struct.Struct("!HH")  # payload length, call id
_SRE: Final = struct.Struct("!HxB")  # address family, (offset), length
_ERSPAN_II: Final = struct.Struct("!HH")  # version and VLAN, COS/En/T and session id
_ERSPAN_III_WORD2: Final = struct.Struct("!8xI")  # after version/session and timestamp
_SESSION_MASK: Final = 0x03FF
_SRE_LEN: Final = 4
_PPTP_REQUIRED_CLEAR: Final = GRE_CHECKSUM | GRE_ROUTING | GRE_STRICT_ROUTE | GRE_RECURSION
_ERSPAN_II_VERSION: Final = 1
_ERSPAN_III_VERSION: Final = 2


def enter_tunnel(walk: Walk, kind: str, end: int) -> bool:
    """Count one more tunnel (False, with tunnel_too_deep, past the depth limit), add
    ``<kind>:<low>-<high>`` for the outer IP endpoints, and cut the buffer at ``end``."""
    walk.tunnels += 1
    if walk.tunnels > walk.limits.max_tunnel_depth:
        walk.anomaly("tunnel_too_deep", f"more than {walk.limits.max_tunnel_depth}")
        return False
    walk.push_tunnel(kind, walk.src, walk.dst)
    if end < len(walk.data):
        walk.data = walk.data[:end]
    return True


def to_ethernet(walk: Walk, offset: int) -> int:
    """Walk on to an inner Ethernet frame at ``offset``; it has its own VLAN tag budget."""
    walk.vlan_tags = 0
    walk.ns = Layer.LINKTYPE
    walk.key = LINKTYPE_ETHERNET
    return offset


def to_ip_by_version(walk: Walk, data: bytes, offset: int, name: str) -> int:
    """Walk on to an IPv4 or IPv6 header at ``offset``, told apart by its version nibble."""
    if offset >= walk.ip_end:
        return walk.anomaly(f"{name}_truncated", "no inner packet")
    version = data[offset] >> 4
    walk.ns = Layer.ETHERTYPE
    if version == 4:
        walk.key = ETHERTYPE_IPV4
    elif version == 6:
        walk.key = ETHERTYPE_IPV6
    else:
        return walk.anomaly(f"{name}_bad_inner_version", f"version {version}")
    return offset


def decode_gre(walk: Walk, data: bytes, offset: int) -> int:
    """GRE header after IPv4/IPv6 (protocol 47) -> the protocol it carries."""
    if walk.ip_end - offset < GRE_HEADER_LEN:
        return walk.anomaly("gre_truncated", f"{max(walk.ip_end - offset, 0)} bytes of header")
    return _decode_gre_header(walk, data, offset)


def decode_gre_udp(walk: Walk, data: bytes, offset: int) -> int:
    """GRE in UDP (RFC 8086 s3, port 4754): a version 0 GRE header, else plain UDP."""
    if walk.ip_end - offset < GRE_HEADER_LEN or data[offset + 1] & GRE_VERSION_MASK:
        walk.anomaly("gre_udp_bad_header")
        return finish_udp(walk, data, offset)
    return _decode_gre_header(walk, data, offset)


def _decode_gre_header(walk: Walk, data: bytes, offset: int) -> int:
    """The GRE header at ``offset`` (at least 4 bytes are there) -> the protocol it carries."""
    end = walk.ip_end
    flags, protocol = _GRE.unpack_from(data, offset)
    version = flags & GRE_VERSION_MASK
    if version == 1:
        return _decode_pptp(walk, data, offset, flags, protocol)
    if version:
        return walk.anomaly("gre_bad_version", f"version {version}")
    position = offset + GRE_HEADER_LEN
    if flags & (GRE_CHECKSUM | GRE_ROUTING):
        position += 4
    key = -1
    if flags & GRE_KEY:
        if end - position >= 4:
            (key,) = _WORD.unpack_from(data, position)
        position += 4
    if flags & GRE_SEQUENCE:
        position += 4
    if position > end:
        return walk.anomaly("gre_truncated", f"{end - offset} of {position - offset} bytes")
    if flags & GRE_ROUTING:
        position = _skip_source_routes(walk, data, position, end)
        if position == STOP:
            return STOP
    if not enter_tunnel(walk, "gre", end):
        return STOP
    if key >= 0:
        walk.push_id("gre:key", key)
    if protocol == ETHERTYPE_TEB:
        return to_ethernet(walk, position)
    if protocol == ETHERTYPE_ERSPAN_II:
        if flags & GRE_SEQUENCE:
            return _decode_erspan_ii(walk, walk.data, position)
        walk.push("erspan")  # type I: the mirrored frame follows the GRE header
        return to_ethernet(walk, position)
    if protocol == ETHERTYPE_ERSPAN_III:
        return _decode_erspan_iii(walk, walk.data, position)
    walk.ns = Layer.ETHERTYPE
    walk.key = protocol
    return position


def _skip_source_routes(walk: Walk, data: bytes, position: int, end: int) -> int:
    """Skip RFC 1701 s2.1 source route entries up to the null entry; STOP when malformed."""
    for _ in range(MAX_GRE_SRES):
        if end - position < _SRE_LEN:
            return walk.anomaly("gre_routing_truncated")
        family, length = _SRE.unpack_from(data, position)
        position += _SRE_LEN + length
        if family == 0 and length == 0:
            return position
        if position > end:
            return walk.anomaly("gre_routing_truncated")
    return walk.anomaly("gre_too_many_sres", f"more than {MAX_GRE_SRES}")


def _decode_pptp(walk: Walk, data: bytes, offset: int, flags: int, protocol: int) -> int:
    """Enhanced GRE, version 1 (RFC 2637 s4.1) -> PPP."""
    end = walk.ip_end
    if flags & _PPTP_REQUIRED_CLEAR or not flags & GRE_KEY or protocol != ETHERTYPE_PPP:
        return walk.anomaly(
            "gre_bad_pptp_header", f"flags 0x{flags:04x}, protocol 0x{protocol:04x}"
        )
    position = offset + 8
    if flags & GRE_SEQUENCE:
        position += 4
    if flags & GRE_ACK:
        position += 4
    if position > end:
        return walk.anomaly("gre_truncated", f"{end - offset} of {position - offset} bytes")
    payload_length, _ = _PPTP_KEY.unpack_from(data, offset + 4)
    payload_end = position + payload_length
    if payload_end > walk.ip_wire_end:
        walk.anomaly("gre_bad_payload_length", f"{payload_length} > {walk.ip_wire_end - position}")
        payload_end = end
    if not enter_tunnel(walk, "gre", min(payload_end, end)):
        return STOP
    if not payload_length:
        return walk.count("gre_ack")
    walk.ns = Layer.ETHERTYPE
    walk.key = ETHERTYPE_PPP
    return position


def _decode_erspan_ii(walk: Walk, data: bytes, offset: int) -> int:
    """ERSPAN type II header (draft-foschiano-erspan s4.1) -> the mirrored Ethernet frame."""
    if len(data) - offset < ERSPAN_II_HEADER_LEN:
        return walk.anomaly("erspan_truncated", f"{len(data) - offset} bytes of header")
    version_vlan, session = _ERSPAN_II.unpack_from(data, offset)
    if version_vlan >> 12 != _ERSPAN_II_VERSION:
        return walk.anomaly("erspan_bad_version", f"version {version_vlan >> 12} in type II")
    walk.push_id("erspan:session", session & _SESSION_MASK)
    return to_ethernet(walk, offset + ERSPAN_II_HEADER_LEN)


def _decode_erspan_iii(walk: Walk, data: bytes, offset: int) -> int:
    """ERSPAN type III header (draft-foschiano-erspan s4.2) -> Ethernet or IP."""
    if len(data) - offset < ERSPAN_III_HEADER_LEN:
        return walk.anomaly("erspan_truncated", f"{len(data) - offset} bytes of header")
    version_vlan, session = _ERSPAN_II.unpack_from(data, offset)
    if version_vlan >> 12 != _ERSPAN_III_VERSION:
        return walk.anomaly("erspan_bad_version", f"version {version_vlan >> 12} in type III")
    (word2,) = _ERSPAN_III_WORD2.unpack_from(data, offset)
    position = offset + ERSPAN_III_HEADER_LEN
    if word2 & 1:  # O: the platform-specific subheader follows
        position += ERSPAN_III_PLATFORM_LEN
        if position > len(data):
            return walk.anomaly("erspan_truncated", "platform subheader")
    walk.push_id("erspan:session", session & _SESSION_MASK)
    frame_type = (word2 >> 10) & 0x1F
    if frame_type == ERSPAN_FRAME_ETHERNET:
        return to_ethernet(walk, position)
    if frame_type == ERSPAN_FRAME_IP:
        walk.ip_end = len(data)
        return to_ip_by_version(walk, data, position, "erspan")
    return walk.anomaly("erspan_bad_frame_type", f"frame type {frame_type}")
