"""Direct Connect extraction end to end: hubs and clients on a namespace's loopback, captured
by tcpdump and read back by the engine.

ADC: uhub (a real hub) with two scripted clients (``tests/live/dcpeers.py``): hub chat with
escapes, an action, a private message echoed by the hub, ``DCTM`` and a client-to-client
connection with three downloads (whole file plain, whole file ``ZL1``, a segment). NMDC:
Debian packages no NMDC hub, so a small asyncio hub of ``dcpeers`` relays the same
scenario ($MyINFO, main chat, ``$To:``, ``$ConnectToMe``, ``$ADCGET``/``$ADCSND``). The
ground truth is what the clients sent and received. Needs root, ``ip netns``, tcpdump and
uhub (for ADC): skipped without them, except under CI=true, where their absence is a
failure. The captures are kept in ``$TMPDIR/wiresift-dc-live``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.dcpeers import (
    ADC_ACTION,
    ADC_HUB_CHAT,
    ADC_HUB_NAME,
    ADC_IDENTITIES,
    ADC_PORT,
    ADC_PRIVATE,
    CTM_TOKEN,
    HOST,
    NMDC_CYRILLIC,
    NMDC_HUB_CHAT,
    NMDC_HUB_NAME,
    NMDC_PORT,
    NMDC_PRIVATE,
    SHARE_SIZES,
    SHARED_FILES,
    TRANSFERS,
    adc_escape,
    nmdc_escape,
    sha256,
    shared_files,
    write_uhub_setup,
)
from tests.live.mailservers import LoopbackNamespace, prerequisites_missing, which

PCAP_KEEP_DIR = Path(tempfile.gettempdir()) / "wiresift-dc-live"


def require(tools: Sequence[str]) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing([t for t in tools if t != "uhub"])
    if reason is None and "uhub" in tools and which("uhub") is None:
        reason = "missing tools: uhub (Debian package uhub)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live Direct Connect tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture, the engine's reading of it and what the clients saw."""

    pcap: Path
    run: Run
    seen: dict[str, Any]


def capture(
    work: Path, name: str, hub: list[str], port: int, scenario: str
) -> tuple[Path, dict[str, Any]]:
    """Start ``hub`` in a namespace, run ``scenario`` under tcpdump; keep the capture."""
    pcap = work / f"{name}.pcap"
    result = work / f"{name}.json"
    namespace = LoopbackNamespace()
    try:
        server = namespace.spawn(hub, work / f"{name}-hub.log")
        namespace.wait_listening([port], server)
        namespace.start_capture(pcap)
        namespace.run([sys.executable, "-m", "tests.live.dcpeers", scenario, str(result)])
        namespace.stop_capture()
    finally:
        namespace.close()
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    shutil.copy(pcap, PCAP_KEEP_DIR / pcap.name)
    seen: dict[str, Any] = json.loads(result.read_text())
    return pcap, seen


@pytest.fixture(scope="module")
def adc_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """uhub relays two scripted ADC clients; they then connect to each other."""
    require(["ip", "ss", "tcpdump", "uhub"])
    work = tmp_path_factory.mktemp("adc")
    config = write_uhub_setup(work)
    hub = [which("uhub") or "uhub", "-c", str(config)]
    pcap, seen = capture(work, "adc", hub, ADC_PORT, "adc-scenario")
    return Captured(pcap, run_capture(pcap), seen)


@pytest.fixture(scope="module")
def nmdc_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """A small NMDC hub relays two scripted clients; they then connect to each other."""
    require(["ip", "ss", "tcpdump"])
    work = tmp_path_factory.mktemp("nmdc")
    hub = [sys.executable, "-m", "tests.live.dcpeers", "nmdc-hub"]
    pcap, seen = capture(work, "nmdc", hub, NMDC_PORT, "nmdc-scenario")
    return Captured(pcap, run_capture(pcap), seen)


