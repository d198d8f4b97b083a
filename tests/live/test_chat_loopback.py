"""IRC and XMPP extraction end to end: real servers and scripted clients on a namespace's
loopback, captured by tcpdump and read back by the engine.

ngIRCd relays two raw-socket clients' channel and private messages (one in Cyrillic, a CTCP
ACTION, a NOTICE) and a DCC SEND offer; the file then goes over a direct connection with
the receiver's acknowledgements. Prosody carries two slixmpp clients' messages (one in
Cyrillic), roster sets, pushes and fetches, an in-band bytestream (XEP-0047) and a direct
SOCKS5 bytestream (XEP-0065). The ground truth is what the clients sent and received.
Needs root, ``ip netns``, tcpdump, ngircd, prosody and slixmpp: skipped without them, except
under CI=true, where their absence is a failure. The captures are kept in
``$TMPDIR/wiresift-chat-live``.
"""

from __future__ import annotations

import base64
import importlib.util
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
from tests.live.chatservers import (
    CI_PACKAGES,
    DCC_NAME,
    DCC_PORT,
    IBB_SID,
    IRC_LINES,
    IRC_PORT,
    ROSTER,
    ROSTER_CHANGES,
    ROSTER_REMOVED,
    S5B_PORT,
    S5B_SID,
    XMPP_MESSAGES,
    XMPP_PORT,
    XMPP_RESOURCES,
    XMPP_SECOND_RESOURCE,
    dcc_file,
    ibb_file,
    s5b_file,
    sha256,
    write_ngircd_config,
    write_prosody_setup,
)
from tests.live.mailservers import LoopbackNamespace, prerequisites_missing, which

PCAP_KEEP_DIR = Path(tempfile.gettempdir()) / "wiresift-chat-live"
HOST = "127.0.0.1"
ACTION = "\x01ACTION "  # CTCP ACTION: the text follows, then \x01


def require(tools: Sequence[str], *, need_slixmpp: bool = False) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(["ip", "ss", "tcpdump"])
    missing = [f"{tool} (Debian package {CI_PACKAGES[tool]})" for tool in tools if not which(tool)]
    if reason is None and missing:
        reason = "missing tools: " + ", ".join(missing)
    if reason is None and need_slixmpp and importlib.util.find_spec("slixmpp") is None:
        reason = "the slixmpp package is not installed (pip install slixmpp)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live chat tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture, the engine's reading of it, and what the clients saw."""

    pcap: Path
    run: Run
    reference: dict[str, Any]


def keep(pcap: Path) -> Path:
    """A copy of ``pcap`` under the temporary folder, kept for looking at a failure."""
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    kept = PCAP_KEEP_DIR / pcap.name
    shutil.copy(pcap, kept)
    return kept


def capture_session(work: Path, name: str, server: list[str], port: int, session: str) -> Captured:
    """Start ``server`` in a fresh namespace, capture while the ``session`` command of
    tests.live.chatservers runs, stop everything; the engine reads the capture."""
    pcap, result = work / f"{name}.pcap", work / f"{name}.json"
    namespace = LoopbackNamespace()
    try:
        process = namespace.spawn(server, work / f"{name}-server.log")
        namespace.wait_listening([port], process)
        namespace.start_capture(pcap)
        namespace.run([sys.executable, "-m", "tests.live.chatservers", session, str(result)])
        namespace.stop_capture()
    finally:
        namespace.close()
    return Captured(keep(pcap), run_capture(pcap), json.loads(result.read_text()))


@pytest.fixture(scope="module")
def irc_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """ngIRCd on 127.0.0.1:6667 and the scripted IRC session, under tcpdump."""
    require(["ngircd"])
    work = tmp_path_factory.mktemp("irc")
    work.chmod(0o755)  # ngIRCd reads its MOTD as nobody
    config = write_ngircd_config(work)
    server = [which("ngircd") or "ngircd", "--nodaemon", "--config", str(config)]
    return capture_session(work, "irc", server, IRC_PORT, "irc-session")


@pytest.fixture(scope="module")
def xmpp_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """Prosody on 127.0.0.1:5222 and the scripted slixmpp session, under tcpdump."""
    require(["prosody", "prosodyctl"], need_slixmpp=True)
    work = tmp_path_factory.mktemp("xmpp")
    config = write_prosody_setup(work, which("prosodyctl") or "prosodyctl")
    server = [which("prosody") or "prosody", "--config", str(config), "-F"]
    return capture_session(work, "xmpp", server, XMPP_PORT, "xmpp-session")


