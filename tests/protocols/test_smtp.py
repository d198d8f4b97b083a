"""SMTP parser: bytes in, mail events out, fed whole, byte by byte and at random cuts."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TypeVar

import pytest

from tests.protocols.helpers import (
    FLOW,
    MID_STREAM_FLOW,
    ORIG,
    RESP,
    End,
    Gap,
    Scenario,
    SplitFeed,
)
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Event,
    FlowInfo,
    SwitchProtocol,
    Violation,
)
from wiresift.protocols.mailevents import (
    MailCommand,
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)
from wiresift.protocols.smtp import SPEC, DotStuffedReader, SmtpParser, probe

GREETING = (RESP, b"220 mx.example.org ESMTP ready\r\n")
EHLO = (ORIG, b"EHLO client.example.com\r\n")
EHLO_REPLY = (
    RESP,
    b"250-mx.example.org\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n",
)
MESSAGE = b"From: a@example.com\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"
T = TypeVar("T")
STUFFED = b"From: a@example.com\r\nSubject: hi\r\n\r\n..leading dot\r\nbody\r\n"


def b64(raw: bytes) -> bytes:
    """Base64 of ``raw``."""
    return base64.b64encode(raw)


def of_type(events: list[Event], kind: type[T]) -> list[T]:
    """The events of one type, in order."""
    return [event for event in events if isinstance(event, kind)]


def body(events: list[Event], message: int = 0) -> bytes:
    """The reassembled bytes of one message."""
    return b"".join(e.data for e in of_type(events, MessageData) if e.message == message)


def names(events: list[Event]) -> list[str]:
    """Anomaly names, in order."""
    return [event.name for event in of_type(events, Anomaly)]


def session(*steps: tuple[object, bytes] | Gap | End) -> Scenario:
    """A scenario that starts with greeting and EHLO."""
    return [GREETING, EHLO, EHLO_REPLY, *steps]  # type: ignore[list-item]


def test_data_message_is_unstuffed_and_accepted(split_feed: SplitFeed) -> None:
    """DATA bytes are dot-unstuffed, end at CRLF.CRLF and take the 250 as the verdict."""
    events = split_feed(
        SmtpParser,
        session(
            (ORIG, b"MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME\r\n"),
            (RESP, b"250 ok\r\n"),
            (ORIG, b"RCPT TO:<b@example.net>\r\n"),
            (RESP, b"250 ok\r\n"),
            (ORIG, b"DATA\r\n"),
            (RESP, b"354 go ahead\r\n"),
            (ORIG, STUFFED + b".\r\n"),
            (RESP, b"250 queued\r\n"),
            (ORIG, b"QUIT\r\n"),
            (RESP, b"221 bye\r\n"),
            End(ORIG),
            End(RESP),
        ),
        strict=True,
    )
    assert of_type(events, MessageBegin) == [
        MessageBegin(
            direction=ORIG,
            ts=8,
            message=0,
            protocol="smtp",
            flow="outgoing",
            command="DATA",
            mail_from="a@example.com",
            rcpt_to=("b@example.net",),
            helo="client.example.com",
        )
    ]
    assert hashlib.sha256(body(events)).digest() == hashlib.sha256(MESSAGE).digest()
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=10, message=0, complete=True, accepted=True)
    ]
    assert of_type(events, MailCommand) == [
        MailCommand(direction=ORIG, ts=12, name="QUIT", accepted=True)
    ]
    assert of_type(events, Confirmed) == [Confirmed(direction=RESP, ts=0)]


def test_pipelined_envelope_and_rejected_recipient(split_feed: SplitFeed) -> None:
    """Pipelined MAIL/RCPT/RCPT/DATA pair with their replies in order; a 550 rejects."""
    events = split_feed(
        SmtpParser,
        session(
            (ORIG, b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@z.org>\r\nDATA\r\n"),
            (RESP, b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"),
            (ORIG, b"Subject: x\r\n\r\nhello\r\n.\r\n"),
            (RESP, b"554 rejected\r\n"),
        ),
        strict=True,
    )
    (begin,) = of_type(events, MessageBegin)
    assert (begin.rcpt_to, begin.rcpt_rejected) == (("b@y.org",), ("c@z.org",))
    assert body(events) == b"Subject: x\r\n\r\nhello\r\n"
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=6, message=0, complete=True, accepted=False)
    ]


def test_auth_login_and_plain_over_two_messages(split_feed: SplitFeed) -> None:
    """AUTH LOGIN (two 334 prompts) and AUTH PLAIN give logins; two messages are numbered."""
    plain = b64(b"\0bob\0hunter2")
    scenario = session(
        (ORIG, b"AUTH LOGIN\r\n"),
        (RESP, b"334 VXNlcm5hbWU6\r\n"),
        (ORIG, b64(b"alice") + b"\r\n"),
        (RESP, b"334 UGFzc3dvcmQ6\r\n"),
        (ORIG, b64(b"secret") + b"\r\n"),
        (RESP, b"535 bad credentials\r\n"),
        (ORIG, b"AUTH PLAIN " + plain + b"\r\n"),
        (RESP, b"235 ok\r\n"),
        (ORIG, b"MAIL FROM:<bob@x.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"),
        (RESP, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (ORIG, b"one\r\n.\r\n"),
        (RESP, b"250 ok\r\n"),
        (ORIG, b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<d@y.org>\r\nDATA\r\n"),
        (RESP, b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        (ORIG, b"two\r\n.\r\n"),
        (RESP, b"250 ok\r\n"),
    )
    events = split_feed(SmtpParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(direction=ORIG, ts=8, mechanism="LOGIN", account="alice", accepted=False),
        MailLogin(direction=ORIG, ts=10, mechanism="PLAIN", account="bob", accepted=True),
    ]
    begins = of_type(events, MessageBegin)
    assert [(b.message, b.mail_from, b.rcpt_to) for b in begins] == [
        (0, "bob@x.org", ("c@y.org",)),
        (1, "", ("d@y.org",)),
    ]
    assert (body(events, 0), body(events, 1)) == (b"one\r\n", b"two\r\n")
    assert [e.accepted for e in of_type(events, MessageEnd)] == [True, True]
    assert of_type(events, MailCommand) == [
        MailCommand(direction=ORIG, ts=16, name="RSET", accepted=True)
    ]


def test_secrets_only_when_kept(split_feed: SplitFeed) -> None:
    """keep_secrets set on the instance reports the password; CRAM-MD5 and XOAUTH2 too."""

    def keeping(flow: FlowInfo, limits: Limits) -> SmtpParser:
        parser = SmtpParser(flow, limits)
        parser.keep_secrets = True
        return parser

    events = split_feed(
        keeping,
        session(
            (ORIG, b"AUTH PLAIN\r\n"),
            (RESP, b"334 \r\n"),
            (ORIG, b64(b"\0bob\0pw") + b"\r\n"),
            (RESP, b"535 no\r\n"),
            (ORIG, b"AUTH CRAM-MD5\r\n"),
            (RESP, b"334 PDEyMzQ+\r\n"),
            (ORIG, b64(b"carol 0123abcd") + b"\r\n"),
            (RESP, b"535 no\r\n"),
            (ORIG, b"AUTH XOAUTH2 " + b64(b"user=dan@x.org\x01auth=Bearer tok\x01\x01") + b"\r\n"),
            (RESP, b"235 ok\r\n"),
        ),
        strict=True,
    )
    assert [(e.mechanism, e.account, e.secret, e.accepted) for e in of_type(events, MailLogin)] == [
        ("PLAIN", "bob", "pw", False),
        ("CRAM-MD5", "carol", "0123abcd", False),
        ("XOAUTH2", "dan@x.org", "tok", True),
    ]
    default = split_feed(
        SmtpParser,
        session((ORIG, b"AUTH PLAIN " + b64(b"\0bob\0pw") + b"\r\n"), (RESP, b"235 ok\r\n")),
    )
    assert [e.secret for e in of_type(default, MailLogin)] == [None]


def test_bdat_chunks_form_one_message(split_feed: SplitFeed) -> None:
    """BDAT chunks are counted bytes, not unstuffed, and end with LAST (RFC 3030)."""
    first = b"Subject: c\r\n\r\n..not unstuffed\r\n"
    second = b".\r\nend\r\n"
    events = split_feed(
        SmtpParser,
        session(
            (ORIG, b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n"),
            (ORIG, b"BDAT %d\r\n" % len(first) + first),
            (ORIG, b"BDAT %d LAST\r\n" % len(second) + second),
            (RESP, b"250 ok\r\n250 ok\r\n250 chunk\r\n250 done\r\n"),
            (ORIG, b"QUIT\r\n"),
        ),
        strict=True,
    )
    (begin,) = of_type(events, MessageBegin)
    assert (begin.command, begin.rcpt_to) == ("BDAT", ("b@y.org",))
    assert body(events) == first + second
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=6, message=0, complete=True, accepted=True)
    ]


def test_starttls_220_switches_with_leftover(split_feed: SplitFeed) -> None:
    """STARTTLS answered 220 hands the client's held TLS bytes over."""
    events = split_feed(
        SmtpParser,
        session((ORIG, b"STARTTLS\r\n\x16\x03\x01\x00\x05hello"), (RESP, b"220 go\r\n\x16\x03")),
        strict=True,
    )
    assert of_type(events, SwitchProtocol) == [
        SwitchProtocol(
            direction=RESP,
            ts=4,
            to="tls",
            leftover=b"\x16\x03",
            leftover_other=b"\x16\x03\x01\x00\x05hello",
        )
    ]