def objects(run: Run, kind: str) -> list[dict[str, Any]]:
    """Passports of ``kind`` in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == kind]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def chat_rows(run: Run) -> list[tuple[str, str, str, tuple[str, ...], str, str, str]]:
    """(connection's account, direction, sender, recipients, kind, channel, text), sorted:
    the hub's relays to two users reach the wire in an order of its choosing."""
    return sorted(
        (
            p["parties"]["account"],
            p["direction"],
            p["parties"]["sender"],
            tuple(p["parties"]["recipients"]),
            p["chat"]["message_kind"],
            p["chat"]["channel"],
            p["chat"]["text"],
        )
        for p in objects(run, "chat")
    )


def file_rows(run: Run) -> list[tuple[str, int, int, int, str, str, bool, str | None]]:
    """(wire name, offset, size, stored size, sender, recipient, complete, transfer id)."""
    rows = []
    for passport in objects(run, "file"):
        (item,) = passport["contents"]
        assert sha256(run.content(item)) == item["sha256"]
        rows.append(
            (
                passport["file"]["wire_name"],
                passport["file"]["offset"],
                passport["file"]["size"],
                item["size"],
                passport["parties"]["sender"],
                passport["parties"]["recipients"][0],
                passport["complete"],
                passport["file"]["transfer_id"],
            )
        )
    return rows


def expected_digests() -> list[str]:
    """SHA-256 of each download of ``TRANSFERS`` (the segment's bytes for the last)."""
    files = shared_files()
    return [sha256(files[path][start : start + count]) for path, start, count, _ in TRANSFERS]


def test_adc_clients_got_what_was_sent(adc_capture: Captured) -> None:
    """uhub relayed the chat, the private message and DCTM; every download arrived intact."""
    seen = adc_capture.seen
    alice, bob = seen["sids"]["alice"], seen["sids"]["bob"]
    assert seen["bob_got_chat"] == f"BMSG {alice} {adc_escape(ADC_HUB_CHAT).decode()}"
    assert seen["bob_got_chat"].endswith("second\\sline\\swith\\sa\\s\\\\\\sbackslash")
    assert seen["alice_got_action"] == f"BMSG {bob} {adc_escape(ADC_ACTION).decode()} ME1"
    private = adc_escape(ADC_PRIVATE).decode()
    assert seen["alice_got_private"] == f"EMSG {bob} {alice} {private} PM{bob}"
    assert seen["bob_got_ctm"] == f"DCTM {alice} {bob} ADC/1.0 {seen['port']} {CTM_TOKEN}"
    assert seen["received"] == expected_digests()
    assert seen["alice_got_quit"] == f"IQUI {bob}"


def test_adc_chat_objects(adc_capture: Captured) -> None:
    """Each hub message on each connection is a chat object: nicks from SIDs, escapes undone,
    ME1 as an action, EMSG as private with its PM group, the hub's IINF name as channel."""
    hub = ADC_HUB_NAME
    assert chat_rows(adc_capture.run) == [
        ("alice", "download", "alice", (), "groupchat", hub, ADC_HUB_CHAT),
        ("alice", "download", "bob", (), "action", hub, ADC_ACTION),
        ("alice", "download", "bob", ("alice",), "private", hub, ADC_PRIVATE),
        ("alice", "upload", "alice", (), "groupchat", hub, ADC_HUB_CHAT),
        ("bob", "download", "alice", (), "groupchat", hub, ADC_HUB_CHAT),
        ("bob", "download", "bob", (), "action", hub, ADC_ACTION),
        ("bob", "download", "bob", ("alice",), "private", hub, ADC_PRIVATE),
        ("bob", "upload", "bob", (), "action", hub, ADC_ACTION),
        ("bob", "upload", "bob", ("alice",), "private", hub, ADC_PRIVATE),
    ]
    private = [p["chat"] for p in objects(adc_capture.run, "chat")]
    assert [c.get("reply_to") for c in private if c["message_kind"] == "private"] == ["bob"] * 3
    assert {c["client"] for c in private} == {"wiresift test 1.0"}


def adc_contact(index: int, sid: str) -> dict[str, Any]:
    """The contact entry of client ``index`` as its BINF describes it."""
    return {
        "contact": ("alice", "bob")[index],
        "name": None,
        "groups": [],
        "sid": sid,
        "cid": ADC_IDENTITIES[index][1],
        "share_size": SHARE_SIZES[index],
        "shared_files": SHARED_FILES[index],
        "ip4": HOST,
        "client": "wiresift test 1.0",
        "features": "TCP4",
    }


def test_adc_user_lists(adc_capture: Captured) -> None:
    """Each hub connection gives one contact list owned by the hub's address: bob's holds
    both users, alice's lost bob at his IQUI."""
    sids = adc_capture.seen["sids"]
    lists = {
        p["parties"]["account"]: p["contact_list"] for p in objects(adc_capture.run, "contact_list")
    }
    assert sorted(lists) == ["alice", "bob"]
    assert {v["owner"] for v in lists.values()} == {f"{HOST}:{ADC_PORT}"}
    by_nick = {c["contact"]: c for c in lists["bob"]["contacts"]}
    assert by_nick == {
        "alice": adc_contact(0, sids["alice"]),
        "bob": adc_contact(1, sids["bob"]),
    }
    assert lists["alice"]["contacts"] == [adc_contact(0, sids["alice"])]
    assert (lists["alice"]["count"], lists["bob"]["count"]) == (1, 2)


def test_adc_transfers_are_file_objects(adc_capture: Captured) -> None:
    """CSND plain, CSND ZL1 (inflated) and a segment are file objects with the sent bytes,
    alice to bob, under the DCTM token; a segment's size is its end (CSND gives no total)."""
    run = adc_capture.run
    digests = [p["contents"][0]["sha256"] for p in objects(run, "file")]
    assert digests == expected_digests()
    assert file_rows(run) == [
        (path, start, start + count, count, "alice", "bob", True, CTM_TOKEN)
        for path, start, count, _ in TRANSFERS
    ]
    (flow,) = {p["flow"]["server"]["port"] for p in objects(run, "file")}
    assert flow == adc_capture.seen["port"]


def test_adc_capture_has_no_anomalies(adc_capture: Captured) -> None:
    """Two hub connections and one peer connection, all ADC, read without an anomaly."""
    stats = adc_capture.run.stats
    assert dict(stats.protocols) == {"adc": 3}
    assert dict(stats.objects_by_protocol) == {
        ("chat", "adc"): 9,
        ("contact_list", "adc"): 2,
        ("file", "adc"): 3,
    }
    assert dict(stats.anomalies) == {}
    assert [p["anomalies"] for p in adc_capture.run.passports if p["anomalies"]] == []


def test_nmdc_clients_got_what_was_sent(nmdc_capture: Captured) -> None:
    """The hub relayed chat, $To: and $ConnectToMe; every download arrived intact."""
    seen = nmdc_capture.seen
    assert seen["bob_got_chat"] == "<alice> " + nmdc_escape(NMDC_HUB_CHAT).decode()
    assert seen["bob_got_chat"].startswith("<alice> hi &#124; there &amp; &#36;5")
    assert seen["alice_got_cyrillic"] == f"<bob> {NMDC_CYRILLIC}"
    assert seen["alice_got_private"] == f"$To: alice From: bob $<bob> {NMDC_PRIVATE}"
    assert seen["bob_got_ctm"] == f"$ConnectToMe bob {HOST}:{seen['port']}"
    assert seen["received"] == expected_digests()
    assert seen["alice_got_quit"] == "$Quit bob"


def test_nmdc_chat_objects(nmdc_capture: Captured) -> None:
    """Main chat and $To: on each connection are chat objects with entities undone, UTF-8
    text and the $HubName as channel; the escaped bytes are kept as raw."""
    hub = NMDC_HUB_NAME
    assert chat_rows(nmdc_capture.run) == [
        ("alice", "download", "alice", (), "groupchat", hub, NMDC_HUB_CHAT),
        ("alice", "download", "bob", (), "groupchat", hub, NMDC_CYRILLIC),
        ("alice", "download", "bob", ("alice",), "private", hub, NMDC_PRIVATE),
        ("alice", "upload", "alice", (), "groupchat", hub, NMDC_HUB_CHAT),
        ("bob", "download", "alice", (), "groupchat", hub, NMDC_HUB_CHAT),
        ("bob", "download", "bob", (), "groupchat", hub, NMDC_CYRILLIC),
        ("bob", "upload", "bob", (), "groupchat", hub, NMDC_CYRILLIC),
        ("bob", "upload", "bob", ("alice",), "private", hub, NMDC_PRIVATE),
    ]
    run = nmdc_capture.run
    escaped = [p for p in objects(run, "chat") if p["chat"]["text"] == NMDC_HUB_CHAT]
    for passport in escaped:
        (raw,) = [c for c in passport["contents"] if c["role"] == "raw"]
        assert run.content(raw) == nmdc_escape(NMDC_HUB_CHAT)
    assert len(escaped) == 3
    assert {p["chat"]["charset"] for p in objects(run, "chat")} == {"utf-8"}


def nmdc_contact(index: int) -> dict[str, Any]:
    """The contact entry of client ``index`` as its $MyINFO describes it."""
    nick = ("alice", "bob")[index]
    return {
        "contact": nick,
        "name": None,
        "groups": [],
        "tag": "<wiresift V:1.0,M:A,H:1/0/0,S:2>",
        "description": f"{nick} share",
        "connection": "LAN(T3)",
        "flag": 1,
        "email": f"{nick}@example.test",
        "share_size": SHARE_SIZES[index],
    }


def test_nmdc_user_lists(nmdc_capture: Captured) -> None:
    """Each hub connection gives one contact list owned by the hub's address, from $MyINFO:
    bob's holds both users, alice's lost bob at his $Quit."""
    lists = {
        p["parties"]["account"]: p["contact_list"]
        for p in objects(nmdc_capture.run, "contact_list")
    }
    assert sorted(lists) == ["alice", "bob"]
    assert {v["owner"] for v in lists.values()} == {f"{HOST}:{NMDC_PORT}"}
    by_nick = {c["contact"]: c for c in lists["bob"]["contacts"]}
    assert by_nick == {"alice": nmdc_contact(0), "bob": nmdc_contact(1)}
    assert lists["alice"]["contacts"] == [nmdc_contact(0)]


def test_nmdc_transfers_are_file_objects(nmdc_capture: Captured) -> None:
    """$ADCSND plain, ZL1 (inflated) and a segment are file objects with the sent bytes,
    alice to bob (nicks from $MyNick and $ConnectToMe)."""
    run = nmdc_capture.run
    digests = [p["contents"][0]["sha256"] for p in objects(run, "file")]
    assert digests == expected_digests()
    assert file_rows(run) == [
        (path, start, start + count, count, "alice", "bob", True, None)
        for path, start, count, _ in TRANSFERS
    ]
    (flow,) = {p["flow"]["server"]["port"] for p in objects(run, "file")}
    assert flow == nmdc_capture.seen["port"]


def test_nmdc_capture_has_no_anomalies(nmdc_capture: Captured) -> None:
    """Two hub connections and one peer connection, all NMDC, read without an anomaly."""
    stats = nmdc_capture.run.stats
    assert dict(stats.protocols) == {"nmdc": 3}
    assert dict(stats.objects_by_protocol) == {
        ("chat", "nmdc"): 8,
        ("contact_list", "nmdc"): 2,
        ("file", "nmdc"): 3,
    }
    assert dict(stats.anomalies) == {}
    assert [p["anomalies"] for p in nmdc_capture.run.passports if p["anomalies"]] == []
