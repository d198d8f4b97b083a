"""MSN Messenger: MSNP notification server and switchboard, MSNFTP, MSNSLP/P2P."""

from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import wiresift.engine
from tests.pcapgen import TcpSession
from tests.protocols import msn_wire as w
from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Config, Limits
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols.base import Anomaly, Confirmed, Event, FlowInfo
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
from wiresift.protocols.msn import (
    SPEC,
    SPECS,
    FileSession,
    MsnDirectParser,
    MsnFtpContext,
    MsnFtpParser,
    MsnParser,
)
from wiresift.protocols.msn.detect import DIRECT_SIGNATURES, MSNFTP_SIGNATURES, SIGNATURES

ALICE = "alice@example.com"
BOB = "bob@example.net"
CAROL = "carol@example.org"
LATIN = "Grüße, ça va? Ñandú"
CYRILLIC = "Привет, как дела?"
CJK = "你好\uff0c世界\u3002こんにちは"  # fullwidth comma and ideographic full stop


def _of(events: list[Event], *kinds: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kinds)]


def _switchboard_caller() -> list[bytes]:
    """Alice opens a switchboard, calls Bob, who joins."""
    return [
        w.cmd("USR", 1, ALICE, "1115372323.20879"),
        w.cmd("CAL", 2, BOB),
    ]


SB_REPLIES = [
    w.cmd("USR", 1, "OK", ALICE, "Alice"),
    w.cmd("CAL", 2, "RINGING", 246503),
    w.cmd("JOI", BOB, "Bob%20B."),
]


def test_notification_login_gives_account_and_client(split_feed: SplitFeed) -> None:
    """VER/CVR/USR TWN I give a ChatLogin with client; USR OK confirms; no ticket by default."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("VER", 1, "MSNP8", "CVR0")),
            (RESP, w.cmd("VER", 1, "MSNP8", "CVR0")),
            (
                ORIG,
                w.cmd(
                    "CVR",
                    2,
                    "0x0409",
                    "winnt",
                    "5.1",
                    "i386",
                    "MSNMSGR",
                    "6.2.0208",
                    "MSMSGS",
                    ALICE,
                ),
            ),
            (ORIG, w.cmd("USR", 3, "TWN", "I", ALICE)),
            (ORIG, w.cmd("USR", 4, "TWN", "S", "t=secret-ticket&p=x")),
            (RESP, w.cmd("USR", 4, "OK", ALICE, "Alice", 1, 0)),
        ],
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        ChatLogin(direction=ORIG, ts=3, account=ALICE, client="MSNMSGR 6.2.0208", mechanism="TWN"),
        ChatLogin(direction=RESP, ts=5, account=ALICE, client="MSNMSGR 6.2.0208", accepted=True),
    ]


def test_ticket_kept_only_with_keep_secrets(split_feed: SplitFeed) -> None:
    """With keep_secrets the USR TWN S ticket is the login's secret."""

    class SecretMsnParser(MsnParser):
        keep_secrets = True

    events = split_feed(
        SecretMsnParser,
        [(ORIG, w.cmd("USR", 3, "TWN", "I", ALICE) + w.cmd("USR", 4, "TWN", "S", "t=T&p=P"))],
    )
    assert _of(events, ChatLogin)[1] == ChatLogin(
        direction=ORIG,
        ts=0,
        account=ALICE,
        mechanism="TWN",
        secret="t=T&p=P",  # noqa: S106 (a test ticket)
    )


