"""XMPP parser and its streaming XML reader: bytes in, chat events out, under every cut."""

from __future__ import annotations

import base64
import dataclasses
import zlib

import pytest

import wiresift.engine
from tests.engine.helpers import Run
from tests.pcapgen import TcpSession
from tests.protocols.helpers import FLOW, ORIG, RESP, Gap, SplitFeed
from wiresift.config import Config, Limits
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import xmpp
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
from wiresift.protocols.xmpp import S5bContext, XmppParser, XmppS5bParser
from wiresift.protocols.xmpp.parser import s5b_address
from wiresift.protocols.xmpp.xmlstream import Element, XmlStreamReader

CLIENT_OPEN = (
    b"<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
SERVER_OPEN = (
    b"<?xml version='1.0'?><stream:stream from='example.org' id='s1' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
PLAIN = base64.b64encode(b"\x00juliet\x00r0m30").decode().encode()
AUTH = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + PLAIN + b"</auth>"
SUCCESS = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
BIND = (
    b"<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    b"<jid>juliet@example.org/balcony</jid></bind></iq>"
)
LOGIN = [
    (ORIG, CLIENT_OPEN + AUTH),
    (RESP, SERVER_OPEN + SUCCESS),
    (ORIG, CLIENT_OPEN),
    (RESP, SERVER_OPEN + BIND),
]


class SecretXmppParser(XmppParser):
    """The parser with secrets kept."""

    keep_secrets = True


def only(events: list[Event], kind: type[Event]) -> list[Event]:
    """Events of one type."""
    return [e for e in events if type(e) is kind]


def test_sasl_plain_and_bind(split_feed: SplitFeed) -> None:
    """PLAIN's authcid (with the stream domain) at <success/>, the full JID at binding."""
    events = split_feed(SecretXmppParser, LOGIN, strict=True)
    assert only(events, ChatLogin) == [
        ChatLogin(
            direction=RESP,
            ts=1,
            account="juliet@example.org",
            mechanism="PLAIN",
            secret="r0m30",  # noqa: S106 (test data, not a credential)
            accepted=True,
        ),
        ChatLogin(
            direction=RESP,
            ts=3,
            account="juliet@example.org/balcony",
            mechanism="PLAIN",
            secret="r0m30",  # noqa: S106 (test data, not a credential)
            accepted=True,
        ),
    ]


def test_messages_with_delay_and_own_jid(split_feed: SplitFeed) -> None:
    """Messages get the own JID when 'from' is absent; delay stamps give sent_at."""
    events = split_feed(
        XmppParser,
        [
            *LOGIN,
            (
                ORIG,
                b"<message to='romeo@example.net' type='chat'><body>Art thou &lt;there&gt;?</body>"
                b"<thread>t1</thread></message>",
            ),
            (
                RESP,
                b"<message from='room@muc.example.org/romeo' to='juliet@example.org/balcony' "
                b"type='groupchat'><subject>s</subject><body>hi</body>"
                b"<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25.5Z'/></message>",
            ),
        ],
        strict=True,
    )
    messages = [e for e in events if isinstance(e, ChatMessage)]
    assert [
        (m.sender, m.recipients, m.channel, m.message_kind, m.text, m.thread, m.subject, m.sent_at)
        for m in messages
    ] == [
        (
            "juliet@example.org/balcony",
            ("romeo@example.net",),
            None,
            "chat",
            "Art thou <there>?",
            "t1",
            None,
            None,
        ),
        (
            "room@muc.example.org/romeo",
            ("juliet@example.org/balcony",),
            "room@muc.example.org",
            "groupchat",
            "hi",
            None,
            "s",
            1031699305500000000,
        ),
    ]


def test_carbon_and_mam_are_unwrapped(split_feed: SplitFeed) -> None:
    """XEP-0280 carbons and XEP-0313 results give the inner message."""
    carbon = (
        b"<message from='juliet@example.org' to='juliet@example.org/balcony'>"
        b"<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
        b"<message from='juliet@example.org/phone' to='romeo@example.net' type='chat'>"
        b"<body>from phone</body></message></forwarded></sent></message>"
    )
    mam = (
        b"<message to='juliet@example.org/balcony'><result xmlns='urn:xmpp:mam:2' id='a1'>"
        b"<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' "
        b"stamp='2010-07-10T23:08:25Z'/><message from='romeo@example.net/o' type='chat'>"
        b"<body>old</body></message></forwarded></result></message>"
    )
    events = split_feed(XmppParser, [(RESP, SERVER_OPEN + carbon + mam)], strict=True)
    messages = [e for e in events if isinstance(e, ChatMessage)]
    assert [(m.sender, m.text, m.sent_at, m.extra) for m in messages] == [
        ("juliet@example.org/phone", "from phone", None, {"carbon": "sent"}),
        ("romeo@example.net/o", "old", 1278803305000000000, {"archived": "a1"}),
    ]


def test_roster_result_and_pushes(split_feed: SplitFeed) -> None:
    """A roster result replaces the list; pushes add, modify and remove."""
    result = (
        b"<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>"
        b"<item jid='romeo@example.net' name='Romeo' subscription='both'><group>Friends</group><"
        b"/item>"
        b"</query></iq>"
    )
    pushes = (
        b"<iq type='set' id='p1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com'/>"
        b"</query></iq>"
        b"<iq type='set' id='p2'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' s"
        b"ubscription='to'/></query></iq>"
        b"<iq type='set' id='p3'><query xmlns='jabber:iq:roster'><item jid='romeo@example.net' s"
        b"ubscription='remove'/></query></iq>"
    )
    events = split_feed(XmppParser, [*LOGIN, (RESP, result + pushes)], strict=True)
    owner = "juliet@example.org"
    assert only(events, ContactListUpdate) == [
        ContactListUpdate(
            direction=RESP,
            ts=4,
            owner=owner,
            operation="replace",
            groups=("Friends",),
            entries=(
                ContactEntry(
                    contact="romeo@example.net",
                    name="Romeo",
                    groups=("Friends",),
                    extra={"subscription": "both", "ask": None},
                ),
            ),
        ),
        ContactListUpdate(
            direction=RESP,
            ts=4,
            owner=owner,
            operation="add",
            entries=(
                ContactEntry(
                    contact="nurse@example.com", extra={"subscription": "none", "ask": None}
                ),
            ),
        ),
        ContactListUpdate(
            direction=RESP,
            ts=4,
            owner=owner,
            operation="modify",
            entries=(
                ContactEntry(
                    contact="nurse@example.com", extra={"subscription": "to", "ask": None}
                ),
            ),
        ),
        ContactListUpdate(
            direction=RESP,
            ts=4,
            owner=owner,
            operation="remove",
            entries=(ContactEntry(contact="romeo@example.net"),),
        ),
    ]


def test_subscription_presence_is_a_notice(split_feed: SplitFeed) -> None:
    """presence type=subscribe is a ChatNotice."""
    events = split_feed(
        XmppParser, [*LOGIN, (ORIG, b"<presence to='romeo@example.net' type='subscribe'/>")]
    )
    assert only(events, ChatNotice)[-1] == ChatNotice(
        direction=ORIG,
        ts=4,
        name="presence_subscribe",
        who="juliet@example.org/balcony",
        detail="romeo@example.net",
    )


def test_si_offer_and_in_band_bytestream(split_feed: SplitFeed) -> None:
    """An XEP-0096 offer names the file; XEP-0047 data becomes the file's bytes."""
    offer = (
        b"<iq type='set' id='s1' to='romeo@example.net/o'><si xmlns='http://jabber.org/protocol/"
        b"si' "
        b"id='sid1' profile='http://jabber.org/protocol/si/profile/file-transfer'>"
        b"<file xmlns='http://jabber.org/protocol/si/profile/file-transfer' name='a.txt' size='6"
        b"'/></si></iq>"
    )
    ibb = (
        b"<iq type='set' id='i1' to='romeo@example.net/o'><open xmlns='http://jabber.org/protoco"
        b"l/ibb' sid='sid1' block-size='4096'/></iq>"
        b"<iq type='set' id='i2' to='romeo@example.net/o'><data xmlns='http://jabber.org/protoco"
        b"l/ibb' sid='sid1' seq='0'>"
        + base64.b64encode(b"abc")
        + b"</data></iq><message to='romeo@example.net/o'><data xmlns='http://jabber.org/protocol/"
        b"ibb' sid='sid1' seq='1'>"
        + base64.b64encode(b"def")
        + b"</data></message><iq type='set' id='i3'><close xmlns='http://jabber.org/protocol/ibb' "
        b"sid='sid1'/></iq>"
    )
    events = split_feed(XmppParser, [*LOGIN, (ORIG, offer + ibb)], strict=True)
    me = "juliet@example.org/balcony"
    assert [e for e in events if isinstance(e, FileOffer | FileBegin | FileData | FileEnd)] == [
        FileOffer(
            direction=ORIG,
            ts=4,
            name="a.txt",
            size=6,
            sender=me,
            recipient="romeo@example.net/o",
            transfer_id="sid1",
        ),
        FileBegin(
            direction=ORIG,
            ts=4,
            file=0,
            name="a.txt",
            size=6,
            sender=me,
            recipient="romeo@example.net/o",
            transfer_id="sid1",
            upload=True,
        ),
        FileData(direction=ORIG, ts=4, file=0, data=b"abcdef"),
        FileEnd(direction=ORIG, ts=4, file=0, complete=True),
    ]


def test_socks5_streamhost_is_expected(split_feed: SplitFeed) -> None:
    """An XEP-0065 streamhost gives a FileOffer and an expected xmpp-s5b connection."""
    query = (
        b"<iq type='set' id='q' to='romeo@example.net/o'><query xmlns='http://jabber.org/protoco"
        b"l/bytestreams' "
        b"sid='s5' mode='tcp'><streamhost jid='juliet@example.org/balcony' host='192.0.2.1' port"
        b"='6000'/>"
        b"</query></iq>"
    )
    events = split_feed(XmppParser, [*LOGIN, (ORIG, query)], strict=True)
    (expect,) = [e for e in events if isinstance(e, ExpectConnection)]
    assert (expect.protocol, expect.server_addr, expect.server_port) == (
        "xmpp-s5b",
        "192.0.2.1",
        6000,
    )
    assert isinstance(expect.context, S5bContext)
    assert expect.context.dst_addr == s5b_address(
        "s5", "juliet@example.org/balcony", "romeo@example.net/o"
    )
    (offer,) = only(events, FileOffer)
    assert isinstance(offer, FileOffer)
    assert offer.endpoint == ("192.0.2.1", 6000)


def test_s5b_data_connection(split_feed: SplitFeed) -> None:
    """The SOCKS5 handshake with the SHA-1 domain, then the file bytes."""
    context = S5bContext(sid="s5", name="f", size=4, sender="a", recipient="b", dst_addr="ab" * 20)
    connect = b"\x05\x01\x00\x03\x28" + b"ab" * 20 + b"\x00\x00"
    events = split_feed(
        XmppS5bParser,
        [
            (ORIG, b"\x05\x01\x00"),
            (RESP, b"\x05\x00"),
            (ORIG, connect),
            (RESP, connect[:1] + b"\x00" + connect[2:] + b"data"),
        ],
        flow=dataclasses.replace(FLOW, context=context),
        strict=True,
    )
    assert events == [
        FileBegin(
            direction=RESP,
            ts=3,
            file=0,
            name="f",
            size=4,
            sender="a",
            recipient="b",
            transfer_id="s5",
        ),
        FileData(direction=RESP, ts=3, file=0, data=b"data"),
        FileEnd(direction=RESP, ts=3, file=0, complete=True),
    ]


def test_jingle_offer_and_upload_slot(split_feed: SplitFeed) -> None:
    """A Jingle file offer is a FileOffer; an XEP-0363 slot is a notice with both URLs."""
    jingle = (
        b"<iq type='set' id='j' to='romeo@example.net/o'><jingle xmlns='urn:xmpp:jingle:1' actio"
        b"n='session-initiate' "
        b"sid='j1'><content name='c'><description xmlns='urn:xmpp:jingle:apps:file-transfer:5'><"
        b"file>"
        b"<name>pic.jpg</name><size>1000</size></file></description></content></jingle></iq>"
    )
    slot = (
        b"<iq type='result' id='u'><slot xmlns='urn:xmpp:http:upload:0'><put url='https://up/x'/>"
        b"<get url='https://dl/x'/></slot></iq>"
    )
    events = split_feed(XmppParser, [*LOGIN, (ORIG, jingle), (RESP, slot)], strict=True)
    (offer,) = only(events, FileOffer)
    assert isinstance(offer, FileOffer)
    assert (offer.name, offer.size, offer.transfer_id) == ("pic.jpg", 1000, "j1")
    assert only(events, ChatNotice)[-1] == ChatNotice(
        direction=RESP,
        ts=5,
        name="http_upload_slot",
        who="juliet@example.org/balcony",
        detail="PUT https://up/x GET https://dl/x",
    )


def test_starttls_switches(split_feed: SplitFeed) -> None:
    """<proceed/> hands the rest of the stream to TLS."""
    events = split_feed(
        XmppParser,
        [
            (ORIG, CLIENT_OPEN + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            (RESP, SERVER_OPEN + b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01"),
            (ORIG, b"\x16\x03\x01\x00"),
        ],
    )
    assert events[-1] == SwitchProtocol(
        direction=RESP, ts=1, to="tls", leftover=b"\x16\x03\x01", leftover_other=b"\x16\x03\x01\x00"
    )


def test_zlib_compression_is_inflated(split_feed: SplitFeed) -> None:
    """After XEP-0138 <compressed/> both directions are inflated."""
    deflate = zlib.compressobj()
    body = deflate.compress(CLIENT_OPEN + b"<message to='r@x' type='chat'><body>z</body></message>")
    body += deflate.flush(zlib.Z_SYNC_FLUSH)
    events = split_feed(
        XmppParser,
        [
            (
                ORIG,
                CLIENT_OPEN
                + b"<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></c"
                b"ompress>",
            ),
            (RESP, SERVER_OPEN + b"<compressed xmlns='http://jabber.org/protocol/compress'/>"),
            (ORIG, body),
        ],
        strict=True,
    )
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["z"]


def test_decompression_bomb_stops_the_direction() -> None:
    """A zlib stream inflating past the ratio guard gives xmpp_decompression_bomb."""
    parser = XmppParser(FLOW, Limits(max_decompression_ratio=10))
    parser.feed(
        ORIG,
        CLIENT_OPEN
        + b"<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>",
        0,
    )
    parser.feed(RESP, SERVER_OPEN + b"<compressed xmlns='http://jabber.org/protocol/compress'/>", 0)
    bomb = zlib.compress(b" " * (20 * 1024 * 1024))
    events = parser.feed(ORIG, bomb, 1)
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["xmpp_decompression_bomb"]
    assert parser.buffered_bytes() < 2 * 1024 * 1024


def test_billion_laughs_is_refused(split_feed: SplitFeed) -> None:
    """A DTD is reported and skipped; its entities are never expanded."""
    dtd = (
        b"<!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        + b"".join(b"<!ENTITY lol%d '%s'>" % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
        + b"]>"
    )
    events = split_feed(
        XmppParser,
        [
            (
                RESP,
                dtd
                + SERVER_OPEN
                + b"<message from='a@b/c' type='chat'><body>&lol9;</body></message>",
            )
        ],
    )
    names = [e.name for e in events if isinstance(e, Anomaly)]
    assert names == ["xmpp_dtd", "xmpp_unknown_entity"]
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["&lol9;"]


def test_deep_nesting_is_bounded() -> None:
    """100,000 nested elements give xmpp_too_deep; the next stanza is read; memory bounded."""
    parser = XmppParser(FLOW, Limits())
    events = parser.feed(RESP, SERVER_OPEN + b"<message>" + b"<a>" * 100_000, 0)
    assert parser.buffered_bytes() < 64 * 1024
    events += parser.feed(
        RESP,
        b"</a>" * 100_000
        + b"</message><message from='x@y/z' type='chat'><body>ok</body></message>",
        1,
    )
    assert [e.name for e in events if isinstance(e, Anomaly)] == ["xmpp_too_deep"]
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["ok"]


def test_ten_megabyte_text_and_tag_are_bounded() -> None:
    """A 10 MB body and a 10 MB tag are dropped with anomalies; memory stays bounded."""
    parser = XmppParser(FLOW, Limits())
    events = parser.feed(RESP, SERVER_OPEN + b"<message><body>", 0)
    for _ in range(160):
        events += parser.feed(RESP, b"x" * 65536, 0)
        assert parser.buffered_bytes() < 512 * 1024
    events += parser.feed(RESP, b"</body></message><iq id='", 1)
    for _ in range(160):
        events += parser.feed(RESP, b"y" * 65536, 1)
        assert parser.buffered_bytes() < 512 * 1024
    events += parser.feed(RESP, b"'/><message from='x@y/z'><body>ok</body></message>", 2)
    assert [e.name for e in events if isinstance(e, Anomaly)] == [
        "xmpp_stanza_too_long",
        "xmpp_tag_too_long",
    ]
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["ok"]


def test_mid_stream_start_and_gap_resync(split_feed: SplitFeed) -> None:
    """Without a stream header the stanzas are read; after a hole the next stanza is."""
    events = split_feed(
        XmppParser,
        [
            (
                RESP,
                b"<message from='a@b/c' to='me@b/r' type='chat'><body>one</body></message><messa"
                b"ge><bo",
            ),
            Gap(RESP, 50),
            (
                RESP,
                b"dy>lost</body></message> <message from='a@b/c' type='chat'><body>two</body></m"
                b"essage>",
            ),
        ],
    )
    assert [m.text for m in events if isinstance(m, ChatMessage)] == ["one", "two"]


def test_garbage_never_raises() -> None:
    """Binary garbage gives anomalies at most, no exception and no message."""
    parser = XmppParser(FLOW, Limits())
    data = bytes(range(256)) * 512
    events = parser.feed(ORIG, data, 0) + parser.feed(RESP, data, 0)
    assert not [e for e in events if isinstance(e, ChatMessage)]


def test_reader_cdata_and_character_references() -> None:
    """CDATA is literal text; character references are decoded."""
    reader = XmlStreamReader()
    reader.push(b"<m><b><![CDATA[a<b&c]]> &#x263A;&#65;</b></m>")
    element = reader.next_item()
    assert isinstance(element, Element)
    assert element.child_text("b") == "a<b&c \u263aA"


def test_engine_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine: an XMPP session on a non-standard port gives the chat and its account."""
    monkeypatch.setitem(wiresift.engine.BUILDERS, "xmpp", ChatBuilder)
    session = TcpSession(("10.0.0.1", 40000), ("10.0.0.2", 4444))
    session.handshake()
    for direction, data in LOGIN:
        session.send(direction is ORIG, data)
    session.send(
        True,
        b"<message to='romeo@example.net' type='chat'><body>hi</body></message>",
        segment_size=7,
    )
    session.fin(True)
    session.fin(False)
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=xmpp.SPECS)
    for ts, frame in session.frames:
        engine.process(ts, 1, frame)
    run = Run(sink, store, engine.finish())
    chats = [p for p in run.passports if p["kind"] == "chat"]
    assert [
        (c["parties"]["sender"], c["parties"]["account"], c["chat"]["text"]) for c in chats
    ] == [("juliet@example.org/balcony", "juliet@example.org/balcony", "hi")]