def test_starttls_454_stays(split_feed: SplitFeed) -> None:
    """STARTTLS refused with 454: the session goes on in clear."""
    events = split_feed(
        SmtpParser,
        session((ORIG, b"STARTTLS\r\nRSET\r\n"), (RESP, b"454 no tls\r\n250 ok\r\n")),
        strict=True,
    )
    assert of_type(events, SwitchProtocol) == []
    assert of_type(events, MailCommand) == [
        MailCommand(direction=ORIG, ts=4, name="RSET", accepted=True)
    ]


def test_data_refused_gives_no_message(split_feed: SplitFeed) -> None:
    """DATA answered 554 (no 354) starts no message; held client bytes were commands."""
    events = split_feed(
        SmtpParser,
        session((ORIG, b"DATA\r\nRSET\r\n"), (RESP, b"554 no valid recipients\r\n250 ok\r\n")),
    )
    assert of_type(events, MessageBegin) == []
    assert names(events) == ["smtp_data_rejected"]
    assert [e.name for e in of_type(events, MailCommand)] == ["RSET"]


def test_client_side_only_infers_messages(split_feed: SplitFeed) -> None:
    """Without server bytes, DATA is taken as accepted and messages end at the dot."""
    events = split_feed(
        SmtpParser,
        [
            (ORIG, b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nhello\r\n.\r\n"),
            (ORIG, b"MAIL FROM:<a@x>\r\nRCPT TO:<c@y>\r\nDATA\r\nagain\r\n.\r\nQUIT\r\n"),
            End(ORIG),
            End(RESP),
        ],
        strict=True,
    )
    assert [(b.message, b.rcpt_to) for b in of_type(events, MessageBegin)] == [
        (0, ("b@y",)),
        (1, ("c@y",)),
    ]
    assert (body(events, 0), body(events, 1)) == (b"hello\r\n", b"again\r\n")
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=0, message=0, complete=True),
        MessageEnd(direction=ORIG, ts=1, message=1, complete=True),
    ]