def test_msnp8_contact_list_with_groups_and_changes(split_feed: SplitFeed) -> None:
    """SYN replaces the list; LSG/LST give groups and URL-decoded nicknames; ADD/REM change it."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("USR", 3, "TWN", "I", ALICE)),
            (ORIG, w.cmd("SYN", 5, 0)),
            (
                RESP,
                w.cmd("SYN", 5, 42, 2, 2)
                + w.cmd("LSG", 0, "Other%20Contacts", 0)
                + w.cmd("LSG", 1, "Коллеги", 0)
                + w.cmd("LST", BOB, "Bob%20B.", 11, 0)
                + w.cmd("LST", CAROL, "%E7%8E%8B%E5%B0%8F%E6%98%8E", 3, 1),
            ),
            (ORIG, w.cmd("ADD", 6, "FL", "dave@example.com", "Dave", 1)),
            (ORIG, w.cmd("REM", 7, "FL", BOB)),
        ],
    )
    updates = _of(events, ContactListUpdate)
    assert updates == [
        ContactListUpdate(direction=RESP, ts=2, owner=ALICE, operation="replace"),
        ContactListUpdate(
            direction=RESP, ts=2, owner=ALICE, operation="add", groups=("Other Contacts",)
        ),
        ContactListUpdate(direction=RESP, ts=2, owner=ALICE, operation="add", groups=("Коллеги",)),
        ContactListUpdate(
            direction=RESP,
            ts=2,
            owner=ALICE,
            operation="add",
            entries=(
                ContactEntry(
                    contact=BOB,
                    name="Bob B.",
                    groups=("Other Contacts",),
                    extra={"lists": ["FL", "AL", "RL"]},
                ),
            ),
        ),
        ContactListUpdate(
            direction=RESP,
            ts=2,
            owner=ALICE,
            operation="add",
            entries=(
                ContactEntry(
                    contact=CAROL, name="王小明", groups=("Коллеги",), extra={"lists": ["FL", "AL"]}
                ),
            ),
        ),
        ContactListUpdate(
            direction=ORIG,
            ts=3,
            owner=ALICE,
            operation="add",
            entries=(ContactEntry(contact="dave@example.com", name="Dave", groups=("Коллеги",)),),
        ),
        ContactListUpdate(
            direction=ORIG,
            ts=4,
            owner=ALICE,
            operation="remove",
            entries=(ContactEntry(contact=BOB),),
        ),
    ]


def test_msnp10_list_and_adl_xml(split_feed: SplitFeed) -> None:
    """MSNP10 LST N=/F=/C= with group guids, and the MSNP13+ ADL XML payload."""
    adl = (
        b'<ml l="1"><d n="example.net"><c n="bob" l="3" t="1"/></d>'
        b'<d n="yahoo.com"><c n="zed" l="1" t="32"/></d></ml>'
    )
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("USR", 3, "SSO", "I", ALICE)),
            (
                RESP,
                w.cmd("LSG", "Friends", "g-1")
                + w.cmd("LST", f"N={BOB}", "F=B%C3%B6b", "C=c-1", 3, "g-1"),
            ),
            (ORIG, w.payload_cmd("ADL", (9,), adl)),
            (RESP, w.cmd("ADL", 9, "OK")),
        ],
        strict=True,
    )
    updates = _of(events, ContactListUpdate)
    assert updates[1:] == [
        ContactListUpdate(
            direction=RESP,
            ts=1,
            owner=ALICE,
            operation="add",
            entries=(
                ContactEntry(
                    contact=BOB,
                    name="Böb",
                    groups=("Friends",),
                    extra={"lists": ["FL", "AL"], "guid": "c-1"},
                ),
            ),
        ),
        ContactListUpdate(
            direction=ORIG,
            ts=2,
            owner=ALICE,
            operation="add",
            entries=(
                ContactEntry(contact=BOB, extra={"lists": ["FL", "AL"], "network": 1}),
                ContactEntry(contact="zed@yahoo.com", extra={"lists": ["FL"], "network": 32}),
            ),
        ),
    ]


def test_presence_lines_are_notices(split_feed: SplitFeed) -> None:
    """CHG, ILN, NLN and FLN become presence notices with the URL-decoded name."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("USR", 3, "TWN", "I", ALICE) + w.cmd("CHG", 8, "NLN", 0)),
            (RESP, w.cmd("ILN", 8, "AWY", BOB, "Bob%20%C3%A9t%C3%A9", 0)),
            (RESP, w.cmd("NLN", "BSY", CAROL, "Carol", 0) + w.cmd("FLN", BOB)),
        ],
    )
    assert _of(events, ChatNotice) == [
        ChatNotice(direction=ORIG, ts=0, name="presence", who=ALICE, detail="NLN"),
        ChatNotice(direction=RESP, ts=1, name="presence", who=BOB, detail="AWY Bob été"),
        ChatNotice(direction=RESP, ts=2, name="presence", who=CAROL, detail="BSY Carol"),
        ChatNotice(direction=RESP, ts=2, name="presence", who=BOB, detail="FLN"),
    ]


