"""IMAP4 parser: bytes in, events out, every scenario fed whole, byte by byte and cut."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib
from collections.abc import Sequence

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
    Direction,
    Event,
    SwitchProtocol,
    Violation,
)
from wiresift.protocols.imap import MAX_LITERAL, SPEC, ImapParser, decode_mailbox, probe
from wiresift.protocols.mailevents import (
    MailCommand,
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)

GREETING = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"  # noqa: E501
MESSAGE_1 = (
    b"Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\nSubject: lunch\r\nMessage-ID: <1@example.org>\r\n\r\n"
    b"Noon at the usual place?\r\n"
)
MESSAGE_2 = (
    b"From: carol@example.com\r\nSubject: =?UTF-8?B?w6ljaG8=?=\r\n"
    b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 8 + b"\r\n"
)


class SecretImapParser(ImapParser):
    """The parser as the engine configures it when secrets are wanted."""

    keep_secrets = True


def literal(data: bytes, plus: bool = False, binary: bool = False) -> bytes:
    """A literal marker for ``data`` (RFC 3501 s4.3, RFC 7888, RFC 3516)."""
    return b"%s{%d%s}\r\n" % (b"~" if binary else b"", len(data), b"+" if plus else b"")


def bodies(events: Sequence[Event]) -> dict[int, bytes]:
    """Message bytes by message number."""
    found: dict[int, bytes] = {}
    for event in events:
        if isinstance(event, MessageBegin):
            found[event.message] = b""
        elif isinstance(event, MessageData):
            found[event.message] += event.data
    return found


def of_type(events: Sequence[Event], kind: type[Event]) -> list[Event]:
    """The events of one type, in order."""
    return [event for event in events if isinstance(event, kind)]


def anomaly_names(events: Sequence[Event]) -> list[str]:
    """Names of the anomalies, in order."""
    return [event.name for event in events if isinstance(event, Anomaly)]


def sha(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def fetch_begin(
    ts: int,
    message: int,
    number: int,
    uid: int | None = None,
    section: str = "",
    origin: int | None = None,
    partial: str | None = None,
    mailbox: str | None = "INBOX",
) -> MessageBegin:
    """Expected MessageBegin of a FETCH body."""
    return MessageBegin(
        direction=RESP,
        ts=ts,
        message=message,
        protocol="imap",
        flow="incoming",
        command="FETCH",
        mailbox=mailbox,
        number=number,
        uid=uid,
        section=section,
        origin=origin,
        partial=partial,
    )


def login_select(mailbox: bytes = b"INBOX") -> list[tuple[Direction, bytes]]:
    """Greeting, LOGIN and SELECT, accepted."""
    return [
        (RESP, GREETING),
        (ORIG, b"a1 LOGIN alice hunter2\r\n"),
        (RESP, b"a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
        (ORIG, b"a2 SELECT " + mailbox + b"\r\n"),
        (
            RESP,
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 2 EXISTS\r\n"
            b"* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
            b"a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
        ),
    ]


# -- sessions ------------------------------------------------------------------------------


def test_dovecot_session_uid_fetch_two_messages(split_feed: SplitFeed) -> None:
    """LOGIN, SELECT and a UID FETCH of two bodies give exact events; UID after a body too."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 UID FETCH 1:* (UID FLAGS BODY.PEEK[])\r\n"),
        (
            RESP,
            b"* 1 FETCH (UID 345 FLAGS (\\Seen) BODY[] "
            + literal(MESSAGE_1)
            + MESSAGE_1
            + b")\r\n* 2 FETCH (FLAGS () BODY[] "
            + literal(MESSAGE_2)
            + MESSAGE_2
            + b" UID 346)\r\na3 OK Fetch completed.\r\n",
        ),
        (ORIG, b"a4 LOGOUT\r\n"),
        (RESP, b"* BYE Logging out\r\na4 OK Logout completed.\r\n"),
        End(ORIG),
        End(RESP),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events == [
        Confirmed(direction=RESP, ts=0),
        MailLogin(direction=ORIG, ts=2, mechanism="LOGIN", account="alice", accepted=True),
        MailCommand(direction=ORIG, ts=4, name="SELECT", argument="INBOX", accepted=True),
        fetch_begin(6, 0, 1, uid=345),
        MessageData(direction=RESP, ts=6, message=0, data=MESSAGE_1),
        MessageEnd(direction=RESP, ts=6, message=0, complete=True, uid=345),
        fetch_begin(6, 1, 2),
        MessageData(direction=RESP, ts=6, message=1, data=MESSAGE_2),
        MessageEnd(direction=RESP, ts=6, message=1, complete=True, uid=346),
        MailCommand(direction=ORIG, ts=8, name="LOGOUT", argument="", accepted=True),
    ]
    assert sha(bodies(events)[1]) == sha(MESSAGE_2)


