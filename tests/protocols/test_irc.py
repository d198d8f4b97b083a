"""IRC and DCC parsers: bytes in, chat events out, under every cut of the input."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

import wiresift.engine
from tests.engine.helpers import Run
from tests.pcapgen import TcpSession
from tests.protocols.helpers import FLOW, ORIG, RESP, End, Gap, SplitFeed
from wiresift.config import Config, Limits
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import irc
from wiresift.protocols.base import Anomaly, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    FileBegin,
    FileData,
    FileEnd,
    FileOffer,
)
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.irc import DccContext, IrcDccParser, IrcParser

LOGIN = b"PASS secret\r\nNICK alice\r\nUSER al 0 * :Alice A\r\n"


class SecretIrcParser(IrcParser):
    """The parser with secrets kept."""

    keep_secrets = True


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    """Events of one type."""
    return [e for e in events if type(e) is kind]


def test_login_without_secret(split_feed: SplitFeed) -> None:
    """NICK/USER give one ChatLogin with the nick; PASS is named but not kept."""
    events = split_feed(IrcParser, [(ORIG, LOGIN)], strict=True)
    assert events == [ChatLogin(direction=ORIG, ts=0, account="alice", mechanism="PASS")]


def test_login_with_secret(split_feed: SplitFeed) -> None:
    """With keep_secrets the password is in the ChatLogin."""
    events = split_feed(SecretIrcParser, [(ORIG, LOGIN)])
    assert events == [
        ChatLogin(direction=ORIG, ts=0, account="alice", mechanism="PASS", secret="secret")  # noqa: S106 (test data, not a credential)
    ]


def test_channel_private_notice_and_action(split_feed: SplitFeed) -> None:
    """PRIVMSG to a channel and a user, NOTICE, CTCP ACTION; sender from nick or prefix."""
    events = split_feed(
        IrcParser,
        [
            (ORIG, LOGIN + b"PRIVMSG #chan :hello all\r\nPRIVMSG bob :psst\r\n"),
            (
                RESP,
                b":bob!b@host NOTICE alice :note\r\n:bob!b@host PRIVMSG #chan :\x01ACTION waves"
                b"\x01\r\n",
            ),
        ],
        strict=True,
    )
    messages = [
        (m.direction, m.sender, m.recipients, m.channel, m.message_kind, m.text)
        for m in of(events, ChatMessage)
        if isinstance(m, ChatMessage)
    ]
    assert messages == [
        (ORIG, "alice", ("#chan",), "#chan", "groupchat", "hello all"),
        (ORIG, "alice", ("bob",), None, "private", "psst"),
        (RESP, "bob!b@host", ("alice",), None, "notice", "note"),
        (RESP, "bob!b@host", ("#chan",), "#chan", "action", "waves"),
    ]


def test_nick_change_is_followed(split_feed: SplitFeed) -> None:
    """A server NICK for the own nick changes the sender of later client lines."""
    events = split_feed(
        IrcParser,
        [
            (ORIG, LOGIN),
            (RESP, b":alice!al@h NICK :alice2\r\n"),
            (ORIG, b"PRIVMSG #c :x\r\nJOIN #d\r\nPART #d :bye\r\nQUIT :gone\r\n"),
        ],
    )
    assert [m.sender for m in of(events, ChatMessage) if isinstance(m, ChatMessage)] == ["alice2"]
    notices = [
        (n.name, n.who, n.detail) for n in of(events, ChatNotice) if isinstance(n, ChatNotice)
    ]
    assert notices == [
        ("nick", "alice", "alice2"),
        ("join", "alice2", "#d"),
        ("part", "alice2", "#d bye"),
        ("quit", "alice2", "gone"),
    ]


def test_server_time_tag_and_fallback_charset(split_feed: SplitFeed) -> None:
    """IRCv3 time= gives sent_at; non-UTF-8 text is decoded as cp1251 with raw kept."""
    line = b"@time=2025-07-28T20:48:30.026Z :ivan!i@h PRIVMSG #ru :\xcf\xf0\xe8\xe2\xe5\xf2\r\n"
    (message,) = split_feed(IrcParser, [(RESP, line)], strict=True)
    assert isinstance(message, ChatMessage)
    assert (message.text, message.charset, message.raw) == (
        "Привет",
        "cp1251",
        b"\xcf\xf0\xe8\xe2\xe5\xf2",
    )
    assert message.sent_at == 1753735710026000000


def test_other_ctcp_is_a_notice(split_feed: SplitFeed) -> None:
    """CTCP VERSION is a notice, not a message."""
    events = split_feed(IrcParser, [(RESP, b":bob!b@h PRIVMSG alice :\x01VERSION\x01\r\n")])
    assert events == [ChatNotice(direction=RESP, ts=0, name="ctcp", who="bob", detail="VERSION")]


def test_dcc_send_offer_and_expectation(split_feed: SplitFeed) -> None:
    """DCC SEND gives a FileOffer (32-bit address) and an expected irc-dcc connection."""
    events = split_feed(
        IrcParser,
        [(ORIG, LOGIN + b'PRIVMSG bob :\x01DCC SEND "my file.txt" 167772167 59130 1234\x01\r\n')],
        strict=True,
    )
    assert of(events, FileOffer) == [
        FileOffer(
            direction=ORIG,
            ts=0,
            name="my file.txt",
            size=1234,
            sender="alice",
            recipient="bob",
            endpoint=("10.0.0.7", 59130),
        )
    ]
    (expect,) = of(events, ExpectConnection)
    assert isinstance(expect, ExpectConnection)
    assert (expect.protocol, expect.server_addr, expect.server_port) == (
        "irc-dcc",
        "10.0.0.7",
        59130,
    )
    assert expect.context == DccContext(
        kind="send", name="my file.txt", size=1234, server_nick="alice", client_nick="bob"
    )


def test_dcc_ipv6_and_resume_accept(split_feed: SplitFeed) -> None:
    """IPv6 DCC address as text; ACCEPT re-announces the connection with the offset."""
    events = split_feed(
        IrcParser,
        [
            (RESP, b":bob!b@h PRIVMSG alice :\x01DCC SEND f.bin 2001:db8::5 4000 100\x01\r\n"),
            (ORIG, LOGIN + b"PRIVMSG bob :\x01DCC RESUME f.bin 4000 40\x01\r\n"),
            (RESP, b":bob!b@h PRIVMSG alice :\x01DCC ACCEPT f.bin 4000 40\x01\r\n"),
        ],
        strict=True,
    )
    expects = [e for e in events if isinstance(e, ExpectConnection)]
    assert [(e.server_addr, e.server_port) for e in expects] == [("2001:db8::5", 4000)] * 2
    assert isinstance(expects[1].context, DccContext)
    assert (expects[1].context.offset, expects[1].context.server_nick) == (
        40,
        ["bob", "b@h"][0],
    )


@pytest.mark.parametrize("size", [b"-5", b"99999999999999999999999", b"12x"])
def test_dcc_bad_size_is_an_anomaly(split_feed: SplitFeed, size: bytes) -> None:
    """A negative, huge or malformed DCC size gives irc_dcc_bad_size and size None."""
    line = b":bob!b@h PRIVMSG alice :\x01DCC SEND f 167772167 4000 " + size + b"\x01\r\n"
    events = split_feed(IrcParser, [(RESP, line)])
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["irc_dcc_bad_size"]
    (offer,) = of(events, FileOffer)
    assert isinstance(offer, FileOffer)
    assert offer.size is None


def test_ten_megabyte_line_is_dropped_and_parsing_resumes() -> None:
    """A 10 MB line gives irc_line_too_long once; the next line is read; memory stays bounded."""
    parser = IrcParser(FLOW, Limits())
    events: list[Event] = []
    chunk = b"A" * 65536
    for _ in range(160):
        events += parser.feed(RESP, chunk, 0)
        assert parser.buffered_bytes() <= Limits().max_line + len(chunk)
    events += parser.feed(RESP, b"\r\n:bob!b@h PRIVMSG #c :after\r\n", 1)
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["irc_line_too_long"]
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["after"]


def test_long_line_between_messages_keeps_order(split_feed: SplitFeed) -> None:
    """The anomaly for an overlong line sits between the messages around it, however cut."""
    limits = Limits(max_line=64)
    data = b":a!b@c PRIVMSG #c :one\r\n" + b"x" * 200 + b"\r\n:a!b@c PRIVMSG #c :two\r\n"
    events = split_feed(IrcParser, [(RESP, data)], limits=limits)
    assert [type(e).__name__ for e in events] == ["ChatMessage", "Anomaly", "ChatMessage"]


def test_gap_resynchronises_on_next_line(split_feed: SplitFeed) -> None:
    """After a hole the partial line is dropped and the next whole line is parsed."""
    events = split_feed(
        IrcParser,
        [
            (RESP, b":a!b@c PRIVMSG #c :par"),
            Gap(RESP, 10),
            (RESP, b"tial rest\r\n:a!b@c PRIVMSG #c :whole\r\n"),
            End(RESP),
        ],
    )
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["whole"]
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["irc_content_gap"]


def test_garbage_never_raises() -> None:
    """Binary garbage gives no exception and no message."""
    parser = IrcParser(FLOW, Limits())
    data = bytes(range(256)) * 64
    events = parser.feed(ORIG, data, 0) + parser.feed(RESP, data, 0) + parser.end(ORIG, 1)
    assert not [e for e in events if isinstance(e, ChatMessage)]


def dcc_flow(context: DccContext) -> FlowInfo:
    """A data connection flow carrying ``context``."""
    return dataclasses.replace(FLOW, context=context)


def test_dcc_send_data_ignores_acks(split_feed: SplitFeed) -> None:
    """The sender's bytes are the file, the receiver's 4-byte acks are ignored."""
    context = DccContext(kind="send", name="f.bin", size=10, server_nick="bob", client_nick="al")
    events = split_feed(
        IrcDccParser,
        [
            (RESP, b"0123456"),
            (ORIG, b"\x00\x00\x00\x07"),
            (RESP, b"789"),
            (ORIG, b"\x00\x00\x00\x0a"),
        ],
        flow=dcc_flow(context),
        strict=True,
    )
    assert events == [
        FileBegin(
            direction=RESP, ts=0, file=0, name="f.bin", size=10, sender="bob", recipient="al"
        ),
        FileData(direction=RESP, ts=0, file=0, data=b"0123456789"),
        FileEnd(direction=RESP, ts=2, file=0, complete=True),
    ]


def test_dcc_send_short_file_is_incomplete(split_feed: SplitFeed) -> None:
    """A transfer closed before the announced size ends incomplete."""
    context = DccContext(kind="send", name="f", size=10, offset=4)
    events = split_feed(IrcDccParser, [(RESP, b"abc"), End(RESP)], flow=dcc_flow(context))
    assert events[-1] == FileEnd(direction=RESP, ts=1, file=0, complete=False, reason="closed")
    assert isinstance(events[0], FileBegin)
    assert events[0].offset == 4


def test_dcc_chat_lines_are_messages(split_feed: SplitFeed) -> None:
    """Each DCC CHAT line is a private message between the two nicks."""
    context = DccContext(kind="chat", server_nick="tim2", client_nick="tim1")
    events = split_feed(
        IrcDccParser, [(ORIG, b"hello?\n"), (RESP, b"yes\n")], flow=dcc_flow(context), strict=True
    )
    assert [(m.sender, m.recipients, m.text) for m in events if isinstance(m, ChatMessage)] == [
        ("tim1", ("tim2",), "hello?"),
        ("tim2", ("tim1",), "yes"),
    ]


def test_dcc_without_context_is_an_anomaly() -> None:
    """A DCC flow without its offer reports irc_dcc_no_context once."""
    parser: Parser = IrcDccParser(FLOW, Limits())
    events = parser.feed(RESP, b"data", 0) + parser.feed(RESP, b"more", 1)
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["irc_dcc_no_context"]


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"NICK bob\r\n", Verdict.MATCH),
        (b"USER a b c :d\r\n", Verdict.MATCH),
        (b"CAP LS 302\r\n", Verdict.MATCH),
        (b"USER anonymous\r\n", Verdict.NO_MATCH),
        (b"NICK bo", Verdict.NEED_MORE),
        (b"GET / HTTP/1.1\r\n", Verdict.NO_MATCH),
    ],
)
def test_probe(data: bytes, verdict: Verdict) -> None:
    """The client's first line decides; FTP's one-argument USER is not IRC."""
    assert irc.probe(ORIG, data) is verdict


def test_engine_dcc_send_over_expected_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine: a DCC SEND on port 6667 and the announced connection give one file object."""
    for name in ("irc", "irc-dcc"):
        monkeypatch.setitem(wiresift.engine.BUILDERS, name, ChatBuilder)
    payload = bytes(range(256)) * 40
    control = TcpSession(("10.0.0.1", 40000), ("10.0.0.2", 6667))
    control.handshake()
    control.send(True, LOGIN)
    offer = f"PRIVMSG bob :\x01DCC SEND a.bin 167772161 5000 {len(payload)}\x01\r\n"
    control.send(True, offer.encode())
    data = TcpSession(("10.0.0.2", 41000), ("10.0.0.1", 5000), start_ns=control.start_ns + 10**9)
    data.handshake()
    data.send(False, payload, segment_size=1400)
    data.send(True, len(payload).to_bytes(4, "big"))
    data.fin(False)
    data.fin(True)
    control.fin(True)
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=irc.SPECS)
    for ts, frame in sorted(control.frames + data.frames):
        engine.process(ts, 1, frame)
    run = Run(sink, store, engine.finish())
    files = [p for p in run.passports if p["kind"] == "file"]
    assert len(files) == 1
    assert files[0]["protocol"] == "irc-dcc"
    assert files[0]["file"]["wire_name"] == "a.bin"
    assert files[0]["contents"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert files[0]["complete"] is True