def test_mid_stream_start_inside_data(split_feed: SplitFeed) -> None:
    """Starting inside DATA streams to the dot; no server byte yet, so no verdict."""
    events = split_feed(
        SmtpParser,
        [
            (ORIG, b"tail of a line\r\nmore body\r\n.\r\nQUIT\r\n"),
            (RESP, b"250 queued\r\n221 bye\r\n"),
        ],
        flow=MID_STREAM_FLOW,
        strict=True,
    )
    (begin,) = of_type(events, MessageBegin)
    assert (begin.partial, begin.command) == ("mid_stream", "DATA")
    assert body(events) == b"tail of a line\r\nmore body\r\n"
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=0, message=0, complete=True)
    ]
    assert [e.name for e in of_type(events, MailCommand)] == ["QUIT"]


def test_gap_in_data_ends_message_and_resyncs(split_feed: SplitFeed) -> None:
    """A gap in DATA ends the message incomplete; parsing resumes after the dot."""
    events = split_feed(
        SmtpParser,
        session(
            (ORIG, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
            (RESP, b"250 ok\r\n250 ok\r\n354 go\r\n"),
            (ORIG, b"first part\r\n"),
            Gap(ORIG, 100),
            (ORIG, b"ment\r\nrest\r\n.\r\nQUIT\r\n"),
            (RESP, b"250 ok\r\n221 bye\r\n"),
            End(ORIG),
        ),
    )
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=6, message=0, complete=False, reason="gap")
    ]
    assert body(events) == b"first part\r\n"
    assert names(events) == ["smtp_content_gap"]
    assert [e.name for e in of_type(events, MailCommand)] == ["QUIT"]


def test_close_inside_data_ends_incomplete(split_feed: SplitFeed) -> None:
    """A client that closes inside DATA leaves an incomplete message (reason closed)."""
    events = split_feed(
        SmtpParser,
        session((ORIG, b"DATA\r\n"), (RESP, b"354 go\r\n"), (ORIG, b"partial\r\n."), End(ORIG)),
    )
    assert body(events) == b"partial\r\n"
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=6, message=0, complete=False, reason="closed")
    ]


