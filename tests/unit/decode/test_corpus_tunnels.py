"""Tunnel captures of the shared corpus (gre, ipip, 6in4, encap) against MANIFEST.tsv.

For each capture the manifest's "encapsulations" clause (tshark frame.protocols) gives the
layer stack and its "inner conversations" clause the innermost TCP/UDP conversations. Where
they differ from the decoder's view the comment says why: tshark also lists the outer UDP
conversation that carries a UDP tunnel (VXLAN, GRE in UDP, Teredo), which is not innermost.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import corpus_captures, corpus_path
from wiresift.capture import open_source
from wiresift.decode import PacketDecoder

DIRECTORIES = ("gre", "ipip", "6in4", "encap")
# Layers that other decoders (MPLS, PPP, PPPoE, IP fragments) are responsible for: their
# captures are checked for conversations and tunnel items only, not for anomalies.
TUNNEL_PREFIXES = ("gre:", "erspan", "vxlan:", "geneve:", "teredo:", "gtpu:", "ayiya:", "ipip:")

Conversation = tuple[str, str, str]


def _captures() -> list[str]:
    """Relative paths of the captures of these folders."""
    return corpus_captures(*DIRECTORIES)


def _endpoint(address: bytes, port: int) -> str:
    """tshark's way of writing an endpoint: address:port."""
    return f"{ipaddress.ip_address(address)}:{port}"


def _sorted(conversation: Conversation) -> Conversation:
    """The conversation with its two endpoints in one order (as text), whatever the
    direction it was written in."""
    proto, first, second = conversation
    low, high = sorted((first, second))
    return proto, low, high


def _decode_all(
    path: Path,
) -> tuple[PacketDecoder, Counter[tuple[str, ...]], set[Conversation]]:
    """Decode a capture: tunnel items per packet and innermost TCP/UDP conversations; the
    table walk must agree with the fast path on every packet."""
    decoder = PacketDecoder()
    walked = PacketDecoder()
    tunnels: Counter[tuple[str, ...]] = Counter()
    conversations: set[Conversation] = set()
    source = open_source(path)
    try:
        for packet in source:
            linktype, data = packet[1], bytes(packet[2])
            result = decoder.decode(linktype, data)
            assert result == walked._decode_walk(linktype, data)
            if result is None:
                continue
            tunnels[tuple(item for item in result.encap if item.startswith(TUNNEL_PREFIXES))] += 1
            if result.proto in (6, 17):
                low, high = sorted(
                    (_endpoint(result.src, result.sport), _endpoint(result.dst, result.dport))
                )
                conversations.add(("tcp" if result.proto == 6 else "udp", low, high))
    finally:
        source.close()
    return decoder, tunnels, conversations


@pytest.mark.corpus
@pytest.mark.parametrize("capture", _captures())
def test_capture_decodes(capture: str) -> None:
    """Every packet decodes without an exception and the fast path agrees with the walk."""
    decoder, _, _ = _decode_all(corpus_path("pcaps", capture))
    assert "tunnel_too_deep" not in decoder.anomalies


GRE_SAMPLE = "gre:66.59.109.137-172.27.1.66"
SIP_GRE = "gre:10.177.98.84-109.105.228.253"

