"""Tunnels in UDP: VXLAN (RFC 7348), Geneve (RFC 8926), Teredo (RFC 4380), GTP-U (3GPP TS
29.281), AYIYA (draft-massar-v6ops-ayiya-02); GRE in UDP (RFC 8086) is in gre.py.

Theory of operation: the UDP decoder offers a datagram to or from a tunnel port to the
(UDP_PORT, port) table entry. The port only picks the candidate: each decoder here checks
its header, and a datagram whose header does not validate stays plain UDP to that port
(``finish_udp``) with a ``<tunnel>_bad_header`` or ``<tunnel>_truncated`` anomaly. GTP-U
messages other than G-PDU (echo, error indication, end marker) are plain UDP without one.

- VXLAN (RFC 7348 s5, port 4789): 8 bytes, flag I (0x08) set, 24-bit VNI; then Ethernet.
- Geneve (RFC 8926 s3.4, port 6081): version 0, options of 4 x option length bytes, the
  protocol type an EtherType (0x6558: Ethernet), 24-bit VNI.
- Teredo (RFC 4380 s5.1.1, port 3544): an optional authentication header (indicator 0x0001,
  client id and authentication value lengths, nonce, confirmation), an optional origin
  indication (0x0000, 8 bytes), then exactly one IPv6 packet filling the datagram.
- GTP-U (TS 29.281 s5.1, port 2152): version 1, PT 1, message type 255 (G-PDU), length of
  what follows the first 8 bytes; with E, S or PN set 4 more bytes (sequence number, N-PDU
  number, next extension header type), then the extension header chain (s5.2: each a length
  in 4-byte units, contents, next type) capped by ``MAX_GTPU_EXT_HEADERS``; then IPv4 or
  IPv6 told apart by the version nibble.
- AYIYA (draft-massar-v6ops-ayiya-02 s5, port 5072): identity length 2^IDLen, signature
  length 4 x SigLen, opcode 1 (forward), next header 4 or 41.

Encapsulation items (the same both ways; the outer UDP ports are left out since senders
pick the source port per inner flow): ``<tunnel>:<lower address>-<higher address>`` for the
outer IP endpoints, then ``vxlan:vni=<n>`` / ``geneve:vni=<n>``. GTP-U TEIDs differ per
direction, so GTP-U adds no TEID item.

Anomalies: vxlan_truncated, vxlan_bad_header, geneve_truncated, geneve_bad_header,
teredo_truncated, teredo_bad_header, gtpu_truncated, gtpu_bad_header, gtpu_bad_length,
gtpu_ext_header_truncated, gtpu_too_many_ext_headers, gtpu_bad_inner_version,
ayiya_truncated, ayiya_bad_header, tunnel_too_deep.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.gre import ETHERTYPE_TEB, enter_tunnel, to_ethernet, to_ip_by_version
from wiresift.decode.ipip import IPPROTO_IPIP, IPPROTO_IPV6
from wiresift.decode.transport import UDP_HEADER_LEN, finish_udp
from wiresift.decode.walk import STOP, Layer, Walk

UDP_PORT_VXLAN: Final = 4789  # RFC 7348 s5
UDP_PORT_GENEVE: Final = 6081  # RFC 8926 s3.3
UDP_PORT_TEREDO: Final = 3544  # RFC 4380 s4
UDP_PORT_GTPU: Final = 2152  # 3GPP TS 29.281 s4.4.2
UDP_PORT_GRE: Final = 4754  # RFC 8086 s3
UDP_PORT_AYIYA: Final = 5072  # draft-massar-v6ops-ayiya-02 s6

VXLAN_HEADER_LEN: Final = 8
GENEVE_HEADER_LEN: Final = 8
GTPU_HEADER_LEN: Final = 8
GTPU_OPTIONAL_LEN: Final = 4  # sequence number, N-PDU number, next extension header type
AYIYA_HEADER_LEN: Final = 8
TEREDO_ORIGIN_LEN: Final = 8
TEREDO_AUTH_FIXED_LEN: Final = 13  # indicator, 2 lengths, nonce (8), confirmation (1)
IPV6_HEADER_LEN: Final = 40

VXLAN_FLAG_I: Final = 0x08
GTPU_VERSION_1_PT: Final = 0x30  # version 1 and protocol type 1 in the top nibble
GTPU_FLAGS_OPTIONAL: Final = 0x07  # E, S, PN
GTPU_G_PDU: Final = 255
AYIYA_OPCODE_FORWARD: Final = 1

# GTP-U extension headers followed per packet. TS 29.281 s5.2 sets no bound; real chains
# hold one or two (PDU session container, UDP port, PDCP PDU number).
MAX_GTPU_EXT_HEADERS: Final = 8

_VXLAN: Final = struct.Struct("!B3xI")  # flags, VNI and reserved byte
_GENEVE: Final = struct.Struct("!BxHI")  # version and option length, protocol, VNI+reserved
_GTPU: Final = struct.Struct("!BBHI")  # flags, message type, length, TEID
_TEREDO_INDICATOR: Final = struct.Struct("!H")
_UDP_LENGTH: Final = struct.Struct("!H")
_IPV6_PAYLOAD_LENGTH: Final = struct.Struct("!4xH")
_TEREDO_AUTH: Final = 0x0001
_TEREDO_ORIGIN: Final = 0x0000
_IPV6_VERSION: Final = 6


def decode_vxlan(walk: Walk, data: bytes, offset: int) -> int:
    """VXLAN header (RFC 7348 s5) -> the inner Ethernet frame."""
    if walk.ip_end - offset < VXLAN_HEADER_LEN:
        walk.anomaly("vxlan_truncated", f"{walk.ip_end - offset} bytes of header")
        return finish_udp(walk, data, offset)
    flags, vni = _VXLAN.unpack_from(data, offset)
    if not flags & VXLAN_FLAG_I:
        walk.anomaly("vxlan_bad_header", f"flags 0x{flags:02x}")
        return finish_udp(walk, data, offset)
    if not enter_tunnel(walk, "vxlan", walk.ip_end):
        return STOP
    walk.push_id("vxlan:vni", vni >> 8)
    return to_ethernet(walk, offset + VXLAN_HEADER_LEN)


def decode_geneve(walk: Walk, data: bytes, offset: int) -> int:
    """Geneve header and options (RFC 8926 s3.4) -> Ethernet or the EtherType it names."""
    available = walk.ip_end - offset
    if available < GENEVE_HEADER_LEN:
        walk.anomaly("geneve_truncated", f"{available} bytes of header")
        return finish_udp(walk, data, offset)
    version_options, protocol, vni = _GENEVE.unpack_from(data, offset)
    if version_options >> 6:
        walk.anomaly("geneve_bad_header", f"version {version_options >> 6}")
        return finish_udp(walk, data, offset)
    header_len: int = GENEVE_HEADER_LEN + (version_options & 0x3F) * 4
    if available < header_len:
        walk.anomaly("geneve_truncated", f"{available} of {header_len} header bytes")
        return finish_udp(walk, data, offset)
    if not enter_tunnel(walk, "geneve", walk.ip_end):
        return STOP
    walk.push_id("geneve:vni", vni >> 8)
    if protocol == ETHERTYPE_TEB:
        return to_ethernet(walk, offset + header_len)
    walk.ns = Layer.ETHERTYPE
    walk.key = protocol
    return offset + header_len


def decode_teredo(walk: Walk, data: bytes, offset: int) -> int:
    """Teredo (RFC 4380 s5.1.1): optional authentication and origin indication -> IPv6."""
    end = walk.ip_end
    (udp_length,) = _UDP_LENGTH.unpack_from(data, offset - UDP_HEADER_LEN + 4)
    wire_end = offset - UDP_HEADER_LEN + udp_length
    position = offset
    if end - position >= 4 and data[position] == 0 and data[position + 1] == _TEREDO_AUTH:
        position += TEREDO_AUTH_FIXED_LEN + data[position + 2] + data[position + 3]
    if end - position >= 2 and data[position] == 0 and data[position + 1] == _TEREDO_ORIGIN:
        position += TEREDO_ORIGIN_LEN
    if end - position < IPV6_HEADER_LEN:
        walk.anomaly("teredo_truncated", f"{max(end - position, 0)} bytes of IPv6 header")
        return finish_udp(walk, data, offset)
    (payload_length,) = _IPV6_PAYLOAD_LENGTH.unpack_from(data, position)
    if data[position] >> 4 != _IPV6_VERSION or (
        position + IPV6_HEADER_LEN + payload_length != wire_end
    ):
        walk.anomaly("teredo_bad_header", "no IPv6 packet filling the datagram")
        return finish_udp(walk, data, offset)
    if not enter_tunnel(walk, "teredo", end):
        return STOP
    walk.ns = Layer.ETHERTYPE
    walk.key = ETHERTYPE_IPV6
    return position


def decode_gtpu(walk: Walk, data: bytes, offset: int) -> int:
    """GTP-U header and extension headers (3GPP TS 29.281 s5) -> IPv4 or IPv6."""
    end = walk.ip_end
    if end - offset < GTPU_HEADER_LEN:
        walk.anomaly("gtpu_truncated", f"{end - offset} bytes of header")
        return finish_udp(walk, data, offset)
    flags, message_type, length, _ = _GTPU.unpack_from(data, offset)
    if flags & 0xF0 != GTPU_VERSION_1_PT:
        walk.anomaly("gtpu_bad_header", f"flags 0x{flags:02x}")
        return finish_udp(walk, data, offset)
    if message_type != GTPU_G_PDU:  # signalling: echo, error indication, end marker
        return finish_udp(walk, data, offset)
    (udp_length,) = _UDP_LENGTH.unpack_from(data, offset - UDP_HEADER_LEN + 4)
    message_end = offset + GTPU_HEADER_LEN + length
    if message_end > offset - UDP_HEADER_LEN + udp_length:
        walk.anomaly("gtpu_bad_length", f"length {length}")
        return finish_udp(walk, data, offset)
    position = offset + GTPU_HEADER_LEN
    if flags & GTPU_FLAGS_OPTIONAL:
        position += GTPU_OPTIONAL_LEN
        if position > message_end or position > end:
            walk.anomaly("gtpu_truncated", "optional fields")
            return finish_udp(walk, data, offset)
        next_type = data[position - 1] if flags & 0x04 else 0  # only E says a chain follows
        extensions = 0
        while next_type:
            extensions += 1
            if extensions > MAX_GTPU_EXT_HEADERS:
                return walk.anomaly("gtpu_too_many_ext_headers", f"more than {extensions - 1}")
            if position >= end:
                return walk.anomaly("gtpu_ext_header_truncated", f"type {next_type}")
            size = data[position] * 4
            if not size or position + size > end:
                return walk.anomaly("gtpu_ext_header_truncated", f"type {next_type}")
            position += size
            next_type = data[position - 1]
    if not enter_tunnel(walk, "gtpu", min(message_end, end)):
        return STOP
    walk.ip_end = len(walk.data)
    return to_ip_by_version(walk, walk.data, position, "gtpu")


def decode_ayiya(walk: Walk, data: bytes, offset: int) -> int:
    """AYIYA forward message (draft-massar-v6ops-ayiya-02 s5) -> IPv6 or IPv4."""
    end = walk.ip_end
    if end - offset < AYIYA_HEADER_LEN:
        walk.anomaly("ayiya_truncated", f"{end - offset} bytes of header")
        return finish_udp(walk, data, offset)
    identity_len = 1 << (data[offset] >> 4)
    signature_len = (data[offset + 1] >> 4) * 4
    opcode = data[offset + 2] & 0x0F
    next_header = data[offset + 3]
    position = offset + AYIYA_HEADER_LEN + identity_len + signature_len
    expected_version = 6 if next_header == IPPROTO_IPV6 else 4 if next_header == IPPROTO_IPIP else 0
    if (
        opcode != AYIYA_OPCODE_FORWARD
        or not expected_version
        or position >= end
        or data[position] >> 4 != expected_version
    ):
        walk.anomaly("ayiya_bad_header", f"opcode {opcode}, next header {next_header}")
        return finish_udp(walk, data, offset)
    if not enter_tunnel(walk, "ayiya", end):
        return STOP
    walk.ns = Layer.ETHERTYPE
    walk.key = ETHERTYPE_IPV6 if expected_version == 6 else ETHERTYPE_IPV4
    return position