def test_long_line_inside_data_is_content(split_feed: SplitFeed) -> None:
    """A line far over max_line inside DATA is message content, not a too-long line."""
    long_line = b"X" * 50_000 + b"\r\n"
    events = split_feed(
        SmtpParser,
        session(
            (ORIG, b"DATA\r\n"),
            (RESP, b"354 go\r\n"),
            (ORIG, long_line + b".\r\n"),
            (RESP, b"250 ok\r\n"),
        ),
        limits=Limits(max_line=1000),
        strict=True,
    )
    assert body(events) == long_line


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ([GREETING, (ORIG, b"A" * 100_000 + b"\r\nQUIT\r\n")], ["smtp_line_too_long"]),
        ([GREETING, (RESP, b"250 nothing asked\r\n")], []),
        (
            [GREETING, EHLO, EHLO_REPLY, (RESP, b"250 nothing asked\r\n")],
            ["smtp_reply_without_command"],
        ),
        ([GREETING, (RESP, b"\x00\xff\x10junk\r\n")], ["smtp_bad_reply"]),
        ([GREETING, (ORIG, b"\x16\x03\x01\x02\x00\x01\r\n")], ["smtp_unknown_command"]),
        ([GREETING, EHLO, (ORIG, b"BDAT many\r\n")], ["smtp_bad_bdat"]),
    ],
)
def test_bad_input_gives_anomalies(
    split_feed: SplitFeed, scenario: Scenario, expected: list[str]
) -> None:
    """Garbage, overlong lines and stray replies become anomalies, never exceptions."""
    events = split_feed(SmtpParser, scenario, limits=Limits(max_line=1000))
    assert names(events) == expected


def test_binary_junk_never_raises(split_feed: SplitFeed) -> None:
    """Random bytes in both directions are survived, with bounded buffers."""
    junk = bytes(range(256)) * 40
    parser = SmtpParser(FLOW, Limits(max_line=512))
    parser.feed(ORIG, junk, 0)
    parser.feed(RESP, junk, 1)
    parser.gap(ORIG, 10, 2)
    parser.end(ORIG, 3)
    parser.end(RESP, 4)
    assert parser.buffered_bytes() == 0
    events = split_feed(
        SmtpParser, [(ORIG, junk[:3000]), (RESP, junk[:3000])], limits=Limits(max_line=512)
    )
    assert isinstance(events[0], Anomaly | Violation)


def test_dot_reader_holds_back_at_most_two_bytes() -> None:
    """The reader keeps only the bytes that may still become the terminator."""
    reader = DotStuffedReader()
    assert reader.feed(b"abc\r\n.") == (b"abc\r\n", None)
    assert reader.held() == 1
    assert reader.feed(b"\r") == (b"", None)
    assert reader.held() == 2
    assert reader.feed(b"\nNEXT") == (b"", b"NEXT")


@pytest.mark.parametrize(
    ("direction", "data", "verdict"),
    [
        (ORIG, b"EHLO client.example\r\n", Verdict.MATCH),
        (ORIG, b"MAIL FROM:<a@b>\r\n", Verdict.MATCH),
        (ORIG, b"MAIL FR", Verdict.NEED_MORE),
        (ORIG, b"GET / HTTP/1.1\r\n", Verdict.NO_MATCH),
        (RESP, b"220 mx ESMTP Postfix\r\n", Verdict.MATCH),
        (RESP, b"220 ProFTPD ready\r\n", Verdict.NO_MATCH),
        (RESP, b"220 mx", Verdict.NEED_MORE),
        (RESP, b"+OK POP3\r\n", Verdict.NO_MATCH),
    ],
)
def test_probe(direction: object, data: bytes, verdict: Verdict) -> None:
    """The probe matches SMTP openings and leaves FTP greetings alone."""
    assert probe(direction, data) is verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "matches"),
    [
        (b"EHLO client.example\r\n", True),
        (b"helo x\r\n", True),
        (b"220 mx.example ESMTP Exim\r\n", True),
        (b"220 FTP server ready\r\n", False),
        (b"USER bob\r\n", False),
    ],
)
def test_signatures(data: bytes, matches: bool) -> None:
    """SPEC signatures fire on EHLO/HELO and on a 220 greeting naming SMTP."""
    found = any(sig.pattern.match(data[: sig.depth]) for sig in SPEC.signatures)
    assert found is matches
    assert isinstance(SPEC.signatures[0].pattern, re.Pattern)
