"""Corpus captures behind MPLS, PPPoE, NFLOG, radiotap/802.11 and 802.3 LLC, checked against
the "encapsulations" and "inner conversations" clauses of the corpus MANIFEST.tsv."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

import pytest

from tests.conftest import corpus_captures, corpus_path
from wiresift.capture import open_source
from wiresift.decode import PacketDecoder

DIRECTORIES = ("vlan", "encap", "linktype", "pcapng")

# Conversations as the manifest writes them: "tcp 10.0.0.1:54422 <-> 10.0.0.2:80".
_CONVERSATION = re.compile(r"(tcp|udp) (\S+):(\d+) <-> (\S+):(\d+)")
_CONVERSATIONS_CLAUSE = re.compile(r"inner conversations[^:]*: (\d+) TCP, (\d+) UDP: ([^|]*)")

Conversation = tuple[str, frozenset[tuple[str, int]]]

# Captures whose layering is ours: counters, encapsulations (exact), and how many packets of
# the manifest's "encapsulations" clause that clause shows going through our layers.
EXPECTED: dict[str, tuple[dict[str, int], dict[tuple[str, ...], int]]] = {
    # Manifest: 1 eth:vlan:mpls:ip:tcp:http; 1 eth:vlan:mpls:ip:tcp; 1 eth:vlan:ip:tcp:http.
    # The second packet's tag has VLAN id 0 (priority only), which adds no item.
    "encap/zeek-mpls-in-vlan.pcap": (
        {"ipv4": 3, "tcp": 3},
        {("eth", "vlan:3199"): 1, ("eth", "mpls"): 1, ("eth", "vlan:3399", "mpls"): 1},
    ),
    # Manifest: 6 eth:mpls:ip:tcp; 5 eth:mpls:ip:tcp:telnet (and plain/VLAN HTTP).
    "vlan/zeek-mixed-vlan-mpls.pcap": (
        {"ipv4": 47, "tcp": 47},
        {("eth",): 22, ("eth", "vlan:4093"): 14, ("eth", "mpls"): 11},
    ),
    # Manifest: 28 eth:pppoes:ppp:ip:tcp; 2 eth:pppoes:ppp:ip:tcp:http.
    "linktype/suri-pppoe-session-http.pcap": (
        {"ipv4": 30, "tcp": 30},
        {("eth", "pppoe:45", "ppp"): 30},
    ),
    # Manifest: 12 + 12 + 2 radiotap:wlan_radio:wlan:llc:ip:tcp[...].
    "linktype/arkime-80211-radiotap-http.pcap": ({"ipv4": 26, "tcp": 26}, {("wlan",): 26}),
    # Manifest: 11 nflog:ip:tcp; 2 nflog:ip:tcp:http.
    "linktype/zeek-nflog-http.pcap": ({"ipv4": 13, "tcp": 13}, {("nflog",): 13}),
    # Manifest: 20 eth:vlan:vlan:ip:icmp; 4 eth:vlan:llc:cdp; 2 eth:llc:cdp (802.3 LLC).
    "vlan/pcpp-vlan-packets.pcap": (
        {"ipv4": 20, "icmp": 20, "non_ip": 6},
        {("eth", "vlan:118", "vlan:10"): 10, ("eth", "vlan:209", "vlan:20"): 10},
    ),
}

# Captures whose inner conversations come from tunnels decoded elsewhere (GRE, VXLAN,
# Teredo): their conversations are not checked here.
TUNNELLED = frozenset({"encap/zeek-teredo.pcap", "encap/zeek-vxlan-encapsulated-http.pcap"})


def _captures() -> list[str]:
    """Relative paths of the captures of these folders."""
    return corpus_captures(*DIRECTORIES)


def _manifest_row(capture: str) -> str:
    """The expected_objects column of the capture's manifest row."""
    for line in corpus_path("MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if fields[0] == f"pcaps/{capture}":
            return fields[9]
    raise AssertionError(f"{capture} is not in MANIFEST.tsv")


def _manifest_conversations(capture: str) -> tuple[int, set[Conversation]]:
    """(number of conversations the manifest counts, the ones it lists)."""
    match = _CONVERSATIONS_CLAUSE.search(_manifest_row(capture))
    if match is None:
        return 0, set()
    listed = {
        (proto, frozenset({(a, int(pa)), (b, int(pb))}))
        for proto, a, pa, b, pb in _CONVERSATION.findall(match.group(3))
    }
    return int(match.group(1)) + int(match.group(2)), listed


def _decode(capture: str) -> tuple[PacketDecoder, Counter[tuple[str, ...]], set[Conversation]]:
    """Decode a capture (fast path and table walk must agree); encaps and conversations."""
    decoder = PacketDecoder()
    walked = PacketDecoder()
    encaps: Counter[tuple[str, ...]] = Counter()
    conversations: set[Conversation] = set()
    source = open_source(corpus_path("pcaps", capture))
    try:
        for _, linktype, data, _, _ in source:
            result = decoder.decode(linktype, data)
            assert result == walked._decode_walk(linktype, data)
            if result is None:
                continue
            encaps[result.encap] += 1
            name = {6: "tcp", 17: "udp"}.get(result.proto)
            if name is not None:
                ends = {
                    (str(ipaddress.ip_address(result.src)), result.sport),
                    (str(ipaddress.ip_address(result.dst)), result.dport),
                }
                conversations.add((name, frozenset(ends)))
        assert source.error is None
    finally:
        source.close()
    return decoder, encaps, conversations


@pytest.mark.corpus
@pytest.mark.parametrize("capture", _captures())
def test_no_unknown_link_type(capture: str) -> None:
    """Every capture of these folders (pcapng too) decodes with no anomaly and no unknown link
    type."""
    decoder, _, _ = _decode(capture)
    assert decoder.anomalies == {}
    assert not [name for name in decoder.counters if name.startswith("unknown_linktype")]


@pytest.mark.corpus
@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_layers_match_manifest(capture: str) -> None:
    """Counters and encapsulations of the captures behind our link layers."""
    decoder, encaps, _ = _decode(capture)
    counters, expected_encaps = EXPECTED[capture]
    assert decoder.counters == counters
    assert encaps == expected_encaps


@pytest.mark.corpus
@pytest.mark.parametrize("capture", [c for c in _captures() if c not in TUNNELLED])
def test_conversations_match_manifest(capture: str) -> None:
    """The TCP/UDP conversations are those of the manifest's "inner conversations" clause."""
    _, _, conversations = _decode(capture)
    total, listed = _manifest_conversations(capture)
    if total == len(listed):
        assert conversations == listed
    else:  # the manifest lists only some of them
        assert listed <= conversations
        assert len(conversations) == total
