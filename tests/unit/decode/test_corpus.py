"""Decode every packet of the shared corpus captures (http, vlan, tcp, linktype)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import CORPUS, corpus_path
from tests.unit.decode.capfile import read_packets
from wiresift.decode import PacketDecoder

DIRECTORIES = ("http", "vlan", "tcp", "linktype")


def _captures() -> list[str]:
    """Relative paths of the captures (empty when the corpus is absent: the test skips)."""
    found: list[str] = []
    for directory in DIRECTORIES:
        folder = CORPUS / "pcaps" / directory
        if folder.is_dir():
            found.extend(f"{directory}/{path.name}" for path in sorted(folder.iterdir()))
    return found or ["http/absent"]


def _decode_all(path: Path) -> tuple[PacketDecoder, Counter[tuple[str, ...]], int]:
    """Decode a capture; also check that the table walk agrees with the fast path."""
    decoder = PacketDecoder()
    walked = PacketDecoder()
    encaps: Counter[tuple[str, ...]] = Counter()
    packets = 0
    for linktype, data in read_packets(path):
        packets += 1
        result = decoder.decode(linktype, data)
        assert result == walked._decode_walk(linktype, data)
        if result is not None:
            encaps[result.encap] += 1
    return decoder, encaps, packets


@pytest.mark.corpus
@pytest.mark.parametrize("capture", _captures())
def test_capture_decodes(capture: str) -> None:
    """No exception and no anomaly; HTTP captures yield TCP packets."""
    path = corpus_path("pcaps", capture)
    decoder, _, packets = _decode_all(path)
    assert packets > 0
    assert decoder.anomalies == {}
    if capture.startswith("http/"):
        assert decoder.counters["tcp"] > 0


# Exact results for captures whose layering is the point (tshark frame.protocols agrees).
EXPECTED = {
    "vlan/zeek-vlan-qinqinq.pcap": (
        {"ipv4": 14, "tcp": 14},
        {("eth", "vlan:30", "vlan:20", "vlan:10"): 14},
    ),
    # 802.1ad outer tag over 802.1Q, two flows in different VLAN pairs.
    "vlan/arkime-dot1ad.pcap": (
        {"ipv4": 2, "icmp": 2},
        {("eth", "vlan:1525", "vlan:30"): 1, ("eth", "vlan:1535", "vlan:40"): 1},
    ),
    # Tags with VLAN id 0 (priority only): the flow is not in a VLAN.
    "vlan/zeek-http-qinq.pcap": ({"ipv4": 14, "tcp": 14}, {("eth",): 14}),
    # CDP over 802.3/LLC, tagged and untagged, is non-IP.
    "vlan/pcpp-vlan-packets.pcap": (
        {"ipv4": 20, "icmp": 20, "non_ip": 6},
        {("eth", "vlan:118", "vlan:10"): 10, ("eth", "vlan:209", "vlan:20"): 10},
    ),
    "linktype/suri-sll2-http.pcap": ({"ipv4": 159, "tcp": 159}, {("sll2",): 159}),
    "linktype/zeek-linux-sll2.pcap": (
        {"ipv4": 2, "ipv6": 2, "icmp": 2, "icmpv6": 2, "non_ip": 2},
        {("sll2",): 4},
    ),
    "http/pcpp-four-ipv6-http-streams.pcap": ({"ipv6": 81, "tcp": 81}, {("raw",): 81}),
    "http/suri-http-ipv6.pcap": ({"ipv6": 14, "tcp": 14}, {("null",): 14}),
    "http/suri-http-range-multiflows.pcap": ({"ipv4": 614, "tcp": 614}, {("null",): 614}),
    "http/suri-filestore-filecontainer-http.pcap": (
        {"ipv4": 94, "tcp": 94},
        {("eth", "vlan:120"): 94},
    ),
    "http/ndpi-http-ipv6.pcap": ({"ipv6": 193, "tcp": 128, "udp": 65}, {("eth",): 193}),
    "tcp/cs-tcp-dupack.pcapng": ({"ipv4": 9, "tcp": 9}, {("eth",): 9}),
}


@pytest.mark.corpus
@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_capture_layers(capture: str) -> None:
    """Counters and encapsulations of captures chosen for their link layers."""
    decoder, encaps, _ = _decode_all(corpus_path("pcaps", capture))
    counters, expected_encaps = EXPECTED[capture]
    assert decoder.counters == counters
    assert encaps == expected_encaps
