"""Mail.Ru Agent (MRIM) session and file-transfer parsers: bytes in, chat events out."""

from __future__ import annotations

import dataclasses
import hashlib

from tests.protocols import mrim_wire as w
from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Event, SwitchProtocol
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
from wiresift.protocols.mrim import MrimFileParser, MrimParser, MrimTransfer


class SecretMrimParser(MrimParser):
    """The parser as the engine sets it up when secrets are kept."""

    keep_secrets = True


def kinds(events: list[Event], kind: type[Event]) -> list[Event]:
    """Events of one type."""
    return [e for e in events if isinstance(e, kind)]


def session(version: int = w.VERSION_1_23) -> list[tuple[object, bytes]]:
    """Hello, LOGIN2, messages both ways, typing, mailbox status, an unknown packet."""
    codec = "utf-16-le" if version == w.VERSION_1_23 else "cp1251"
    flags = w.FLAG_UNICODE if version == w.VERSION_1_23 else 0
    return [
        (ORIG, w.packet(w.HELLO, version=version)),
        (
            ORIG,
            w.packet(
                w.LOGIN2,
                w.login2("alice@mail.ru", b"pa55", 1, 'client="magent" version="5.10"'),
                2,
                version,
            ),
        ),
        (RESP, w.packet(w.LOGIN_ACK, seq=2, version=version)),
        (
            ORIG,
            w.packet(
                w.MESSAGE,
                w.message(flags | w.FLAG_RTF, "bob@mail.ru", "привет".encode(codec)),
                3,
                version,
            ),
        ),
        (
            RESP,
            w.packet(
                w.MESSAGE_ACK,
                w.message_ack(7, flags, "bob@mail.ru", "hi alice".encode(codec)),
                9,
                version,
            ),
        ),
        (
            RESP,
            w.packet(
                w.MESSAGE_ACK, w.message_ack(8, w.FLAG_NOTIFY, "bob@mail.ru", b""), 10, version
            ),
        ),
        (RESP, w.packet(w.MAILBOX_STATUS, w.ul(3), 11, version)),
        (RESP, w.packet(0x10FF, b"\x01\x02", 12, version)),
    ]


def test_login_and_unicode_messages(split_feed: SplitFeed) -> None:
    """Protocol 1.23: LOGIN2 account and password (kept), UTF-16LE messages both ways."""
    events = split_feed(SecretMrimParser, session(), strict=True)  # type: ignore[arg-type]
    assert kinds(events, ChatLogin) == [
        ChatLogin(
            direction=ORIG,
            ts=1,
            account="alice@mail.ru",
            client='client="magent" version="5.10"',
            mechanism="plain",
            secret="pa55",  # noqa: S106 (test data, not a credential)
        ),
        ChatLogin(direction=RESP, ts=2, account="alice@mail.ru", accepted=True),
    ]
    messages = [
        (m.direction, m.sender, m.recipients, m.text, m.charset) for m in kinds(events, ChatMessage)
    ]  # type: ignore[attr-defined]
    assert messages == [
        (ORIG, "alice@mail.ru", ("bob@mail.ru",), "привет", "utf-16le"),
        (RESP, "bob@mail.ru", ("alice@mail.ru",), "hi alice", "utf-16le"),
    ]
    notices = [(n.name, n.detail) for n in kinds(events, ChatNotice)]  # type: ignore[attr-defined]
    assert notices == [
        ("status", "status=0x1"),
        ("typing", "to=alice@mail.ru"),
        ("mailbox_status", "unread=3"),
        ("unknown_packet", "0x10ff"),
    ]


def test_old_version_cp1251_messages(split_feed: SplitFeed) -> None:
    """Protocol 1.10 texts are cp1251; the raw bytes are kept."""
    events = split_feed(MrimParser, session(w.VERSION_1_10), strict=True)  # type: ignore[arg-type]
    first = kinds(events, ChatMessage)[0]
    assert (first.text, first.charset, first.raw) == ("привет", "cp1251", "привет".encode("cp1251"))  # type: ignore[attr-defined]
    assert kinds(events, ChatLogin)[0].secret is None  # type: ignore[attr-defined]


