"""FTP control and data parsers (RFC 959, 2428, 3659), and FTP through the engine with
expected data connections (pcaps built with tests/pcapgen.py)."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from tests.engine.helpers import Run
from tests.pcapgen import TcpSession
from tests.protocols.helpers import End, Gap, SplitFeed
from wiresift.config import Config, Limits, OutputConfig
from wiresift.detect.signatures import Confidence, Verdict
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY, ftp
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    ProtocolSpec,
    SwitchProtocol,
)
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.ftp import (
    DataChunk,
    DataStart,
    FtpCommand,
    FtpDataParser,
    FtpLogin,
    FtpParser,
    FtpReply,
    FtpTransfer,
    TransferEnd,
    probe,
)
from wiresift.protocols.ftp.parser import _extended_address, _host_port, _long_address

ORIG = Direction.ORIG
RESP = Direction.RESP
FLOW = FlowInfo(
    uid="Wctl",
    orig_addr="192.0.2.1",
    orig_port=49152,
    resp_addr="198.51.100.7",
    resp_port=21,
    transport="tcp",
)
FLOW6 = FlowInfo(
    uid="Wctl6",
    orig_addr="2001:db8::1",
    orig_port=49152,
    resp_addr="2001:db8::21",
    resp_port=21,
    transport="tcp",
)
LOGIN = [
    (RESP, b"220 Service ready\r\n"),
    (ORIG, b"USER anonymous\r\n"),
    (RESP, b"331 Password required\r\n"),
    (ORIG, b"PASS guest@example.com\r\n"),
    (RESP, b"230-Welcome\r\n230-  to the archive\r\n230 Logged in\r\n"),
]


def of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, Anomaly)]


def test_passive_retr_announces_and_describes_the_transfer(split_feed: SplitFeed) -> None:
    """PASV -> ExpectConnection; RETR fills the shared transfer; 226 ends it."""
    events = split_feed(
        FtpParser,
        [
            *LOGIN,
            (ORIG, b"PWD\r\n"),
            (RESP, b'257 "/" is current directory\r\n'),
            (ORIG, b"CWD pub\r\n"),
            (RESP, b"250 OK\r\n"),
            (ORIG, b"TYPE I\r\n"),
            (RESP, b"200 Type set to I\r\n"),
            (ORIG, b"PASV\r\n"),
            (RESP, b"227 Entering Passive Mode (198,51,100,7,195,80).\r\n"),
            (ORIG, b"RETR file.bin\r\n"),
            (RESP, b"150 Opening BINARY mode data connection (1234 bytes)\r\n"),
            (RESP, b"226 Transfer complete\r\n"),
        ],
        flow=FLOW,
        strict=True,
    )
    [expect] = of(events, ExpectConnection)
    assert (expect.protocol, expect.server_addr, expect.server_port, expect.client_addr) == (
        "ftp-data",
        "198.51.100.7",
        50000,
        "192.0.2.1",
    )
    transfer = expect.context
    assert isinstance(transfer, FtpTransfer)
    assert (transfer.mode, transfer.command, transfer.argument, transfer.path) == (
        "passive",
        b"RETR",
        b"file.bin",
        b"/pub/file.bin",
    )
    assert (transfer.direction, transfer.type, transfer.user, transfer.cwd) == (
        "download",
        b"I",
        b"anonymous",
        b"/pub",
    )
    assert (transfer.announced_size, transfer.reply_code, transfer.offset) == (1234, 226, None)
    assert (transfer.control_uid, transfer.server_addr, transfer.server_port) == (
        "Wctl",
        "198.51.100.7",
        21,
    )
    [end] = of(events, TransferEnd)
    assert end.transfer is transfer
    assert of(events, FtpLogin) == [
        FtpLogin(direction=RESP, ts=4, user=b"anonymous", password=None, accepted=True)
    ]
    assert [c.arg for c in of(events, FtpCommand) if c.verb == b"PASS"] == [b""]
    assert len(of(events, Confirmed)) == 1
    assert [r.text for r in of(events, FtpReply) if r.code == 230] == [
        b"Welcome\n  to the archive\nLogged in"
    ]


def test_password_kept_only_when_asked() -> None:
    """keep_secrets (set by the engine) keeps the PASS argument."""
    parser = FtpParser(FLOW, Limits())
    parser.keep_secrets = True
    events: list[Event] = []
    for direction, data in LOGIN:
        events += parser.feed(direction, data, 0)
    assert [e.password for e in of(events, FtpLogin)] == [b"guest@example.com"]
    assert [c.arg for c in of(events, FtpCommand) if c.verb == b"PASS"] == [b"guest@example.com"]


def test_active_stor_with_rest_offset(split_feed: SplitFeed) -> None:
    """PORT announces the client's address (any server address may connect); REST marks a
    resumed upload."""
    events = split_feed(
        FtpParser,
        [
            *LOGIN,
            (ORIG, b"PORT 192,0,2,1,156,64\r\n"),
            (RESP, b"200 PORT command successful\r\n"),
            (ORIG, b"REST 100\r\n"),
            (RESP, b"350 Restarting at 100\r\n"),
            (ORIG, b"STOR /in/up.txt\r\n"),
            (RESP, b"150 Ok to send data\r\n226 Transfer complete\r\n"),
        ],
        flow=FLOW,
        strict=True,
    )
    [expect] = of(events, ExpectConnection)
    assert (expect.direction, expect.server_addr, expect.server_port, expect.client_addr) == (
        ORIG,
        "192.0.2.1",
        40000,
        None,
    )
    transfer = expect.context
    assert isinstance(transfer, FtpTransfer)
    assert (transfer.mode, transfer.direction, transfer.path, transfer.offset) == (
        "active",
        "upload",
        b"/in/up.txt",
        100,
    )


def test_epsv_and_eprt_on_ipv6(split_feed: SplitFeed) -> None:
    """EPSV names only a port (the control server's address); EPRT names an IPv6 address."""
    events = split_feed(
        FtpParser,
        [
            *LOGIN,
            (ORIG, b"EPSV\r\n"),
            (RESP, b"229 Entering Extended Passive Mode (|||50001|)\r\n"),
            (ORIG, b"LIST\r\n"),
            (RESP, b"150 Here comes the listing\r\n226 Directory send OK\r\n"),
            (ORIG, b"EPRT |2|2001:db8::1|40001|\r\n"),
            (RESP, b"200 EPRT command successful\r\n"),
            (ORIG, b"NLST -a\r\n"),
            (RESP, b"150 Here comes the listing\r\n226 Directory send OK\r\n"),
        ],
        flow=FLOW6,
        strict=True,
    )
    expects = of(events, ExpectConnection)
    assert [(e.server_addr, e.server_port, e.client_addr) for e in expects] == [
        ("2001:db8::21", 50001, "2001:db8::1"),
        ("2001:db8::1", 40001, None),
    ]
    assert [(e.context.command, e.context.mode, e.context.path) for e in expects] == [
        (b"LIST", "passive", None),
        (b"NLST", "active", None),
    ]


def test_abort_and_failure_replies_end_the_transfer(split_feed: SplitFeed) -> None:
    """ABOR (after Telnet IP/DM) marks the transfer aborted; 426 is its final reply; 451
    ends the next one."""
    events = split_feed(
        FtpParser,
        [
            *LOGIN,
            (ORIG, b"PASV\r\n"),
            (RESP, b"227 Entering Passive Mode (198,51,100,7,195,81)\r\n"),
            (ORIG, b"RETR big.iso\r\n"),
            (RESP, b"150 Opening data connection\r\n"),
            (ORIG, b"\xff\xf4\xff\xf2ABOR\r\n"),
            (RESP, b"426 Connection closed; transfer aborted\r\n226 ABOR successful\r\n"),
            (ORIG, b"PASV\r\n"),
            (RESP, b"227 Entering Passive Mode (198,51,100,7,195,82)\r\n"),
            (ORIG, b"RETR other\r\n"),
            (RESP, b"451 Local error\r\n"),
        ],
        flow=FLOW,
        strict=True,
    )
    ends = [e.transfer for e in of(events, TransferEnd)]
    assert [(t.argument, t.reply_code, t.aborted) for t in ends] == [
        (b"big.iso", 426, True),
        (b"other", 451, False),
    ]
    assert [c.verb for c in of(events, FtpCommand)][-3:] == [b"ABOR", b"PASV", b"RETR"]


def test_auth_tls_switches_protocol(split_feed: SplitFeed) -> None:
    """AUTH TLS answered by 234 hands the rest of the stream to TLS (RFC 4217 s4)."""
    events = split_feed(
        FtpParser,
        [
            (RESP, b"220 ready\r\n"),
            (ORIG, b"AUTH TLS\r\n"),
            (RESP, b"234 Proceed with negotiation.\r\n"),
            (ORIG, b"\x16\x03\x01\x00\x05hello"),
        ],
        flow=FLOW,
        strict=True,
    )
    [switch] = of(events, SwitchProtocol)
    assert (switch.to, switch.leftover, switch.leftover_other) == (
        "tls",
        b"",
        b"\x16\x03\x01\x00\x05hello",
    )


def test_pasv_address_in_another_network(split_feed: SplitFeed) -> None:
    """A private address behind NAT is an anomaly; the expectation keeps what was sent."""
    events = split_feed(
        FtpParser,
        [
            *LOGIN,
            (ORIG, b"PASV\r\n"),
            (RESP, b"227 Entering Passive Mode (10,1,2,3,195,80)\r\n"),
        ],
        flow=FLOW,
    )
    assert names(events) == ["ftp_pasv_address_mismatch"]
    [expect] = of(events, ExpectConnection)
    assert (expect.server_addr, expect.server_port) == ("10.1.2.3", 50000)


def test_garbage_replies_are_anomalies(split_feed: SplitFeed) -> None:
    """Lines that are no reply are reported and skipped; parsing goes on."""
    events = split_feed(
        FtpParser,
        [
            (RESP, b"220 ready\r\n"),
            (RESP, b"hello there\r\n\x00\x01\x02\r\n99 short\r\n"),
            (ORIG, b"NOOP\r\n"),
            (ORIG, b"\x01\x02 bad\r\n"),
            (RESP, b"200 OK\r\n"),
            Gap(RESP, 10),
            (RESP, b"tail of a cut line\r\n200 again\r\n"),
            End(RESP),
        ],
        flow=FLOW,
    )
    assert names(events) == [
        "ftp_bad_reply",
        "ftp_bad_reply",
        "ftp_bad_reply",
        "ftp_bad_command",
        "ftp_content_gap",
    ]
    assert [(r.code, r.verb) for r in of(events, FtpReply)] == [
        (220, None),
        (200, b"NOOP"),
        (200, None),
    ]


def test_ten_megabyte_line_is_dropped_and_parsing_resumes() -> None:
    """A 10 MB line: one anomaly, bounded buffer, the next command is parsed."""
    parser = FtpParser(FLOW, Limits())
    events: list[Event] = []
    line = b"STOR " + b"a" * (10 * 1024 * 1024) + b"\r\nNOOP\r\n"
    for start in range(0, len(line), 65536):
        events += parser.feed(ORIG, line[start : start + 65536], 1)
        assert parser.buffered_bytes() <= Limits().max_line + 65536
    assert names(events) == ["ftp_line_too_long"]
    assert [c.verb for c in of(events, FtpCommand)] == [b"NOOP"]
    whole = FtpParser(FLOW, Limits())
    once = whole.feed(ORIG, line, 1)
    assert names(once) == ["ftp_line_too_long"]
    assert [c.verb for c in of(once, FtpCommand)] == [b"NOOP"]


def test_address_parsers() -> None:
    """PORT/227, EPRT and LPRT/LPSV address forms, and bad ones."""
    assert _host_port(b"227 Entering Passive Mode (10,0,0,1,4,1)") == ("10.0.0.1", 1025)
    assert _host_port(b"10,0,0,300,4,1") is None
    assert _host_port(b"10,0,0,1,0,0") is None
    assert _extended_address(b"|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert _extended_address(b"!2!1080::8:800:200C:417A!5282!") == ("1080::8:800:200c:417a", 5282)
    assert _extended_address(b"|2|132.235.1.2|6275|") is None
    assert _extended_address(b"|1|1.2.3.4|0|") is None
    assert _extended_address(b"|") is None
    assert _long_address(b"228 Entering Long Passive Mode (4,4,10,0,0,1,2,4,1)") == (
        "10.0.0.1",
        1025,
    )
    assert _long_address(b"6,16," + b"0," * 15 + b"1,2,4,1") == ("::1", 1025)
    assert _long_address(b"4,4,10,0,0,1,3,4,1,1") is None


def test_probe_table() -> None:
    """Client first commands match; prefixes need more; others and server bytes do not."""
    assert probe(ORIG, b"USER anonymous\r\n") is Verdict.MATCH
    assert probe(ORIG, b"auth tls\r\n") is Verdict.MATCH
    assert probe(ORIG, b"FEAT\r\n") is Verdict.MATCH
    assert probe(ORIG, b"US") is Verdict.NEED_MORE
    assert probe(ORIG, b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH
    assert probe(RESP, b"220 ready\r\n") is Verdict.NO_MATCH
    assert ftp.SIGNATURES[0].pattern.match(b"220 (vsFTPd 3.0.3)\r\n") is not None
    assert ftp.SIGNATURES[0].pattern.match(b"220 mail ESMTP\r\n") is None


def test_data_parser_streams_bytes_after_its_transfer() -> None:
    """DataStart carries FlowInfo.context, then every chunk goes through unchanged."""
    transfer = FtpTransfer(
        mode="passive",
        data_addr="198.51.100.7",
        data_port=50000,
        control_uid="Wctl",
        server_addr="198.51.100.7",
        server_port=21,
        client_addr="192.0.2.1",
        user=None,
        cwd=None,
        type_=b"I",
    )
    parser = FtpDataParser(dataclasses.replace(FLOW, context=transfer), Limits())
    assert parser.feed(RESP, b"abc", 5) == [
        DataStart(direction=RESP, ts=5, transfer=transfer),
        DataChunk(direction=RESP, ts=5, data=b"abc"),
    ]
    assert parser.feed(RESP, b"def", 6) == [DataChunk(direction=RESP, ts=6, data=b"def")]
    assert parser.end(RESP, 7) == []
    assert FtpDataParser(FLOW, Limits()).end(ORIG, 1) == [
        DataStart(direction=ORIG, ts=1, transfer=None)
    ]


# -- through the engine ---------------------------------------------------------------------

CLIENT = "10.0.0.1"
SERVER = "10.0.0.2"
NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def registry() -> tuple[ProtocolSpec, ...]:
    """The registry with FTP ahead of POP3 (both take USER as a first command)."""
    out: list[ProtocolSpec] = []
    for spec in REGISTRY:
        if spec.name == "pop3":
            out += ftp.SPECS
        if spec.name not in ("ftp", "ftp-data"):
            out.append(spec)
    return tuple(out)


class Timeline:
    """Frames of several TCP sessions in the order the test writes them."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self._taken: dict[int, int] = {}

    def take(self, session: TcpSession) -> None:
        """Append the frames ``session`` emitted since the last take."""
        start = self._taken.get(id(session), 0)
        self.frames += [frame for _, frame in session.frames[start:]]
        self._taken[id(session)] = len(session.frames)

    def run(self, config: Config | None = None) -> tuple[Run, Engine]:
        sink = MemorySink()
        store = MemoryContentStore()
        engine = Engine(config or Config(), [sink], store=store, registry=registry())
        engine.keep_detections = True
        for index, frame in enumerate(self.frames):
            engine.process(T0 + index * 1000, 1, frame)
        return Run(sink, store, engine.finish()), engine


def control(line_pairs: list[tuple[bool, bytes]], session: TcpSession, tl: Timeline) -> None:
    for from_client, data in line_pairs:
        session.send(from_client, data)
    tl.take(session)


CONTENT = bytes(range(256)) * 40 + b"tail"


def ftp_files(run: Run) -> list[dict[str, Any]]:
    return [p for p in run.passports if p["kind"] == "file" and p["protocol"] == "ftp"]


def passive_session(*, syn_first: bool, pasv_host: str = "10,0,0,2") -> Timeline:
    """Login, PASV, RETR; the data connection's SYN before or after the 227 reply."""
    tl = Timeline()
    ctl = TcpSession((CLIENT, 40000), (SERVER, 21))
    data = TcpSession((CLIENT, 40001), (SERVER, 50000))
    ctl.handshake()
    control(
        [
            (False, b"220 FTP server ready\r\n"),
            (True, b"USER alice\r\n"),
            (False, b"331 Password required\r\n"),
            (True, b"PASS secret\r\n"),
            (False, b"230 Logged in\r\n"),
            (True, b"PASV\r\n"),
        ],
        ctl,
        tl,
    )
    if syn_first:
        data.handshake()
        tl.take(data)
    ctl.send(False, f"227 Entering Passive Mode ({pasv_host},195,80)\r\n".encode())
    ctl.send(True, b"RETR /pub/report.pdf\r\n")
    ctl.send(False, b"150 Opening BINARY mode data connection (10244 bytes)\r\n")
    tl.take(ctl)
    if not syn_first:
        data.handshake()
    data.send(False, CONTENT, segment_size=1000)
    data.fin(False)
    data.fin(True)
    tl.take(data)
    ctl.send(False, b"226 Transfer complete\r\n")
    ctl.fin(True)
    ctl.fin(False)
    tl.take(ctl)
    return tl


@pytest.mark.parametrize("syn_first", [False, True])
def test_engine_passive_download(syn_first: bool) -> None:
    """The data connection is FTP by expectation, whether its SYN precedes the 227 or not."""
    run, engine = passive_session(syn_first=syn_first).run()
    [passport] = ftp_files(run)
    meta = passport["file"]
    assert (meta["command"], meta["name"], meta["path"], meta["mode"]) == (
        "RETR",
        "report.pdf",
        "/pub/report.pdf",
        "passive",
    )
    assert (meta["user"], meta["reply_code"], meta["announced_size"], meta["size"]) == (
        "alice",
        226,
        10244,
        10244,
    )
    assert meta["server"] == {"addr": SERVER, "port": 21}
    assert (passport["direction"], passport["complete"]) == ("download", True)
    assert passport["flow"]["client"] == {"addr": CLIENT, "port": 40001}
    assert passport["flow"]["server"] == {"addr": SERVER, "port": 50000}
    assert passport["parties"] == {"account": "alice"}
    [item] = passport["contents"]
    assert (item["role"], item["name"], item["size"]) == ("file", "report.pdf", 10244)
    assert run.content(item) == CONTENT
    assert meta["control_flow"] == next(
        flow.uid for flow, d in engine.detections if d.protocol == "ftp"
    )
    reasons = [(d.protocol, d.confidence) for _, d in engine.detections if d.protocol == "ftp-data"]
    assert reasons == [("ftp-data", Confidence.EXPECTED)]


def test_engine_data_bytes_before_the_announcement() -> None:
    """Data captured before the 227 reply is held by detection and claimed late."""
    tl = Timeline()
    ctl = TcpSession((CLIENT, 40000), (SERVER, 21))
    data = TcpSession((CLIENT, 40001), (SERVER, 50000))
    ctl.handshake()
    control([(False, b"220 FTP ready\r\n"), (True, b"USER bob\r\n")], ctl, tl)
    ctl.send(False, b"331 Password\r\n")
    ctl.send(True, b"PASS x\r\n")
    ctl.send(False, b"230 OK\r\n")
    ctl.send(True, b"PASV\r\n")
    tl.take(ctl)
    data.handshake()
    data.send(False, b"early bytes")
    tl.take(data)
    control(
        [
            (False, b"227 Entering Passive Mode (10,0,0,2,195,80)\r\n"),
            (True, b"RETR a.txt\r\n"),
            (False, b"150 Opening\r\n"),
        ],
        ctl,
        tl,
    )
    data.send(False, b" and the rest")
    data.fin(False)
    tl.take(data)
    control([(False, b"226 Done\r\n")], ctl, tl)
    run, _ = tl.run()
    [passport] = ftp_files(run)
    assert run.content(passport["contents"][0]) == b"early bytes and the rest"
    assert (passport["file"]["name"], passport["complete"]) == ("a.txt", True)


def test_engine_active_upload_records_roles() -> None:
    """Active mode: the server opens the data connection to the client's announced port."""
    tl = Timeline()
    ctl = TcpSession((CLIENT, 40000), (SERVER, 21))
    data = TcpSession((SERVER, 20), (CLIENT, 40100))
    ctl.handshake()
    control(
        [
            (False, b"220 FTP ready\r\n"),
            (True, b"USER carol\r\n"),
            (False, b"230 OK\r\n"),
            (True, b"TYPE I\r\n"),
            (False, b"200 Type set\r\n"),
            (True, b"PORT 10,0,0,1,156,164\r\n"),
            (False, b"200 PORT ok\r\n"),
            (True, b"STOR up.bin\r\n"),
            (False, b"150 Ok to send data\r\n"),
        ],
        ctl,
        tl,
    )
    data.handshake()
    data.send(False, b"uploaded content")  # the TCP responder (the FTP client) sends it
    data.fin(False)
    data.fin(True)
    tl.take(data)
    control([(False, b"226 Transfer complete\r\n")], ctl, tl)
    run, _ = tl.run()
    [passport] = ftp_files(run)
    meta = passport["file"]
    assert (meta["mode"], meta["command"], meta["type"], passport["direction"]) == (
        "active",
        "STOR",
        "I",
        "upload",
    )
    assert passport["flow"]["client"] == {"addr": SERVER, "port": 20}
    assert passport["flow"]["server"] == {"addr": CLIENT, "port": 40100}
    assert (meta["server"], meta["client_addr"]) == ({"addr": SERVER, "port": 21}, CLIENT)
    assert run.content(passport["contents"][0]) == b"uploaded content"
    assert passport["complete"] is True


def test_engine_nat_pasv_address() -> None:
    """A server announcing a private address still gets its data connection (NAT fallback)."""
    run, _ = passive_session(syn_first=False, pasv_host="192,168,7,7").run()
    [passport] = ftp_files(run)
    assert passport["file"]["data_endpoint"] == {"addr": "192.168.7.7", "port": 50000}
    assert run.content(passport["contents"][0]) == CONTENT
    assert "ftp_pasv_address_mismatch" in run.stats.anomalies


def test_engine_incomplete_transfer_and_listing() -> None:
    """A listing is a file object with role "listing"; a 426 leaves a transfer incomplete."""
    tl = Timeline()
    ctl = TcpSession((CLIENT, 40000), (SERVER, 21))
    listing = TcpSession((CLIENT, 40001), (SERVER, 50000))
    cut = TcpSession((CLIENT, 40002), (SERVER, 50001))
    ctl.handshake()
    control(
        [
            (False, b"220 FTP ready\r\n"),
            (True, b"PASV\r\n"),
            (False, b"227 Entering Passive Mode (10,0,0,2,195,80)\r\n"),
            (True, b"LIST\r\n"),
            (False, b"150 Here comes the listing\r\n"),
        ],
        ctl,
        tl,
    )
    listing.handshake()
    listing.send(False, b"-rw-r--r-- 1 ftp ftp 4 a.txt\r\n")
    listing.fin(False)
    listing.fin(True)
    tl.take(listing)
    control(
        [
            (False, b"226 Directory send OK\r\n"),
            (True, b"PASV\r\n"),
            (False, b"227 Entering Passive Mode (10,0,0,2,195,81)\r\n"),
            (True, b"RETR big\r\n"),
            (False, b"150 Opening (5000 bytes)\r\n"),
        ],
        ctl,
        tl,
    )
    cut.handshake()
    cut.send(False, b"x" * 100)
    cut.rst(False)
    tl.take(cut)
    control([(False, b"426 Connection closed; transfer aborted\r\n")], ctl, tl)
    run, _ = tl.run()
    first, second = ftp_files(run)
    assert (first["file"]["command"], first["contents"][0]["role"], first["complete"]) == (
        "LIST",
        "listing",
        True,
    )
    assert (second["file"]["reply_code"], second["complete"]) == (426, False)
    assert second["contents"][0]["expected_size"] == 5000


def test_engine_keep_secrets_and_empty_file() -> None:
    """An empty file (no data byte) is still an object; passwords stay out by default."""
    tl = Timeline()
    ctl = TcpSession((CLIENT, 40000), (SERVER, 21))
    data = TcpSession((CLIENT, 40001), (SERVER, 50000))
    ctl.handshake()
    control(
        [
            (False, b"220 FTP ready\r\n"),
            (True, b"PASV\r\n"),
            (False, b"227 Entering Passive Mode (10,0,0,2,195,80)\r\n"),
            (True, b"RETR empty\r\n"),
            (False, b"150 Opening\r\n"),
        ],
        ctl,
        tl,
    )
    data.handshake()
    data.fin(False)
    data.fin(True)
    tl.take(data)
    control([(False, b"226 Done\r\n")], ctl, tl)
    run, _ = tl.run(Config(output=OutputConfig(keep_secrets=True)))
    [passport] = ftp_files(run)
    assert (passport["file"]["size"], passport["complete"]) == (0, True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_never_raise(seed: int) -> None:
    """Arbitrary bytes in both directions: no exception, buffers within max_line."""
    rng = random.Random(seed)
    limits = Limits(max_line=512)
    parser = FtpParser(FLOW, limits)
    alphabet = b"0123456789 -\r\n|(),PASVEPRTUSERETR\xff\x00"
    for step in range(400):
        size = rng.randint(0, 300)
        data = bytes(rng.choice(alphabet) for _ in range(size))
        parser.feed(Direction(step % 2), data, step)
        assert parser.buffered_bytes() <= 2 * (limits.max_line + 2)
    parser.end(ORIG, 500)
    parser.end(RESP, 500)
