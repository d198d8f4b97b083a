"""PPPoE (RFC 2516) and PPP (RFC 1661) carrying IPv4 (RFC 1332) or IPv6 (RFC 5072).

Theory of operation: a PPPoE session frame (EtherType 0x8864) has a 6-byte header (RFC 2516
s4: version 1 and type 1 in one byte, code 0, session id, payload length) and then a PPP
frame. Discovery frames (EtherType 0x8863, RFC 2516 s5) set up the session and carry no IP:
they are counted as non-IP. The session id is the same both ways, so it names the
encapsulation: ``pppoe:<session id>``, then ``ppp``.

PPP also has an EtherType of its own, 0x880B (IANA; GRE carries PPTP's PPP with it,
RFC 2637 s4.1), which leads straight to the PPP decoder. HDLC-like framing may leave the
address and control bytes 0xFF 0x03 in front (RFC 1662 s3.1), and Protocol-Field-Compression
(RFC 1661 s6.5) may shorten the protocol to one byte: PPP protocol numbers have an odd low
byte and an even high byte (RFC 1661 s2), so an odd first byte is a one-byte protocol. Both
are accepted wherever PPP is decoded (RFC 2516 s7 forbids address/control compression and
discourages protocol compression over PPPoE, but accepting them costs nothing).

Lengths: a PPPoE length past the captured bytes is read as a capture cut short (snaplen),
as IPv4 reads its total length: the walk goes on and the IP layer marks the packet
truncated. A PPPoE length too short to hold the PPP protocol field is an anomaly.

Anomaly names: pppoe_truncated, pppoe_bad_version, pppoe_bad_code, pppoe_bad_length,
ppp_truncated.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.mpls import ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST
from wiresift.decode.walk import Layer, Walk

ETHERTYPE_PPPOE_DISCOVERY: Final = 0x8863  # RFC 2516 s5
ETHERTYPE_PPPOE_SESSION: Final = 0x8864  # RFC 2516 s6
ETHERTYPE_PPP: Final = 0x880B  # IANA EtherType for PPP (RFC 2637 s4.1)

PPPOE_HEADER_LEN: Final = 6
PPPOE_VERSION_TYPE: Final = 0x11  # version 1, type 1 (RFC 2516 s4)
PPPOE_CODE_SESSION: Final = 0x00  # session data (RFC 2516 s6)
PPP_PROTOCOL_LEN: Final = 2

PPP_IPV4: Final = 0x0021  # RFC 1332 s2
PPP_IPV6: Final = 0x0057  # RFC 5072 s3
PPP_MPLS: Final = 0x0281  # RFC 3032 s4.3
PPP_MPLS_MULTICAST: Final = 0x0283  # RFC 3032 s4.3

# The EtherType that continues the walk, per PPP protocol carried as data.
_PPP_TO_ETHERTYPE: Final = {
    PPP_IPV4: ETHERTYPE_IPV4,
    PPP_IPV6: ETHERTYPE_IPV6,
    PPP_MPLS: ETHERTYPE_MPLS,
    PPP_MPLS_MULTICAST: ETHERTYPE_MPLS_MULTICAST,
}

_PPPOE: Final = struct.Struct("!BBHH")  # version/type, code, session id, length
_PROTOCOL: Final = struct.Struct("!H")
_HDLC_ADDRESS_CONTROL: Final = b"\xff\x03"  # all-stations address, UI (RFC 1662 s3.1)


def decode_pppoe_session(walk: Walk, data: bytes, offset: int) -> int:
    """PPPoE session header -> the PPP frame it carries."""
    captured = len(data)
    if captured < offset + PPPOE_HEADER_LEN:
        return walk.anomaly("pppoe_truncated", f"{captured - offset} bytes of header")
    version_type, code, session_id, length = _PPPOE.unpack_from(data, offset)
    if version_type != PPPOE_VERSION_TYPE:
        return walk.anomaly("pppoe_bad_version", f"version/type 0x{version_type:02x}")
    if code != PPPOE_CODE_SESSION:
        return walk.anomaly("pppoe_bad_code", f"code 0x{code:02x} in a session frame")
    if length < PPP_PROTOCOL_LEN:
        return walk.anomaly("pppoe_bad_length", f"length {length}")
    walk.push(f"pppoe:{session_id}")
    return decode_ppp(walk, data, offset + PPPOE_HEADER_LEN)


def decode_pppoe_discovery(walk: Walk, data: bytes, offset: int) -> int:
    """PPPoE discovery (PADI, PADO, PADR, PADS, PADT): no IP in it, counted as non-IP."""
    del data, offset
    return walk.count("non_ip")


def decode_ppp(walk: Walk, data: bytes, offset: int) -> int:
    """PPP frame (optional 0xFF 0x03, 1- or 2-byte protocol) -> IPv4, IPv6 or MPLS."""
    captured = len(data)
    if data[offset : offset + 2] == _HDLC_ADDRESS_CONTROL:
        offset += 2
    if captured <= offset:
        return walk.anomaly("ppp_truncated", "no protocol field")
    if captured == offset + 1 and data[offset] == _HDLC_ADDRESS_CONTROL[0]:
        return walk.anomaly("ppp_truncated", "1 byte of address and control")
    if data[offset] & 1:  # compressed: one odd byte (RFC 1661 s6.5)
        protocol = data[offset]
        offset += 1
    elif captured < offset + PPP_PROTOCOL_LEN:
        return walk.anomaly("ppp_truncated", "1 byte of protocol field")
    else:
        (protocol,) = _PROTOCOL.unpack_from(data, offset)
        offset += PPP_PROTOCOL_LEN
    ethertype = _PPP_TO_ETHERTYPE.get(protocol)
    if ethertype is None:  # LCP, IPCP, authentication, compressed data...
        return walk.count("non_ip")
    walk.push("ppp")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset
