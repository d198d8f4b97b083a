"""What the decoder hands to the flow table for one packet.

``Decoded`` is a NamedTuple (a tuple, cheap to build) rather than a class tree: the packet
path builds one per packet and nothing more.
"""

from __future__ import annotations

from typing import Final, NamedTuple

IPPROTO_ICMP: Final = 1
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_ICMPV6: Final = 58

# TCP flag bits (RFC 9293 s3.1).
TCP_FIN: Final = 0x01
TCP_SYN: Final = 0x02
TCP_RST: Final = 0x04
TCP_PSH: Final = 0x08
TCP_ACK: Final = 0x10


class Decoded(NamedTuple):
    """One IP packet, innermost layer, ready for the flow table.

    ``src``/``dst`` are packed addresses (4 bytes IPv4, 16 bytes IPv6). For protocols other
    than TCP and UDP, ports, flags, seq and ack are 0. ``payload`` is the transport payload
    (trimmed to the IP total length, never including Ethernet padding). ``encap`` lists the
    outer layers, outermost first, as short strings that are the same in both directions of
    a flow (tunnel endpoints sorted), e.g. ``("eth",)``, ``("eth", "vlan:100")``; the flow
    table keys flows with it so equal 5-tuples in different VLANs or tunnels stay apart.
    ``truncated`` is True when the capture cut the payload short (snaplen).
    """

    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    payload: bytes
    encap: tuple[str, ...]
    truncated: bool
