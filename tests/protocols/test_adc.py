"""ADC parser: hub sessions, CGET/CSND transfers, escapes, zlib, limits and resync."""

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
from wiresift.protocols import adc
from wiresift.protocols.adc import AdcParser
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
from wiresift.protocols.nmdc import DcPeerContext

E = TypeVar("E", bound=Event)
StepList = list[tuple[Direction, bytes] | Gap | End]
HUB_FLOW = dataclasses.replace(FLOW, resp_port=1511)
HUB = "198.51.100.7:1511"
PAYLOAD = hashlib.sha256(b"adc").digest() * 300 + b"end"
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
CTM_REF = "tok1"  # the CTM token that CINF TO repeats
TTH = "TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"


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
    (ORIG, b"HSUP ADBASE ADTIGR ADZLIF\n"),
    (RESP, b"ISUP ADBASE ADTIGR\nISID AAAB\nIINF CT32 NITest\\sHub DEwelcome\n"),
    (ORIG, b"BINF AAAB IDCIDCID PDPIDPID NIalice SS1000 SF3 VE++\\s0.868 I40.0.0.0\n"),
    (
        RESP,
        b"BINF AAAB IDCIDCID NIalice SS1000 SF3 VE++\\s0.868 I4192.0.2.1\n"
        b"BINF AAAC IDCID2 NIbob SS123456 DEmusic\\sand\\\\films I4198.51.100.9 U45000\n"
        b"BMSG AAAC hello\\sall\\nsecond\\sline\nBMSG AAAC waves ME1\n",
    ),
    (ORIG, b"DMSG AAAB AAAC psst\\sbob PMAAAB\nBSCH AAAB ANubuntu ANiso TO42\n"),
    (ORIG, b"DCTM AAAB AAAC ADC/1.0 4113 tok1\n"),
    (RESP, b"BINF AAAC SS200\nIQUI AAAC\n"),
]


def test_hub_session_gives_chat_private_message_user_list_and_search() -> None:
    """Main chat, /me, a PM, the user list with shares, a search and a CTM, exactly."""
    events = _split_feed_fn(AdcParser, HUB_SESSION, flow=HUB_FLOW, strict=True)
    assert events[0] == Confirmed(direction=ORIG, ts=0)
    assert of_type(events, ChatLogin) == [
        ChatLogin(direction=ORIG, ts=2, account="alice", client="++ 0.868"),
        ChatLogin(direction=RESP, ts=3, account="alice", client="++ 0.868"),
    ]
    messages = of_type(events, ChatMessage)
    assert messages == [
        ChatMessage(
            direction=RESP,
            ts=3,
            sender="bob",
            channel="Test Hub",
            text="hello all\nsecond line",
            raw=b"hello all\nsecond line",
            charset="utf-8",
            message_kind="groupchat",
        ),
        ChatMessage(
            direction=RESP,
            ts=3,
            sender="bob",
            channel="Test Hub",
            text="waves",
            raw=b"waves",
            charset="utf-8",
            message_kind="action",
        ),
        ChatMessage(
            direction=ORIG,
            ts=4,
            sender="alice",
            recipients=("bob",),
            channel="Test Hub",
            text="psst bob",
            raw=b"psst bob",
            charset="utf-8",
            message_kind="private",
            extra={"reply_to": "alice"},
        ),
    ]
    lists = of_type(events, ContactListUpdate)
    assert {u.owner for u in lists} == {HUB}
    assert [(u.operation, u.entries[0].contact) for u in lists] == [
        ("modify", "alice"),
        ("modify", "alice"),
        ("modify", "bob"),
        ("modify", "bob"),
        ("remove", "bob"),
    ]
    assert lists[2].entries[0] == ContactEntry(
        contact="bob",
        extra={
            "sid": "AAAC",
            "cid": "CID2",
            "share_size": 123456,
            "description": "music and\\films",
            "ip4": "198.51.100.9",
        },
    )
    assert lists[3].entries[0].extra["share_size"] == 200
    assert of_type(events, ChatNotice) == [
        ChatNotice(direction=ORIG, ts=4, name="search", who="alice", detail="ubuntu iso"),
        ChatNotice(direction=ORIG, ts=5, name="connect", who="bob", detail="alice port 4113"),
    ]
    assert of_type(events, ExpectConnection) == [
        ExpectConnection(
            direction=ORIG,
            ts=5,
            protocol="adc",
            server_addr="192.0.2.1",
            server_port=4113,
            context=DcPeerContext(
                protocol="adc", hub="Test Hub", listener="alice", connector="bob", token=CTM_REF
            ),
        )
    ]


CC_HANDSHAKE: list[tuple[Direction, bytes]] = [
    (ORIG, b"CSUP ADBASE ADTIGR ADZLIG\n"),
    (RESP, b"CSUP ADBASE ADTIGR ADZLIG\nCINF IDCIDCID\n"),
    (ORIG, b"CINF IDCID2 TOtok1\n"),
]


@pytest.mark.parametrize("compressed", [False, True])
def test_cget_csnd_transfer_with_and_without_zlib(compressed: bool) -> None:
    """CSND bytes (plain or ZL1) become one file with the known hash; lines go on after."""
    flag = b" ZL1" if compressed else b""
    body = zlib.compress(PAYLOAD) if compressed else PAYLOAD
    size = len(PAYLOAD)
    context = DcPeerContext(protocol="adc", hub="Hub", listener="alice", connector="bob")
    scenario: StepList = [
        *CC_HANDSHAKE,
        (ORIG, b"CGET file %s 0 %d%s\n" % (TTH.encode(), size, flag)),
        (RESP, b"CSND file %s 0 %d%s\n" % (TTH.encode(), size, flag) + body),
        (RESP, b"CSND file /my\\sdir/a.txt 10 2\nok"),
    ]
    flow = dataclasses.replace(FLOW, context=context)
    events = _split_feed_fn(AdcParser, scenario, flow=flow, strict=True)
    begins = of_type(events, FileBegin)
    assert begins[0] == FileBegin(
        direction=RESP,
        ts=4,
        file=0,
        name=TTH,
        size=size,
        offset=0,
        sender="alice",
        recipient="bob",
        transfer_id="tok1",
        upload=False,
    )
    assert hashlib.sha256(file_bytes(events, 0)).hexdigest() == PAYLOAD_SHA256
    assert (begins[1].name, begins[1].offset, begins[1].size) == ("/my dir/a.txt", 10, 12)
    assert file_bytes(events, 1) == b"ok"
    assert of_type(events, FileEnd) == [
        FileEnd(direction=RESP, ts=4, file=0, complete=True),
        FileEnd(direction=RESP, ts=5, file=1, complete=True),
    ]
    assert of_type(events, ChatNotice) == [
        ChatNotice(direction=ORIG, ts=3, name="file_request", who="bob", detail=TTH)
    ]


def test_stream_compression_zon() -> None:
    """After IZON the hub's lines are one zlib stream; plain lines follow its end."""
    compressed = zlib.compress(b"BINF AAAC NIbob\nBMSG AAAC in\\szlib\n")
    scenario: StepList = [(RESP, b"ISUP ADBASE\nIZON\n" + compressed + b"BMSG AAAC after\n")]
    events = _split_feed_fn(AdcParser, scenario, strict=True)
    assert [e.text for e in of_type(events, ChatMessage)] == ["in zlib", "after"]


def test_escape_at_end_of_parameter_and_of_stream() -> None:
    """A lone backslash ending a parameter or the stream gives adc_escape_at_end."""
    scenario: StepList = [(RESP, b"ISUP ADBASE\nBMSG AAAC odd\\\nBMSG AAAC bad\\xescape\n")]
    events = _split_feed_fn(AdcParser, scenario)
    assert anomalies(events) == ["adc_escape_at_end", "adc_bad_escape"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["odd", "badxescape"]
    parser = AdcParser(FLOW, Limits())
    parser.feed(RESP, b"ISUP ADBASE\nBMSG AAAC tail\\", 0)
    assert anomalies(parser.end(RESP, 1)) == ["adc_truncated_command", "adc_escape_at_end"]


def test_unescape_rules() -> None:
    """\\s, \\n and \\\\ are the only escapes."""
    assert adc.unescape(b"a\\sb\\nc\\\\d") == (b"a b\nc\\d", None)
    assert adc.unescape(b"x\\\\") == (b"x\\", None)
    assert adc.unescape(b"x\\") == (b"x", "escape_at_end")


def test_zlib_bomb_is_reported_and_stops_the_direction() -> None:
    """A ZL1 body inflating past the ratio cap gives adc_zlib_bomb, whatever the cuts."""
    bomb = zlib.compress(b"\0" * (8 << 20), 9)
    scenario: StepList = [
        *CC_HANDSHAKE,
        (RESP, b"CSND file a.bin 0 1073741824 ZL1\n" + bomb + b"CSTA 000 x\n"),
    ]
    for cutter in (whole, bytewise, random_cuts(2)):
        events = run_scenario(AdcParser(FLOW, Limits()), scenario, cutter)
        assert anomalies(events) == ["adc_zlib_bomb"]
        assert of_type(events, ChatNotice) == []


class SmallAdcParser(AdcParser):
    """The same parser with a 64-byte line cap, to feed byte by byte."""

    max_command = 64


def test_long_line_garbage_and_recovery() -> None:
    """An over-long line and garbage give one anomaly each; the next good line counts."""
    scenario: StepList = [
        (RESP, b"ISUP ADBASE\nBMSG AAAC " + b"z" * 80 + b"\nBMSG AAAC ok\n"),
        (RESP, b"\x00\xffjunk\nmore junk\nBMSG AAAC again\n"),
    ]
    events = _split_feed_fn(SmallAdcParser, scenario)
    assert anomalies(events) == ["adc_command_too_long", "adc_bad_command"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["ok", "again"]


def test_ten_megabyte_line_without_newline() -> None:
    """10 MiB without a newline gives adc_command_too_long and a bounded buffer."""
    parser = AdcParser(FLOW, Limits())
    events = parser.feed(RESP, b"ISUP ADBASE\n", 0)
    for _ in range(161):
        events += parser.feed(RESP, b"q" * 65536, 1)
    assert parser.buffered_bytes() < 65536
    events += parser.feed(RESP, b"rest\nBMSG AAAC back\n", 2)
    assert anomalies(events) == ["adc_command_too_long"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["back"]


def test_mid_stream_start_and_gap_resync_at_newline() -> None:
    """A mid-stream start and a gap both drop the partial line and read on from the next."""
    scenario: StepList = [
        (RESP, b"SG AAAC cut\nBMSG AAAC first\nBMSG AAAC sec"),
        Gap(RESP, 4),
        (RESP, b"ond\nBMSG AAAC third\n"),
    ]
    events = _split_feed_fn(AdcParser, scenario, flow=MID_STREAM_FLOW)
    assert anomalies(events) == ["adc_content_gap"]
    assert [e.text for e in of_type(events, ChatMessage)] == ["first", "third"]


def test_gap_inside_file_ends_it_incomplete() -> None:
    """A gap in CSND bytes ends the file incomplete; lines after its end are read."""
    scenario: StepList = [
        *CC_HANDSHAKE,
        (RESP, b"CSND file a.bin 0 10\nabc"),
        Gap(RESP, 3),
        (RESP, b"ghijCSTA 000 done\n"),
    ]
    events = _split_feed_fn(AdcParser, scenario)
    assert of_type(events, FileEnd) == [
        FileEnd(direction=RESP, ts=4, file=0, complete=False, reason="gap")
    ]
    assert [e.detail for e in of_type(events, ChatNotice)] == ["000 done"]


@pytest.mark.parametrize(
    ("direction", "data", "expected"),
    [
        (ORIG, b"HSUP ADBASE ADTIGR\n", "adc"),
        (RESP, b"ISUP ADBASE ADTIGR\nISID AAAB\n", "adc"),
        (ORIG, b"CSUP ADBASE ADTIGR\n", "adc"),
        (RESP, b"CSUP ADBASE ADTIGR\n", "adc"),
        (ORIG, b"HELO example\r\n", None),
    ],
)
def test_detection_by_content(direction: Direction, data: bytes, expected: str | None) -> None:
    """HSUP/ISUP/CSUP with ADBASE name ADC."""
    detector = StreamDetector((adc.SPEC,), Limits(), server_port=5000)
    found = detector.data(direction, data, final=True)
    assert found is not None
    assert found.protocol == expected


class AdcChatBuilder(ChatBuilder):
    """The chat builder, named for ADC until the engine sets the protocol itself."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.protocol = "adc"


def run_sessions(monkeypatch: pytest.MonkeyPatch, *sessions: TcpSession) -> Run:
    """Run the sessions' frames through an engine that knows only ADC."""
    monkeypatch.setitem(wiresift.engine.BUILDERS, "adc", AdcChatBuilder)
    frames = sorted((f for s in sessions for f in s.frames), key=lambda f: f[0])
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(Config(), [sink], store=store, registry=(adc.SPEC,), source_name="test")
    for ts, frame in frames:
        engine.process(ts, 1, frame)
    return Run(sink, store, engine.finish())


def test_engine_hub_and_transfer_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub chat, the user list and a CSND file (announced by DCTM) become objects."""
    hub = TcpSession(("192.0.2.1", 40000), ("198.51.100.7", 1511))
    hub.handshake()
    for direction, data in HUB_SESSION:
        hub.send(direction is ORIG, data, segment_size=30)
    hub.fin(True)
    hub.fin(False)
    peer = TcpSession(("198.51.100.9", 40001), ("192.0.2.1", 4113), start_ns=hub.start_ns + 10**9)
    peer.handshake()
    for direction, data in CC_HANDSHAKE:
        peer.send(direction is ORIG, data)
    body = zlib.compress(PAYLOAD)
    peer.send(False, b"CSND file %s 0 %d ZL1\n" % (TTH.encode(), len(PAYLOAD)) + body, 400)
    peer.fin(True)
    peer.fin(False)
    run = run_sessions(monkeypatch, hub, peer)
    chats = [p for p in run.passports if p["kind"] == "chat"]
    assert [(p["protocol"], p["chat"]["text"]) for p in chats] == [
        ("adc", "hello all\nsecond line"),
        ("adc", "waves"),
        ("adc", "psst bob"),
    ]
    lists = [p for p in run.passports if p["kind"] == "contact_list"]
    assert [[c["contact"] for c in p["contact_list"]["contacts"]] for p in lists] == [["alice"]]
    files = [p for p in run.passports if p["kind"] == "file"]
    assert len(files) == 1
    assert files[0]["file"]["wire_name"] == TTH
    assert files[0]["file"]["transfer_id"] == CTM_REF
    assert files[0]["complete"] is True
    assert files[0]["contents"][0]["sha256"] == PAYLOAD_SHA256