def test_contact_list_then_add(split_feed: SplitFeed) -> None:
    """CONTACT_LIST2 becomes a replace with groups and nicknames; ADD_CONTACT an add."""
    contacts = [
        (0, 0, "bob@mail.ru", "Боб"),
        (0, 1, "carol@bk.ru", "Carol"),
        (1, 1, "gone@mail.ru", "x"),
    ]
    scenario = [
        (ORIG, w.packet(w.LOGIN2, w.login2("alice@mail.ru", b"p", 1, "d"))),
        (RESP, w.packet(w.CONTACT_LIST2, w.contact_list(["Друзья", "Work"], contacts))),
        (ORIG, w.packet(w.ADD_CONTACT, w.add_contact(0, 1, "dave@mail.ru", "Dave"))),
    ]
    events = split_feed(MrimParser, scenario, strict=True)  # type: ignore[arg-type]
    replace, add = kinds(events, ContactListUpdate)
    assert replace.groups == ("Друзья", "Work")  # type: ignore[attr-defined]
    assert replace.entries == (  # type: ignore[attr-defined]
        ContactEntry(
            contact="bob@mail.ru",
            name="Боб",
            groups=("Друзья",),
            extra={"flags": "0x0", "server_flags": "0x0", "status": "0x1"},
        ),
        ContactEntry(
            contact="carol@bk.ru",
            name="Carol",
            groups=("Work",),
            extra={"flags": "0x0", "server_flags": "0x0", "status": "0x1"},
        ),
    )
    assert (add.operation, add.entries) == (
        "add",
        (ContactEntry(contact="dave@mail.ru", name="Dave", groups=("Work",)),),
    )  # type: ignore[attr-defined]


def test_file_offer_and_transfer_connection(split_feed: SplitFeed) -> None:
    """FILE_TRANSFER gives offers and expectations; the MRA_FT connection the file bytes."""
    files = [("photo.jpg", 5000), ("notes.txt", 12)]
    scenario = [
        (ORIG, w.packet(w.LOGIN2, w.login2("alice@mail.ru", b"p", 1, "d"))),
        (
            RESP,
            w.packet(
                w.FILE_TRANSFER, w.file_transfer("bob@mail.ru", 4242, files, "192.0.2.5:2041;")
            ),
        ),
    ]
    events = split_feed(MrimParser, scenario, strict=True)  # type: ignore[arg-type]
    offers = [
        (o.name, o.size, o.sender, o.recipient, o.transfer_id, o.endpoint)
        for o in kinds(events, FileOffer)
    ]  # type: ignore[attr-defined]
    assert offers == [
        ("photo.jpg", 5000, "bob@mail.ru", "alice@mail.ru", "4242", ("192.0.2.5", 2041)),
        ("notes.txt", 12, "bob@mail.ru", "alice@mail.ru", "4242", ("192.0.2.5", 2041)),
    ]
    (expect,) = kinds(events, ExpectConnection)
    context = expect.context  # type: ignore[attr-defined]
    assert context == MrimTransfer(
        session_id=4242,
        sender="bob@mail.ru",
        recipient="alice@mail.ru",
        files=tuple(files),
        control_uid="C1",
    )
    photo = bytes(range(256)) * 19 + bytes(136)
    ft = [
        (ORIG, b"MRA_FT_HELLO alice@mail.ru\x00"),
        (RESP, b"MRA_FT_HELLO bob@mail.ru\x00"),
        (ORIG, b"MRA_FT_GET_FILE photo.jpg\x00"),
        (RESP, photo),
        (ORIG, b"MRA_FT_GET_FILE notes.txt\x00"),
        (RESP, b"twelve bytes"),
        End(ORIG),
        End(RESP),
    ]
    flow = dataclasses.replace(FLOW, context=context)
    events = split_feed(MrimFileParser, ft, flow=flow, strict=True)  # type: ignore[arg-type]
    begins = [(b.file, b.name, b.size, b.sender, b.upload) for b in kinds(events, FileBegin)]  # type: ignore[attr-defined]
    assert begins == [
        (0, "photo.jpg", 5000, "bob@mail.ru", False),
        (1, "notes.txt", 12, "bob@mail.ru", False),
    ]
    data = b"".join(d.data for d in kinds(events, FileData) if d.file == 0)  # type: ignore[attr-defined]
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(photo).hexdigest()
    assert [(e.file, e.complete) for e in kinds(events, FileEnd)] == [(0, True), (1, True)]  # type: ignore[attr-defined]