@pytest.mark.parametrize("text", [LATIN, CYRILLIC, CJK])
def test_switchboard_messages_both_ways(split_feed: SplitFeed, text: str) -> None:
    """Client and server MSG text/plain: sender, recipients, UTF-8 text, font in extra."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, b"".join(_switchboard_caller())),
            (RESP, b"".join(SB_REPLIES)),
            (ORIG, w.client_msg(3, w.text_payload(text, font="MS Shell Dlg"))),
            (RESP, w.server_msg(BOB, "Bob B.", w.text_payload(text[::-1], charset_code="86"))),
        ],
        strict=True,
    )
    fmt_alice = {"FN": "MS Shell Dlg", "EF": "", "CO": "0", "CS": "0", "PF": "22"}
    fmt_bob = {"FN": "Arial", "EF": "", "CO": "0", "CS": "86", "PF": "22"}
    assert _of(events, ChatMessage) == [
        ChatMessage(
            direction=ORIG,
            ts=2,
            sender=ALICE,
            recipients=(BOB,),
            text=text,
            raw=text.encode(),
            charset="utf-8",
            extra={"format": fmt_alice, "font": "MS Shell Dlg", "font_charset": "0", "trid": 3},
        ),
        ChatMessage(
            direction=RESP,
            ts=3,
            sender=BOB,
            recipients=(ALICE,),
            text=text[::-1],
            raw=text[::-1].encode(),
            charset="utf-8",
            extra={"format": fmt_bob, "font": "Arial", "font_charset": "86"},
        ),
    ]


def test_conference_recipients_and_leaving(split_feed: SplitFeed) -> None:
    """ANS + IRO list the participants; a message goes to all of them; BYE removes one."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("ANS", 1, ALICE, "cookie.1", 17069658)),
            (
                RESP,
                w.cmd("IRO", 1, 1, 2, BOB, "Bob")
                + w.cmd("IRO", 1, 2, 2, CAROL, "Carol")
                + w.cmd("ANS", 1, "OK"),
            ),
            (RESP, w.server_msg(CAROL, "Carol", w.text_payload("всем привет"))),
            (RESP, w.cmd("BYE", BOB)),
            (ORIG, w.client_msg(2, w.text_payload("пока"))),
        ],
        strict=True,
    )
    messages = _of(events, ChatMessage)
    assert [(m.sender, m.recipients, m.text) for m in messages] == [  # type: ignore[attr-defined]
        (CAROL, (BOB, ALICE), "всем привет"),
        (ALICE, (CAROL,), "пока"),
    ]
    assert _of(events, ChatLogin) == [
        ChatLogin(direction=ORIG, ts=0, account=ALICE, mechanism="switchboard")
    ]
    assert [(n.name, n.who) for n in _of(events, ChatNotice)] == [  # type: ignore[attr-defined]
        ("join", BOB),
        ("join", CAROL),
        ("part", BOB),
    ]


def test_typing_is_a_notice(split_feed: SplitFeed) -> None:
    """text/x-msmsgscontrol with TypingUser is a typing notice, not a message."""
    events = split_feed(
        MsnParser, [(RESP, w.server_msg(BOB, "Bob", w.typing_payload(BOB)))], strict=True
    )
    assert events == [ChatNotice(direction=RESP, ts=0, name="typing", who=BOB)]


