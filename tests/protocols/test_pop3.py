"""POP3 parser: bytes in, mail events out, fed whole, byte by byte and at random cuts."""

from __future__ import annotations

import base64
import hashlib
from typing import TypeVar

import pytest

from tests.protocols.helpers import FLOW, MID_STREAM_FLOW, ORIG, RESP, End, Gap, Scenario, SplitFeed
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, SwitchProtocol
from wiresift.protocols.mailevents import (
    MailCommand,
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)
from wiresift.protocols.pop3 import SPEC, Pop3Parser, probe

T = TypeVar("T")
DIGEST = "c4c9334bac560ecc979e58001b3e22fb"  # RFC 1939 s7 example
GREETING = (RESP, b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n")
MESSAGE = b"From: a@example.com\r\nSubject: hi\r\n\r\n.dot line\r\nbody\r\n"
STUFFED = b"From: a@example.com\r\nSubject: hi\r\n\r\n..dot line\r\nbody\r\n"


def of_type(events: list[Event], kind: type[T]) -> list[T]:
    """The events of one type, in order."""
    return [event for event in events if isinstance(event, kind)]


def body(events: list[Event], message: int = 0) -> bytes:
    """The reassembled bytes of one message."""
    return b"".join(e.data for e in of_type(events, MessageData) if e.message == message)


def names(events: list[Event]) -> list[str]:
    """Anomaly names, in order."""
    return [event.name for event in of_type(events, Anomaly)]


def test_user_pass_retr_top_dele_quit(split_feed: SplitFeed) -> None:
    """A whole session: login, a RETR and a TOP message, DELE and QUIT recorded."""
    events = split_feed(
        Pop3Parser,
        [
            GREETING,
            (ORIG, b"USER alice\r\n"),
            (RESP, b"+OK\r\n"),
            (ORIG, b"PASS secret\r\n"),
            (RESP, b"+OK maildrop locked\r\n"),
            (ORIG, b"LIST\r\n"),
            (RESP, b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"),
            (ORIG, b"RETR 1\r\n"),
            (RESP, b"+OK 120 octets\r\n" + STUFFED + b".\r\n"),
            (ORIG, b"TOP 2 0\r\n"),
            (RESP, b"+OK\r\nSubject: two\r\n\r\n.\r\n"),
            (ORIG, b"DELE 1\r\n"),
            (RESP, b"+OK deleted\r\n"),
            (ORIG, b"QUIT\r\n"),
            (RESP, b"+OK bye\r\n"),
            End(ORIG),
            End(RESP),
        ],
        strict=True,
    )
    assert of_type(events, MailLogin) == [
        MailLogin(direction=ORIG, ts=4, mechanism="USER", account="alice", accepted=True)
    ]
    assert of_type(events, MessageBegin) == [
        MessageBegin(
            direction=RESP,
            ts=8,
            message=0,
            protocol="pop3",
            flow="incoming",
            command="RETR",
            number=1,
        ),
        MessageBegin(
            direction=RESP,
            ts=10,
            message=1,
            protocol="pop3",
            flow="incoming",
            command="TOP",
            number=2,
            partial="pop3_top",
        ),
    ]
    assert hashlib.sha256(body(events, 0)).digest() == hashlib.sha256(MESSAGE).digest()
    assert body(events, 1) == b"Subject: two\r\n\r\n"
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=RESP, ts=8, message=0, complete=True),
        MessageEnd(direction=RESP, ts=10, message=1, complete=True),
    ]
    assert of_type(events, MailCommand) == [
        MailCommand(direction=ORIG, ts=12, name="DELE", argument="1", accepted=True),
        MailCommand(direction=ORIG, ts=14, name="QUIT", accepted=True),
    ]


