"""Transport headers: TCP (RFC 9293 s3.1), UDP (RFC 768), and every other IP protocol.

TCP: the data offset must be at least 5 words and fit in the IP datagram; the payload runs
to the end of the datagram. UDP: the length field must be at least 8; the datagram is cut to
it when it is shorter than the IP payload, and a length longer than the IP payload is an
anomaly (the payload is then what IP carried). Any other protocol (ICMP, ICMPv6, SCTP...)
becomes a Decoded with zero ports and the whole IP payload. A UDP datagram to or from a port
in ``Walk.udp_ports`` goes on to the (UDP_PORT, port) table entry (a tunnel: VXLAN, Geneve,
Teredo, GTP-U, GRE in UDP, AYIYA), which checks its header and else ends with ``finish_udp``.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.packet import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP
from wiresift.decode.walk import Layer, Walk

# Teredo (RFC 4380): its port, the first 32 bits of every Teredo address (s2.6), the
# origin indication's length (s5.1.1) and the IPv6 header it carries.
TEREDO_PORT: Final = 3544
_TEREDO_PREFIX: Final = b"\x20\x01\x00\x00"
_TEREDO_ORIGIN_LEN: Final = 8
_IPV6_HEADER_LEN: Final = 40
_IPV6_VERSION: Final = 6

TCP_MIN_HEADER_LEN: Final = 20
UDP_HEADER_LEN: Final = 8

_TCP: Final = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_UDP: Final = struct.Struct("!HHH")  # ports, length

# Counter names of the protocols worth telling apart; the rest count as "ip_other".
_OTHER_COUNTER: Final = {IPPROTO_ICMP: "icmp", IPPROTO_ICMPV6: "icmpv6"}


def decode_tcp(walk: Walk, data: bytes, offset: int) -> int:
    """TCP header -> Decoded with ports, flags, seq, ack and the segment's payload."""
    end = walk.ip_end
    if end - offset < TCP_MIN_HEADER_LEN:
        return walk.anomaly("tcp_truncated", f"{max(end - offset, 0)} bytes of header")
    sport, dport, seq, ack, data_offset, flags = _TCP.unpack_from(data, offset)
    header_len = (data_offset >> 4) * 4
    if header_len < TCP_MIN_HEADER_LEN:
        return walk.anomaly("tcp_bad_data_offset", f"data offset {data_offset >> 4}")
    if end - offset < header_len:
        if offset + header_len <= walk.ip_wire_end:
            return walk.anomaly("tcp_truncated", f"{end - offset} of {header_len} header bytes")
        return walk.anomaly(
            "tcp_bad_data_offset", f"header {header_len} > segment {walk.ip_wire_end - offset}"
        )
    walk.counts["tcp"] += 1
    return walk.finish(IPPROTO_TCP, sport, dport, flags, seq, ack, data[offset + header_len : end])


def decode_udp(walk: Walk, data: bytes, offset: int) -> int:
    """UDP header -> Decoded with ports and the datagram's payload."""
    end = walk.ip_end
    if end - offset < UDP_HEADER_LEN:
        return walk.anomaly("udp_truncated", f"{max(end - offset, 0)} bytes of header")
    sport, dport, length = _UDP.unpack_from(data, offset)
    if length < UDP_HEADER_LEN:
        return walk.anomaly("udp_bad_length", f"length {length}")
    udp_end = offset + length
    if udp_end <= end:
        # Shorter than the IP payload: trailing bytes are not UDP's. Whatever the capture
        # cut off lay after the datagram.
        end = udp_end
        walk.truncated = False
    elif udp_end > walk.ip_wire_end:
        walk.anomaly("udp_length_mismatch", f"length {length} > IP payload {end - offset}")
    walk.counts["udp"] += 1
    tunnel_ports = walk.udp_ports
    if dport in tunnel_ports or sport in tunnel_ports:
        # A tunnel candidate: the port picks the decoder, the header must then validate.
        walk.ip_end = end
        walk.ns = Layer.UDP_PORT
        walk.key = dport if dport in tunnel_ports else sport
        return offset + UDP_HEADER_LEN
    if TEREDO_PORT in tunnel_ports and looks_like_teredo(data, offset + UDP_HEADER_LEN, end):
        # Teredo relays and clients use any port (RFC 4380 s5.2): recognised by its header.
        walk.ip_end = end
        walk.ns = Layer.UDP_PORT
        walk.key = TEREDO_PORT
        return offset + UDP_HEADER_LEN
    return walk.finish(IPPROTO_UDP, sport, dport, 0, 0, 0, data[offset + UDP_HEADER_LEN : end])


def looks_like_teredo(data: bytes, start: int, end: int) -> bool:
    """A UDP payload that is a Teredo packet whatever its port (RFC 4380 s4, s5.1.1): an
    optional origin indication, then an IPv6 header that fills the datagram exactly, with a
    Teredo address (2001:0::/32) on one side."""
    position = start
    if end - position >= _TEREDO_ORIGIN_LEN and data[position] == 0 and data[position + 1] == 0:
        position += _TEREDO_ORIGIN_LEN
    if end - position < _IPV6_HEADER_LEN or data[position] >> 4 != _IPV6_VERSION:
        return False
    payload_length = (data[position + 4] << 8) | data[position + 5]
    if position + _IPV6_HEADER_LEN + payload_length != end:
        return False
    return (
        data[position + 8 : position + 12] == _TEREDO_PREFIX
        or data[position + 24 : position + 28] == _TEREDO_PREFIX
    )


def finish_udp(walk: Walk, data: bytes, offset: int) -> int:
    """Plain UDP after all (fallback of the UDP_PORT namespace, and what a tunnel decoder
    calls when the header does not validate): ``offset`` is where the UDP payload starts and
    ``walk.ip_end`` where the datagram ends."""
    sport, dport, _ = _UDP.unpack_from(data, offset - UDP_HEADER_LEN)
    return walk.finish(IPPROTO_UDP, sport, dport, 0, 0, 0, data[offset : walk.ip_end])


def decode_ip_other(walk: Walk, data: bytes, offset: int) -> int:
    """Fallback of the IPPROTO namespace: Decoded with zero ports and the IP payload."""
    walk.counts[_OTHER_COUNTER.get(walk.key, "ip_other")] += 1
    return walk.finish(walk.key, 0, 0, 0, 0, 0, data[offset : walk.ip_end])


def decode_no_next_header(walk: Walk, data: bytes, offset: int) -> int:
    """IPv6 "no next header" (59, RFC 8200 s4.7): nothing follows; counted."""
    del data, offset
    return walk.count("no_next_header")