def test_keep_secrets_reports_the_password(split_feed: SplitFeed) -> None:
    """With keep_secrets the LOGIN password (a quoted string with escapes) is reported."""
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b'a1 LOGIN "alice@example.org" "p\\"w\\\\d"\r\n'),
        (RESP, b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
    ]
    events = split_feed(SecretImapParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(
            direction=ORIG,
            ts=2,
            mechanism="LOGIN",
            account="alice@example.org",
            secret='p"w\\d',  # noqa: S106 (test data, not a credential)
            accepted=False,
        )
    ]


def test_login_with_literals(split_feed: SplitFeed) -> None:
    """User name and password sent as synchronising literals are read as arguments."""
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 LOGIN {5}\r\n"),
        (RESP, b"+ OK\r\n"),
        (ORIG, b"alice {7}\r\n"),
        (RESP, b"+ OK\r\n"),
        (ORIG, b"hunter2\r\n"),
        (RESP, b"a1 OK Logged in\r\n"),
    ]
    events = split_feed(SecretImapParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(
            direction=ORIG,
            ts=6,
            mechanism="LOGIN",
            account="alice",
            secret="hunter2",  # noqa: S106 (test data, not a credential)
            accepted=True,
        )
    ]


def test_fetch_sections_partial_quoted_and_nil(split_feed: SplitFeed) -> None:
    """BODY[HEADER], BODY[1.2]<0>, RFC822.TEXT as a quoted string and a NIL section."""
    header = MESSAGE_1.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    part = b"x" * 100
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[1.2]<0.100> RFC822.TEXT BODY[3])\r\n"),
        (
            RESP,
            b"* 1 FETCH (BODY[HEADER] "
            + literal(header)
            + header
            + b" BODY[1.2]<0> "
            + literal(part)
            + part
            + b' RFC822.TEXT "short \\"text\\"" BODY[3] NIL UID 12)\r\na3 OK done\r\n',
        ),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MessageBegin) == [
        fetch_begin(6, 0, 1, section="HEADER", partial="imap_section"),
        fetch_begin(6, 1, 1, section="1.2", origin=0, partial="imap_partial"),
        fetch_begin(6, 2, 1, section="TEXT", partial="imap_section"),
        fetch_begin(6, 3, 1, section="3", partial="imap_section"),
    ]
    assert bodies(events) == {0: header, 1: part, 2: b'short "text"', 3: b""}
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=RESP, ts=6, message=0, complete=True),
        MessageEnd(direction=RESP, ts=6, message=1, complete=True),
        MessageEnd(direction=RESP, ts=6, message=2, complete=True),
        MessageEnd(direction=RESP, ts=6, message=3, complete=True, uid=12),
    ]


def test_fetch_envelope_literal_and_header_fields_item(split_feed: SplitFeed) -> None:
    """A literal inside ENVELOPE is skipped; BODY[HEADER.FIELDS (...)] keeps its section."""
    subject = b"Caf\xc3\xa9 (menu)"
    fields = b"Subject: lunch\r\n\r\n"
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 FETCH 2 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"),
        (
            RESP,
            b'* 2 FETCH (ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" '
            + literal(subject)
            + subject
            + b" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[HEADER.FIELDS (SUBJECT)] "
            + literal(fields)
            + fields
            + b")\r\na3 OK done\r\n",
        ),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MessageBegin) == [
        fetch_begin(6, 0, 2, section="HEADER.FIELDS (SUBJECT)", partial="imap_section")
    ]
    assert bodies(events) == {0: fields}


