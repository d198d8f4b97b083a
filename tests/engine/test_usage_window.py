"""Usage objects summed per client, server and protocol (BitTorrent: per swarm) per window."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import corpus_path
from tests.engine.helpers import run_capture
from wiresift.config import Config, OutputConfig


def usage(passports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in passports if p["kind"] == "usage"]


def totals(items: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    return (
        sum(p["usage"]["packets"]["client"] for p in items),
        sum(p["usage"]["packets"]["server"] for p in items),
        sum(p["usage"]["bytes"]["client"] for p in items),
        sum(p["usage"]["bytes"]["server"] for p in items),
    )


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("folder", "name"),
    [("bittorrent", "ndpi-bittorrent.pcap"), ("skype", "ndpi-skype.pcap")],
)
def test_windows_sum_exactly_what_the_flows_had(folder: str, name: str) -> None:
    """Summed objects carry every flow once and exactly the flows' packets and bytes."""
    path = corpus_path("pcaps", folder, name)
    per_flow = usage(run_capture(path).passports)
    summed = usage(run_capture(path, Config(output=OutputConfig(usage_window=3600))).passports)
    assert 0 < len(summed) < len(per_flow)
    assert totals(summed) == totals(per_flow)
    uids = [uid for p in summed for uid in p["usage"]["window"]["flow_uids"]]
    assert sorted(uids) == sorted(p["flow"]["uid"] for p in per_flow)
    assert sum(p["usage"]["window"]["flows"] for p in summed) == len(per_flow)
    keys = Counter(
        (
            p["protocol"],
            p["flow"]["client"]["addr"],
            p["usage"]["window"].get("swarm") or p["flow"]["server"]["addr"],
        )
        for p in summed
    )
    assert max(keys.values()) == 1  # one object per key in the one window


@pytest.mark.corpus
def test_bittorrent_swarm_is_one_object_per_client() -> None:
    """Every peer-wire flow of the swarm from one client is a single object naming the swarm."""
    path = corpus_path("pcaps", "bittorrent", "ndpi-bittorrent.pcap")
    summed = usage(run_capture(path, Config(output=OutputConfig(usage_window=3600))).passports)
    swarms = [p for p in summed if p["usage"]["window"].get("swarm")]
    assert {p["usage"]["window"]["swarm"][:8] for p in swarms} == {"dcfcdccf"}
    clients = Counter(p["flow"]["client"]["addr"] for p in swarms)
    assert all(count == 1 for count in clients.values())
    assert sum(p["usage"]["window"]["flows"] for p in swarms) == 24
