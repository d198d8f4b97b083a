"""Frames shared by the decoder tests, built with tests.pcapgen, and the results they give."""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from tests.pcapgen import ether, ipv4, ipv6, tcp, udp
from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_PSH, Decoded

SRC4: Final = "10.0.0.1"
DST4: Final = "10.0.0.2"
SRC6: Final = "fd00::1"
DST6: Final = "fd00::2"
SPORT: Final = 40000
DPORT: Final = 80
SEQ: Final = 1000
ACK: Final = 2000
HTTP_GET: Final = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
DNS_QUERY: Final = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"

TCP_SEGMENT: Final = tcp(SPORT, DPORT, SEQ, ACK, "PA", HTTP_GET)
UDP_DATAGRAM: Final = udp(SPORT, 53, DNS_QUERY)
IPV4_TCP: Final = ipv4(SRC4, DST4, IPPROTO_TCP, TCP_SEGMENT)
IPV6_TCP: Final = ipv6(SRC6, DST6, IPPROTO_TCP, TCP_SEGMENT)
IPV4_UDP: Final = ipv4(SRC4, DST4, IPPROTO_UDP, UDP_DATAGRAM)
IPV6_UDP: Final = ipv6(SRC6, DST6, IPPROTO_UDP, UDP_DATAGRAM)
ETH_IPV4_TCP: Final = ether(IPV4_TCP)
ETH_IPV6_TCP: Final = ether(IPV6_TCP, 0x86DD)
ETH_IPV4_UDP: Final = ether(IPV4_UDP)
ETH_IPV6_UDP: Final = ether(IPV6_UDP, 0x86DD)


def packed(address: str) -> bytes:
    """Packed bytes of an IPv4 or IPv6 address."""
    return ipaddress.ip_address(address).packed


def tcp_result(
    encap: tuple[str, ...],
    *,
    ipv6_addresses: bool = False,
    payload: bytes = HTTP_GET,
    truncated: bool = False,
) -> Decoded:
    """The Decoded of TCP_SEGMENT between the test addresses."""
    src, dst = (SRC6, DST6) if ipv6_addresses else (SRC4, DST4)
    return Decoded(
        packed(src),
        packed(dst),
        IPPROTO_TCP,
        SPORT,
        DPORT,
        TCP_PSH | TCP_ACK,
        SEQ,
        ACK,
        payload,
        encap,
        truncated,
    )


def udp_result(
    encap: tuple[str, ...], *, ipv6_addresses: bool = False, payload: bytes = DNS_QUERY
) -> Decoded:
    """The Decoded of UDP_DATAGRAM between the test addresses."""
    src, dst = (SRC6, DST6) if ipv6_addresses else (SRC4, DST4)
    return Decoded(packed(src), packed(dst), IPPROTO_UDP, SPORT, 53, 0, 0, 0, payload, encap, False)


def sll(protocol: int, payload: bytes, hatype: int = 1) -> bytes:
    """Linux cooked v1 header (packet type 0 = to us, 6-byte address) + payload."""
    return struct.pack("!HHH8sH", 0, hatype, 6, bytes(range(1, 7)) + b"\0\0", protocol) + payload


def sll2(protocol: int, payload: bytes, hatype: int = 1) -> bytes:
    """Linux cooked v2 header (interface 3, packet type 0, 6-byte address) + payload."""
    header = struct.pack("!HHIHBB8s", protocol, 0, 3, hatype, 0, 6, bytes(range(1, 7)) + b"\0\0")
    return header + payload