def test_rfc822_and_binary_items(split_feed: SplitFeed) -> None:
    """RFC822 is the whole message; BINARY[1] with a ~{n} literal carries NUL bytes."""
    binary = b"\x00\x01GIF89a\x00" * 10
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 FETCH 1 (RFC822 BINARY[1])\r\n"),
        (
            RESP,
            b"* 1 FETCH (RFC822 "
            + literal(MESSAGE_1)
            + MESSAGE_1
            + b" BINARY[1] "
            + literal(binary, binary=True)
            + binary
            + b")\r\na3 OK done\r\n",
        ),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MessageBegin) == [
        fetch_begin(6, 0, 1),
        fetch_begin(6, 1, 1, section="1", partial="imap_section"),
    ]
    assert bodies(events) == {0: MESSAGE_1, 1: binary}


def test_append_with_continuation(split_feed: SplitFeed) -> None:
    """APPEND with flags and date: the client's literal is an outgoing message, APPENDUID."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b'a3 APPEND Sent (\\Seen) "01-Jan-2024 10:00:00 +0000" ' + literal(MESSAGE_1)),
        (RESP, b"+ Ready for literal data\r\n"),
        (ORIG, MESSAGE_1 + b"\r\n"),
        (RESP, b"a3 OK [APPENDUID 1700000000 4711] Append completed.\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events[-3:] == [
        MessageBegin(
            direction=ORIG,
            ts=6,
            message=0,
            protocol="imap",
            flow="outgoing",
            command="APPEND",
            mailbox="Sent",
        ),
        MessageData(direction=ORIG, ts=7, message=0, data=MESSAGE_1),
        MessageEnd(direction=ORIG, ts=8, message=0, complete=True, accepted=True, uid=4711),
    ]


def test_append_literal_plus_and_multiappend(split_feed: SplitFeed) -> None:
    """LITERAL+ sends at once; MULTIAPPEND's literals are one message each."""
    scenario: Scenario = [
        *login_select(),
        (
            ORIG,
            b"a3 APPEND Drafts "
            + literal(MESSAGE_1, plus=True)
            + MESSAGE_1
            + b" (\\Draft) "
            + literal(MESSAGE_2, plus=True)
            + MESSAGE_2
            + b"\r\n",
        ),
        (RESP, b"a3 NO [OVERQUOTA] Quota exceeded\r\n"),
        (ORIG, b"a4 NOOP\r\n"),
        (RESP, b"a4 OK NOOP completed.\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert bodies(events) == {0: MESSAGE_1, 1: MESSAGE_2}
    assert [begin.mailbox for begin in of_type(events, MessageBegin)] == ["Drafts", "Drafts"]
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=ORIG, ts=5, message=0, complete=True),
        MessageEnd(direction=ORIG, ts=6, message=1, complete=True, accepted=False),
    ]