# capture: (packets per tunnel-item tuple, innermost conversations, anomalies or None when
# layers of other decoders are involved).
EXPECTED: dict[str, tuple[dict[tuple[str, ...], int], set[Conversation], dict[str, int] | None]] = {
    # 136 eth:ip:gre:eth:ip:tcp; 1 TCP conversation.
    "gre/aie-gre-ssh.pcap": (
        {("gre:192.168.1.1-192.168.1.2",): 136},
        {("tcp", "192.168.122.1:49816", "192.168.122.173:22")},
        {},
    ),
    # 4 gre:erspan:eth:ip:icmp, 2 gre:erspan:eth:llc:cdp (CDP is non-IP, not counted).
    "gre/arkime-gre-erspan.pcap": (
        {("gre:1.1.1.1-2.2.2.2", "erspan:session=100"): 4},
        set(),
        {},
    ),
    # 2 gre:erspan(III):eth:vlan:ip:icmp.
    "gre/zeek-gre-erspan3-dot1q.pcap": (
        {("gre:172.31.1.23-172.31.1.135", "erspan:session=0"): 2},
        set(),
        {},
    ),
    # 3 vlan:ip:gre:ip:udp:syslog; 1 UDP conversation.
    "gre/suri-gre-udp.pcap": (
        {("gre:1.1.1.1-1.1.1.2",): 3},
        {("udp", "2.2.2.2:514", "2.2.2.3:12345")},
        {},
    ),
    # 1 TCP and 4 UDP (the manifest lists 3 of the 4; ntp with 129.170.17.4 is the 4th).
    "gre/zeek-gre-sample.pcap": (
        {(GRE_SAMPLE,): 40},
        {
            ("tcp", "172.28.2.3:22", "66.59.111.190:40264"),
            ("udp", "129.170.17.4:123", "66.59.111.190:123"),
            ("udp", "172.28.2.3:53", "66.59.111.190:37675"),
            ("udp", "18.26.4.105:123", "66.59.111.190:123"),
            ("udp", "66.59.111.182:123", "66.59.111.190:123"),
        },
        {},
    ),
    # 628 gre:ip:gre:ip; 2 UDP (RIP) conversations; depth 2 is within the default limit.
    "gre/zeek-gre-within-gre.pcap": (
        {("gre:72.205.54.70-86.106.164.150", "gre:10.10.11.2-10.10.13.2"): 628},
        {
            ("udp", "224.0.0.9:520", "3.3.3.1:520"),
            ("udp", "224.0.0.9:520", "3.3.3.2:520"),
        },
        {},
    ),
    # 14 udp:gre:ip; tshark's 1 TCP + 5 UDP include the 2 outer 4754 conversations.
    "gre/zeek-gre-over-udp-4754.pcap": (
        {("gre:192.168.0.107-192.168.5.1",): 14},
        {
            ("tcp", "172.17.0.2:36518", "192.0.78.150:80"),
            ("udp", "1.1.1.1:53", "172.17.0.2:51714"),
        },
        {},
    ),
    # PPTP (GRE v1) to PPP: 36 UDP SIP packets, one inside QinQ/PPPoE.
    "gre/ndpi-gre-sip.pcapng": (
        {(SIP_GRE,): 35, ("gre:85.154.14.189-192.200.144.42",): 1},
        {
            ("udp", "192.168.10.210:5060", "192.168.103.40:5060"),
            ("udp", "192.200.144.148:5060", "212.83.179.0:5097"),
        },
        None,
    ),
    "gre/ndpi-gre.pcapng": (
        {(SIP_GRE,): 1},
        {("udp", "192.168.10.210:5060", "192.168.103.40:5060")},
        None,
    ),
    # PPTP control on tcp/1723; GRE v1 carries LCP/IPCP (non-IP) and 2 ICMP echoes.
    "gre/pcpp-gre-packets.pcap": (
        {(): 9, ("gre:20.0.0.1-20.0.0.2",): 2},
        {("tcp", "20.0.0.1:1723", "20.0.0.2:1999")},
        None,
    ),
    # IPv4 in IPv6 (ipip), then GRE v1 / PPP / IPv4 / UDP DNS.
    "gre/zeek-gre-pptp.pcap": (
        {
            (
                "ipip:2402:f000:1:8e01::5555-2607:fcd0:100:2300::b108:2a6b",
                "gre:16.0.0.200-192.52.166.154",
            ): 2
        },
        {("udp", "172.16.44.3:40768", "8.8.8.8:53")},
        None,
    ),
    # 12 udp:vxlan:eth:ip:tcp; tshark's 1 UDP is the outer 4789 conversation.
    "encap/zeek-vxlan-encapsulated-http.pcap": (
        {("vxlan:10.1.1.172-10.1.200.131", "vxlan:vni=1"): 12},
        {("tcp", "172.16.11.201:40354", "54.86.237.188:80")},
        {},
    ),
    "ipip/ndpi-4in4tunnel.pcap": (
        {("ipip:41.202.46.110-69.67.35.146",): 5},
        {("udp", "10.10.100.25:62367", "10.10.101.2:17000")},
        {},
    ),
    "ipip/ndpi-4in6tunnel.pcap": (
        {("ipip:22e0:1685:eda7:38cc:58bd:f3f1:aa3f:22d8-344a:ba94:152a:ac34::2a",): 4},
        {("tcp", "10.10.10.1:443", "192.168.0.1:64455")},
        {},
    ),
    "ipip/suri-ipv4-over-ipv4.pcap": (
        {("ipip:10.1.0.1-10.1.0.2",): 1},
        {("tcp", "10.1.0.3:80", "10.1.0.4:80")},
        {},
    ),
    "6in4/pcpp-ipv4-encapsulated-ipv6.pcap": (
        {("ipip:81.131.67.131-139.18.25.33",): 1},
        {("tcp", "2001:638:902:1:201:2ff:fee2:7596:21", "2002:5183:4383::5183:4383:1026")},
        {},
    ),
}


@pytest.mark.corpus
@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_capture_tunnels_and_conversations(capture: str) -> None:
    """Tunnel items per packet and innermost conversations match the manifest."""
    decoder, tunnels, conversations = _decode_all(corpus_path("pcaps", capture))
    expected_tunnels, expected_conversations, expected_anomalies = EXPECTED[capture]
    assert tunnels == expected_tunnels
    assert conversations == {_sorted(conversation) for conversation in expected_conversations}
    if expected_anomalies is not None:
        assert decoder.anomalies == expected_anomalies


@pytest.mark.corpus
def test_teredo_capture() -> None:
    """zeek-teredo: the three Teredo tunnels of Zeek's tunnel.log, including the relay on
    port 32900 that is recognised by its header alone (RFC 4380 s5.2), which carries the
    IPv6 HTTP connection to ipv6.google.com; the 4 IPv4 TCP conversations of the manifest."""
    decoder, tunnels, conversations = _decode_all(corpus_path("pcaps", "encap", "zeek-teredo.pcap"))
    assert tunnels == {
        (): 49,
        ("teredo:65.55.158.80-192.168.2.16",): 2,
        ("teredo:65.55.158.81-192.168.2.16",): 1,
        ("teredo:83.170.1.38-192.168.2.16",): 23,
    }
    assert decoder.counters["icmpv6"] == 4
    assert decoder.counters["no_next_header"] == 3
    assert {c for c in conversations if c[0] == "tcp"} == {
        _sorted(("tcp", "192.168.2.16:1576", "75.126.130.163:80")),
        _sorted(("tcp", "192.168.2.16:1577", "75.126.203.78:80")),
        _sorted(("tcp", "192.168.2.16:1578", "75.126.203.78:80")),
        _sorted(("tcp", "192.168.2.16:1580", "67.228.110.120:80")),
        _sorted(("tcp", "2001:0:4137:9e50:8000:f12a:b9c8:2815:1286", "2001:4860:0:2001::68:80")),
    }
    # tshark's 7 UDP conversations less the 3 outer Teredo ones (tshark decodes only port 3544).
    assert len([c for c in conversations if c[0] == "udp"]) == 4
    assert decoder.anomalies == {}
