"""Reassemble the fragments of the shared corpus captures (frag/, and the GRE/PPP one).

Expected datagrams come from ../shared/corpus/MANIFEST.tsv (tshark's conversations after
reassembly, the Suricata rules' dsize) and were checked against the captures' headers.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import CORPUS, corpus_path
from wiresift.capture import open_source
from wiresift.decode import DISPATCH, Decoded, Layer, PacketDecoder

GRE = 47
ETHERTYPE_PPP = 0x880B


class Reassembled(NamedTuple):
    """A reassembled datagram: the packet that completed it and what it carried."""

    packet: int  # 1-based packet number
    proto: int
    src: str
    sport: int
    dst: str
    dport: int
    payload_length: int
    encap: tuple[str, ...]


class Expected(NamedTuple):
    counters: dict[str, int]
    anomalies: dict[str, int]
    datagrams: list[Reassembled]


def _icmp(packets: range, a: str, b: str, proto: int, size: int) -> list[Reassembled]:
    """Echo request/reply pairs: datagrams alternate direction."""
    return [
        Reassembled(n, proto, *((a, 0, b, 0) if i % 2 == 0 else (b, 0, a, 0)), size, ("eth",))
        for i, n in enumerate(packets)
    ]


NFS = ("10.118.213.212", 789, "10.118.213.211", 2049)
MDNS = ("fe80::21f:f3ff:fecd:f617", 5353, "ff02::fb", 5353)
WSD = ("fe80::2c23:b96c:78d:e116", 60245, "ff02::c", 3702)
DNS = ("2607:f740:b::f93", 53, "2001:470:1f11:81f:d138:5f55:6d4:1fe2", 51851)

EXPECTED: dict[str, Expected] = {
    # 10 ICMPv6 echoes of 1508 bytes in 2 fragments each, plus 2 unfragmented.
    "frag/cs-ipv6-fragments.pcapng": Expected(
        {"fragment": 20, "icmpv6": 12, "ipfrag_reassembled": 10, "ipv6": 22},
        {},
        _icmp(range(2, 21, 2), "2001:db8:1:2::1003", "2001:db8:1:2::1000", 58, 1508),
    ),
    # 11 fragments -> one HTTP GET (tshark: GET js.bizographics.com/convert_data.js).
    "frag/pcpp-frag-http-req.pcap": Expected(
        {"fragment": 11, "ipfrag_reassembled": 1, "ipv4": 11, "tcp": 1},
        {},
        [Reassembled(11, 6, "172.16.133.54", 64415, "216.137.33.81", 80, 1460, ("eth",))],
    ),
    # 6 NFS datagrams; ids 7843-7845 repeat fragments after completing, and those repeats
    # never complete again (2 datagrams expire at the end), as on a Linux receiver.
    "frag/pcpp-ip4-fragments.pcap": Expected(
        {"fragment": 50, "ipfrag_reassembled": 6, "ipfrag_timed_out": 2, "ipv4": 53, "udp": 9},
        {"ipfrag_timeout": 2},
        [Reassembled(n, 17, *NFS, 8312, ("eth",)) for n in (6, 12, 18, 28, 40, 53)],
    ),
    "frag/pcpp-ip6-fragments.pcap": Expected(
        {"fragment": 36, "ipfrag_reassembled": 4, "ipv6": 36, "udp": 4},
        {},
        [
            Reassembled(7, 17, *MDNS, 729, ("eth",)),
            Reassembled(20, 17, *MDNS, 1440, ("eth",)),
            Reassembled(29, 17, *WSD, 991, ("eth",)),
            Reassembled(36, 17, *WSD, 774, ("eth",)),
        ],
    ),
    "frag/ppa-ipfragments.pcap": Expected(
        {"fragment": 24, "icmp": 8, "ipfrag_reassembled": 8, "ipv4": 24},
        {},
        _icmp(range(3, 25, 3), "192.168.0.114", "192.168.0.193", 1, 3080),
    ),
    # Suricata: alert on dsize 1000 in the reassembled segment, inside VLAN 6.
    "frag/suri-defrag-eth-vlan-ipv6-tcp.pcap": Expected(
        {"fragment": 3, "ipfrag_reassembled": 1, "ipv6": 3, "tcp": 1},
        {},
        [Reassembled(3, 6, "::1", 12345, "::1", 8080, 1000, ("eth", "vlan:6"))],
    ),
    # Crafted: the last fragment ends at 164, then an MF fragment reaches 304. Zeek reports
    # fragment_inconsistency; Linux drops the queue; so do we (tshark shows a datagram).
    "frag/zeek-ipv4-fragmented-1.pcap": Expected(
        {"fragment": 3, "ipfrag_dropped": 1, "ipv4": 3}, {"ipfrag_overrun": 1}, []
    ),
    # Five DF+MF fragments, no last one: never complete (tshark agrees).
    "frag/zeek-ipv4-fragmented-3.pcap": Expected(
        {"fragment": 5, "ipfrag_timed_out": 1, "ipv4": 5}, {"ipfrag_timeout": 1}, []
    ),
    # Datagram id 1 has only its last fragment in the capture; id 2 is a 3230-byte answer.
    "frag/zeek-ipv6-fragmented-dns.pcap": Expected(
        {"fragment": 4, "ipfrag_reassembled": 1, "ipfrag_timed_out": 1, "ipv6": 8, "udp": 5},
        {"ipfrag_timeout": 1},
        [Reassembled(8, 17, *DNS, 3230, ("eth",))],
    ),
    # Atomic fragments (RFC 6946) are decoded at once, never held.
    "frag/zeek-ipv6-http-atomic-frag.pcap": Expected({"icmpv6": 2, "ipv6": 38, "tcp": 36}, {}, []),
    # 1024 fragments inside Ethernet/IPv4/GRE/PPP -> one maximum-size UDP datagram
    # (Suricata: dsize > 65000).
    "gre/suri-eth-ip-gre-ppp-frag.pcap": Expected(
        {"fragment": 1024, "ipfrag_reassembled": 1, "ipv4": 2048, "udp": 1},
        {},
        [
            Reassembled(
                1024,
                17,
                "1.1.1.1",
                11111,
                "2.2.2.2",
                9999,
                65507,
                ("eth", "gre:7.7.7.7-9.9.9.9", "ppp"),
            )
        ],
    ),
}


def _captures() -> list[str]:
    """Every capture in frag/ (each must have an expectation), and the GRE/PPP one."""
    folder = CORPUS / "pcaps" / "frag"
    found = [f"frag/{path.name}" for path in sorted(folder.iterdir())] if folder.is_dir() else []
    return [*found, "gre/suri-eth-ip-gre-ppp-frag.pcap"] if found else ["frag/absent"]


def _summary(number: int, decoded: Decoded) -> Reassembled:
    return Reassembled(
        number,
        decoded.proto,
        str(ipaddress.ip_address(decoded.src)),
        decoded.sport,
        str(ipaddress.ip_address(decoded.dst)),
        decoded.dport,
        len(decoded.payload),
        decoded.encap,
    )


def _reassemble(path: Path) -> tuple[PacketDecoder, list[Reassembled], list[Decoded]]:
    """Decode with packet times; the table walk alone must give the same results."""
    decoder = PacketDecoder()
    walked = PacketDecoder()
    datagrams: list[Reassembled] = []
    payloads: list[Decoded] = []
    source = open_source(path)
    try:
        for number, (ts, linktype, data, _, _) in enumerate(source, 1):
            packet = bytes(data)
            done = decoder.counters["ipfrag_reassembled"]
            result = decoder.decode(linktype, packet, ts)
            assert result == walked._decode_walk(linktype, packet, ts)
            if decoder.counters["ipfrag_reassembled"] > done:
                assert result is not None
                datagrams.append(_summary(number, result))
                payloads.append(result)
    finally:
        source.close()
    decoder.expire_fragments()
    return decoder, datagrams, payloads


@pytest.mark.corpus
@pytest.mark.parametrize("capture", _captures())
def test_capture_reassembles(capture: str) -> None:
    """Counters, anomalies and reassembled datagrams are exactly the expected ones."""
    if capture.startswith("gre/") and not (
        (Layer.IPPROTO, GRE) in DISPATCH and (Layer.ETHERTYPE, ETHERTYPE_PPP) in DISPATCH
    ):
        pytest.skip("GRE or PPP is not decoded")
    path = corpus_path("pcaps", capture)
    expected = EXPECTED[capture]
    decoder, datagrams, _ = _reassemble(path)
    assert dict(decoder.counters) == expected.counters
    assert dict(decoder.anomalies) == expected.anomalies
    assert datagrams == expected.datagrams
    assert decoder.reassembler.in_progress == 0
    assert decoder.reassembler.held_bytes == 0


@pytest.mark.corpus
def test_fragmented_http_request_is_whole() -> None:
    """The 11 fragments of pcpp-frag-http-req carry one complete GET request."""
    _, _, payloads = _reassemble(corpus_path("pcaps", "frag", "pcpp-frag-http-req.pcap"))
    (request,) = payloads
    assert request.payload.startswith(b"GET /convert_data.js?partner_id=29")
    assert b"\r\nHost: js.bizographics.com\r\n" in request.payload
    assert request.payload.endswith(b"\r\n\r\n")