def test_append_refused_before_the_literal(split_feed: SplitFeed) -> None:
    """A NO instead of "+" means the literal never comes: the next line is a command."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 APPEND Nowhere " + literal(MESSAGE_1)),
        (RESP, b"a3 NO [TRYCREATE] Mailbox doesn't exist: Nowhere\r\n"),
        (ORIG, b"a4 CREATE Nowhere\r\n"),
        (RESP, b"a4 OK Create completed.\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MessageBegin) == []
    assert events[-1] == MailCommand(
        direction=ORIG, ts=8, name="CREATE", argument="Nowhere", accepted=True
    )


def test_append_mailbox_as_literal(split_feed: SplitFeed) -> None:
    """A mailbox name sent as a literal is the target; the next literal is the message."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 APPEND {4+}\r\nSent " + literal(MESSAGE_1, plus=True) + MESSAGE_1 + b"\r\n"),
        (RESP, b"a3 OK Append completed.\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    begins = of_type(events, MessageBegin)
    assert [(begin.mailbox, begin.flow) for begin in begins] == [("Sent", "outgoing")]
    assert bodies(events) == {0: MESSAGE_1}


def test_idle_done(split_feed: SplitFeed) -> None:
    """IDLE, continuation, untagged updates, DONE, tagged OK; then commands go on."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 IDLE\r\n"),
        (RESP, b"+ idling\r\n"),
        (RESP, b"* 3 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"),
        (ORIG, b"DONE\r\n"),
        (RESP, b"a3 OK Idle completed.\r\n"),
        (ORIG, b"a4 EXPUNGE\r\n"),
        (RESP, b"* 2 EXPUNGE\r\na4 OK Expunge completed.\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events[-1] == MailCommand(
        direction=ORIG, ts=11, name="EXPUNGE", argument="", accepted=True
    )
    assert of_type(events, MessageBegin) == []


def test_authenticate_plain_sasl_ir(split_feed: SplitFeed) -> None:
    """AUTHENTICATE PLAIN with an initial response: the account comes from the base64."""
    response = base64.b64encode(b"\x00alice@example.org\x00correct horse")
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 AUTHENTICATE PLAIN " + response + b"\r\n"),
        (RESP, b"a1 OK Logged in\r\n"),
        (ORIG, b"a2 NOOP\r\n"),
        (RESP, b"a2 OK\r\n"),
    ]
    events = split_feed(SecretImapParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(
            direction=ORIG,
            ts=2,
            mechanism="PLAIN",
            account="alice@example.org",
            secret="correct horse",  # noqa: S106 (test data, not a credential)
            accepted=True,
        )
    ]


def test_authenticate_with_continuations(split_feed: SplitFeed) -> None:
    """AUTHENTICATE PLAIN and LOGIN through "+" challenges; secrets stay out by default."""
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 authenticate plain\r\n"),
        (RESP, b"+ \r\n"),
        (ORIG, base64.b64encode(b"admin\x00bob\x00pw") + b"\r\n"),
        (RESP, b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
        (ORIG, b"a2 AUTHENTICATE LOGIN\r\n"),
        (RESP, b"+ VXNlcm5hbWU6\r\n"),
        (ORIG, base64.b64encode(b"bob") + b"\r\n"),
        (RESP, b"+ UGFzc3dvcmQ6\r\n"),
        (ORIG, base64.b64encode(b"pw") + b"\r\n"),
        (RESP, b"a2 OK Logged in\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(direction=ORIG, ts=4, mechanism="PLAIN", account="bob", accepted=False),
        MailLogin(direction=ORIG, ts=10, mechanism="LOGIN", account="bob", accepted=True),
    ]


def test_authenticate_xoauth2_failure(split_feed: SplitFeed) -> None:
    """XOAUTH2: the error challenge is answered by an empty line; the user is the account."""
    token = base64.b64encode(b"user=carol@example.com\x01auth=Bearer ya29.token\x01\x01")
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 AUTHENTICATE XOAUTH2 " + token + b"\r\n"),
        (RESP, b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
        (ORIG, b"\r\n"),
        (RESP, b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
    ]
    events = split_feed(SecretImapParser, scenario, strict=True)
    assert of_type(events, MailLogin) == [
        MailLogin(
            direction=ORIG,
            ts=4,
            mechanism="XOAUTH2",
            account="carol@example.com",
            secret="ya29.token",  # noqa: S106 (test data, not a credential)
            accepted=False,
        )
    ]


def test_login_without_answer_is_reported_at_close(split_feed: SplitFeed) -> None:
    """A LOGIN never answered is reported with accepted=None when the server side closes."""
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 LOGIN alice hunter2\r\n"),
        End(RESP),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events[-1] == MailLogin(direction=ORIG, ts=2, mechanism="LOGIN", account="alice")


def test_compress_deflate_both_directions(split_feed: SplitFeed) -> None:
    """After COMPRESS DEFLATE's OK both sides are inflated and parsing goes on."""
    client = zlib.compressobj(wbits=-15)
    server = zlib.compressobj(wbits=-15)

    def packed(compressor: zlib._Compress, data: bytes) -> bytes:
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)

    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 COMPRESS DEFLATE\r\n"),
        (RESP, b"a3 OK DEFLATE active\r\n"),
        (ORIG, packed(client, b"a4 FETCH 1 (BODY.PEEK[])\r\n")),
        (
            RESP,
            packed(server, b"* 1 FETCH (BODY[] " + literal(MESSAGE_2) + MESSAGE_2 + b")\r\n")
            + packed(server, b"a4 OK Fetch completed.\r\n"),
        ),
        (ORIG, packed(client, b"a5 APPEND Sent " + literal(MESSAGE_1, plus=True) + MESSAGE_1)),
        (ORIG, packed(client, b"\r\n")),
        (RESP, packed(server, b"a5 OK [APPENDUID 1 9] Append completed.\r\n")),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MailCommand)[-1] == MailCommand(
        direction=ORIG, ts=6, name="COMPRESS", argument="DEFLATE", accepted=True
    )
    assert bodies(events) == {0: MESSAGE_2, 1: MESSAGE_1}
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=RESP, ts=8, message=0, complete=True),
        MessageEnd(direction=ORIG, ts=11, message=1, complete=True, accepted=True, uid=9),
    ]


