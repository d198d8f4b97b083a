"""OSCAR (ICQ/AIM) control and OFT2 peer parsers: bytes in, chat events out."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

import wiresift.engine
from tests.engine.helpers import Run
from tests.pcapgen import TcpSession
from tests.protocols import oscar_wire as w
from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Config, Limits
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import oscar
from wiresift.protocols.base import Anomaly, Confirmed, Event
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
    FileBegin,
    FileData,
    FileEnd,
    FileOffer,
)
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.oscar.events import OftOffer
from wiresift.protocols.oscar.parser import OscarParser
from wiresift.protocols.oscar.wire import parse_tlvs

COOKIE = bytes.fromhex("a1b2c3d4e5f60718")
AUTH_COOKIE = bytes(range(256))[:64]


class SecretOscarParser(OscarParser):
    """The parser as the engine sets it up when secrets are kept."""

    keep_secrets = True


def kinds(events: list[Event], kind: type[Event]) -> list[Event]:
    """Events of one type."""
    return [e for e in events if isinstance(e, kind)]


def test_icq_uin_login_roasted_password_and_cookie(split_feed: SplitFeed) -> None:
    """Channel-1 UIN login gives the account, client, password (kept) and the BOS cookie."""
    client, server = w.Flaps(), w.Flaps(0x2000)
    scenario = [
        (RESP, server.frame(1, w.FLAP_VERSION)),
        (ORIG, client.frame(1, w.signon("123456789", b"secret12"))),
        (RESP, server.frame(4, w.login_reply_tlvs("123456789", "64.12.24.50:5190", AUTH_COOKIE))),
        (ORIG, client.frame(4, b"")),
    ]
    events = split_feed(SecretOscarParser, scenario, strict=True)
    logins = kinds(events, ChatLogin)
    assert logins == [
        ChatLogin(
            direction=ORIG,
            ts=1,
            account="123456789",
            client="ICQ Inc. - Product of ICQ (TM).2003b.5.56.1.3916.85 5.56.1.3916",
            mechanism="roasted",
            secret="secret12",  # noqa: S106 (test data, not a credential)
        ),
        ChatLogin(direction=RESP, ts=2, account="123456789", accepted=True),
    ]
    notices = [(n.name, n.detail) for n in kinds(events, ChatNotice)]  # type: ignore[attr-defined]
    assert notices == [("bos_server", "64.12.24.50:5190"), ("cookie", AUTH_COOKIE.hex())]
    assert isinstance(events[0], Confirmed)


def test_password_is_not_kept_by_default(split_feed: SplitFeed) -> None:
    """Without keep_secrets the roasted password stays out of the events."""
    scenario = [(ORIG, w.Flaps().frame(1, w.signon("123456789", b"secret12")))]
    (login,) = kinds(split_feed(OscarParser, scenario), ChatLogin)
    assert login.secret is None  # type: ignore[attr-defined]
    assert login.mechanism == "roasted"  # type: ignore[attr-defined]


def test_aim_bucp_md5_login(split_feed: SplitFeed) -> None:
    """BUCP (family 0x17) login gives the screen name, MD5 mechanism and cookie."""
    client, server = w.Flaps(), w.Flaps()
    digest = hashlib.md5(b"x").digest()
    scenario = [
        (ORIG, client.frame(1, w.FLAP_VERSION)),
        (ORIG, client.snac(0x17, 0x06, w.tlv(0x0001, b"Alice Smith"))),
        (ORIG, client.snac(0x17, 0x02, w.bucp_login("Alice Smith", digest))),
        (RESP, server.snac(0x17, 0x03, w.login_reply_tlvs("Alice Smith", "bos:5190", COOKIE))),
    ]
    events = split_feed(SecretOscarParser, scenario, strict=True)
    assert kinds(events, ChatLogin) == [
        ChatLogin(
            direction=ORIG,
            ts=2,
            account="Alice Smith",
            client="AOL Instant Messenger, version 5.9.3702/WIN32 5.9",
            mechanism="md5",
            secret=digest.hex(),
        ),
        ChatLogin(direction=RESP, ts=3, account="Alice Smith", accepted=True),
    ]
    assert kinds(events, ChatNotice)[-1] == ChatNotice(
        direction=RESP, ts=3, name="cookie", who="Alice Smith", detail=COOKIE.hex()
    )


def bos_session() -> list[tuple[object, bytes]]:
    """A BOS connection: cookie sign-on, self info, messages both ways, typing, offline."""
    client, server = w.Flaps(), w.Flaps(0x3000)
    russian = "Привет, мир"
    return [
        (ORIG, client.frame(1, w.bos_signon(AUTH_COOKIE))),
        (RESP, server.snac(0x01, 0x0F, w.user_info("123456789"))),
        (
            ORIG,
            client.snac(4, 6, w.icbm_send(COOKIE, 1, "87654321", w.message_block(b"hello bob", 0))),
        ),
        (
            RESP,
            server.snac(
                4,
                7,
                w.icbm_incoming(
                    COOKIE, 1, "87654321", w.message_block(russian.encode("utf-16-be"), 2)
                ),
            ),
        ),
        (
            RESP,
            server.snac(
                4,
                7,
                w.icbm_incoming(
                    COOKIE, 1, "87654321", w.message_block(russian.encode("cp1251"), 3)
                ),
            ),
        ),
        (
            ORIG,
            client.snac(
                4,
                6,
                w.icbm_send(
                    COOKIE,
                    1,
                    "87654321",
                    w.message_block(
                        b"<HTML><BODY><B>bold</B> &amp; more<BR>line2</BODY></HTML>", 0
                    ),
                ),
            ),
        ),
        (ORIG, client.snac(4, 0x14, w.typing(COOKIE, "87654321", 2))),
        (
            RESP,
            server.snac(
                4,
                7,
                w.icbm_incoming(
                    COOKIE, 4, "87654321", w.icq_legacy(87654321, 1, "тест".encode("cp1251"))
                ),
            ),
        ),
        (
            RESP,
            server.snac(
                0x15,
                3,
                w.offline_message(123456789, 555, (2004, 5, 6, 7, 8), b"while you were away"),
            ),
        ),
        (RESP, server.frame(5, b"")),
    ]


def test_bos_messages_both_ways(split_feed: SplitFeed) -> None:
    """ASCII, UTF-16BE, cp1251, HTML, channel 4 and offline messages with both parties."""
    events = split_feed(OscarParser, bos_session(), strict=True)  # type: ignore[arg-type]
    messages = kinds(events, ChatMessage)
    summary = [
        (m.direction, m.sender, m.recipients, m.text, m.charset, m.message_kind)  # type: ignore[attr-defined]
        for m in messages
    ]
    assert summary == [
        (ORIG, "123456789", ("87654321",), "hello bob", "us-ascii", "chat"),
        (RESP, "87654321", ("123456789",), "Привет, мир", "utf-16be", "chat"),
        (RESP, "87654321", ("123456789",), "Привет, мир", "cp1251", "chat"),
        (ORIG, "123456789", ("87654321",), "bold & more\nline2", "us-ascii", "chat"),
        (RESP, "87654321", ("123456789",), "тест", "cp1251", "chat"),
        (RESP, "555", ("123456789",), "while you were away", "us-ascii", "offline"),
    ]
    assert messages[1].raw == "Привет, мир".encode("utf-16-be")  # type: ignore[attr-defined]
    assert messages[3].markup == "<HTML><BODY><B>bold</B> &amp; more<BR>line2</BODY></HTML>"  # type: ignore[attr-defined]
    assert messages[5].sent_at == 1083827280 * 1_000_000_000  # type: ignore[attr-defined]
    notices = [(n.name, n.who, n.detail) for n in kinds(events, ChatNotice)]  # type: ignore[attr-defined]
    assert notices == [
        ("cookie", None, AUTH_COOKIE.hex()),
        ("self_info", "123456789", ""),
        ("typing", "123456789", "begun to=87654321"),
    ]


def contact_list_session() -> list[tuple[object, bytes]]:
    """Three groups with ten buddies in two SNACs, then an add and a delete."""
    client, server = w.Flaps(), w.Flaps()
    groups = [("Friends", 1), ("Work", 2), ("Family", 3)]
    items = [w.feedbag_item("", 0, 0, 1, w.tlv(0x00C8, w.u16(1) + w.u16(2) + w.u16(3)))]
    items += [w.feedbag_item(name, gid, 0, 1) for name, gid in groups]
    buddies = [(f"buddy{i}", groups[i % 3][1], 100 + i) for i in range(10)]
    for name, gid, iid in buddies:
        alias = w.tlv(0x0131, f"Nick {name}".encode()) if iid % 2 == 0 else b""
        items.append(w.feedbag_item(name, gid, iid, 0, alias))
    return [
        (RESP, server.snac(0x01, 0x0F, w.user_info("Alice Smith"))),
        (RESP, server.snac(0x13, 6, w.feedbag_list(items[:6]), flags=0x0001)),
        (RESP, server.snac(0x13, 6, w.feedbag_list(items[6:]))),
        (
            ORIG,
            client.snac(
                0x13, 8, w.feedbag_item("newbuddy", 2, 200, 0, w.tlv(0x0131, "Новый".encode()))
            ),
        ),
        (ORIG, client.snac(0x13, 0x0A, w.feedbag_item("buddy3", 1, 103, 0))),
    ]


def test_feedbag_contact_list_with_add_and_delete(split_feed: SplitFeed) -> None:
    """The feedbag list (two SNACs) becomes one replace, then add and remove updates."""
    events = split_feed(OscarParser, contact_list_session(), strict=True)  # type: ignore[arg-type]
    updates = kinds(events, ContactListUpdate)
    assert [(u.operation, u.owner) for u in updates] == [  # type: ignore[attr-defined]
        ("replace", "Alice Smith"),
        ("add", "Alice Smith"),
        ("remove", "Alice Smith"),
    ]
    replace = updates[0]
    assert replace.groups == ("Friends", "Work", "Family")  # type: ignore[attr-defined]
    assert len(replace.entries) == 10  # type: ignore[attr-defined]
    assert replace.entries[1] == ContactEntry(  # type: ignore[attr-defined]
        contact="buddy1", name=None, groups=("Work",), extra={"group_id": 2}
    )
    assert replace.entries[4] == ContactEntry(  # type: ignore[attr-defined]
        contact="buddy4", name="Nick buddy4", groups=("Work",), extra={"group_id": 2}
    )
    assert updates[1].entries == (  # type: ignore[attr-defined]
        ContactEntry(contact="newbuddy", name="Новый", groups=("Work",), extra={"group_id": 2}),
    )
    assert updates[2].entries[0].contact == "buddy3"  # type: ignore[attr-defined]


def file_offer_session() -> list[tuple[object, bytes]]:
    """The local user proposes to send report.txt from 10.0.0.1:5566."""
    client = w.Flaps()
    rendezvous = w.rendezvous_send_file(COOKIE, b"report.txt", 3000, "10.0.0.1", 5566)
    return [
        (ORIG, client.frame(1, w.bos_signon(AUTH_COOKIE))),
        (ORIG, client.snac(0x17, 0x06, w.tlv(0x0001, b"alice"))),
        (ORIG, client.snac(4, 6, w.icbm_send(COOKIE, 2, "bob", rendezvous))),
    ]


FILE_BYTES = bytes((i * 7 + 3) & 0xFF for i in range(3000))


def test_rendezvous_file_offer_and_expected_connection(split_feed: SplitFeed) -> None:
    """A send-file proposal gives a FileOffer and an ExpectConnection with its OftOffer."""
    events = split_feed(OscarParser, file_offer_session(), strict=True)  # type: ignore[arg-type]
    (offer,) = kinds(events, FileOffer)
    assert offer == FileOffer(
        direction=ORIG,
        ts=2,
        name="report.txt",
        size=3000,
        sender="alice",
        recipient="bob",
        transfer_id=COOKIE.hex(),
        endpoint=("10.0.0.1", 5566),
    )
    (expect,) = kinds(events, ExpectConnection)
    assert expect == ExpectConnection(
        direction=ORIG,
        ts=2,
        protocol="oscar-oft",
        server_addr="10.0.0.1",
        server_port=5566,
        context=OftOffer(
            kind="file",
            cookie=COOKIE,
            sender="alice",
            recipient="bob",
            name="report.txt",
            size=3000,
            control_uid="C1",
        ),
    )


def oft_session(
    data: bytes = FILE_BYTES, name: bytes = b"report.txt"
) -> list[tuple[object, bytes]]:
    """Receiver connects to the sender: prompt, ack, the bytes, done."""
    checksum = w.oft_checksum(data)
    return [
        (RESP, w.oft_header(0x0101, COOKIE, name, len(data), checksum)),
        (ORIG, w.oft_header(0x0202, COOKIE, name, len(data), checksum)),
        (RESP, data),
        (ORIG, w.oft_header(0x0204, COOKIE, name, len(data), checksum, received=len(data))),
        End(ORIG),
        End(RESP),
    ]


def test_oft2_transfer_of_known_bytes(split_feed: SplitFeed) -> None:
    """The OFT2 stream gives FileBegin, the exact bytes (hash checked) and a complete end."""
    offer = OftOffer(kind="file", cookie=COOKIE, sender="alice", recipient="bob")
    flow = dataclasses.replace(FLOW, context=offer)
    events = split_feed(oscar.OftParser, oft_session(), flow=flow, strict=True)  # type: ignore[arg-type]
    (begin,) = kinds(events, FileBegin)
    assert begin == FileBegin(
        direction=RESP,
        ts=2,
        file=0,
        name="report.txt",
        size=3000,
        sender="alice",
        recipient="bob",
        transfer_id=COOKIE.hex(),
    )
    data = b"".join(e.data for e in kinds(events, FileData))  # type: ignore[attr-defined]
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(FILE_BYTES).hexdigest()
    assert kinds(events, FileEnd) == [FileEnd(direction=RESP, ts=2, file=0, complete=True)]
    assert [n.name for n in kinds(events, ChatNotice)] == ["oft_ack", "oft_done"]  # type: ignore[attr-defined]


def test_oft_checksum_mismatch_and_path_name(split_feed: SplitFeed) -> None:
    """A wrong checksum and a name with path separators are anomalies, not failures."""
    scenario = oft_session(b"abc", b"../../etc/passwd")
    scenario[0] = (RESP, w.oft_header(0x0101, COOKIE, b"../../etc/passwd", 3, 0x12340000))
    events = split_feed(oscar.OftParser, scenario)  # type: ignore[arg-type]
    names = [e.name for e in kinds(events, Anomaly)]  # type: ignore[attr-defined]
    assert names == ["oscar_oft_file_name_path", "oscar_oft_checksum_mismatch"]
    assert kinds(events, FileBegin)[0].name == "../../etc/passwd"  # type: ignore[attr-defined]


def test_mid_stream_and_gap_resync(split_feed: SplitFeed) -> None:
    """A capture starting inside a frame, and a hole, resynchronise on the next FLAP."""
    session = bos_session()
    first = session[2][1]
    scenario = [
        (ORIG, first[7:]),  # the tail of a message frame
        session[2],
        session[5],
        Gap(ORIG, 40),
        (ORIG, session[5][1][13:]),
        session[5],
        (ORIG, w.Flaps().frame(5, b"")),
    ]
    events = split_feed(OscarParser, scenario, flow=MID_STREAM_FLOW)  # type: ignore[arg-type]
    texts = [m.text for m in kinds(events, ChatMessage)]  # type: ignore[attr-defined]
    assert texts == ["hello bob", "bold & more\nline2", "bold & more\nline2"]
    names = [a.name for a in kinds(events, Anomaly)]  # type: ignore[attr-defined]
    assert names == ["oscar_resync", "oscar_content_gap", "oscar_resync"]


def test_flap_longer_than_the_stream() -> None:
    """A FLAP length past the end of the stream is a truncated-frame anomaly at the end."""
    scenario = [(ORIG, b"\x2a\x02\x00\x01\xff\xff" + b"x" * 100), End(ORIG)]
    parser = OscarParser(FLOW, Limits())
    events = parser.feed(ORIG, scenario[0][1], 0) + parser.end(ORIG, 1)  # type: ignore[index]
    assert events == [
        Anomaly(direction=ORIG, ts=1, name="oscar_truncated_frame", detail="106 bytes")
    ]
    assert parser.buffered_bytes() == 0


def test_huge_tlv_list_is_capped() -> None:
    """A list of 100,000 TLVs stops at the cap; a sign-on of 16,000 TLVs is an anomaly."""
    values, end, complete = parse_tlvs(w.tlv(7, b"") * 100_000)
    assert (values, end, complete) == ({7: b""}, 4096 * 4, False)
    frame = w.Flaps().frame(1, w.FLAP_VERSION + w.tlv(9, b"") * 16_000)
    events = OscarParser(FLOW, Limits()).feed(ORIG, frame, 0)
    assert [type(e).__name__ for e in events] == ["Confirmed", "Anomaly"]


def test_feedbag_of_a_million_items_claimed() -> None:
    """A list claiming 65,535 items but holding one is an anomaly and keeps that one."""
    items = w.feedbag_item("solo", 1, 5, 0)
    body = b"\x00" + w.u16(0xFFFF) + items
    events = OscarParser(FLOW, Limits()).feed(RESP, w.Flaps().snac(0x13, 6, body), 0)
    assert [type(e).__name__ for e in events] == ["Confirmed", "Anomaly", "ContactListUpdate"]
    assert events[2].entries[0].contact == "solo"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"\x2a\x01\x00\x01\x00\x04\x00\x00\x00\x01", Verdict.MATCH),
        (b"\x2a\x02\x00\x01\x00\x0a\x00\x04\x00\x06", Verdict.MATCH),
        (b"\x2a\x01\x00", Verdict.NEED_MORE),
        (b"\x2a\x09\x00\x01\x00\x00", Verdict.NO_MATCH),
        (b"GET / HTTP/1.1\r\n", Verdict.NO_MATCH),
        (b"\x2a\x02\x00\x01\x00\x0a\x7f\x00\x00\x06", Verdict.NO_MATCH),
    ],
)
def test_probe(data: bytes, verdict: Verdict) -> None:
    """The probe takes FLAP sign-on and known SNAC families, rejects the rest."""
    assert oscar.probe(ORIG, data) is verdict


def test_protocols_md_vector() -> None:
    """The hand-built vector of protocols.md s16a decodes as a message to 87654321."""
    vector = bytes.fromhex(
        "2a021001003b00040006000000000001414243444546474800010838373635343332310002001605010001"
        "010101000d0000000068656c6c6f20626f6200030000"
    )
    (message,) = kinds(OscarParser(FLOW, Limits()).feed(ORIG, vector, 0), ChatMessage)
    assert (message.recipients, message.text) == (("87654321",), "hello bob")  # type: ignore[attr-defined]


class OscarChatBuilder(ChatBuilder):
    """ChatBuilder with the protocol name the engine sets after integration."""

    protocol = "oscar"


def oscar_pcap_frames() -> tuple[TcpSession, TcpSession]:
    """An OSCAR BOS session (with a file offer) and the OFT2 connection it announced."""
    bos = TcpSession(client=("10.0.0.1", 40000), server=("64.12.24.50", 5190))
    bos.handshake()
    for direction, data in bos_session()[:6] + contact_list_session():
        bos.send(direction is ORIG, data)
    rendezvous = w.rendezvous_send_file(COOKIE, b"report.txt", len(FILE_BYTES), "10.0.0.1", 5566)
    bos.send(True, w.Flaps(0x5000).snac(4, 6, w.icbm_send(COOKIE, 2, "87654321", rendezvous)))
    bos.fin(True)
    bos.fin(False)
    peer = TcpSession(
        client=("10.0.0.9", 41000), server=("10.0.0.1", 5566), start_ns=bos.start_ns + 10**9
    )
    peer.handshake()
    for step in oft_session():
        if isinstance(step, tuple):
            peer.send(step[0] is ORIG, step[1], segment_size=1000)
    peer.fin(False)
    peer.fin(True)
    return bos, peer


def test_engine_builds_chat_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine: messages, the contact list and the OFT2 file become objects."""
    monkeypatch.setitem(wiresift.engine.BUILDERS, "oscar", OscarChatBuilder)  # type: ignore[arg-type]
    monkeypatch.setitem(wiresift.engine.BUILDERS, "oscar-oft", OscarChatBuilder)  # type: ignore[arg-type]
    monkeypatch.setattr(wiresift.engine, "REGISTRY", oscar.SPECS, raising=False)
    bos, peer = oscar_pcap_frames()
    run = run_engine(bos.frames + peer.frames)
    chats = [p for p in run.passports if p["kind"] == "chat"]
    assert [c["chat"]["text"] for c in chats] == [
        "hello bob",
        "Привет, мир",
        "Привет, мир",
        "bold & more\nline2",
    ]
    assert chats[0]["parties"]["recipients"] == ["87654321"]
    (contacts,) = [p for p in run.passports if p["kind"] == "contact_list"]
    assert contacts["contact_list"]["count"] == 10
    assert contacts["contact_list"]["groups"] == ["Friends", "Work", "Family"]
    (file,) = [p for p in run.passports if p["kind"] == "file"]
    assert file["file"]["name"] == "report.txt"
    assert file["contents"][0]["sha256"] == hashlib.sha256(FILE_BYTES).hexdigest()
    assert file["complete"] is True


def run_engine(frames: list[tuple[int, bytes]]) -> Run:
    """Run frames through an engine whose registry holds the OSCAR specs."""
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, source_name="test", registry=oscar.SPECS)
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        engine.process(ts, 1, frame)
    return Run(sink, store, engine.finish())


@pytest.mark.skipif(
    shutil.which("tshark") is None,
    reason="tshark is not installed (scripts/ci-packages.sh installs it)",
)
def test_tshark_decodes_the_generated_pcap(tmp_path: Path) -> None:
    """tshark's aim dissector reads the generated OSCAR session without malformed packets."""
    bos, _ = oscar_pcap_frames()
    path = tmp_path / "oscar.pcap"
    bos.write_pcap(path)
    result = subprocess.run(
        ["tshark", "-r", str(path), "-d", "tcp.port==5190,aim", "-V"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "AOL Instant Messenger" in result.stdout
    assert "malformed" not in result.stdout.lower()