def test_start_tls_switches() -> None:
    """START_TLS OK hands the rest of the stream to TLS."""
    parser = MrimParser(FLOW, Limits())
    parser.feed(ORIG, w.packet(w.START_TLS), 0)
    events = parser.feed(RESP, w.packet(w.START_TLS_OK) + b"\x16\x03\x01", 1)
    assert events[-1] == SwitchProtocol(direction=RESP, ts=1, to="tls", leftover=b"\x16\x03\x01")


def test_mid_stream_and_gap_resync(split_feed: SplitFeed) -> None:
    """A capture starting mid-packet and a hole resynchronise on the next magic."""
    packets = session()
    scenario = [
        (ORIG, packets[3][1][20:]),
        packets[3],
        Gap(ORIG, 30),
        (ORIG, packets[3][1][10:]),
        packets[3],
    ]
    events = split_feed(MrimParser, scenario, flow=MID_STREAM_FLOW)  # type: ignore[arg-type]
    assert [m.text for m in kinds(events, ChatMessage)] == ["привет", "привет"]  # type: ignore[attr-defined]
    assert [a.name for a in kinds(events, Anomaly)] == [
        "mrim_resync",
        "mrim_content_gap",
        "mrim_resync",
    ]  # type: ignore[attr-defined]


def test_hostile_sizes() -> None:
    """A 4 GB packet, a list claiming a million groups, a path name: anomalies, no crash."""
    parser = MrimParser(FLOW, Limits())
    huge = w.packet(w.MESSAGE)[:16] + w.ul(0xFFFFFFFF) + bytes(24)
    events = parser.feed(RESP, huge + w.packet(w.MAILBOX_STATUS, w.ul(1)), 0)
    assert [type(e).__name__ for e in events] == ["Anomaly", "Anomaly", "Confirmed", "ChatNotice"]
    assert events[0].name == "mrim_packet_too_long"  # type: ignore[attr-defined]
    claim = w.ul(0) + w.ul(1_000_000) + w.lps(b"us") + w.lps(b"uussuu") + w.ul(0)
    events = parser.feed(RESP, w.packet(w.CONTACT_LIST2, claim), 1)
    assert [e.name for e in kinds(events, Anomaly)] == [
        "mrim_too_many_groups",
        "mrim_contact_list_truncated",
    ]  # type: ignore[attr-defined]
    offer = w.file_transfer("bob@mail.ru", 1, [("..\\..\\boot.ini", 3)], "10.0.0.1:1;")
    events = parser.feed(RESP, w.packet(w.FILE_TRANSFER, offer), 2)
    assert kinds(events, Anomaly)[0].name == "mrim_file_name_path"  # type: ignore[attr-defined]
    assert parser.buffered_bytes() == 0


def test_contact_list_of_many_entries_is_capped() -> None:
    """Past MAX_CONTACTS entries are dropped with an anomaly; memory stays bounded."""
    contacts = [(0, 0, f"u{i}@mail.ru", "n") for i in range(20_050)]
    events = MrimParser(FLOW, Limits()).feed(
        RESP, w.packet(w.CONTACT_LIST2, w.contact_list(["g"], contacts)), 0
    )
    (update,) = kinds(events, ContactListUpdate)
    assert len(update.entries) == 20_000  # type: ignore[attr-defined]
    assert kinds(events, Anomaly)[0].detail == "50 dropped"  # type: ignore[attr-defined]


def test_protocols_md_vector() -> None:
    """protocols.md s16a's MESSAGE vector decodes as "привет" to bob@mail.ru."""
    vector = bytes.fromhex(
        "efbeadde17000100020000000810000028000000000000000000000000000000000000000000000000000000"
        "000010000b000000626f62406d61696c2e72750c0000003f04400438043204350442040100000020"
    )
    (message,) = kinds(MrimParser(FLOW, Limits()).feed(ORIG, vector, 0), ChatMessage)
    assert (message.recipients, message.text) == (("bob@mail.ru",), "привет")  # type: ignore[attr-defined]