def test_compressed_ok_in_the_same_segment(split_feed: SplitFeed) -> None:
    """Compressed server bytes right behind the OK line are inflated too."""
    server = zlib.compressobj(wbits=-15)
    after = server.compress(b"* 5 EXISTS\r\n") + server.flush(zlib.Z_SYNC_FLUSH)
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 COMPRESS DEFLATE\r\n"),
        (RESP, b"a3 OK DEFLATE active\r\n" + after + b"\xff\xff\xff\xff"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_bad_deflate"]


def test_decompression_bomb_is_stopped() -> None:
    """A DEFLATE stream inflating past the ratio guard stops that side, bounded in memory."""
    parser = ImapParser(FLOW, Limits())
    for direction, data in login_select():
        parser.feed(direction, data, 0)
    parser.feed(ORIG, b"a3 COMPRESS DEFLATE\r\n", 1)
    parser.feed(RESP, b"a3 OK DEFLATE active\r\n", 2)
    server = zlib.compressobj(wbits=-15)
    head = b"* 1 FETCH (BODY[] {4000000000}\r\n"
    bomb = server.compress(head + b"\0" * 20_000_000) + server.flush(zlib.Z_SYNC_FLUSH)
    events = parser.feed(RESP, bomb, 3)
    assert anomaly_names(events) == ["imap_decompression_bomb"]
    assert events[-1] == MessageEnd(direction=RESP, ts=3, message=0, complete=False, reason="limit")
    assert parser.buffered_bytes() == 0
    assert parser.feed(RESP, b"more", 4) == []


def test_starttls_switches_to_tls(split_feed: SplitFeed) -> None:
    """STARTTLS's OK hands the bytes after it to TLS."""
    hello = b"\x16\x03\x01\x00\x05hello"
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 STARTTLS\r\n"),
        (RESP, b"a1 OK Begin TLS negotiation now.\r\n"),
        (ORIG, hello),
        (RESP, b"\x16\x03\x03"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events[-2:] == [
        MailCommand(direction=ORIG, ts=2, name="STARTTLS", argument="", accepted=True),
        SwitchProtocol(
            direction=RESP, ts=2, to="tls", leftover=b"\x16\x03\x03", leftover_other=hello
        ),
    ]


def test_modified_utf7_mailboxes(split_feed: SplitFeed) -> None:
    """SELECT of a modified UTF-7 name: the event and the FETCH messages carry it decoded."""
    scenario: Scenario = [
        *login_select(b'"&BCQEOAQ7BEwEPQRLBDk-"'),
        (ORIG, b"a3 FETCH 1 BODY[]\r\n"),
        (RESP, b"* 1 FETCH (BODY[] " + literal(MESSAGE_1) + MESSAGE_1 + b")\r\na3 OK\r\n"),
        (ORIG, b"a4 UID COPY 1:3 &ZeVnLIqe-\r\n"),
        (RESP, b"a4 OK [COPYUID 1 1:3 4:6] Copy completed.\r\n"),
        (ORIG, b"a5 RENAME Old &AMk-t&AOk-\r\n"),
        (RESP, b"a5 NO no\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MailCommand) == [
        MailCommand(direction=ORIG, ts=4, name="SELECT", argument="Фильный", accepted=True),
        MailCommand(direction=ORIG, ts=8, name="UID COPY", argument="1:3 日本語", accepted=True),
        MailCommand(direction=ORIG, ts=10, name="RENAME", argument="Old Été", accepted=False),
    ]
    assert of_type(events, MessageBegin)[0].mailbox == "Фильный"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"inbox", "INBOX"),
        (b"&BCQEOAQ7BEwEPQRLBDk-", "Фильный"),
        (b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        (b"Tom &- Jerry", "Tom & Jerry"),
        (b"bad &!!!-", "bad &!!!-"),
        (b"open &AMk", "open &AMk"),
        (b"R\xc3\xa9sum\xc3\xa9", "Résumé"),
    ],
)
def test_decode_mailbox(raw: bytes, name: str) -> None:
    """Modified UTF-7 (RFC 3501 s5.1.3) decodes; broken shifts stay as written."""
    assert decode_mailbox(raw) == name


def test_select_failure_deselects(split_feed: SplitFeed) -> None:
    """After a failed SELECT, FETCH bodies have no mailbox (RFC 3501 s6.3.1)."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 SELECT Missing\r\n"),
        (RESP, b"a3 NO Mailbox doesn't exist\r\n"),
        (RESP, b"* 1 FETCH (BODY[] {2}\r\nhi)\r\n"),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert of_type(events, MessageBegin) == [fetch_begin(7, 0, 1, mailbox=None)]


# -- streaming, gaps, limits ------------------------------------------------------------------


def test_literal_streams_without_buffering() -> None:
    """A large literal's pieces pass through: nothing is buffered while it streams."""
    parser = ImapParser(FLOW, Limits())
    for direction, data in login_select():
        parser.feed(direction, data, 0)
    events = parser.feed(RESP, b"* 1 FETCH (BODY[] {30000000}\r\n", 1)
    assert isinstance(events[-1], MessageBegin)
    piece = b"a" * 65536
    for _ in range(10):
        assert parser.feed(RESP, piece, 2) == [
            MessageData(direction=RESP, ts=2, message=0, data=piece)
        ]
        assert parser.buffered_bytes() == 0


def test_huge_literal_claim_then_close(split_feed: SplitFeed) -> None:
    """A 4 GB literal claim: an anomaly, bytes stream, the message ends at close."""
    scenario: Scenario = [
        *login_select(),
        (RESP, b"* 1 FETCH (BODY[] {4294967297}\r\nFrom: x\r\n\r\nbody"),
        End(RESP),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_literal_too_large"]
    assert bodies(events) == {0: b"From: x\r\n\r\nbody"}
    assert events[-1] == MessageEnd(
        direction=RESP, ts=6, message=0, complete=False, reason="closed"
    )
    assert MAX_LITERAL == 2**32 - 1


def test_huge_literal_claim_keeps_buffers_small() -> None:
    """Feeding into a literal claimed as 10**30 bytes never allocates by the claim."""
    parser = ImapParser(FLOW, Limits())
    parser.feed(RESP, GREETING, 0)
    events = parser.feed(RESP, b"* 1 FETCH (BODY[] {1000000000000000000000000000000}\r\n", 1)
    assert anomaly_names(events) == ["imap_literal_too_large"]
    parser.feed(RESP, b"z" * 100_000, 2)
    assert parser.buffered_bytes() == 0


def test_gap_inside_literal_keeps_sync(split_feed: SplitFeed) -> None:
    """A hole inside a body ends the message incomplete; the rest of the literal is skipped."""
    scenario: Scenario = [
        *login_select(),
        (RESP, b"* 1 FETCH (UID 5 BODY[] {20}\r\n0123456789"),
        Gap(RESP, 4),
        (RESP, b"456789)\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_content_gap"]
    assert bodies(events) == {0: b"0123456789", 1: b"abc"}
    assert of_type(events, MessageEnd) == [
        MessageEnd(direction=RESP, ts=6, message=0, complete=False, reason="gap"),
        MessageEnd(direction=RESP, ts=7, message=1, complete=True),
    ]


def test_gap_outside_literal_resyncs(split_feed: SplitFeed) -> None:
    """A hole in a command line loses the boundary; the next real command is found."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 FETCH 1 (BODY"),
        Gap(ORIG, 10),
        (ORIG, b"PEEK[])\r\njunk line\r\na4 SELECT Archive\r\n"),
        (RESP, b"a4 OK done\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_content_gap", "imap_resync"]
    assert events[-1] == MailCommand(
        direction=ORIG, ts=8, name="SELECT", argument="Archive", accepted=True
    )


def test_mid_stream_start_inside_a_literal(split_feed: SplitFeed) -> None:
    """A capture starting inside a body resyncs on the next response line."""
    scenario: Scenario = [
        (RESP, b"rest of a message body\r\n* not a response\r\n)\r\n"),
        (RESP, b"* 9 FETCH (UID 99 BODY[] " + literal(MESSAGE_1) + MESSAGE_1 + b")\r\n"),
        (RESP, b"a7 OK done\r\n"),
        (ORIG, b"dy of an appended message\r\na8 LOGOUT\r\n"),
    ]
    events = split_feed(ImapParser, scenario, flow=MID_STREAM_FLOW)
    assert [event for event in events if isinstance(event, Anomaly)] == [
        Anomaly(direction=RESP, ts=1, name="imap_resync", detail="45 bytes skipped"),
        Anomaly(direction=ORIG, ts=3, name="imap_resync", detail="27 bytes skipped"),
    ]
    assert of_type(events, MessageBegin) == [fetch_begin(1, 0, 9, uid=99, mailbox=None)]
    assert bodies(events) == {0: MESSAGE_1}


def test_end_inside_append_literal(split_feed: SplitFeed) -> None:
    """The client closing inside its APPEND literal ends the message incomplete."""
    scenario: Scenario = [
        *login_select(),
        (ORIG, b"a3 APPEND INBOX {100+}\r\nFrom: me\r\n"),
        End(ORIG),
        End(RESP),
    ]
    events = split_feed(ImapParser, scenario, strict=True)
    assert events[-1] == MessageEnd(
        direction=ORIG, ts=6, message=0, complete=False, reason="closed"
    )


def test_pending_commands_are_capped(split_feed: SplitFeed) -> None:
    """More unanswered commands than max_pending_tx: the oldest are forgotten."""
    limits = Limits(max_pending_tx=2)
    scenario: Scenario = [
        (RESP, GREETING),
        (ORIG, b"a1 NOOP\r\na2 NOOP\r\na3 LOGOUT\r\n"),
        (RESP, b"a1 OK\r\na3 OK\r\n"),
    ]
    events = split_feed(ImapParser, scenario, limits=limits)
    assert anomaly_names(events) == ["imap_too_many_pending"]
    assert events[-1] == MailCommand(
        direction=ORIG, ts=2, name="LOGOUT", argument="", accepted=True
    )


# -- bad input ------------------------------------------------------------------------------


def test_garbage_is_a_violation_not_an_exception(split_feed: SplitFeed) -> None:
    """Random bytes: anomalies and one Violation, no exception."""
    scenario: Scenario = [
        (RESP, b"\x16\x03\x01 random \xff\xfe bytes\r\n(((\r\n"),
        (ORIG, b"GET / HTTP/1.1\r\n\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == [
        "imap_bad_response",
        "imap_bad_response",
        "imap_unknown_command",
        "imap_bad_command",
    ]
    assert of_type(events, Violation) == [
        Violation(direction=RESP, ts=0, reason="imap_bad_response")
    ]


def test_long_line(split_feed: SplitFeed) -> None:
    """A line past max_line is skipped with one anomaly; parsing goes on after it."""
    scenario: Scenario = [
        *login_select(),
        (RESP, b"* SEARCH " + b"1 " * 25_000 + b"\r\n* 1 FETCH (BODY[] {2}\r\nok)\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_line_too_long"]
    assert bodies(events) == {0: b"ok"}


@pytest.mark.parametrize("piece", [1 << 20, 1500, 65536])
def test_one_megabyte_line(piece: int) -> None:
    """A 1 MB line fed in segments: one anomaly, the buffer never holds more than a line."""
    parser = ImapParser(FLOW, Limits())
    data = b"* SEARCH " + b"1 " * 500_000 + b"\r\n* 1 FETCH (BODY[] {2}\r\nok)\r\n"
    events: list[Event] = []
    for start in range(0, len(data), piece):
        events += parser.feed(RESP, data[start : start + piece], 0)
        assert parser.buffered_bytes() <= piece + Limits().max_line
    assert anomaly_names(events) == ["imap_line_too_long"]
    assert bodies(events) == {0: b"ok"}


def test_long_line_ending_in_a_literal_stays_in_sync(split_feed: SplitFeed) -> None:
    """A too-long fragment that announces a literal: the literal is skipped, not parsed."""
    scenario: Scenario = [
        *login_select(),
        (RESP, b'* LIST () "/" ' + b"x" * 9000 + b" {8}\r\n* 1 OK\r\n)\r\n"),
        (RESP, b"* 1 FETCH (BODY[] {2}\r\nok)\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_line_too_long"]
    assert bodies(events) == {0: b"ok"}


def test_unbalanced_parens_and_nul(split_feed: SplitFeed) -> None:
    """Unbalanced parentheses and NUL bytes are anomalies; messages still come out."""
    scenario: Scenario = [
        *login_select(),
        (RESP, b"* 1 FETCH (FLAGS (\\Seen BODY[] {2}\r\nok)\r\n"),
        (RESP, b"* 2 FETCH (UID 3))\r\n* 3 FETCH (BODY[] {1}\r\nz)\r\n"),
        (ORIG, b"a3 NOOP\x00\r\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == [
        "imap_unbalanced_parens",
        "imap_unbalanced_parens",
        "imap_nul_byte",
        "imap_unknown_command",
    ]
    assert bodies(events) == {0: b"z"}


def test_bare_lf_is_reported_once(split_feed: SplitFeed) -> None:
    """Bare LF line ends are read as lines and reported once per side."""
    scenario: Scenario = [
        (RESP, b"* OK ready\n"),
        (ORIG, b"a1 LOGIN bob pw\n"),
        (RESP, b"a1 OK\n"),
    ]
    events = split_feed(ImapParser, scenario)
    assert anomaly_names(events) == ["imap_bare_lf", "imap_bare_lf"]
    assert of_type(events, MailLogin) == [
        MailLogin(direction=ORIG, ts=2, mechanism="LOGIN", account="bob", accepted=True)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise(seed: int) -> None:
    """Arbitrary bytes on both sides never raise, and buffers stay under the line limit."""
    rng = random.Random(seed)
    limits = Limits(max_line=256)
    parser = ImapParser(FLOW, limits)
    alphabet = b'* (){}[]<>0123456789+~\r\n"\\ aBODYFETCHUIDOK'
    for step in range(200):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))
        direction = ORIG if rng.random() < 0.5 else RESP
        parser.feed(direction, data, step)
        assert parser.buffered_bytes() <= 3 * limits.max_line
    parser.end(ORIG, 201)
    parser.end(RESP, 202)


# -- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "data", "verdict"),
    [
        (RESP, GREETING, Verdict.MATCH),
        (RESP, b"* PREAUTH IMAP4rev2 server logged in as Smith\r\n", Verdict.MATCH),
        (RESP, b"* OK", Verdict.NEED_MORE),
        (RESP, b"* O", Verdict.NEED_MORE),
        (RESP, b"+OK POP3 ready\r\n", Verdict.NO_MATCH),
        (RESP, b"220 smtp ready\r\n", Verdict.NO_MATCH),
        (ORIG, b"a001 CAPABILITY\r\n", Verdict.MATCH),
        (ORIG, b"A1 login bob pw\r\n", Verdict.MATCH),
        (ORIG, b"a001 CAPA", Verdict.NEED_MORE),
        (ORIG, b"a001", Verdict.NEED_MORE),
        (ORIG, b"GET / HTTP/1.1\r\n", Verdict.NO_MATCH),
        (ORIG, b"EHLO mail.example.org\r\n", Verdict.NO_MATCH),
    ],
)
def test_probe(direction: Direction, data: bytes, verdict: Verdict) -> None:
    """The probe tells greetings and opening commands from other protocols."""
    assert probe(direction, data) is verdict


def test_spec() -> None:
    """The registration names the parser, the IMAP port and signatures for both sides."""
    assert (SPEC.name, SPEC.ports, SPEC.parser) == ("imap", frozenset({143}), ImapParser)
    assert [sig.pattern.match(GREETING) is not None for sig in SPEC.signatures] == [True, False]
    assert SPEC.signatures[1].pattern.match(b"a1 CAPABILITY\r\n") is not None
