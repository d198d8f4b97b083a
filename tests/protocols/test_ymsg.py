"""Yahoo! Messenger YMSG: logins, messages, lists, conferences, typing, file offers."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pcapgen import TcpSession
from tests.protocols import ymsg_wire as y
from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, Gap, SplitFeed
from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Confirmed, Event
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
    FileOffer,
)
from wiresift.protocols.ymsg import MAX_PAIRS, SPEC, YmsgParser

LATIN = "Grüße, ça va?"
CYRILLIC = "Привет, как дела?"
CJK = "你好\uff0c世界"  # with a fullwidth comma
NS = 1_000_000_000


def _of(events: list[Event], *kinds: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kinds)]


def test_login_gives_the_yahoo_id(split_feed: SplitFeed) -> None:
    """AUTH (0x57) and AUTHRESP (0x54) with key 1 name the account."""
    events = split_feed(
        YmsgParser,
        [
            (ORIG, y.packet(y.AUTH, [(1, "alice_y")])),
            (RESP, y.packet(y.AUTH, [(1, "alice_y"), (94, "challenge"), (13, "2")])),
            (
                ORIG,
                y.packet(
                    y.AUTHRESP, [(0, "alice_y"), (6, "hash6"), (96, "hash96"), (1, "alice_y")]
                ),
            ),
        ],
        strict=True,
    )
    assert events == [
        Confirmed(direction=ORIG, ts=0),
        ChatLogin(direction=ORIG, ts=0, account="alice_y", mechanism="auth"),
        ChatLogin(direction=ORIG, ts=2, account="alice_y", mechanism="authresp"),
    ]


@pytest.mark.parametrize("text", [LATIN, CYRILLIC, CJK])
def test_message_both_directions(split_feed: SplitFeed, text: str) -> None:
    """Client (key 1) and server (key 4) messages, key 97 = UTF-8, font tags stripped."""
    marked = f'<font face="Arial" size="10">\x1b[1m{text}\x1b[x1m</font>'
    events = split_feed(
        YmsgParser,
        [
            (ORIG, y.packet(y.MESSAGE, [(1, "alice_y"), (5, "bob_y"), (14, text), (97, "1")])),
            (
                RESP,
                y.packet(
                    y.MESSAGE,
                    [(4, "bob_y"), (5, "alice_y"), (14, marked), (97, "1"), (15, "1700000000")],
                ),
            ),
        ],
        strict=True,
    )
    assert _of(events, ChatMessage) == [
        ChatMessage(
            direction=ORIG,
            ts=0,
            sender="alice_y",
            recipients=("bob_y",),
            text=text,
            raw=text.encode(),
            charset="utf-8",
        ),
        ChatMessage(
            direction=RESP,
            ts=1,
            sender="bob_y",
            recipients=("alice_y",),
            text=text,
            raw=marked.encode(),
            charset="utf-8",
            markup=marked,
            sent_at=1_700_000_000 * NS,
        ),
    ]


def test_cp1252_without_utf8_flag(split_feed: SplitFeed) -> None:
    """Without key 97 and not valid UTF-8 the text is read as cp1252."""
    events = split_feed(
        YmsgParser,
        [(ORIG, y.packet(y.MESSAGE, [(1, "a"), (5, "b"), (14, "café".encode("cp1252"))]))],
    )
    message = _of(events, ChatMessage)[0]
    assert (message.text, message.charset) == ("café", "cp1252")  # type: ignore[attr-defined]


def test_offline_messages_in_one_packet(split_feed: SplitFeed) -> None:
    """Several (4, 5, 14, 15) groups delivered at login are several offline messages."""
    pairs: list[y.Pair] = [(5, "alice_y")]
    for sender, text, when in (("bob_y", CYRILLIC, 1600000000), ("carol_y", CJK, 1600000100)):
        pairs += [
            (31, "6"),
            (32, "6"),
            (4, sender),
            (5, "alice_y"),
            (14, text),
            (15, str(when)),
            (97, "1"),
        ]
    events = split_feed(YmsgParser, [(RESP, y.packet(y.MESSAGE, pairs, status=y.STATUS_OFFLINE))])
    assert [(m.sender, m.text, m.message_kind, m.sent_at) for m in _of(events, ChatMessage)] == [  # type: ignore[attr-defined]
        ("bob_y", CYRILLIC, "offline", 1600000000 * NS),
        ("carol_y", CJK, "offline", 1600000100 * NS),
    ]


def test_conference_and_chat_room_messages(split_feed: SplitFeed) -> None:
    """CONFMSG (57 room, 3 sender, 14) and chat COMMENT (104, 109, 117, 124 = 2 /me)."""
    events = split_feed(
        YmsgParser,
        [
            (
                RESP,
                y.packet(
                    y.CONFMSG,
                    [(1, "alice_y"), (57, "alice-conf-1"), (3, "bob_y"), (14, CYRILLIC), (97, "1")],
                ),
            ),
            (
                RESP,
                y.packet(
                    y.COMMENT, [(104, "Linux:1"), (109, "carol_y"), (117, "waves"), (124, "2")]
                ),
            ),
        ],
        strict=True,
    )
    assert _of(events, ChatMessage) == [
        ChatMessage(
            direction=RESP,
            ts=0,
            sender="bob_y",
            channel="alice-conf-1",
            text=CYRILLIC,
            raw=CYRILLIC.encode(),
            charset="utf-8",
            message_kind="groupchat",
        ),
        ChatMessage(
            direction=RESP,
            ts=1,
            sender="carol_y",
            channel="Linux:1",
            text="waves",
            raw=b"waves",
            charset="utf-8",
            message_kind="action",
        ),
    ]


def test_typing_notice(split_feed: SplitFeed) -> None:
    """NOTIFY 49=TYPING, 13=1 is a typing notice."""
    events = split_feed(
        YmsgParser,
        [(RESP, y.packet(y.NOTIFY, [(5, "alice_y"), (4, "bob_y"), (49, "TYPING"), (13, "1")]))],
    )
    assert events[1:] == [
        ChatNotice(direction=RESP, ts=0, name="typing", who="bob_y", detail="started")
    ]


def test_buddy_lists_old_and_v15_and_changes(split_feed: SplitFeed) -> None:
    """LIST key 87, LIST_15 groups/buddies/ignore section, ADDBUDDY and REMBUDDY."""
    list15 = [
        (302, "318"),
        (300, "318"),
        (65, "Друзья"),
        (302, "319"),
        (300, "319"),
        (7, "bob_y"),
        (301, "319"),
        (300, "319"),
        (7, "msn@example.com"),
        (241, "2"),
        (301, "319"),
        (303, "319"),
        (301, "318"),
        (303, "318"),
        (302, "320"),
        (300, "320"),
        (7, "spam_y"),
        (301, "320"),
        (303, "320"),
    ]
    events = split_feed(
        YmsgParser,
        [
            (ORIG, y.packet(y.AUTH, [(1, "alice_y")])),
            (RESP, y.packet(y.LIST, [(87, "Friends:bob_y,carol_y\n家族:mom_y\n")])),
            (RESP, y.packet(y.LIST_15, list15)),
            (
                ORIG,
                y.packet(y.ADDBUDDY, [(1, "alice_y"), (7, "dave_y"), (65, "Friends"), (14, "hi")]),
            ),
            (ORIG, y.packet(y.REMBUDDY, [(1, "alice_y"), (7, "carol_y"), (65, "Friends")])),
        ],
        strict=True,
    )
    assert _of(events, ContactListUpdate) == [
        ContactListUpdate(
            direction=RESP,
            ts=1,
            owner="alice_y",
            operation="add",
            entries=(
                ContactEntry(contact="bob_y", groups=("Friends",)),
                ContactEntry(contact="carol_y", groups=("Friends",)),
                ContactEntry(contact="mom_y", groups=("家族",)),
            ),
            groups=("Friends", "家族"),
        ),
        ContactListUpdate(
            direction=RESP,
            ts=2,
            owner="alice_y",
            operation="add",
            entries=(
                ContactEntry(contact="bob_y", groups=("Друзья",)),
                ContactEntry(contact="msn@example.com", groups=("Друзья",), extra={"network": "2"}),
                ContactEntry(contact="spam_y", extra={"ignored": True}),
            ),
            groups=("Друзья",),
        ),
        ContactListUpdate(
            direction=ORIG,
            ts=3,
            owner="alice_y",
            operation="add",
            entries=(ContactEntry(contact="dave_y", groups=("Friends",)),),
            groups=("Friends",),
        ),
        ContactListUpdate(
            direction=ORIG,
            ts=4,
            owner="alice_y",
            operation="remove",
            entries=(ContactEntry(contact="carol_y"),),
        ),
    ]


def test_v15_file_offer_and_relay_token(split_feed: SplitFeed) -> None:
    """0xDC offer (265 id, 27 name, 28 size); 0xDD relay host and token (the HTTP URL's token)."""
    events = split_feed(
        YmsgParser,
        [
            (
                ORIG,
                y.packet(
                    y.FILETRANS_15,
                    [
                        (1, "alice_y"),
                        (5, "bob_y"),
                        (265, "TID1"),
                        (222, "1"),
                        (266, "1"),
                        (302, "268"),
                        (300, "268"),
                        (27, "отчёт.pdf"),
                        (28, "12345"),
                        (301, "268"),
                        (303, "268"),
                    ],
                ),
            ),
            (
                RESP,
                y.packet(y.FILETRANS_15, [(1, "bob_y"), (5, "alice_y"), (265, "TID1"), (222, "3")]),
            ),
            (
                ORIG,
                y.packet(
                    y.FILETRANS_INFO_15,
                    [
                        (1, "alice_y"),
                        (5, "bob_y"),
                        (265, "TID1"),
                        (27, "отчёт.pdf"),
                        (249, "3"),
                        (250, "98.136.112.1"),
                        (251, "TOKEN%3D"),
                    ],
                ),
            ),
        ],
        strict=True,
    )
    assert _of(events, FileOffer) == [
        FileOffer(
            direction=ORIG,
            ts=0,
            name="отчёт.pdf",
            size=12345,
            sender="alice_y",
            recipient="bob_y",
            transfer_id="TID1",
        ),
        FileOffer(
            direction=RESP,
            ts=1,
            name="",
            sender="alice_y",
            recipient="bob_y",
            transfer_id="TID1",
            accepted=True,
        ),
        FileOffer(
            direction=ORIG,
            ts=2,
            name="отчёт.pdf",
            sender="alice_y",
            recipient="bob_y",
            transfer_id="TOKEN%3D",
            endpoint=("98.136.112.1", 80),
        ),
    ]


def test_too_many_pairs_is_bounded() -> None:
    """A full 64 KiB body of pairs stops at MAX_PAIRS with an anomaly."""
    pairs: list[y.Pair] = [(1, "")] * 13_000
    parser = YmsgParser(FLOW, Limits())
    events = parser.feed(ORIG, y.packet(y.MESSAGE, pairs), 0)
    assert [e.name for e in _of(events, Anomaly)] == ["ymsg_too_many_pairs"]  # type: ignore[attr-defined]
    assert MAX_PAIRS == 4096
    assert parser.buffered_bytes() == 0


def test_mid_stream_and_gap_resync_on_magic(split_feed: SplitFeed) -> None:
    """Bytes before a YMSG magic are skipped; after a gap the next packet is read."""
    first = y.packet(y.MESSAGE, [(1, "a"), (5, "b"), (14, "lost")])
    second = y.packet(y.MESSAGE, [(1, "a"), (5, "b"), (14, "中文")])
    events = split_feed(YmsgParser, [(ORIG, first[7:] + second)], flow=MID_STREAM_FLOW)
    assert [(type(e).__name__, getattr(e, "text", getattr(e, "name", None))) for e in events] == [
        ("Anomaly", "ymsg_resync"),
        ("Confirmed", None),
        ("ChatMessage", "中文"),
    ]
    events = split_feed(YmsgParser, [(ORIG, first[:25]), Gap(ORIG, 5), (ORIG, first[30:] + second)])
    assert [e.name for e in _of(events, Anomaly)] == ["ymsg_content_gap", "ymsg_resync"]  # type: ignore[attr-defined]
    assert [m.text for m in _of(events, ChatMessage)] == ["中文"]  # type: ignore[attr-defined]


def test_detection_signature() -> None:
    """The signature matches the YMSG magic with a plausible version, on either side."""
    pattern = SPEC.signatures[0].pattern
    assert pattern.match(y.packet(y.MESSAGE, []))
    assert not pattern.match(b"YMSGxx")
    assert SPEC.signatures[0].direction is None


def test_arbitrary_bytes_stay_bounded() -> None:
    """Random input never raises; the buffer holds at most one packet."""

    rng = random.Random(5)
    parser = YmsgParser(FLOW, Limits())
    for _ in range(300):
        parser.feed(RESP, b"YMSG\x00\x10" + rng.randbytes(rng.randint(1, 200)), 0)
    assert parser.buffered_bytes() <= 20 + 0xFFFF


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (scripts/ci-packages.sh installs it)"
)
def test_tshark_decodes_generated_capture_cleanly(tmp_path: Path) -> None:
    """tshark's ymsg dissector reads generated packets on 5050 without malformed marks."""
    session = TcpSession(("192.0.2.1", 40000), ("198.51.100.7", 5050))
    session.handshake()
    session.send(True, y.packet(y.AUTH, [(1, "alice_y")]))
    session.send(
        True, y.packet(y.MESSAGE, [(1, "alice_y"), (5, "bob_y"), (14, CYRILLIC), (97, "1")])
    )
    session.send(False, y.packet(y.LIST, [(87, "Friends:bob_y\n")]))
    session.send(
        True,
        y.packet(
            y.FILETRANS_15,
            [(1, "alice_y"), (5, "bob_y"), (265, "T"), (222, "1"), (27, "a.txt"), (28, "3")],
        ),
    )
    path = tmp_path / "ymsg.pcap"
    session.write_pcap(path)
    assert TSHARK is not None
    result = subprocess.run(
        [
            TSHARK,
            "-r",
            str(path),
            "-Y",
            "ymsg",
            "-T",
            "fields",
            "-e",
            "_ws.malformed",
            "-e",
            "ymsg.service",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 4
    assert not [line for line in lines if line.split("\t")[0]]


def test_legacy_file_transfer_url(split_feed: SplitFeed) -> None:
    """FILETRANSFER 0x46: key 20 URL (the transfer id), 27 name, 28 size."""
    url = "http://fs.msg.yahoo.com/tmp/abc123/photo.jpg"
    pairs: list[y.Pair] = [
        (4, "bob_y"),
        (5, "alice_y"),
        (14, "look"),
        (20, url),
        (27, "photo.jpg"),
        (28, "2048"),
    ]
    events = split_feed(YmsgParser, [(RESP, y.packet(0x46, pairs))], strict=True)
    assert _of(events, FileOffer) == [
        FileOffer(
            direction=RESP,
            ts=0,
            name="photo.jpg",
            size=2048,
            sender="bob_y",
            recipient="alice_y",
            transfer_id=url,
        ),
    ]