def test_msnftp_invitation_announces_the_connection(split_feed: SplitFeed) -> None:
    """INVITE gives a FileOffer; the sender's ACCEPT gives the endpoint and an expectation."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, b"".join(_switchboard_caller())),
            (RESP, b"".join(SB_REPLIES)),
            (ORIG, w.client_msg(3, w.ftp_invite(77, "отчёт 年.txt", 5000))),
            (RESP, w.server_msg(BOB, "Bob", w.ftp_receiver_accept(77))),
            (ORIG, w.client_msg(4, w.ftp_accept(77, "192.0.2.9", 6891, 123456))),
        ],
        strict=True,
    )
    name = "отчёт 年.txt"
    context = MsnFtpContext(
        name=name, size=5000, sender=ALICE, recipient=BOB, cookie="77", auth_cookie="123456"
    )
    assert _of(events, FileOffer, ExpectConnection) == [
        FileOffer(
            direction=ORIG, ts=2, name=name, size=5000, sender=ALICE, recipient=BOB,
            transfer_id="77",
        ),
        FileOffer(
            direction=ORIG, ts=4, name=name, size=5000, sender=ALICE, recipient=BOB,
            transfer_id="77", endpoint=("192.0.2.9", 6891), accepted=True,
        ),
        ExpectConnection(
            direction=ORIG, ts=4, protocol="msnftp", server_addr="192.0.2.9", server_port=6891,
            context=context,
        ),
    ]  # fmt: skip


FILE_BYTES = bytes(range(256)) * 20 + b"tail"  # 5124 bytes: three MSNFTP blocks


def test_msnftp_connection_gives_the_file(split_feed: SplitFeed) -> None:
    """VER/USR/FIL/TFR then 3-byte-header blocks: the file's exact bytes, complete."""
    context = MsnFtpContext(
        name="a.bin", size=len(FILE_BYTES), sender=ALICE, recipient=BOB, cookie="77"
    )
    flow = dataclasses.replace(FLOW, resp_port=6891, context=context)
    events = split_feed(
        MsnFtpParser,
        [
            (ORIG, b"VER MSNFTP\r\n"),
            (RESP, b"VER MSNFTP\r\n"),
            (ORIG, f"USR {BOB} 123456\r\n".encode()),
            (RESP, f"FIL {len(FILE_BYTES)}\r\n".encode()),
            (ORIG, b"TFR\r\n"),
            (RESP, w.ftp_blocks(FILE_BYTES)),
            (ORIG, b"BYE 16777989\r\n"),
        ],
        flow=flow,
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        ChatLogin(direction=ORIG, ts=2, account=BOB),
        FileBegin(
            direction=RESP,
            ts=4,
            file=0,
            name="a.bin",
            size=len(FILE_BYTES),
            sender=ALICE,
            recipient=BOB,
            transfer_id="77",
        ),
        FileData(direction=RESP, ts=5, file=0, data=FILE_BYTES),
        FileEnd(direction=RESP, ts=5, file=0, complete=True),
    ]


def _p2p_session(session: int, name: str, data: bytes) -> list[bytes]:
    invite = w.slp_file_invite(ALICE, BOB, session, name, len(data))
    steps = [
        w.p2p_msg(10 + i, BOB, c, w.APP_SLP)
        for i, c in enumerate(w.p2p_chunks(0, 500, invite, size=600))
    ]
    chunks = w.p2p_chunks(session, 501, data, flags=w.FLAG_FILE_DATA)
    steps += [w.p2p_msg(20 + i, BOB, c, w.APP_FILE) for i, c in enumerate(chunks)]
    return steps


def test_p2p_file_through_the_switchboard(split_feed: SplitFeed) -> None:
    """MSNSLP INVITE (Context: UTF-16LE name, size) then data chunks by offset: known bytes."""
    events = split_feed(
        MsnParser,
        [
            (ORIG, b"".join(_switchboard_caller())),
            (RESP, b"".join(SB_REPLIES)),
            (ORIG, b"".join(_p2p_session(9001, "фото_写真.jpg", FILE_BYTES))),
        ],
        strict=True,
    )
    assert _of(events, FileOffer, FileBegin, FileData, FileEnd) == [
        FileOffer(
            direction=ORIG,
            ts=2,
            name="фото_写真.jpg",
            size=len(FILE_BYTES),
            sender=ALICE,
            recipient=BOB,
            transfer_id="9001",
        ),
        FileBegin(
            direction=ORIG,
            ts=2,
            file=0,
            name="фото_写真.jpg",
            size=len(FILE_BYTES),
            sender=ALICE,
            recipient=BOB,
            transfer_id="9001",
            upload=True,
        ),
        FileData(direction=ORIG, ts=2, file=0, data=FILE_BYTES),
        FileEnd(direction=ORIG, ts=2, file=0, complete=True),
    ]


