"""MPLS label stacks (RFC 3032) and what they carry: IP, or an Ethernet pseudowire.

Theory of operation: each label stack entry is 4 bytes (RFC 3032 s2.1: label 20 bits,
traffic class 3, bottom-of-stack S 1, TTL 8); the walk reads entries until S is set, at most
``MPLS_MAX_LABELS`` of them. The stack does not say what follows it (RFC 3032 s2.2: the
label binding does), so the payload is guessed the way routers hash it for ECMP (RFC 4928
s2) and analyzers read it:

* bottom label 0 (IPv4 explicit null) or 2 (IPv6 explicit null) names IPv4 / IPv6
  (RFC 3032 s2.1);
* first nibble 4 with a header length of at least 5 words -> IPv4; first nibble 6 -> IPv6.
  An Ethernet pseudowire without control word whose destination MAC starts with 4 or 6
  would look the same; RFC 4928 s3 notes the IEEE assigns no OUI starting with those
  nibbles for this reason, so only locally administered MACs can collide;
* first nibble 0 -> the pseudowire control word (RFC 4385 s3: four bytes whose first nibble
  is 0000) and then Ethernet (RFC 4448 s4.4);
* first nibble 1 -> an associated channel header (RFC 4385 s3, RFC 5586): not user data;
* anything else -> Ethernet pseudowire without control word (RFC 4448 s4.4).

An Ethernet guess must look like Ethernet: a type/length field that is an EtherType
(0x0600 or more) or an 802.3 length (1500 or less); otherwise the payload is some other
pseudowire (ATM, frame relay...) and the packet is counted as non-IP. Fewer bytes than an
Ethernet header after the stack (and control word) is a truncated packet.

Labels differ per direction (each router assigns its own), so the encapsulation gets one
``mpls`` item whatever the labels are, and both directions of a flow agree.

Anomaly names: mpls_truncated, mpls_too_many_labels (and the shared tunnel_too_deep when a
pseudowire passes DecodeLimits.max_tunnel_depth).
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.capture.base import LINKTYPE_ETHERNET
from wiresift.decode.ethernet import (
    ETHERNET_HEADER_LEN,
    ETHERNET_MAX_LENGTH_FIELD,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
)
from wiresift.decode.walk import Layer, Walk

ETHERTYPE_MPLS: Final = 0x8847  # RFC 3032 s5 (unicast)
ETHERTYPE_MPLS_MULTICAST: Final = 0x8848  # RFC 5332 s4 (upstream-assigned/multicast)

MPLS_ENTRY_LEN: Final = 4
PW_CONTROL_WORD_LEN: Final = 4  # RFC 4385 s3
# Label stack entries read before giving up. RFC 3032 sets no maximum; the deepest stacks in
# use are segment-routing paths (RFC 8660), which routers bound at about ten labels, plus a
# service label and an entropy label pair (RFC 6790 s4). 16 leaves room for all of them.
MPLS_MAX_LABELS: Final = 16

MPLS_LABEL_IPV4_NULL: Final = 0  # RFC 3032 s2.1
MPLS_LABEL_IPV6_NULL: Final = 2  # RFC 3032 s2.1

_ENTRY: Final = struct.Struct("!I")
_TYPE_OR_LENGTH: Final = struct.Struct("!H")
_BOTTOM_OF_STACK: Final = 0x100
_LABEL_SHIFT: Final = 12
_MIN_IPV4_IHL: Final = 5
_MIN_ETHERTYPE: Final = 0x0600  # IEEE 802.3 s3.2.6


def decode_mpls(walk: Walk, data: bytes, offset: int) -> int:
    """A label stack -> IPv4, IPv6 or Ethernet (pseudowire) after its bottom entry."""
    captured = len(data)
    for _ in range(MPLS_MAX_LABELS):
        if captured < offset + MPLS_ENTRY_LEN:
            return walk.anomaly("mpls_truncated", f"{captured - offset} bytes of label entry")
        (entry,) = _ENTRY.unpack_from(data, offset)
        offset += MPLS_ENTRY_LEN
        if entry & _BOTTOM_OF_STACK:
            break
    else:
        return walk.anomaly("mpls_too_many_labels", f"more than {MPLS_MAX_LABELS}")
    walk.push("mpls")
    label = entry >> _LABEL_SHIFT
    if label == MPLS_LABEL_IPV4_NULL:
        return _to_ethertype(walk, ETHERTYPE_IPV4, offset)
    if label == MPLS_LABEL_IPV6_NULL:
        return _to_ethertype(walk, ETHERTYPE_IPV6, offset)
    if captured <= offset:
        return walk.anomaly("mpls_truncated", "no payload after the label stack")
    first = data[offset]
    nibble = first >> 4
    if nibble == 4 and first & 0x0F >= _MIN_IPV4_IHL:
        return _to_ethertype(walk, ETHERTYPE_IPV4, offset)
    if nibble == 6:
        return _to_ethertype(walk, ETHERTYPE_IPV6, offset)
    if nibble == 0:
        offset += PW_CONTROL_WORD_LEN
    elif nibble == 1:
        return walk.count("non_ip")
    if captured < offset + ETHERNET_HEADER_LEN:
        return walk.anomaly("mpls_truncated", f"{captured - offset} bytes of pseudowire")
    (type_or_length,) = _TYPE_OR_LENGTH.unpack_from(data, offset + 12)
    if ETHERNET_MAX_LENGTH_FIELD < type_or_length < _MIN_ETHERTYPE:
        return walk.count("non_ip")  # not Ethernet: some other pseudowire type
    # A pseudowire is a tunnel: it counts toward the same depth limit as IP in IP.
    walk.tunnels += 1
    if walk.tunnels > walk.limits.max_tunnel_depth:
        return walk.anomaly("tunnel_too_deep", f"more than {walk.limits.max_tunnel_depth}")
    walk.ns = Layer.LINKTYPE
    walk.key = LINKTYPE_ETHERNET
    return offset


def _to_ethertype(walk: Walk, ethertype: int, offset: int) -> int:
    """Continue the walk with the header the stack carries."""
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset
