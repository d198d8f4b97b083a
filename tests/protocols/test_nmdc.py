"""NMDC parser: hub sessions, client-to-client transfers, zlib, limits and resync."""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from typing import TypeVar

import pytest

import wiresift.engine
from tests.engine.helpers import Run
from tests.pcapgen import TcpSession
from tests.protocols.helpers import (
    FLOW,
    MID_STREAM_FLOW,
    ORIG,
    RESP,
    End,
    Gap,
    bytewise,
    random_cuts,
    run_scenario,
    whole,
)
from tests.protocols.helpers import split_feed as _split_feed_fn
from wiresift.config import Config, Limits
from wiresift.detect.detector import StreamDetector
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import nmdc
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
    FileBegin,
    FileData,
    FileEnd,
)
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.nmdc import DcPeerContext, NmdcParser

E = TypeVar("E", bound=Event)
StepList = list[tuple[Direction, bytes] | Gap | End]
HUB_FLOW = dataclasses.replace(FLOW, resp_port=411)
HUB = "198.51.100.7:411"
LOCK = b"$Lock EXTENDEDPROTOCOL_wiresift_test Pk=version0.868|"
# Known file bytes: not very compressible, so the zlib stream spans many segments.
PAYLOAD = hashlib.sha256(b"seed").digest() * 200 + b"tail"
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def of_type(events: list[Event], kind: type[E]) -> list[E]:
    """The events of one type, in order."""
    return [e for e in events if type(e) is kind]


def anomalies(events: list[Event]) -> list[str]:
    """Names of the anomalies, in order."""
    return [e.name for e in events if isinstance(e, Anomaly)]


def file_bytes(events: list[Event], number: int) -> bytes:
    """The concatenated data of file ``number``."""
    return b"".join(e.data for e in events if isinstance(e, FileData) and e.file == number)


HUB_SESSION: list[tuple[Direction, bytes]] = [
    (RESP, LOCK + b"$Supports NoGetINFO UserIP2|$HubName Test&#36;Hub|"),
    (ORIG, b"$Supports NoGetINFO|$Key ab/%DCN124%/c|$ValidateNick alice|"),
    (
        RESP,
        b"$Hello alice|$NickList alice$$bob$$|$OpList bob$$|"
        b"$MyINFO $ALL bob shared stuff<++ V:0.868,M:A,H:1/0/0,S:3>$ $DSL\x01$bob@x.test$123456$|"
        b"<bob> hi &#124; there &amp; &#36;5|",
    ),
    (
        ORIG,
        b"$To: bob From: alice $<alice> \xcf\xf0\xe8\xe2\xe5\xf2|"
        b"$Search Hub:alice F?T?0?1?ubuntu$iso|$ConnectToMe bob 192.0.2.1:4112|",
    ),
    (RESP, b"$SR bob linux\\ubuntu.iso\x05123 3/4\x05TTH:ABCD (198.51.100.7:411)|$Quit bob|"),
]


def test_hub_session_gives_chat_private_message_user_list_and_search() -> None:
    """Main chat, a cp1251 private message, the user list and a search, exactly."""
    events = _split_feed_fn(NmdcParser, HUB_SESSION, flow=HUB_FLOW, strict=True)
    assert events[0] == Confirmed(direction=RESP, ts=0)
    assert of_type(events, ChatLogin) == [
        ChatLogin(direction=ORIG, ts=1, account="alice"),
        ChatLogin(direction=RESP, ts=2, account="alice", accepted=True),
    ]
    assert of_type(events, ChatMessage) == [
        ChatMessage(
            direction=RESP,
            ts=2,
            sender="bob",
            channel="Test$Hub",
            text="hi | there & $5",
            raw=b"hi &#124; there &amp; &#36;5",
            charset="utf-8",
            message_kind="groupchat",
        ),
        ChatMessage(
            direction=ORIG,
            ts=3,
            sender="alice",
            recipients=("bob",),
            channel="Test$Hub",
            text="Привет",
            raw=b"\xcf\xf0\xe8\xe2\xe5\xf2",
            charset="cp1251",
            message_kind="private",
        ),
    ]
    lists = of_type(events, ContactListUpdate)
    assert [(u.operation, [e.contact for e in u.entries]) for u in lists] == [
        ("modify", ["alice"]),
        ("modify", ["alice", "bob"]),
        ("modify", ["bob"]),
        ("modify", ["bob"]),
        ("remove", ["bob"]),
    ]
    assert {u.owner for u in lists} == {HUB}
    assert lists[3].entries[0] == ContactEntry(
        contact="bob",
        extra={
            "tag": "<++ V:0.868,M:A,H:1/0/0,S:3>",
            "description": "shared stuff",
            "connection": "DSL",
            "flag": 1,
            "email": "bob@x.test",
            "share_size": 123456,
        },
    )
    assert of_type(events, ChatNotice) == [
        ChatNotice(direction=ORIG, ts=3, name="search", who="alice", detail="ubuntu iso"),
        ChatNotice(direction=ORIG, ts=3, name="connect", who="bob", detail="192.0.2.1:4112"),
        ChatNotice(
            direction=RESP, ts=4, name="search_result", who="bob", detail="linux\\ubuntu.iso"
        ),
    ]
    assert of_type(events, ExpectConnection) == [
        ExpectConnection(
            direction=ORIG,
            ts=3,
            protocol="nmdc",
            server_addr="192.0.2.1",
            server_port=4112,
            context=DcPeerContext(
                protocol="nmdc", hub="Test$Hub", listener="alice", connector="bob"
            ),
        )
    ]


def test_tls_connect_to_me_is_noted_without_expectation() -> None:
    """$ConnectToMe with the S suffix (TLS) is a notice only."""
    events = _split_feed_fn(
        NmdcParser, [(RESP, LOCK), (ORIG, b"$ConnectToMe bob 192.0.2.1:4112S|")], strict=True
    )
    assert of_type(events, ExpectConnection) == []
    assert of_type(events, ChatNotice) == [
        ChatNotice(direction=ORIG, ts=1, name="connect", who="bob", detail="192.0.2.1:4112 tls")
    ]


def test_stream_compression_zon_is_inflated() -> None:
    """After $ZOn| the hub's commands are one zlib stream; plain text follows its end."""
    compressed = zlib.compress(b"<bob> inside zlib|$Quit bob|")
    scenario: StepList = [(RESP, LOCK + b"$ZOn|" + compressed + b"<bob> after|")]
    events = _split_feed_fn(NmdcParser, scenario, strict=True)
    assert [e.text for e in of_type(events, ChatMessage)] == ["inside zlib", "after"]
    assert len(of_type(events, ContactListUpdate)) == 1


CC_HANDSHAKE: list[tuple[Direction, bytes]] = [
    (ORIG, b"$MyNick alice|$Lock EXTENDEDPROTOCOLabc Pk=DCPLUSPLUS0.868|"),
    (RESP, b"$MyNick bob|$Lock EXTENDEDPROTOCOLxyz Pk=DCPLUSPLUS0.868|$Supports ADCGet ZLIG|"),
    (RESP, b"$Direction Upload 17762|$Key abc|"),
    (ORIG, b"$Supports ADCGet ZLIG|$Direction Download 4321|$Key xyz|"),
]


@pytest.mark.parametrize("compressed", [False, True])
def test_adcget_adcsnd_transfer_with_and_without_zlib(compressed: bool) -> None:
    """$ADCSND bytes (plain or ZL1) become one file with the known hash, then commands go on."""
    flag = b" ZL1" if compressed else b""
    body = zlib.compress(PAYLOAD) if compressed else PAYLOAD
    size = len(PAYLOAD)
    scenario: StepList = [
        *CC_HANDSHAKE,
        (ORIG, b"$ADCGET file TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ 0 %d%s|" % (size, flag)),
        (RESP, b"$ADCSND file TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ 0 %d%s|" % (size, flag)),
        (RESP, body + b"$ADCSND file files.xml.bz2 0 0|"),
    ]
    events = _split_feed_fn(NmdcParser, scenario, strict=True)
    begins = of_type(events, FileBegin)
    assert begins[0] == FileBegin(
        direction=RESP,
        ts=5,
        file=0,
        name="TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ",
        size=size,
        offset=0,
        sender="bob",
        recipient="alice",
        upload=False,
    )
    assert hashlib.sha256(file_bytes(events, 0)).hexdigest() == PAYLOAD_SHA256
    assert of_type(events, FileEnd) == [
        FileEnd(direction=RESP, ts=6, file=0, complete=True),
        FileEnd(direction=RESP, ts=6, file=1, complete=True),
    ]
    assert begins[1].name == "files.xml.bz2"


def test_resumed_segment_and_escaped_space_in_path() -> None:
    """A segment from offset 100 names its offset; "\\ " in a path is a space."""
    scenario: StepList = [*CC_HANDSHAKE, (RESP, b"$ADCSND file docs\\ a.txt 100 4|wxyz")]
    events = _split_feed_fn(NmdcParser, scenario, strict=True)
    begin = of_type(events, FileBegin)[0]
    assert (begin.name, begin.offset, begin.size) == ("docs a.txt", 100, 104)
    assert file_bytes(events, 0) == b"wxyz"


def test_legacy_get_filelength_send() -> None:
    """$Get path$1, $FileLength, $Send: the uploader's next bytes are the file."""
    scenario: StepList = [
        *CC_HANDSHAKE,
        (ORIG, b"$Get music\\song.mp3$1|"),
        (RESP, b"$FileLength 6|"),
        (ORIG, b"$Send|"),
        (RESP, b"abcdef$MaxedOut|"),
    ]
    events = _split_feed_fn(NmdcParser, scenario, strict=True)
    begin = of_type(events, FileBegin)[0]
    assert (begin.name, begin.size, begin.offset, begin.sender) == ("music\\song.mp3", 6, 0, "bob")
    assert file_bytes(events, 0) == b"abcdef"
    assert of_type(events, FileEnd) == [FileEnd(direction=RESP, ts=7, file=0, complete=True)]
    assert of_type(events, ChatNotice)[-1] == ChatNotice(
        direction=RESP, ts=7, name="transfer_error", who="bob", detail=""
    )


def test_context_from_connect_to_me_names_the_peers() -> None:
    """A flow handed over by an expectation knows the nicks before $MyNick."""
    context = DcPeerContext(protocol="nmdc", hub="Hub", listener="alice", connector="bob")
    flow = dataclasses.replace(FLOW, context=context)
    events = _split_feed_fn(NmdcParser, [(RESP, b"$ADCSND file a.txt 0 1|x")], flow=flow)
    begin = of_type(events, FileBegin)[0]
    assert (begin.sender, begin.recipient) == ("alice", "bob")


def test_zlib_bomb_is_reported_and_stops_the_direction() -> None:
    """A ZL1 body inflating past the ratio cap gives nmdc_zlib_bomb, whatever the cuts."""
    bomb = zlib.compress(b"\0" * (8 << 20), 9)
    scenario: StepList = [
        *CC_HANDSHAKE,
        (RESP, b"$ADCSND file a.bin 0 1073741824 ZL1|" + bomb + b"$Error x|"),
    ]
    for cutter in (whole, bytewise, random_cuts(1)):
        events = run_scenario(NmdcParser(FLOW, Limits()), scenario, cutter)
        assert anomalies(events) == ["nmdc_zlib_bomb"]
        assert of_type(events, FileEnd)[-1].reason == "bomb"
        assert of_type(events, ChatNotice) == []


def test_corrupt_zlib_body_is_reported() -> None:
    """Bytes that are not zlib after ZL1 give nmdc_zlib_error and an incomplete file."""
    scenario: StepList = [*CC_HANDSHAKE, (RESP, b"$ADCSND file a.bin 0 5 ZL1|not zlib at all")]
    events = _split_feed_fn(NmdcParser, scenario)
    assert anomalies(events) == ["nmdc_zlib_error"]
    assert of_type(events, FileEnd) == [
        FileEnd(direction=RESP, ts=4, file=0, complete=False, reason="corrupt")
    ]


def test_ten_megabyte_command_without_terminator_then_resync() -> None:
    """10 MiB without "|" gives nmdc_command_too_long; the command after the next "|" counts."""
    parser = NmdcParser(FLOW, Limits())
    events = parser.feed(RESP, LOCK, 0)
    chunk = b"x" * 65536
    for _ in range(161):
        events += parser.feed(RESP, chunk, 1)
    assert parser.buffered_bytes() < 65536
    events += parser.feed(RESP, b"still junk|<bob> back|", 2)
    assert anomalies(events) == ["nmdc_command_too_long"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["back"]


class SmallNmdcParser(NmdcParser):
    """The same parser with a 64-byte command cap, to feed byte by byte."""

    max_command = 64


def test_small_command_cap_is_split_independent() -> None:
    """The cap and the resync give the same events for any cuts."""
    scenario: StepList = [(RESP, LOCK), (RESP, b"<bob> " + b"y" * 100 + b"|<bob> ok|")]
    events = _split_feed_fn(SmallNmdcParser, scenario)
    assert anomalies(events) == ["nmdc_command_too_long"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["ok"]


def test_garbage_is_reported_once_then_parsing_recovers() -> None:
    """Non-NMDC commands give one nmdc_bad_command until a good command comes."""
    scenario: StepList = [(RESP, LOCK + b"\x00\x01garbage|more junk|$\xff|<bob> fine|junk again|")]
    events = _split_feed_fn(NmdcParser, scenario)
    assert anomalies(events) == ["nmdc_bad_command", "nmdc_bad_command"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["fine"]


def test_mid_stream_start_resyncs_at_the_next_pipe() -> None:
    """A capture starting inside a command drops it and reads from the next "|"."""
    scenario: StepList = [(RESP, b"ALL bob x$ $DSL\x01$$1$|<bob> first whole|")]
    events = _split_feed_fn(NmdcParser, scenario, flow=MID_STREAM_FLOW, strict=True)
    assert [e.text for e in of_type(events, ChatMessage)] == ["first whole"]
    assert of_type(events, ContactListUpdate) == []


def test_gap_in_commands_and_in_file_data() -> None:
    """A gap resyncs commands at "|"; a gap in file bytes ends that file incomplete."""
    scenario: StepList = [
        *CC_HANDSHAKE,
        (RESP, b"$ADCSND file a.bin 0 10|abc"),
        Gap(RESP, 3),
        (RESP, b"efgh$Error no more|"),
        (ORIG, b"$ADCGET file b"),
        Gap(ORIG, 5),
        (ORIG, b"lost|$Error client|"),
    ]
    events = _split_feed_fn(NmdcParser, scenario)
    assert anomalies(events) == ["nmdc_content_gap", "nmdc_content_gap"]
    assert of_type(events, FileEnd) == [
        FileEnd(direction=RESP, ts=5, file=0, complete=False, reason="gap")
    ]
    assert file_bytes(events, 0) == b"abc"
    assert [e.detail for e in of_type(events, ChatNotice)] == ["no more", "client"]


def test_unterminated_command_at_end() -> None:
    """Bytes left without "|" when the stream closes give nmdc_truncated_command."""
    parser = NmdcParser(FLOW, Limits())
    parser.feed(RESP, LOCK + b"<bob> cut", 0)
    assert anomalies(parser.end(RESP, 1)) == ["nmdc_truncated_command"]


def test_escapes_entity_and_dcn_forms() -> None:
    """&#36; &#124; &amp; and /%DCN036%/ forms are undone."""
    assert nmdc.unescape(b"a&#36;b&#124;c&amp;#36;/%DCN124%//%DCN005%/") == b"a$b|c&#36;|\x05"


@pytest.mark.parametrize(
    ("direction", "data", "expected"),
    [
        (RESP, LOCK, "nmdc"),
        (ORIG, b"$MyNick alice|$Lock EXTENDEDPROTOCOLabc Pk=x|", "nmdc"),
        (RESP, b"$MyNick bob|$Lock x Pk=y|", "nmdc"),
        (RESP, b"HTTP/1.1 200 OK\r\n\r\n", None),
    ],
)
def test_detection_by_content(direction: int, data: bytes, expected: str | None) -> None:
    """$Lock from the hub or $MyNick from either peer names NMDC."""
    detector = StreamDetector((nmdc.SPEC,), Limits(), server_port=5000)
    found = detector.data(ORIG if direction == ORIG else RESP, data, final=True)
    assert found is not None
    assert found.protocol == expected


class NmdcChatBuilder(ChatBuilder):
    """The chat builder, named for NMDC until the engine sets the protocol itself."""

    protocol = "nmdc"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.protocol = "nmdc"


def run_sessions(monkeypatch: pytest.MonkeyPatch, *sessions: TcpSession) -> Run:
    """Run the sessions' frames through an engine that knows only NMDC."""
    monkeypatch.setitem(wiresift.engine.BUILDERS, "nmdc", NmdcChatBuilder)
    frames = sorted((f for s in sessions for f in s.frames), key=lambda f: f[0])
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=(nmdc.SPEC,), source_name="test")
    for ts, frame in frames:
        engine.process(ts, 1, frame)
    return Run(sink, store, engine.finish())


def test_engine_hub_and_transfer_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub chat, the hub's user list and a transferred file become objects."""
    hub = TcpSession(("10.0.0.1", 40000), ("10.0.0.2", 411))
    hub.handshake()
    for direction, data in HUB_SESSION:
        hub.send(direction is ORIG, data, segment_size=40)
    hub.fin(True)
    hub.fin(False)
    peer = TcpSession(("10.0.0.3", 40001), ("10.0.0.1", 4112), start_ns=hub.start_ns + 10**9)
    peer.handshake()
    for direction, data in CC_HANDSHAKE:
        peer.send(direction is ORIG, data)
    peer.send(True, b"$ADCGET file TTH/AAAA 0 %d ZL1|" % len(PAYLOAD))
    peer.send(
        False, b"$ADCSND file TTH/AAAA 0 %d ZL1|" % len(PAYLOAD) + zlib.compress(PAYLOAD), 500
    )
    peer.fin(True)
    peer.fin(False)
    run = run_sessions(monkeypatch, hub, peer)
    chats = [p for p in run.passports if p["kind"] == "chat"]
    assert [(p["protocol"], p[p["kind"]]["text"]) for p in chats] == [
        ("nmdc", "hi | there & $5"),
        ("nmdc", "Привет"),
    ]
    lists = [p for p in run.passports if p["kind"] == "contact_list"]
    assert [[c["contact"] for c in p[p["kind"]]["contacts"]] for p in lists] == [["alice"]]
    files = [p for p in run.passports if p["kind"] == "file"]
    assert len(files) == 1
    assert files[0]["file"]["wire_name"] == "TTH/AAAA"
    assert files[0]["complete"] is True
    assert files[0]["contents"][0]["sha256"] == PAYLOAD_SHA256