def test_apop_and_secrets(split_feed: SplitFeed) -> None:
    """APOP gives a login; the digest is reported only with keep_secrets."""

    def keeping(flow: FlowInfo, limits: Limits) -> Pop3Parser:
        parser = Pop3Parser(flow, limits)
        parser.keep_secrets = True
        return parser

    scenario: Scenario = [
        GREETING,
        (ORIG, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        (RESP, b"-ERR permission denied\r\n"),
    ]
    assert of_type(split_feed(keeping, scenario, strict=True), MailLogin) == [
        MailLogin(
            direction=ORIG,
            ts=2,
            mechanism="APOP",
            account="mrose",
            secret=DIGEST,
            accepted=False,
        )
    ]
    assert [e.secret for e in of_type(split_feed(Pop3Parser, scenario), MailLogin)] == [None]


def test_auth_plain_with_continuation(split_feed: SplitFeed) -> None:
    """AUTH PLAIN: the '+ ' challenge and the response line make one login (RFC 5034)."""
    response = base64.b64encode(b"\0bob\0pw")
    events = split_feed(
        Pop3Parser,
        [
            GREETING,
            (ORIG, b"CAPA\r\n"),
            (RESP, b"+OK\r\nSASL PLAIN\r\nPIPELINING\r\n.\r\n"),
            (ORIG, b"AUTH PLAIN\r\n"),
            (RESP, b"+ \r\n"),
            (ORIG, response + b"\r\n"),
            (RESP, b"+OK logged in\r\n"),
            (ORIG, b"STAT\r\n"),
            (RESP, b"+OK 0 0\r\n"),
        ],
        strict=True,
    )
    assert of_type(events, MailLogin) == [
        MailLogin(direction=ORIG, ts=6, mechanism="PLAIN", account="bob", accepted=True)
    ]


def test_pipelined_commands_pair_in_order(split_feed: SplitFeed) -> None:
    """Pipelined RETR/DELE/RETR pair with their responses in order (RFC 2449 s6.6)."""
    events = split_feed(
        Pop3Parser,
        [
            GREETING,
            (ORIG, b"RETR 1\r\nDELE 1\r\nRETR 2\r\n"),
            (RESP, b"+OK\r\none\r\n.\r\n+OK\r\n-ERR no such message\r\n"),
        ],
        strict=True,
    )
    assert [(b.number, b.message) for b in of_type(events, MessageBegin)] == [(1, 0)]
    assert body(events) == b"one\r\n"
    assert [e.accepted for e in of_type(events, MailCommand)] == [True]


def test_stls_switches(split_feed: SplitFeed) -> None:
    """STLS answered +OK hands the stream to TLS with the held client bytes."""
    events = split_feed(
        Pop3Parser,
        [GREETING, (ORIG, b"STLS\r\n\x16\x03\x01"), (RESP, b"+OK begin TLS\r\n")],
        strict=True,
    )
    assert of_type(events, SwitchProtocol) == [
        SwitchProtocol(direction=RESP, ts=2, to="tls", leftover=b"", leftover_other=b"\x16\x03\x01")
    ]


def test_mid_session_inside_retr(split_feed: SplitFeed) -> None:
    """Server bytes that start inside a RETR response are a mid-stream message."""
    events = split_feed(
        Pop3Parser,
        [
            (RESP, b"rest of the message\r\n..x\r\n.\r\n"),
            (ORIG, b"RETR 2\r\n"),
            (RESP, b"+OK\r\nsecond\r\n.\r\n"),
        ],
        flow=MID_STREAM_FLOW,
        strict=True,
    )
    assert [(b.partial, b.number) for b in of_type(events, MessageBegin)] == [
        ("mid_stream", None),
        (None, 2),
    ]
    assert (body(events, 0), body(events, 1)) == (b"rest of the message\r\n.x\r\n", b"second\r\n")


def test_mid_session_starting_with_command(split_feed: SplitFeed) -> None:
    """A capture that starts with a client RETR (no greeting) reads every message."""
    events = split_feed(
        Pop3Parser,
        [
            (ORIG, b"RETR 20\r\n"),
            (RESP, b"+OK\r\na\r\n.\r\n"),
            (ORIG, b"RETR 22\r\n"),
            (RESP, b"+OK\r\nb\r\n.\r\n"),
            (ORIG, b"RETR 24\r\n"),
            (RESP, b"+OK\r\nc\r\n.\r\n"),
        ],
        flow=MID_STREAM_FLOW,
        strict=True,
    )
    assert [b.number for b in of_type(events, MessageBegin)] == [20, 22, 24]
    assert [e.complete for e in of_type(events, MessageEnd)] == [True, True, True]


def test_gap_and_close_end_messages_incomplete(split_feed: SplitFeed) -> None:
    """A gap in RETR ends it (reason gap); the next response is parsed; close ends another."""
    events = split_feed(
        Pop3Parser,
        [
            GREETING,
            (ORIG, b"RETR 1\r\nRETR 2\r\n"),
            (RESP, b"+OK\r\nfirst\r\n"),
            Gap(RESP, 500),
            (RESP, b"lost tail\r\n.\r\n+OK\r\nsecond\r\n"),
            End(RESP),
        ],
    )
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=RESP, ts=3, message=0, complete=False, reason="gap"),
        MessageEnd(direction=RESP, ts=5, message=1, complete=False, reason="closed"),
    ]
    assert (body(events, 0), body(events, 1)) == (b"first\r\n", b"second\r\n")
    assert names(events) == ["pop3_content_gap"]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ([GREETING, (ORIG, b"A" * 100_000 + b"\r\nNOOP\r\n")], ["pop3_line_too_long"]),
        (
            [GREETING, (ORIG, b"NOOP\r\n"), (RESP, b"+OK\r\n+OK extra\r\n")],
            ["pop3_reply_without_command"],
        ),
        ([GREETING, (RESP, b"\x00\xffjunk\r\n")], ["pop3_bad_status_line"]),
        ([GREETING, (ORIG, b"\x16\x03\x01junk\r\n")], ["pop3_unknown_command"]),
        ([GREETING, (ORIG, b"AUTH PLAIN !!notbase64\r\n"), (RESP, b"-ERR\r\n")], ["pop3_bad_sasl"]),
    ],
)
def test_bad_input_gives_anomalies(
    split_feed: SplitFeed, scenario: Scenario, expected: list[str]
) -> None:
    """Garbage, overlong lines and stray replies become anomalies, never exceptions."""
    assert names(split_feed(Pop3Parser, scenario, limits=Limits(max_line=1000))) == expected