def test_p2p_direct_connection_with_context(split_feed: SplitFeed) -> None:
    """foo, handshake, then header+payload frames without footer give the announced file."""
    session = FileSession(7, "clip.avi", len(FILE_BYTES), ALICE, BOB)
    flow = dataclasses.replace(FLOW, resp_port=40123, context={7: session})
    frames = [w.dc_frame(b"foo\x00"), w.dc_frame(w.p2p_header(0, 1, 0, 0, 0, w.FLAG_DC_HANDSHAKE))]
    frames += [w.dc_frame(c) for c in w.p2p_chunks(7, 2, FILE_BYTES, w.FLAG_FILE_DATA, size=1352)]
    events = split_feed(
        MsnDirectParser,
        [(ORIG, frames[0]), (RESP, frames[1]), (ORIG, frames[1]), (RESP, b"".join(frames[2:]))],
        flow=flow,
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        FileBegin(
            direction=RESP,
            ts=3,
            file=0,
            name="clip.avi",
            size=len(FILE_BYTES),
            sender=ALICE,
            recipient=BOB,
            transfer_id="7",
        ),
        FileData(direction=RESP, ts=3, file=0, data=FILE_BYTES),
        FileEnd(direction=RESP, ts=3, file=0, complete=True),
    ]


def test_direct_connection_announcement_is_expected(split_feed: SplitFeed) -> None:
    """A transreqbody with Listening: true gives an ExpectConnection for msnp2p."""
    body = {
        "Bridges": "TCPv1",
        "NetID": "0",
        "Conn-Type": "Direct-Connect",
        "Listening": "true",
        "Nonce": "{00000000-0000-0000-0000-000000000000}",
        "IPv4Internal-Addrs": "192.0.2.20",
        "IPv4Internal-Port": "40123",
    }
    slp = w.slp(
        f"INVITE MSNMSGR:{BOB} MSNSLP/1.0",
        ALICE,
        BOB,
        "{1}",
        "application/x-msnmsgr-transreqbody",
        body,
    )
    events = split_feed(
        MsnParser, [(ORIG, w.p2p_msg(5, BOB, w.p2p_chunks(0, 9, slp)[0], 0))], strict=True
    )
    assert [(e.protocol, e.server_addr, e.server_port) for e in _of(events, ExpectConnection)] == [  # type: ignore[attr-defined]
        ("msnp2p", "192.0.2.20", 40123)
    ]


def test_huge_length_is_refused_and_resynced(split_feed: SplitFeed) -> None:
    """MSG with length 2^31: an anomaly, nothing allocated, parsing resumes at the next command."""
    parser = MsnParser(FLOW, Limits())
    data = b"MSG 5 N 2147483648\r\n" + b"garbage that is not a command\r\n" * 3
    data += w.client_msg(6, w.text_payload("after"))
    events = parser.feed(ORIG, data, 0)
    assert parser.buffered_bytes() == 0
    assert [e.name for e in _of(events, Anomaly)] == ["msn_payload_too_long", "msn_resync"]  # type: ignore[attr-defined]
    assert [m.text for m in _of(events, ChatMessage)] == ["after"]  # type: ignore[attr-defined]
    again = split_feed(MsnParser, [(ORIG, data)])
    assert [type(e).__name__ for e in again] == ["Anomaly", "Anomaly", "ChatMessage"]


def test_mid_stream_start_resyncs_on_next_command(split_feed: SplitFeed) -> None:
    """A capture starting inside a payload drops bytes up to the next command line."""
    whole = w.client_msg(1, w.text_payload("lost")) + w.client_msg(2, w.text_payload("中文 kept"))
    events = split_feed(MsnParser, [(ORIG, whole[30:])], flow=MID_STREAM_FLOW)
    assert [e.name for e in _of(events, Anomaly)] == ["msn_resync"]  # type: ignore[attr-defined]
    assert [m.text for m in _of(events, ChatMessage)] == ["中文 kept"]  # type: ignore[attr-defined]


