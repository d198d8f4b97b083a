"""HTTP inside VLANs, MPLS, PPPoE, tunnels, fragments and other link types: the objects
come out as from plain traffic (the bodies TShark exports from the same captures), and
each records its encapsulation chain."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CORPUS, corpus_path
from tests.engine.helpers import run_capture

SHA256 = re.compile(r"\b[0-9a-f]{64}\b")

# capture -> the encapsulation chains of its HTTP objects
CASES = {
    "6in4/ndpi-6in4tunnel.pcap": {("eth", "ipip:174.3.73.24-184.105.255.26", "ipv6", "tcp")},
    "encap/zeek-vxlan-encapsulated-http.pcap": {
        ("eth", "vxlan:10.1.1.172-10.1.200.131", "vxlan:vni=1", "eth", "ipv4", "tcp")
    },
    "gre/zeek-gre-over-udp-4754.pcap": {("eth", "gre:192.168.0.107-192.168.5.1", "ipv4", "tcp")},
    "frag/zeek-ipv6-http-atomic-frag.pcap": {("eth", "ipv6", "tcp")},
    "frag/pcpp-frag-http-req.pcap": {("eth", "ipv4", "tcp")},
    "linktype/arkime-80211-radiotap-http.pcap": {("wlan", "ipv4", "tcp")},
    "linktype/suri-pppoe-session-http.pcap": {("eth", "pppoe:45", "ppp", "ipv4", "tcp")},
    "linktype/suri-sll2-http.pcap": {("sll2", "ipv4", "tcp")},
    "linktype/zeek-nflog-http.pcap": {("nflog", "ipv4", "tcp")},
    # Priority-only tags (VLAN id 0) carry no VLAN and add nothing to the chain.
    "vlan/zeek-http-vlan.pcap": {("eth", "ipv4", "tcp")},
    "vlan/zeek-http-qinq.pcap": {("eth", "ipv4", "tcp")},
    "vlan/zeek-vlan-qinqinq.pcap": {("eth", "vlan:30", "vlan:20", "vlan:10", "ipv4", "tcp")},
    # The ipv6.google.com exchanges run through a Teredo relay on port 32900, recognised by
    # the Teredo header alone.
    "encap/zeek-teredo.pcap": {
        ("eth", "ipv4", "tcp"),
        ("eth", "teredo:83.170.1.38-192.168.2.16", "ipv6", "tcp"),
    },
}

# Response body sizes in Zeek's http.log for the same capture (resp_len, decoded).
ZEEK_RESPONSE_SIZES = {"encap/zeek-teredo.pcap": {6640, 25119, 11845}}


# Captures holding only a request (TShark exports nothing): the request's host and target.
REQUEST_ONLY = {
    # 11 IPv4 fragments reassembled into one TCP segment (corpus MANIFEST).
    "frag/pcpp-frag-http-req.pcap": ("js.bizographics.com", "/convert_data.js?partner_id=29"),
}


def tshark_hashes(name: str) -> set[str]:
    """sha256 of every object TShark exports from the capture (our own TShark run)."""
    stem = name.split("/")[1].rsplit(".", 1)[0]
    path = CORPUS / "expected" / f"{stem}__tshark-export-objects.tsv"
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    return set(SHA256.findall(path.read_text())) - {empty} if path.exists() else set()


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CASES))
def test_encapsulated_http_objects(name: str) -> None:
    """The bodies match TShark's export and each object names its whole chain."""
    run = run_capture(corpus_path("pcaps", *name.split("/")))
    objects = run.http()
    assert objects
    assert {tuple(o["flow"]["encapsulation"]) for o in objects} == CASES[name]
    produced = {c["sha256"] for o in objects for c in o["contents"]}
    expected = tshark_hashes(name)
    assert expected - produced == set()
    if name in ZEEK_RESPONSE_SIZES:
        sizes = {c["size"] for o in objects for c in o["contents"] if c["role"] == "response-body"}
        assert sizes == ZEEK_RESPONSE_SIZES[name]
    if name in REQUEST_ONLY:
        assert [(o["http"]["host"], o["http"]["uri"]) for o in objects] == [REQUEST_ONLY[name]]
    else:
        assert expected
