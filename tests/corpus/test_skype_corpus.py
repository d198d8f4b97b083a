"""Skype captures of the shared corpus: every flow nDPI labels Skype/Teams (its per-flow
``.out`` results) is labelled Skype by wiresift, except the DNS lookups of Skype names
(wiresift parses no DNS); the DNSCrypt capture older nDPI took for Skype gives nothing."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tests.conftest import corpus_path
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.model import format_addr
from wiresift.outputs.memory import MemoryContentStore, MemorySink

NDPI_FLOW = re.compile(r"^\s+\d+\s+(TCP|UDP)\s+(\S+)\s+<?->\s+(\S+)\s+\[proto: [0-9.]+/([^\]]+)\]")
Key = frozenset[tuple[str, int]]


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return str(ipaddress.ip_address(host.strip("[]"))), int(port)


def ndpi_skype_flows(name: str) -> dict[Key, str]:
    """Flows the nDPI result labels Skype/Teams, DNS lookups left out."""
    text = corpus_path("expected", name).read_text()
    flows: dict[Key, str] = {}
    for line in text.splitlines():
        match = NDPI_FLOW.match(line)
        if match and "Skype" in match.group(4) and not match.group(4).startswith("DNS."):
            flows[frozenset((_endpoint(match.group(2)), _endpoint(match.group(3))))] = match.group(
                4
            )
    return flows


def wiresift_skype_flows(*capture: str) -> dict[Key, str]:
    """Flows wiresift labels Skype: by detection, or by a usage object's application."""
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore())
    engine.keep_detections = True
    source = open_source(corpus_path(*capture))
    try:
        engine.run(source)
    finally:
        source.close()
    engine.finish()
    found: dict[Key, str] = {}
    for flow, detection in engine.detections:
        if detection.protocol == "skype":
            (oa, op), (ra, rp) = flow.orig, flow.resp
            key = frozenset(
                (_endpoint(f"[{format_addr(oa)}]:{op}"), _endpoint(f"[{format_addr(ra)}]:{rp}"))
            )
            found[key] = "skype"
    for record in sink.records:
        metadata = record.meta.get("metadata")
        if isinstance(metadata, dict) and metadata.get("application") == "skype":
            ref = record.flow
            key = frozenset(
                (
                    _endpoint(f"[{ref.client_addr}]:{ref.client_port}"),
                    _endpoint(f"[{ref.server_addr}]:{ref.server_port}"),
                )
            )
            found.setdefault(key, record.protocol)
    return found


@pytest.mark.parametrize(
    ("capture", "result", "flows", "by_protocol"),
    [
        (
            "ndpi-skype.pcap",
            "ndpi-skype__ndpi__skype.pcap.out",
            148,
            {"skype": 144, "tls": 4},
        ),
        (
            "ndpi-skype-no-unknown.pcap",
            "ndpi-skype-no-unknown__ndpi__skype_no_unknown.pcap.out",
            149,
            {"skype": 146, "tls": 3},
        ),
        ("ndpi-skype-udp.pcap", "ndpi-skype-udp__ndpi__skype_udp.pcap.out", 1, {"skype": 1}),
        (
            "ndpi-skype-conference-call.pcap",
            "ndpi-skype-conference-call__ndpi__skype-conference-call.pcap.out",
            1,
            {"stun": 1},
        ),
    ],
)
def test_every_ndpi_skype_flow_is_labelled_skype(
    capture: str, result: str, flows: int, by_protocol: dict[str, int]
) -> None:
    """nDPI's Skype/Teams flows (calls by UDP shape or STUN, TLS by names) are all ours too."""
    expected = ndpi_skype_flows(result)
    found = wiresift_skype_flows("pcaps", "skype", capture)
    assert len(expected) == flows
    assert sorted(map(sorted, set(expected) - set(found))) == []
    how: dict[str, int] = {}
    for key in expected:
        how[found[key]] = how.get(found[key], 0) + 1
    assert how == by_protocol


def test_dnscrypt_negative_sample_is_not_skype() -> None:
    """The DNSCrypt flow (512-byte queries with byte 2 == 0x02) is not taken for Skype."""
    assert wiresift_skype_flows("pcaps", "skype", "ndpi-dnscrypt-skype-false-positive.pcapng") == {}