def test_gap_resyncs_on_next_command(split_feed: SplitFeed) -> None:
    """A hole inside a payload: the rest is dropped up to the next command."""
    first = w.client_msg(1, w.text_payload("первое"))
    events = split_feed(
        MsnParser,
        [
            (ORIG, first[:40]),
            Gap(ORIG, 10),
            (ORIG, first[50:] + w.client_msg(2, w.text_payload("second"))),
        ],
    )
    assert [e.name for e in _of(events, Anomaly)] == ["msn_content_gap", "msn_resync"]  # type: ignore[attr-defined]
    assert [m.text for m in _of(events, ChatMessage)] == ["second"]  # type: ignore[attr-defined]


def test_detection_signatures() -> None:
    """NS VER, SB USR/ANS, MSNFTP VER and the direct-connection foo match; HTTP does not."""

    def matches(sigs: tuple[object, ...], data: bytes) -> bool:
        return any(s.pattern.match(data[: s.depth]) for s in sigs)  # type: ignore[attr-defined]

    assert matches(SIGNATURES, b"VER 1 MSNP8 CVR0\r\n")
    assert matches(SIGNATURES, b"VER 0 MSNP18 MSNP17 CVR0\r\n")
    assert matches(SIGNATURES, f"USR 1 {ALICE} 1115372323.20879\r\n".encode())
    assert matches(SIGNATURES, f"ANS 89 {ALICE} 1115371039.15845 17069658\r\n".encode())
    assert not matches(SIGNATURES, b"GET / HTTP/1.1\r\n")
    assert matches(MSNFTP_SIGNATURES, b"VER MSNFTP\r\n")
    assert matches(DIRECT_SIGNATURES, b"\x04\x00\x00\x00foo\x00")
    assert SPEC.name == "msn"


