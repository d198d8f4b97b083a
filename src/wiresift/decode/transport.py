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
    return walk.finish(IPPROTO_UDP, sport, dport, 0, 0, 0, data[offset + UDP_HEADER_LEN : end])


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
