"""Instant-messaging extraction end to end: scripted servers and clients exchange real TCP on
a namespace's loopback, tcpdump captures it and the engine reads the capture back.

OSCAR (ICQ UIN and AIM BUCP logins, messages, offline message, feedbag, OFT2 file), MRIM
(1.23 and 1.10 sessions, contact list, file on its own connection), MSN (notification
server, switchboard conference, MSNFTP and switchboard P2P files) and YMSG (login, list,
messages, conference, file offer). Then the transfers that leave the peer-to-peer path: an
OSCAR file through AOL's rendezvous proxy, an MSN P2P file over the direct connection an
MSNSLP transrespbody announces, a YMSG version-15 file through the HTTP relay. The programs
are in ``tests/live/imservers.py`` and ``tests/live/imservers_transfers.py``; the buddy's
side writes what it received, the ground truth. Needs root, ``ip netns`` and
tcpdump: skipped without them, except under CI=true, where their absence is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.engine.helpers import Run, body, run_capture
from tests.live import imservers as im
from tests.live import imservers_transfers as xfer
from tests.live.mailservers import START_DEADLINE_S, LoopbackNamespace, prerequisites_missing

SCENARIO_TIMEOUT_S = 30.0
TRANSFERS = "tests.live.imservers_transfers"


def require(tools: Sequence[str]) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(tools)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live IM tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture, the engine's reading of it and what the buddy's side received."""

    pcap: Path
    run: Run
    received: dict[str, Any]


def wait_listening(
    namespace: LoopbackNamespace, endpoints: Sequence[str], process: subprocess.Popen[bytes]
) -> None:
    """Wait until every ``address:port`` listens in the namespace."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        listening = namespace.run(["ss", "-ltnH"]).stdout.decode()
        if all(f"{endpoint} " in listening for endpoint in endpoints):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{list(endpoints)} did not open within {START_DEADLINE_S} s")


def scenario(
    factory: pytest.TempPathFactory,
    network: str,
    endpoints: Sequence[str],
    programs: str = "tests.live.imservers",
) -> Captured:
    """Run ``network``'s server and client (roles of ``programs``) under tcpdump; read the
    capture."""
    require(["ip", "ss", "tcpdump"])
    work = factory.mktemp(network)
    pcap = work / f"{network}.pcap"
    module = [sys.executable, "-m", programs]
    namespace = LoopbackNamespace()
    try:
        server = namespace.spawn(
            [*module, f"{network}-server", str(work / "server.json")], work / "server.log"
        )
        wait_listening(namespace, endpoints, server)
        namespace.start_capture(pcap)
        namespace.run([*module, f"{network}-client", str(work / "client.json")])
        returncode = server.wait(timeout=SCENARIO_TIMEOUT_S)
        assert returncode == 0, (work / "server.log").read_text(errors="replace")
        namespace.stop_capture()
    finally:
        namespace.close()
    received = json.loads((work / "server.json").read_text())
    return Captured(pcap, run_capture(pcap), received)


@pytest.fixture(scope="module")
def oscar_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """ICQ and AIM sessions with an OFT2 file, captured."""
    return scenario(tmp_path_factory, "oscar", ["127.0.0.1:5190", "127.0.0.3:5190"])


@pytest.fixture(scope="module")
def mrim_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """Two MRIM sessions and a file connection, captured."""
    return scenario(tmp_path_factory, "mrim", ["127.0.0.1:2041"])


@pytest.fixture(scope="module")
def msn_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """MSN notification server, switchboard and MSNFTP connections, captured."""
    return scenario(tmp_path_factory, "msn", ["127.0.0.1:1863", "127.0.0.2:1863"])


@pytest.fixture(scope="module")
def ymsg_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """One YMSG session, captured."""
    return scenario(tmp_path_factory, "ymsg", ["127.0.0.1:5050"])


@pytest.fixture(scope="module")
def oscar_proxy_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """A BOS session whose file goes through the rendezvous proxy, captured."""
    endpoints = ["127.0.0.3:5190", "127.0.0.4:5190"]
    return scenario(tmp_path_factory, "oscar-proxy", endpoints, TRANSFERS)


@pytest.fixture(scope="module")
def msn_direct_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """A switchboard negotiating a P2P direct connection, and that connection, captured."""
    endpoints = ["127.0.0.2:1863", "127.0.0.6:7001"]
    return scenario(tmp_path_factory, "msn-direct", endpoints, TRANSFERS)


@pytest.fixture(scope="module")
def ymsg_relay_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """A YMSG session whose file goes through the HTTP relay, captured."""
    endpoints = ["127.0.0.1:5050", "127.0.0.5:80"]
    return scenario(tmp_path_factory, "ymsg-relay", endpoints, TRANSFERS)


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def objects(run: Run, kind: str, protocol: str) -> list[dict[str, Any]]:
    """Passports of ``kind`` and ``protocol`` in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == kind and p["protocol"] == protocol]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def chats(run: Run, protocol: str) -> list[tuple[Any, ...]]:
    """(sender, recipients, text, charset, kind) of each chat object."""
    return [
        (
            p["parties"]["sender"],
            p["parties"]["recipients"],
            p["chat"]["text"],
            p["chat"]["charset"],
            p["chat"]["message_kind"],
        )
        for p in objects(run, "chat", protocol)
    ]