def test_arbitrary_bytes_stay_bounded() -> None:
    """Random binary input never raises and never holds more than a line or a payload."""

    rng = random.Random(7)
    for parser_type in (MsnParser, MsnFtpParser, MsnDirectParser):
        parser = parser_type(FLOW, Limits())
        for _ in range(200):
            parser.feed(ORIG, rng.randbytes(rng.randint(1, 300)), 0)
        assert parser.buffered_bytes() <= 1024 * 1024


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (scripts/ci-packages.sh installs it)"
)
def test_tshark_decodes_generated_capture_cleanly(tmp_path: Path) -> None:
    """tshark's msnms dissector reads the generated switchboard session without malformed marks."""
    session = TcpSession(("192.0.2.1", 40000), ("198.51.100.7", 1863))
    session.handshake()
    for data in _switchboard_caller():
        session.send(True, data)
    for data in SB_REPLIES:
        session.send(False, data)
    session.send(True, w.client_msg(3, w.text_payload(CYRILLIC)))
    session.send(False, w.server_msg(BOB, "Bob", w.text_payload(CJK)))
    path = tmp_path / "msn.pcap"
    session.write_pcap(path)
    assert TSHARK is not None
    result = subprocess.run(
        [
            TSHARK,
            "-r",
            str(path),
            "-Y",
            "msnms",
            "-T",
            "fields",
            "-e",
            "_ws.malformed",
            "-e",
            "msnms",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 7
    assert not [line for line in lines if line.split("\t")[0]]
    parser = MsnParser(dataclasses.replace(FLOW, resp_port=1863), Limits())
    assert parser.name == "msn"


def _flow_for(port: int) -> FlowInfo:
    return dataclasses.replace(FLOW, resp_port=port)


def test_msnp18_machine_guid_is_dropped_from_participants(split_feed: SplitFeed) -> None:
    """JOI and MSG carry ``email;{guid}`` in MSNP16+: the account is the e-mail alone."""
    guid = "{F26D1F07-95E2-403C-BC18-D4BFED493428}"
    events = split_feed(
        MsnParser,
        [
            (ORIG, b"".join(_switchboard_caller())),
            (RESP, w.cmd("JOI", f"{BOB};{guid}", "Bob", "2789003324:48")),
            (RESP, w.server_msg(f"{BOB};{guid}", "Bob", w.text_payload("hi"))),
        ],
        strict=True,
    )
    message = _of(events, ChatMessage)[0]
    assert (message.sender, message.recipients) == (BOB, (ALICE,))  # type: ignore[attr-defined]


class _MsnChatBuilder(ChatBuilder):
    protocol = "msn"


def test_engine_msnftp_file_through_the_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine: the ACCEPT's expectation names the MSNFTP file, stored with its exact bytes."""
    for name in ("msn", "msnftp", "msnp2p"):
        monkeypatch.setitem(wiresift.engine.BUILDERS, name, _MsnChatBuilder)
    board = TcpSession(("192.0.2.9", 40000), ("198.51.100.7", 1863))
    board.handshake()
    for data in _switchboard_caller():
        board.send(True, data)
    for data in SB_REPLIES:
        board.send(False, data)
    board.send(True, w.client_msg(3, w.text_payload(CYRILLIC)))
    board.send(True, w.client_msg(4, w.ftp_invite(77, "данные.bin", len(FILE_BYTES))))
    board.send(False, w.server_msg(BOB, "Bob", w.ftp_receiver_accept(77)))
    board.send(True, w.client_msg(5, w.ftp_accept(77, "192.0.2.9", 6891, 123456)))
    ftp = TcpSession(("203.0.113.5", 50000), ("192.0.2.9", 6891), start_ns=board.start_ns + 10**9)
    ftp.handshake()
    ftp.send(True, b"VER MSNFTP\r\n")
    ftp.send(False, b"VER MSNFTP\r\n")
    ftp.send(True, f"USR {BOB} 123456\r\n".encode())
    ftp.send(False, f"FIL {len(FILE_BYTES)}\r\n".encode())
    ftp.send(True, b"TFR\r\n")
    ftp.send(False, w.ftp_blocks(FILE_BYTES), segment_size=1460)
    ftp.send(True, b"BYE 16777989\r\n")
    ftp.fin(True)
    ftp.fin(False)
    board.fin(True)
    board.fin(False)
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=SPECS)
    for ts, frame in sorted(board.frames + ftp.frames, key=lambda item: item[0]):
        engine.process(ts, 1, frame)
    engine.finish()
    records: list[dict[str, Any]] = [r.to_json() for r in sink.records]
    chats = [r for r in records if r["kind"] == "chat"]
    files = [r for r in records if r["kind"] == "file"]
    assert [(c["protocol"], c["parties"]["sender"], c["chat"]["text"]) for c in chats] == [
        ("msn", ALICE, CYRILLIC)
    ]
    assert [(f["protocol"], f["file"]["wire_name"], f["complete"]) for f in files] == [
        ("msnftp", "данные.bin", True)
    ]
    content = files[0]["contents"][0]
    assert store.blobs[content["sha256"]] == FILE_BYTES


def test_p2p_file_cut_short_ends_incomplete(split_feed: SplitFeed) -> None:
    """The sending side closes before the last chunk: the file ends incomplete ("closed")."""
    steps = _p2p_session(42, "half.bin", FILE_BYTES)
    events = split_feed(
        MsnParser,
        [
            (ORIG, b"".join(_switchboard_caller())),
            (ORIG, b"".join(steps[:-1])),
            End(RESP),
            End(ORIG),
        ],
    )
    assert _of(events, FileEnd) == [
        FileEnd(direction=ORIG, ts=3, file=0, complete=False, reason="closed")
    ]
    data = b"".join(e.data for e in _of(events, FileData))  # type: ignore[attr-defined]
    assert data == FILE_BYTES[: len(data)]
    assert len(data) == 4 * w.SB_CHUNK


def test_yahoo_interop_messages(split_feed: SplitFeed) -> None:
    """UUM (to a Yahoo contact, network 32) and UBM (from one) carry text/plain messages."""
    yahoo = "zed@yahoo.com"
    events = split_feed(
        MsnParser,
        [
            (ORIG, w.cmd("USR", 3, "SSO", "I", ALICE)),
            (ORIG, w.payload_cmd("UUM", (12, yahoo, 32, 1), w.text_payload("こんにちは"))),
            (RESP, w.payload_cmd("UBM", (yahoo, 32, 1), w.text_payload("Здравствуй"))),
        ],
        strict=True,
    )
    assert [
        (m.sender, m.recipients, m.text, m.extra["command"], m.extra["network"])  # type: ignore[attr-defined]
        for m in _of(events, ChatMessage)
    ] == [
        (ALICE, (yahoo,), "こんにちは", "UUM", 32),
        (yahoo, (ALICE,), "Здравствуй", "UBM", 32),
    ]
