"""The engine contains a broken parser to its flow, and hands switched streams on."""

from __future__ import annotations

import pytest

from tests.engine.helpers import run_frames
from tests.engine.test_engine_http import get, response
from tests.pcapgen import TcpSession
from wiresift.config import Config
from wiresift.engine import Engine, ParserCrashError
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Direction, Event, Parser, ProtocolSpec


class _Exploding(Parser):
    """A parser with a bug: it raises on the first bytes."""

    name = "boom"

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        raise ValueError("bug")


BOOM = ProtocolSpec(
    name="boom",
    transport="tcp",
    ports=frozenset({7}),
    parser=_Exploding,
    signatures=(),
    probe=None,
    mid_stream=True,
)


def _session(port: int, path: str, start_ns: int) -> list[tuple[int, bytes]]:
    s = TcpSession(server=("10.0.0.2", port), start_ns=start_ns)
    s.handshake()
    s.send(True, get(path) if port == 80 else b"\x00\x01 not http at all\r\n")
    s.send(False, response(b"fine") if port == 80 else b"\x02 binary")
    s.fin(True)
    s.fin(False)
    return s.frames


def _engine(config: Config) -> tuple[Engine, MemorySink]:
    sink = MemorySink()
    return Engine(config, [sink], store=MemoryContentStore(), registry=(*REGISTRY, BOOM)), sink


def test_a_crashing_parser_is_switched_off_for_its_flow_only() -> None:
    """A parser that raises yields parser_crash; the HTTP flow beside it is untouched."""
    engine, sink = _engine(Config())
    frames = _session(7, "", 1_700_000_000_000_000_000)
    frames += _session(80, "/ok", frames[-1][0] + 1000)
    for ts, frame in frames:
        engine.process(ts, 1, frame)
    stats = engine.finish()
    assert stats.anomalies["parser_crash"] == 1
    assert [r.kind for r in sink.records] == ["http"]
    assert stats.protocols == {"boom": 1, "http": 1}


def test_strict_mode_raises_on_a_parser_crash() -> None:
    """Under strict, the bug surfaces as ParserCrashError."""
    engine, _ = _engine(Config(strict=True))
    frames = _session(7, "", 1_700_000_000_000_000_000)
    # The protocol is chosen (by port) once both sides have spoken: the server's first bytes.
    for ts, frame in frames[:4]:
        engine.process(ts, 1, frame)
    ts, frame = frames[4]
    with pytest.raises(ParserCrashError):
        engine.process(ts, 1, frame)


def test_websocket_upgrade_is_handed_off_and_counted() -> None:
    """After 101 Switching Protocols the HTTP object is emitted and the rest of the stream
    goes to the WebSocket parser (one object per message)."""
    s = TcpSession()
    s.handshake()
    s.send(
        True,
        b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    s.send(
        False,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        + b"\x81\x05hello",
    )
    s.send(True, b"\x81\x85abcd" + bytes(5))
    s.fin(False)
    run = run_frames(s.frames)
    (obj,) = run.http()
    assert obj["http"]["status"] == 101
    assert run.stats.protocols == {"http": 1}
    assert [p["kind"] for p in run.passports] == ["http", "websocket", "websocket"]
