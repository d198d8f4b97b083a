"""Direct Connect extraction with a real client: ncdc (Debian package ``ncdc``) on uhub and
on the small NMDC hub of ``tests/live/dcpeers.py``.

ncdc, driven on a pseudo-terminal (``tests/live/dcclient.py``), and the scripted ADC client
``bob`` log in to uhub in a namespace captured by tcpdump. ncdc says something in hub chat,
sends bob a private message, then serves bob its file list and a shared file over a peer
connection bob asks for with ``DCTM``. The ground truth is what bob received and what
ncdc reports about itself (``ncdc --version``). On NMDC the scripted client ``bob`` of
``dcpeers`` meets ncdc on ``dchub://``: main chat, ``$To:``, then ``$ConnectToMe`` and the
file list by ``$ADCGET``. Needs root, ``ip netns``, tcpdump, uhub and
ncdc (uhub only for ADC): skipped without them, except under CI=true, where their absence
is a failure. The captures are kept in ``$TMPDIR/wiresift-dc-live``.
"""

from __future__ import annotations

import bz2
import json
import os
import shutil
import subprocess
import sys
from typing import Any, Final

import pytest

from tests.engine.helpers import run_capture
from tests.live.dcclient import (
    BOB,
    HUB_CHAT,
    NCDC_NICK,
    PEER_TOKEN,
    PRIVATE_TEXT,
    SCENARIO_DEADLINE_S,
    SHARED_BYTES,
    SHARED_NAME,
    adc_fields,
)
from tests.live.dcpeers import (
    ADC_HUB_NAME,
    ADC_IDENTITIES,
    ADC_PORT,
    HOST,
    NMDC_HUB_NAME,
    NMDC_PORT,
    SHARE_SIZES,
    SHARED_FILES,
    adc_escape,
    sha256,
    write_uhub_setup,
)
from tests.live.mailservers import LoopbackNamespace, which
from tests.live.test_dc_loopback import PCAP_KEEP_DIR, Captured, chat_rows, objects, require

SCENARIO_TIMEOUT_S: Final = SCENARIO_DEADLINE_S + 30


def ncdc_version() -> str:
    """ncdc's name and version as it prints them (``ncdc 1.23.1``), or skip/fail without it."""
    ncdc = which("ncdc")
    if ncdc is None:
        reason = "missing tools: ncdc (Debian package ncdc)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"live Direct Connect client test cannot run under CI: {reason}")
        pytest.skip(reason)
    printed = subprocess.run([ncdc, "--version"], capture_output=True, check=True, timeout=10)
    name, version = printed.stdout.decode().split()[:2]
    return f"{name} {version}"


@pytest.fixture(scope="module")
def ncdc_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Captured, str]:
    """uhub with ncdc and bob: chat, a private message, two uploads from ncdc to bob."""
    require(["ip", "ss", "tcpdump", "uhub"])
    client = ncdc_version()
    work = tmp_path_factory.mktemp("ncdc")
    config = write_uhub_setup(work)
    pcap = work / "ncdc.pcap"
    result = work / "ncdc.json"
    namespace = LoopbackNamespace()
    try:
        hub = namespace.spawn([which("uhub") or "uhub", "-c", str(config)], work / "hub.log")
        namespace.wait_listening([ADC_PORT], hub)
        namespace.start_capture(pcap)
        scenario = [sys.executable, "-m", "tests.live.dcclient", str(result), str(work)]
        namespace.run(scenario, timeout=SCENARIO_TIMEOUT_S)
        namespace.stop_capture()
    finally:
        namespace.close()
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    shutil.copy(pcap, PCAP_KEEP_DIR / pcap.name)
    seen: dict[str, Any] = json.loads(result.read_text())
    return Captured(pcap, run_capture(pcap), seen), client