def files(run: Run, protocol: str) -> list[tuple[Any, ...]]:
    """(wire name, size, sender, recipients, complete, sha256 of the stored bytes) of files."""
    out = []
    for passport in objects(run, "file", protocol):
        (item,) = passport["contents"]
        assert sha256(run.content(item)) == item["sha256"]
        out.append(
            (
                passport["file"]["wire_name"],
                passport["file"]["size"],
                passport["parties"]["sender"],
                passport["parties"]["recipients"],
                passport["complete"],
                item["sha256"],
            )
        )
    return out


TSHARK = shutil.which("tshark")


def tshark_frames(pcap: Path, protocol: str, port: int | None) -> tuple[int, list[str]]:
    """Frames of ``protocol`` in the capture and the numbers of those marked malformed;
    ``port`` decodes that TCP port as ``protocol`` (None: the heuristic dissector finds it)."""
    assert TSHARK is not None
    decode = ["-d", f"tcp.port=={port},{protocol}"] if port is not None else []
    shown = ["-Y", f"{protocol} || _ws.malformed", "-T", "fields"]
    result = subprocess.run(
        [TSHARK, "-r", str(pcap), *decode, *shown, "-e", "frame.number", "-e", "_ws.malformed"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    return len(lines), [fields[0] for fields in lines if len(fields) > 1 and fields[1]]


needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (scripts/ci-packages.sh installs it)"
)


# --- OSCAR ---------------------------------------------------------------------------------


def test_oscar_flows_and_no_anomaly(oscar_capture: Captured) -> None:
    """Two logins and two BOS connections are OSCAR, the peer connection OFT; no anomaly."""
    assert dict(oscar_capture.run.stats.protocols) == {"oscar": 4, "oscar-oft": 1}
    assert dict(oscar_capture.run.stats.anomalies) == {}
    assert [p["anomalies"] for p in oscar_capture.run.passports if p["anomalies"]] == []


def test_oscar_icq_messages_both_ways_and_offline(oscar_capture: Captured) -> None:
    """ICQ BOS: the offline message, then ASCII, UTF-16BE and cp1251 both ways, exactly."""
    icq = [c for c in chats(oscar_capture.run, "oscar") if "123456789" in (c[0], *c[1])]
    uin, buddy = im.ICQ_UIN, im.ICQ_BUDDY
    assert icq == [
        (im.OFFLINE_SENDER, [uin], im.OFFLINE_TEXT, "us-ascii", "offline"),
        (uin, [buddy], "hello bob", "us-ascii", "chat"),
        (buddy, [uin], "hi alice", "us-ascii", "chat"),
        (uin, [buddy], im.RUSSIAN, "utf-16be", "chat"),
        (buddy, [uin], "Всё хорошо, спасибо", "utf-16be", "chat"),
        (uin, [buddy], "Пока", "cp1251", "chat"),
        (buddy, [uin], "До встречи", "cp1251", "chat"),
    ]
    # What the server received is what the capture shows the client sent.
    sent = [bytes.fromhex(b) for b in oscar_capture.received["icq"]]
    client_raw = [raw for from_client, _, _, raw in im.ICQ_MESSAGES if from_client]
    assert [raw in body for raw, body in zip(client_raw, sent, strict=True)] == [True] * 3
    offline = objects(oscar_capture.run, "chat", "oscar")[0]
    assert offline["chat"]["sent_at_ns"] == 1083827280 * 1_000_000_000  # 2004-05-06 07:08 UTC


def test_oscar_aim_html_messages(oscar_capture: Captured) -> None:
    """AIM BOS after a BUCP login: HTML both ways, text without tags, markup kept."""
    found = [
        p
        for p in objects(oscar_capture.run, "chat", "oscar")
        if p["parties"]["sender"] in (im.AIM_NAME, im.AIM_BUDDY)
    ]
    assert {p["parties"]["account"] for p in found} == {im.AIM_NAME}  # from BOS self-info
    assert [
        (p["parties"]["sender"], p["parties"]["recipients"], p["chat"]["text"], p["chat"]["markup"])
        for p in found
    ] == [
        (im.AIM_NAME, [im.AIM_BUDDY], "bold & more\nline2", im.AIM_HTML_OUT),
        (im.AIM_BUDDY, [im.AIM_NAME], "blue reply", im.AIM_HTML_IN),
    ]
    assert bytes.fromhex(oscar_capture.received["aim"][0]).endswith(im.AIM_HTML_OUT.encode())


def test_oscar_feedbag_three_groups_ten_buddies_add_delete(oscar_capture: Captured) -> None:
    """The feedbag (two SNACs) then an add and a delete: one list of ten contacts."""
    (found,) = objects(oscar_capture.run, "contact_list", "oscar")
    contact_list = found["contact_list"]
    groups = {gid: name for name, gid in im.AIM_GROUPS}
    expected = [
        {
            "contact": name,
            "name": f"Nick {name}" if iid % 2 == 0 else None,
            "groups": [groups[gid]],
            "group_id": gid,
        }
        for name, gid, iid in im.AIM_BUDDIES
        if name != "buddy3"
    ]
    expected.append({"contact": "newbuddy", "name": "Новый", "groups": ["Work"], "group_id": 2})
    assert contact_list["owner"] == im.AIM_NAME
    assert contact_list["groups"] == ["Friends", "Work", "Family"]
    assert contact_list["contacts"] == expected
    assert (contact_list["count"], contact_list["changes"], found["complete"]) == (10, 3, True)


def test_oscar_rendezvous_and_oft2_file(oscar_capture: Captured) -> None:
    """The send-file proposal leads to the OFT2 connection; the stored bytes are the file."""
    digest = sha256(im.OFT_FILE)
    assert oscar_capture.received["files"] == {im.OFT_NAME: digest}
    assert files(oscar_capture.run, "oscar-oft") == [
        (im.OFT_NAME, len(im.OFT_FILE), im.ICQ_UIN, [im.ICQ_BUDDY], True, digest)
    ]
    (found,) = objects(oscar_capture.run, "file", "oscar-oft")
    assert (found["file"]["transfer_id"], found["flow"]["server"]) == (
        im.OFT_COOKIE.hex(),
        {"addr": "127.0.0.1", "port": im.OFT_PORT},
    )


@needs_tshark
def test_oscar_tshark_sees_no_malformed_packet(oscar_capture: Captured) -> None:
    """Wireshark's aim dissector on 5190 marks nothing malformed."""
    count, bad = tshark_frames(oscar_capture.pcap, "aim", im.OSCAR_PORT)
    assert bad == []
    assert count > 30


# --- MRIM ----------------------------------------------------------------------------------


def test_mrim_flows_and_no_anomaly(mrim_capture: Captured) -> None:
    """Two MRIM sessions and one MRA_FT connection; no anomaly."""
    assert dict(mrim_capture.run.stats.protocols) == {"mrim": 2, "mrim-ft": 1}
    assert dict(mrim_capture.run.stats.anomalies) == {}


def test_mrim_messages_utf16le_and_cp1251(mrim_capture: Captured) -> None:
    """Protocol 1.23 messages are UTF-16LE, 1.10 ones cp1251; the login names the account."""
    alice, bob = im.MRIM_ACCOUNT, im.MRIM_BUDDY
    assert chats(mrim_capture.run, "mrim") == [
        (alice, [bob], im.MRIM_UNICODE_OUT, "utf-16le", "chat"),
        (bob, [alice], im.MRIM_UNICODE_IN, "utf-16le", "chat"),
        (alice, [bob], im.MRIM_CP1251_OUT, "cp1251", "chat"),
        (bob, [alice], im.MRIM_CP1251_IN, "cp1251", "chat"),
    ]
    found = objects(mrim_capture.run, "chat", "mrim")
    assert {(p["parties"]["account"], p["chat"]["client"]) for p in found} == {
        (alice, im.MRIM_CLIENT)
    }
    sent = [bytes.fromhex(b) for b in mrim_capture.received["texts"]]
    assert im.MRIM_UNICODE_OUT.encode("utf-16-le") in sent[0]
    assert im.MRIM_CP1251_OUT.encode("cp1251") in sent[1]


def test_mrim_contact_list_with_addition(mrim_capture: Captured) -> None:
    """CONTACT_LIST2 (two groups, three contacts) then ADD_CONTACT: four contacts."""
    (found,) = objects(mrim_capture.run, "contact_list", "mrim")
    contact_list = found["contact_list"]
    extra = {"flags": "0x0", "server_flags": "0x0", "status": "0x1"}
    assert contact_list["groups"] == list(im.MRIM_GROUPS)
    assert contact_list["contacts"] == [
        {"contact": address, "name": nick, "groups": [im.MRIM_GROUPS[group]], **extra}
        for _, group, address, nick in im.MRIM_CONTACTS
    ] + [{"contact": "dave@mail.ru", "name": "Dave", "groups": ["Work"]}]
    assert (contact_list["owner"], contact_list["count"], contact_list["changes"]) == (
        im.MRIM_ACCOUNT,
        4,
        2,
    )
    assert [
        (o["wire_name"], o["size"], o["sender"], o["endpoint"]) for o in contact_list["file_offers"]
    ] == [(im.MRIM_FT_NAME, len(im.MRIM_FT_FILE), im.MRIM_BUDDY, ["127.0.0.1", im.MRIM_FT_PORT])]


def test_mrim_file_on_its_own_connection(mrim_capture: Captured) -> None:
    """The FILE_TRANSFER offer announces the MRA_FT connection; the stored bytes are exact."""
    digest = sha256(im.MRIM_FT_FILE)
    assert mrim_capture.received["files"] == {im.MRIM_FT_NAME: digest}
    assert files(mrim_capture.run, "mrim-ft") == [
        (im.MRIM_FT_NAME, len(im.MRIM_FT_FILE), im.MRIM_BUDDY, [im.MRIM_ACCOUNT], True, digest)
    ]


# --- MSN -----------------------------------------------------------------------------------


def test_msn_flows_and_no_anomaly(msn_capture: Captured) -> None:
    """Notification server and switchboard are MSN, the file connection MSNFTP; no anomaly."""
    assert dict(msn_capture.run.stats.protocols) == {"msn": 2, "msnftp": 1}
    assert dict(msn_capture.run.stats.anomalies) == {}


def test_msn_contact_list_after_add_and_remove(msn_capture: Captured) -> None:
    """SYN/LSG/LST, then ADD erin and REM dave: the final list, groups URL-decoded."""
    (found,) = objects(msn_capture.run, "contact_list", "msn")
    contact_list = found["contact_list"]
    assert contact_list["owner"] == im.MSN_ALICE
    assert contact_list["client"] == "MSNMSGR 6.2.0208"
    assert contact_list["groups"] == ["Other Contacts", "Коллеги"]
    assert contact_list["contacts"] == [
        {
            "contact": im.MSN_BOB,
            "name": "Bob B.",
            "groups": ["Other Contacts"],
            "lists": ["FL", "AL", "RL"],
        },
        {
            "contact": im.MSN_CAROL,
            "name": "王小明",
            "groups": ["Коллеги"],
            "lists": ["FL", "AL", "RL"],
        },
        {"contact": im.MSN_ERIN, "name": "Erin", "groups": ["Коллеги"]},
    ]
    assert found["parties"]["account"] == im.MSN_ALICE


def test_msn_conference_of_three(msn_capture: Captured) -> None:
    """Every switchboard message goes to the two other participants; Latin, Cyrillic, CJK."""
    everyone = [im.MSN_ALICE, im.MSN_BOB, im.MSN_CAROL]
    expected = []
    for sender, text in im.MSN_CONFERENCE:
        who = sender or im.MSN_ALICE
        others = [p for p in everyone if p != who]
        if sender is not None:  # the server lists the others as they joined, the user last
            others = [p for p in everyone[1:] if p != who] + [im.MSN_ALICE]
        expected.append((who, others, text, "utf-8", "chat"))
    assert chats(msn_capture.run, "msn") == expected
    assert msn_capture.received["texts"] == [t for s, t in im.MSN_CONFERENCE if s is None]


def test_msn_msnftp_and_p2p_files(msn_capture: Captured) -> None:
    """The MSNFTP file on its own connection and the P2P file in the switchboard, exact."""
    assert msn_capture.received["files"] == {
        im.MSNFTP_NAME: sha256(im.MSNFTP_FILE),
        im.P2P_NAME: sha256(im.P2P_FILE),
    }
    alice, bob = im.MSN_ALICE, [im.MSN_BOB]
    assert files(msn_capture.run, "msnftp") == [
        (im.MSNFTP_NAME, len(im.MSNFTP_FILE), alice, bob, True, sha256(im.MSNFTP_FILE))
    ]
    assert files(msn_capture.run, "msn") == [
        (im.P2P_NAME, len(im.P2P_FILE), alice, bob, True, sha256(im.P2P_FILE))
    ]
    (p2p,) = objects(msn_capture.run, "file", "msn")
    assert (p2p["file"]["transfer_id"], p2p["direction"]) == (str(im.P2P_SESSION), "upload")


@needs_tshark
def test_msn_tshark_sees_no_malformed_packet(msn_capture: Captured) -> None:
    """Wireshark's msnms dissector on 1863 marks nothing malformed."""
    count, bad = tshark_frames(msn_capture.pcap, "msnms", im.MSN_PORT)
    assert bad == []
    assert count > 30


# --- YMSG ----------------------------------------------------------------------------------


def test_ymsg_flow_and_no_anomaly(ymsg_capture: Captured) -> None:
    """One YMSG connection; no anomaly."""
    assert dict(ymsg_capture.run.stats.protocols) == {"ymsg": 1}
    assert dict(ymsg_capture.run.stats.anomalies) == {}


def test_ymsg_messages_and_conference(ymsg_capture: Captured) -> None:
    """Latin, Cyrillic and CJK both ways, then the conference messages in its room."""
    alice, bob = im.YMSG_ALICE, im.YMSG_BOB
    direct = []
    for text in im.YMSG_TEXTS:
        direct += [
            (alice, [bob], text, "utf-8", "chat"),
            (bob, [alice], text[::-1], "utf-8", "chat"),
        ]
    assert chats(ymsg_capture.run, "ymsg") == [
        *direct,
        (alice, [], im.YMSG_CJK, "utf-8", "groupchat"),
        (bob, [], im.YMSG_CYRILLIC, "utf-8", "groupchat"),
    ]
    rooms = [p["chat"]["channel"] for p in objects(ymsg_capture.run, "chat", "ymsg")]
    assert rooms == [None] * 6 + [im.YMSG_ROOM] * 2
    assert ymsg_capture.received == {"texts": list(im.YMSG_TEXTS), "conference": [im.YMSG_CJK]}


def test_ymsg_buddy_list_and_file_offer(ymsg_capture: Captured) -> None:
    """LIST, ADDBUDDY dave, REMBUDDY carol: the final list; the file offer and relay."""
    (found,) = objects(ymsg_capture.run, "contact_list", "ymsg")
    contact_list = found["contact_list"]
    assert contact_list["owner"] == im.YMSG_ALICE
    assert contact_list["groups"] == ["Friends", "家族"]
    assert contact_list["contacts"] == [
        {"contact": "bob_y", "name": None, "groups": ["Friends"]},
        {"contact": "mom_y", "name": None, "groups": ["家族"]},
        {"contact": "dave_y", "name": None, "groups": ["Friends"]},
    ]
    offers = [
        (
            o["wire_name"],
            o["size"],
            o["sender"],
            o["recipient"],
            o["transfer_id"],
            o["endpoint"],
            o["accepted"],
        )
        for o in contact_list["file_offers"]
    ]
    alice, bob, name = im.YMSG_ALICE, im.YMSG_BOB, im.YMSG_FILE_NAME
    assert offers == [
        (name, im.YMSG_FILE_SIZE, alice, bob, im.YMSG_FILE_ID, None, None),
        ("", None, alice, bob, im.YMSG_FILE_ID, None, True),
        (name, None, alice, bob, "TOKEN%3D", [im.YMSG_RELAY, 80], None),
    ]


@needs_tshark
def test_ymsg_tshark_sees_no_malformed_packet(ymsg_capture: Captured) -> None:
    """Wireshark's ymsg dissector (heuristic only: it cannot be bound to a port) marks
    nothing malformed."""
    count, bad = tshark_frames(ymsg_capture.pcap, "ymsg", None)
    assert bad == []
    assert count > 10


# --- transfers around the peer-to-peer path (imservers_transfers) ------------------------------


def test_oscar_proxy_file_through_the_rendezvous_proxy(oscar_proxy_capture: Captured) -> None:
    """Both legs through the proxy carry the exact file: the JOIN side, announced by the
    rendezvous, with both names; the CREATE side, found by its proxy frame, without them."""
    digest = sha256(xfer.PROXY_FILE)
    assert oscar_proxy_capture.received == {"files": {xfer.PROXY_NAME: digest}}
    size, alice, bob = len(xfer.PROXY_FILE), xfer.PROXY_ALICE, xfer.PROXY_BOB
    assert sorted(files(oscar_proxy_capture.run, "oscar-oft"), key=lambda row: row[2] or "") == [
        (xfer.PROXY_NAME, size, None, [], True, digest),
        (xfer.PROXY_NAME, size, alice, [bob], True, digest),
    ]
    (found,) = [
        p
        for p in objects(oscar_proxy_capture.run, "file", "oscar-oft")
        if p["parties"]["sender"] == alice
    ]
    assert (found["file"]["name"], found["file"]["transfer_id"], found["direction"]) == (
        xfer.PROXY_NAME,
        xfer.PROXY_COOKIE.hex(),
        "download",
    )
    assert found["flow"]["server"] == {"addr": xfer.PROXY_HOST, "port": xfer.PROXY_PORT}


def test_oscar_proxy_both_proxy_connections_are_oft(oscar_proxy_capture: Captured) -> None:
    """BOS is OSCAR; both buddies' proxy connections are OFT; no anomaly."""
    assert dict(oscar_proxy_capture.run.stats.protocols) == {"oscar": 1, "oscar-oft": 2}
    assert dict(oscar_proxy_capture.run.stats.anomalies) == {}


def test_msn_direct_flows_and_no_anomaly(msn_direct_capture: Captured) -> None:
    """The switchboard is MSN, the announced direct connection MSN P2P; no anomaly."""
    assert dict(msn_direct_capture.run.stats.protocols) == {"msn": 1, "msnp2p": 1}
    assert dict(msn_direct_capture.run.stats.anomalies) == {}


def test_msn_p2p_file_over_the_direct_connection(msn_direct_capture: Captured) -> None:
    """The transrespbody's listener gets the INVITE's file name; the chunks are the file."""
    digest = sha256(xfer.DC_FILE)
    assert msn_direct_capture.received == {"files": {xfer.DC_NAME: digest}}
    assert files(msn_direct_capture.run, "msnp2p") == [
        (xfer.DC_NAME, len(xfer.DC_FILE), xfer.DC_ALICE, [xfer.DC_BOB], True, digest)
    ]
    assert files(msn_direct_capture.run, "msn") == []
    (found,) = objects(msn_direct_capture.run, "file", "msnp2p")
    assert (found["file"]["transfer_id"], found["direction"], found["flow"]["server"]) == (
        str(xfer.DC_SESSION),
        "upload",
        {"addr": xfer.DC_HOST, "port": xfer.DC_PORT},
    )


def test_ymsg_relay_flows_and_no_anomaly(ymsg_relay_capture: Captured) -> None:
    """One YMSG session and two HTTP connections to the relay; no anomaly."""
    assert dict(ymsg_relay_capture.run.stats.protocols) == {"ymsg": 1, "http": 2}
    assert dict(ymsg_relay_capture.run.stats.anomalies) == {}


def test_ymsg_relay_http_carries_the_file_named_by_the_token(ymsg_relay_capture: Captured) -> None:
    """POST and GET /relay carry the file; their token is the transfer id of the 0xDE offer."""
    run = ymsg_relay_capture.run
    digest = sha256(xfer.YMSG_FILE)
    assert ymsg_relay_capture.received == {"files": {xfer.YMSG_NAME: digest}}
    upload, download = objects(run, "http", "http")
    carried = []
    for passport, role in ((upload, "request-body"), (download, "response-body")):
        item = body(passport, role)
        assert sha256(run.content(item)) == item["sha256"]
        carried.append((passport["http"]["method"], passport["http"]["status"], item["sha256"]))
    assert carried == [("POST", 200, digest), ("GET", 200, digest)]
    (found,) = objects(run, "contact_list", "ymsg")
    offers = found["contact_list"]["file_offers"]
    assert [(o["transfer_id"], o["endpoint"], o["accepted"]) for o in offers] == [
        (xfer.YMSG_TRANSFER, None, None),
        (xfer.YMSG_TRANSFER, None, True),
        (xfer.YMSG_TRANSFER, [xfer.RELAY_HOST, xfer.RELAY_PORT], None),
        (xfer.YMSG_RELAY_ID, None, True),
    ]
    assert [(o["wire_name"], o["size"]) for o in offers[:1]] == [
        (xfer.YMSG_NAME, len(xfer.YMSG_FILE))
    ]
    for passport in (upload, download):
        url = urlsplit(passport["http"]["url"])
        assert (url.hostname, url.path) == (xfer.RELAY_HOST, "/relay")
        assert parse_qs(url.query)["token"] == [offers[3]["transfer_id"]]


def test_ymsg_relay_offers_from_the_server_name_both_parties(
    ymsg_relay_capture: Captured,
) -> None:
    """Every offer of the transfer, Bob's accept and token included, names Alice and Bob."""
    (found,) = objects(ymsg_relay_capture.run, "contact_list", "ymsg")
    parties = [{o["sender"], o["recipient"]} for o in found["contact_list"]["file_offers"]]
    assert parties == [{xfer.YMSG_ALICE, xfer.YMSG_BOB}] * 4