def objects(run: Run, kind: str, protocol: str) -> list[dict[str, Any]]:
    """Passports of ``kind`` and ``protocol`` in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == kind and p["protocol"] == protocol]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def chat_summary(run: Run, passport: dict[str, Any]) -> tuple[Any, ...]:
    """The fields each chat message is checked on; the text item must hold the text."""
    chat, parties = passport["chat"], passport["parties"]
    text_item = next(c for c in passport["contents"] if c["role"] == "text")
    assert run.content(text_item) == chat["text"].encode()
    assert (passport["complete"], passport["anomalies"], chat["charset"]) == (True, [], "utf-8")
    return (
        parties["account"],
        parties["sender"],
        parties["recipients"],
        chat["message_kind"],
        chat["channel"],
        chat["text"],
        chat["sent_by"],
        passport["direction"],
    )


def file_summary(run: Run, passport: dict[str, Any]) -> tuple[Any, ...]:
    """The fields each transferred file is checked on, with its content's SHA-256."""
    (item,) = passport["contents"]
    content = run.content(item)
    assert (item["role"], item["complete"], item["gaps"]) == ("file", True, [])
    assert sha256(content) == item["sha256"]
    info, parties = passport["file"], passport["parties"]
    return (
        parties["sender"],
        parties["recipients"],
        parties["account"],
        info["name"],
        info["wire_name"],
        info["size"],
        info["announced_size"],
        info["transfer_id"],
        item["sha256"],
        passport["complete"],
    )


# --- IRC: ngIRCd -----------------------------------------------------------------------------


def test_irc_clients_exchanged_everything(irc_capture: Captured) -> None:
    """The ground truth: every line reached the other client through ngIRCd, and the DCC
    receiver got the whole file and acknowledged its every byte."""
    reference = irc_capture.reference
    expected = [f"{command} {target} :{text}" for _, target, command, text in IRC_LINES]
    assert [line.split(" ", 1)[1] for line in reference["relayed"][:-1]] == expected
    assert base64.b64decode(reference["dcc"]) == dcc_file()
    assert reference["acks"][-1] == len(dcc_file())