def test_binary_junk_never_raises() -> None:
    """Random bytes in both directions are survived and leave nothing buffered."""
    junk = bytes(range(256)) * 40
    parser = Pop3Parser(FLOW, Limits(max_line=512))
    parser.feed(ORIG, junk, 0)
    parser.feed(RESP, junk, 1)
    parser.gap(RESP, 10, 2)
    parser.feed(RESP, junk, 3)
    parser.end(ORIG, 4)
    parser.end(RESP, 5)
    assert parser.buffered_bytes() == 0


@pytest.mark.parametrize(
    ("direction", "data", "verdict"),
    [
        (ORIG, b"RETR 20\r\n", Verdict.MATCH),
        (ORIG, b"RETR", Verdict.NEED_MORE),
        (ORIG, b"RETR file.txt\r\n", Verdict.NO_MATCH),
        (RESP, b"+OK ready\r\n", Verdict.MATCH),
        (RESP, b"+O", Verdict.NEED_MORE),
        (RESP, b"220 ftp\r\n", Verdict.NO_MATCH),
    ],
)
def test_probe(direction: Direction, data: bytes, verdict: Verdict) -> None:
    """The probe matches numbered commands and +OK lines only."""
    assert probe(direction, data) is verdict


@pytest.mark.parametrize(
    ("data", "matches"),
    [
        (b"+OK POP3 ready\r\n", True),
        (b"USER alice\r\n", True),
        (b"CAPA\r\n", True),
        (b"STLS\r\n", True),
        (b"* OK IMAP4rev1\r\n", False),
        (b"EHLO x\r\n", False),
    ],
)
def test_signatures(data: bytes, matches: bool) -> None:
    """SPEC signatures fire on the +OK greeting and POP3 opening commands."""
    assert any(sig.pattern.match(data[: sig.depth]) for sig in SPEC.signatures) is matches