def test_ncdc_did_what_it_was_typed(ncdc_capture: tuple[Captured, str]) -> None:
    """Bob got ncdc's chat, its private message, its file list and the file; ncdc quit."""
    captured, client = ncdc_capture
    seen = captured.seen
    ncdc, bob = seen["ncdc_sid"], seen["bob_sid"]
    assert adc_fields(seen["ncdc_binf"])["VE"] == client
    assert seen["bob_got_chat"] == f"BMSG {ncdc} {adc_escape(HUB_CHAT).decode()}"
    private = adc_escape(PRIVATE_TEXT).decode()
    assert seen["bob_got_private"] == f"EMSG {ncdc} {bob} {private} PM{ncdc}"
    tth = seen["listed"][2]
    assert seen["listed"] == [SHARED_NAME, len(SHARED_BYTES), tth]
    assert seen["file_csnd"] == f"CSND file TTH/{tth} 0 {len(SHARED_BYTES)}"
    assert seen["file_sha256"] == sha256(SHARED_BYTES)
    assert seen["peer_inf"].endswith(f" TO{PEER_TOKEN}")
    assert (seen["ncdc_exit"], seen["bob_got_quit"]) == (0, f"IQUI {ncdc}")


def test_ncdc_chat_objects(ncdc_capture: tuple[Captured, str]) -> None:
    """ncdc's BMSG and EMSG are chat objects on both hub connections, sender ncdc's nick;
    on ncdc's own connection they carry ncdc's client name from its INF VE."""
    captured, client = ncdc_capture
    hub = ADC_HUB_NAME
    assert chat_rows(captured.run) == [
        (BOB, "download", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (BOB, "download", NCDC_NICK, (BOB,), "private", hub, PRIVATE_TEXT),
        (NCDC_NICK, "download", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (NCDC_NICK, "download", NCDC_NICK, (BOB,), "private", hub, PRIVATE_TEXT),
        (NCDC_NICK, "upload", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (NCDC_NICK, "upload", NCDC_NICK, (BOB,), "private", hub, PRIVATE_TEXT),
    ]
    chats = objects(captured.run, "chat")
    on_ncdc = {p["chat"]["client"] for p in chats if p["parties"]["account"] == NCDC_NICK}
    assert on_ncdc == {client}
    private = [p["chat"] for p in chats if p["chat"]["message_kind"] == "private"]
    assert [c["reply_to"] for c in private] == [NCDC_NICK] * 3


def test_ncdc_user_list_entry(ncdc_capture: tuple[Captured, str]) -> None:
    """ncdc's contact list holds its own BINF (client name and version from VE, share of one
    file) and bob's; bob's list lost ncdc at its IQUI."""
    captured, client = ncdc_capture
    seen = captured.seen
    fields = adc_fields(seen["ncdc_binf"])
    lists = {
        p["parties"]["account"]: p["contact_list"] for p in objects(captured.run, "contact_list")
    }
    assert sorted(lists) == [BOB, NCDC_NICK]
    by_nick = {c["contact"]: c for c in lists[NCDC_NICK]["contacts"]}
    assert sorted(by_nick) == [BOB, NCDC_NICK]
    assert by_nick[NCDC_NICK] == {
        "contact": NCDC_NICK,
        "name": None,
        "groups": [],
        "sid": seen["ncdc_sid"],
        "cid": fields["ID"],
        "client": client,
        "ip4": HOST,
        "features": fields["SU"],
        "share_size": len(SHARED_BYTES),
        "shared_files": 1,
        "description": "",
        "email": "",
    }
    assert (by_nick[BOB]["cid"], by_nick[BOB]["share_size"], by_nick[BOB]["shared_files"]) == (
        ADC_IDENTITIES[1][1],
        SHARE_SIZES[1],
        SHARED_FILES[1],
    )
    assert [c["contact"] for c in lists[BOB]["contacts"]] == [BOB]
    assert lists[NCDC_NICK]["client"] == client


def test_ncdc_uploads_are_file_objects(ncdc_capture: tuple[Captured, str]) -> None:
    """The file list and the file bob fetched by TTH are file objects, ncdc to bob, under the
    DCTM token, on the connection to bob's port, with the bytes bob received."""
    captured, _ = ncdc_capture
    run, seen = captured.run, captured.seen
    files = objects(run, "file")
    tth_name = f"TTH/{seen['listed'][2]}"
    rows = [
        (
            p["file"]["wire_name"],
            p["file"]["offset"],
            p["file"]["size"],
            p["parties"]["sender"],
            p["parties"]["recipients"],
            p["complete"],
            p["file"]["transfer_id"],
            p["flow"]["server"]["port"],
        )
        for p in files
    ]
    list_size = int(seen["list_csnd"].split(" ")[4])
    port = seen["port"]
    assert rows == [
        ("files.xml.bz2", 0, list_size, NCDC_NICK, [BOB], True, PEER_TOKEN, port),
        (tth_name, 0, len(SHARED_BYTES), NCDC_NICK, [BOB], True, PEER_TOKEN, port),
    ]
    listing, shared = (p["contents"][0] for p in files)
    assert (listing["sha256"], shared["sha256"]) == (seen["list_sha256"], sha256(SHARED_BYTES))
    assert run.content(shared) == SHARED_BYTES
    assert f'<File Name="{SHARED_NAME}"'.encode() in bz2.decompress(run.content(listing))


def test_ncdc_capture_has_no_anomalies(ncdc_capture: tuple[Captured, str]) -> None:
    """Two hub connections and one peer connection, all ADC, read without an anomaly."""
    stats = ncdc_capture[0].run.stats
    assert dict(stats.protocols) == {"adc": 3}
    assert dict(stats.objects_by_protocol) == {
        ("chat", "adc"): 6,
        ("contact_list", "adc"): 2,
        ("file", "adc"): 2,
    }
    assert dict(stats.anomalies) == {}
    assert [p["anomalies"] for p in ncdc_capture[0].run.passports if p["anomalies"]] == []


def client_tag(client: str) -> str:
    """The start of an NMDC client tag for ``name version`` (nmdc.md $MyINFO: ``name V:x``)."""
    name, version = client.split(" ")
    return f"{name} V:{version},"


@pytest.fixture(scope="module")
def ncdc_nmdc_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Captured, str]:
    """The NMDC hub of dcpeers with ncdc and bob: chat, a private message, the file list."""
    require(["ip", "ss", "tcpdump"])
    client = ncdc_version()
    work = tmp_path_factory.mktemp("ncdc-nmdc")
    pcap = work / "ncdc-nmdc.pcap"
    result = work / "ncdc-nmdc.json"
    namespace = LoopbackNamespace()
    try:
        hub_argv = [sys.executable, "-m", "tests.live.dcpeers", "nmdc-hub"]
        hub = namespace.spawn(hub_argv, work / "hub.log")
        namespace.wait_listening([NMDC_PORT], hub)
        namespace.start_capture(pcap)
        scenario = [sys.executable, "-m", "tests.live.dcclient", str(result), str(work), "nmdc"]
        namespace.run(scenario, timeout=SCENARIO_TIMEOUT_S)
        namespace.stop_capture()
    finally:
        namespace.close()
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    shutil.copy(pcap, PCAP_KEEP_DIR / pcap.name)
    seen: dict[str, Any] = json.loads(result.read_text())
    return Captured(pcap, run_capture(pcap), seen), client


def test_ncdc_on_nmdc_did_what_it_was_typed(ncdc_nmdc_capture: tuple[Captured, str]) -> None:
    """Bob got ncdc's $MyINFO, main chat line and $To:, then its file list; ncdc quit."""
    captured, client = ncdc_nmdc_capture
    seen = captured.seen
    assert seen["ncdc_myinfo"].startswith(f"$MyINFO $ALL {NCDC_NICK} <{client_tag(client)}")
    assert seen["bob_got_chat"] == f"<{NCDC_NICK}> {HUB_CHAT}"
    assert seen["bob_got_private"] == f"$To: {BOB} From: {NCDC_NICK} $<{NCDC_NICK}> {PRIVATE_TEXT}"
    assert seen["peer_nick"] == f"$MyNick {NCDC_NICK}"
    assert seen["list_adcsnd"].startswith("$ADCSND file files.xml.bz2 0 ")
    assert seen["listed"] == [SHARED_NAME, len(SHARED_BYTES)]
    assert (seen["ncdc_exit"], seen["bob_got_quit"]) == (0, f"$Quit {NCDC_NICK}")


def test_ncdc_on_nmdc_chat_objects(ncdc_nmdc_capture: tuple[Captured, str]) -> None:
    """ncdc's main chat line and $To: are chat objects, sender ncdc's nick, the $HubName as
    channel; the hub echoes main chat to ncdc but sends $To: only to bob."""
    captured, _ = ncdc_nmdc_capture
    hub = NMDC_HUB_NAME
    assert chat_rows(captured.run) == [
        (BOB, "download", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (BOB, "download", NCDC_NICK, (BOB,), "private", hub, PRIVATE_TEXT),
        (NCDC_NICK, "download", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (NCDC_NICK, "upload", NCDC_NICK, (), "groupchat", hub, HUB_CHAT),
        (NCDC_NICK, "upload", NCDC_NICK, (BOB,), "private", hub, PRIVATE_TEXT),
    ]
    chats = [p["chat"] for p in objects(captured.run, "chat")]
    assert [(c["sent_by"], c["charset"]) for c in chats] == [
        ("client", "utf-8"),
        ("server", "utf-8"),
        ("server", "utf-8"),
        ("client", "utf-8"),
        ("server", "utf-8"),
    ]
    # ncdc's own connection names the client from the tag of its own $MyINFO.
    own = [p for p in objects(captured.run, "chat") if p["parties"]["account"] == NCDC_NICK]
    assert {p["chat"]["client"] for p in own} == {ncdc_version()}


def test_ncdc_on_nmdc_user_list_entry(ncdc_nmdc_capture: tuple[Captured, str]) -> None:
    """ncdc's contact list holds its own $MyINFO (tag naming ncdc and its version, speed and
    flag, share of one file, no e-mail) and bob's; bob's list lost ncdc at its $Quit."""
    captured, client = ncdc_nmdc_capture
    lists = {
        p["parties"]["account"]: p["contact_list"] for p in objects(captured.run, "contact_list")
    }
    assert sorted(lists) == [BOB, NCDC_NICK]
    assert {v["owner"] for v in lists.values()} == {f"{HOST}:{NMDC_PORT}"}
    by_nick = {c["contact"]: c for c in lists[NCDC_NICK]["contacts"]}
    assert sorted(by_nick) == [BOB, NCDC_NICK]
    myinfo = captured.seen["ncdc_myinfo"]
    tag = myinfo[myinfo.index("<") : myinfo.index(">") + 1]
    speed = myinfo.split("$")[4][:-1]
    assert tag.startswith(f"<{client_tag(client)}")
    assert by_nick[NCDC_NICK] == {
        "contact": NCDC_NICK,
        "name": None,
        "groups": [],
        "tag": tag,
        "description": "",
        "connection": speed,
        "flag": ord(myinfo.split("$")[4][-1]),
        "share_size": len(SHARED_BYTES),
    }
    assert by_nick[BOB]["tag"] == "<wiresift V:1.0,M:A,H:1/0/0,S:2>"
    assert [c["contact"] for c in lists[BOB]["contacts"]] == [BOB]


def test_ncdc_on_nmdc_file_list_is_a_file_object(ncdc_nmdc_capture: tuple[Captured, str]) -> None:
    """The file list bob fetched with $ADCGET is a file object, ncdc to bob (nicks from
    $MyNick), on the connection to bob's port, with the bytes bob received."""
    captured, _ = ncdc_nmdc_capture
    run, seen = captured.run, captured.seen
    size = int(seen["list_adcsnd"].split(" ")[4])
    rows = [
        (
            p["file"]["wire_name"],
            p["file"]["offset"],
            p["file"]["size"],
            p["parties"]["sender"],
            p["parties"]["recipients"],
            p["complete"],
            p["flow"]["server"]["port"],
            p["contents"][0]["sha256"],
        )
        for p in objects(run, "file")
    ]
    assert rows == [
        ("files.xml.bz2", 0, size, NCDC_NICK, [BOB], True, seen["port"], seen["list_sha256"])
    ]
    (listing,) = objects(run, "file")[0]["contents"]
    assert f'<File Name="{SHARED_NAME}"'.encode() in bz2.decompress(run.content(listing))


def test_ncdc_on_nmdc_capture_has_no_anomalies(ncdc_nmdc_capture: tuple[Captured, str]) -> None:
    """Two hub connections and one peer connection, all NMDC, read without an anomaly."""
    stats = ncdc_nmdc_capture[0].run.stats
    assert dict(stats.protocols) == {"nmdc": 3}
    assert dict(stats.objects_by_protocol) == {
        ("chat", "nmdc"): 5,
        ("contact_list", "nmdc"): 2,
        ("file", "nmdc"): 1,
    }
    assert dict(stats.anomalies) == {}
    assert [p["anomalies"] for p in ncdc_nmdc_capture[0].run.passports if p["anomalies"]] == []