def irc_expected(reference: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each line twice, as its sender's client sent it and as the server relayed it to the
    other client; then ngIRCd's closing notice to each (as the clients received it)."""
    found = []
    for sender, target, command, line in IRC_LINES:
        receiver = "bob" if sender == "alice" else "alice"
        channel = target if target.startswith("#") else None
        text = line
        if command == "NOTICE":
            kind = "notice"
        elif line.startswith(ACTION):
            kind, text = "action", line[len(ACTION) : -1]
        else:
            kind = "groupchat" if channel else "private"
        relayed_from = f"{sender}!~{sender}@{HOST}"
        found.append((sender, sender, [target], kind, channel, text, "client", "upload"))
        found.append((receiver, relayed_from, [target], kind, channel, text, "server", "download"))
    for nick in ("alice", "bob"):
        (closing,) = [
            line for line in reference["received"][nick] if f" NOTICE {nick} :Connection" in line
        ]
        server_name, text = closing[1:].split(" ", 1)[0], closing.split(" :", 1)[1]
        found.append((nick, server_name, [nick], "notice", None, text, "server", "download"))
    return found


def test_irc_every_message_is_a_chat_object(irc_capture: Captured) -> None:
    """Channel and private PRIVMSGs, the Cyrillic one, the CTCP ACTION and the NOTICE give
    one chat object on each connection that carried them (sender, recipients, channel, kind,
    text, who sent it); the DCC offer is not a message."""
    run = irc_capture.run
    found = [chat_summary(run, p) for p in objects(run, "chat", "irc")]
    assert found == irc_expected(irc_capture.reference)


def test_irc_dcc_send_is_a_file(irc_capture: Captured) -> None:
    """The DCC SEND announced on the IRC connection names the transfer connection: one file
    object with the offered name and size, Alice to Bob, its content the file sent."""
    run = irc_capture.run
    data = dcc_file()
    (passport,) = objects(run, "file", "irc-dcc")
    assert file_summary(run, passport) == (
        "alice",
        ["bob"],
        None,
        DCC_NAME,
        DCC_NAME,
        len(data),
        len(data),
        None,
        sha256(data),
        True,
    )
    assert run.content(passport["contents"][0]) == data
    assert passport["flow"]["server"] == {"addr": HOST, "port": DCC_PORT}
    assert passport["anomalies"] == []


def test_irc_run_counts(irc_capture: Captured) -> None:
    """Two IRC connections and one DCC connection; fourteen chat objects, one file, no
    anomaly."""
    stats = irc_capture.run.stats
    assert stats.protocols == {"irc": 2, "irc-dcc": 1}
    assert stats.objects_by_protocol == {("chat", "irc"): 14, ("file", "irc-dcc"): 1}
    assert stats.anomalies == {}


# --- XMPP: Prosody ---------------------------------------------------------------------------


def full_jid(user: str, resource: str | None = None) -> str:
    """``user@localhost/resource`` (the session's resource by default)."""
    return f"{user}@localhost/{resource or XMPP_RESOURCES[user]}"


def test_xmpp_clients_exchanged_everything(xmpp_capture: Captured) -> None:
    """The ground truth: every message arrived, the roster held the three contacts (then
    the changed ones), and both bytestreams delivered their file."""
    reference = xmpp_capture.reference
    assert reference["received"] == [text for _, _, text in XMPP_MESSAGES]
    three = {jid: {"name": name, "groups": [group]} for jid, name, group in ROSTER}
    assert reference["roster"]["fetched"] == reference["roster"]["refetched"] == three
    changed = {jid: {"name": name, "groups": [group]} for jid, name, group in ROSTER_CHANGES}
    del three[ROSTER_REMOVED]
    assert reference["roster"]["changed"] == three | changed
    assert base64.b64decode(reference["ibb"]) == ibb_file()
    assert base64.b64decode(reference["s5b"]) == s5b_file()


def test_xmpp_every_message_is_a_chat_object(xmpp_capture: Captured) -> None:
    """Each message gives a chat object on the sender's connection and one on the
    recipient's, with full JIDs, the text (Cyrillic too) and who sent it."""
    run = xmpp_capture.run
    expected = []
    for sender, recipient, text in XMPP_MESSAGES:
        parties = (full_jid(sender), [full_jid(recipient)], "chat", None, text)
        expected.append((full_jid(sender), *parties, "client", "upload"))
        expected.append((full_jid(recipient), *parties, "server", "download"))
    assert [chat_summary(run, p) for p in objects(run, "chat", "xmpp")] == expected


def contact_list(passport: dict[str, Any]) -> tuple[Any, ...]:
    """Owner, account, sorted groups and contacts, count of a contact_list object."""
    info = passport["contact_list"]
    contacts = sorted(
        (c["contact"], c["name"], c["groups"], c["subscription"], c["ask"])
        for c in info["contacts"]
    )
    return (
        info["owner"],
        passport["parties"]["account"],
        sorted(info["groups"]),
        contacts,
        info["count"],
    )


def roster_contacts(roster: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A client's roster as ``contact_list`` gives it (no subscription yet)."""
    return sorted((jid, i["name"], i["groups"], "none", None) for jid, i in roster.items())


def test_xmpp_fetched_roster_is_a_contact_list(xmpp_capture: Captured) -> None:
    """The first session's roster result lists the three contacts set before it."""
    passport = objects(xmpp_capture.run, "contact_list", "xmpp")[0]
    fetched = xmpp_capture.reference["roster"]["fetched"]
    assert contact_list(passport) == (
        "alice@localhost",
        full_jid("alice"),
        ["Friends", "Work"],
        roster_contacts(fetched),
        3,
    )


def test_xmpp_roster_pushes_change_the_contact_list(xmpp_capture: Captured) -> None:
    """The second session fetched the roster, then renamed, added and removed a contact:
    its contact_list holds the roster as the server's pushes left it."""
    passport = objects(xmpp_capture.run, "contact_list", "xmpp")[1]
    changed = xmpp_capture.reference["roster"]["changed"]
    assert contact_list(passport) == (
        "alice@localhost",
        full_jid("alice", XMPP_SECOND_RESOURCE),
        ["Family", "Friends", "Work"],
        roster_contacts(changed),
        3,
    )


def test_xmpp_bytestreams_are_files(xmpp_capture: Captured) -> None:
    """The IBB transfer is a file on each client connection, the SOCKS5 one a file on its
    own connection (matched to the offer by the SHA-1 address), each with the stream id and
    the content sent."""
    run = xmpp_capture.run
    ibb, s5b = ibb_file(), s5b_file()
    alice, bob = full_jid("alice"), full_jid("bob")
    in_band = objects(run, "file", "xmpp")
    (socks,) = objects(run, "file", "xmpp-s5b")
    assert [file_summary(run, p) for p in [*in_band, socks]] == [
        (alice, [bob], alice, None, None, len(ibb), None, IBB_SID, sha256(ibb), True),
        (alice, [bob], bob, None, None, len(ibb), None, IBB_SID, sha256(ibb), True),
        (alice, [bob], None, None, None, len(s5b), None, S5B_SID, sha256(s5b), True),
    ]
    assert [p["direction"] for p in [*in_band, socks]] == ["upload", "download", "download"]
    assert socks["flow"]["server"] == {"addr": HOST, "port": S5B_PORT}
    assert run.content(socks["contents"][0]) == s5b


def test_xmpp_socks5_offer_is_recorded(xmpp_capture: Captured) -> None:
    """The streamhost offer is among the first session's file offers, with its endpoint."""
    passport = objects(xmpp_capture.run, "contact_list", "xmpp")[0]
    offers = [
        (o["sender"], o["recipient"], o["transfer_id"], o["endpoint"])
        for o in passport["contact_list"]["file_offers"]
    ]
    assert offers == [(full_jid("alice"), full_jid("bob"), S5B_SID, [HOST, S5B_PORT])]


def test_xmpp_run_counts(xmpp_capture: Captured) -> None:
    """Three client connections and one SOCKS5 connection; six chat objects, three files,
    two contact lists, no anomaly."""
    stats = xmpp_capture.run.stats
    assert stats.protocols == {"xmpp": 3, "xmpp-s5b": 1}
    assert stats.objects_by_protocol == {
        ("chat", "xmpp"): 6,
        ("file", "xmpp"): 2,
        ("file", "xmpp-s5b"): 1,
        ("contact_list", "xmpp"): 2,
    }
    assert stats.anomalies == {}
