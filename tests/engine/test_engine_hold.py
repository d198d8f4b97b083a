"""Body segments joined before parsing (Engine's hold) change nothing in the objects."""

from __future__ import annotations

import gzip
import hashlib
import random
from typing import Any

import pytest

from tests.conftest import corpus_captures, corpus_path
from tests.engine.helpers import Run, body, run_capture, run_frames
from tests.pcapgen import TcpSession
from wiresift import engine as engine_module
from wiresift.engine import HOLD_BYTES_PER_FLOW, HOLD_BYTES_TOTAL, Engine
from wiresift.extract.files import NullStore
from wiresift.protocols.ftp.parser import FtpDataParser
from wiresift.protocols.http1.parser import HttpParser


def _no_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    for parser in (HttpParser, FtpDataParser):
        monkeypatch.setattr(parser, "body_run", lambda self, direction: 0)


def _response(payload: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + payload


def _chunked(payload: bytes, size: int) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + size]), payload[i : i + size])
        for i in range(0, len(payload), size)
    )
    return out + b"0\r\n\r\n"


def _payload() -> bytes:
    return random.Random(7).randbytes(300_000)


def _mixed_frames() -> list[tuple[int, bytes]]:
    """Keep-alive, pipelining, chunked, gzip, close-delimited and an upload, in odd cuts."""
    big = _payload()
    frames: list[tuple[int, bytes]] = []
    s = TcpSession(start_ns=1_700_000_000 * 10**9)
    s.handshake()
    s.send(True, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
    s.send(False, _response(big, f"Content-Length: {len(big)}"), 1448)
    s.send(True, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n")
    s.send(
        False,
        _response(_chunked(big[:90_000], 7_000), "Transfer-Encoding: chunked")
        + _response(
            gzip.compress(big[:50_000]),
            f"Content-Length: {len(gzip.compress(big[:50_000]))}",
            "Content-Encoding: gzip",
        ),
        1000,
    )
    s.send(
        True,
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 120000\r\n\r\n" + big[:120_000],
        1448,
    )
    s.send(False, _response(b"ok", "Content-Length: 2"))
    s.send(True, b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")
    s.send(False, b"HTTP/1.0 200 OK\r\n\r\n" + big[:200_000], 1448)
    s.fin(False)
    s.fin(True)
    frames += s.frames
    return frames


def _comparable(run: Run) -> list[dict[str, Any]]:
    return sorted(run.passports, key=lambda p: str(p["id"]))


def test_joined_body_segments_give_identical_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _mixed_frames()
    calls = {"held": 0, "fed": 0}
    runs: dict[str, Run] = {}
    feed = HttpParser.feed
    for mode in calls:

        def counting(self: HttpParser, *args: Any, mode: str = mode) -> Any:
            calls[mode] += 1
            return feed(self, *args)

        with monkeypatch.context() as patch:
            patch.setattr(HttpParser, "feed", counting)
            if mode == "fed":
                _no_hold(patch)
            runs[mode] = run_frames(frames)
    held, fed = runs["held"], runs["fed"]
    assert calls["held"] * 5 < calls["fed"]  # the segments were joined
    assert _comparable(held) == _comparable(fed)
    objects = held.http()
    assert [o["http"]["uri"] for o in objects] == ["/a", "/b", "/c", "/up", "/d"]
    assert body(objects[0])["sha256"] == hashlib.sha256(_payload()).hexdigest()
    # The last byte's time and frame are the last segment's, whichever way it was fed.
    assert objects[0]["ts_last_ns"] == fed.http()[0]["ts_last_ns"]
    assert objects[0]["source"] == fed.http()[0]["source"]


def _edge_frames(case: str) -> list[tuple[int, bytes]]:
    s = TcpSession()
    s.handshake()
    s.send(True, b"GET /e HTTP/1.1\r\nHost: h\r\n\r\n")
    s.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 3001\r\n\r\n")
    body = bytes(range(256)) * 12
    if case == "run used up exactly":
        s.send(False, body[:3000], 1000)  # the run is 3000: the third segment ends it
        s.send(False, body[3000:3001])
    elif case == "hole after the run":
        s.send(False, body[:3000], 1000)
        s.skip(False, 1)  # the last byte never captured
        s.send(True, b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
    elif case == "hole inside the run":
        s.send(False, body[:1000])
        s.skip(False, 500)
        s.send(False, body[1500:3001], 700)
    elif case == "the other side talks in between":
        s.send(False, body[:1500], 500)
        s.send(True, b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
        s.send(False, body[1500:3001], 500)
        s.send(False, b"HTTP/1.1 204 No Content\r\n\r\n")
    elif case == "reset in mid-body":
        s.send(False, body[:2000], 400)
        s.rst(False)
        return s.frames
    s.fin(True)
    s.fin(False)
    return s.frames


@pytest.mark.parametrize(
    "case",
    [
        "run used up exactly",
        "hole after the run",
        "hole inside the run",
        "the other side talks in between",
        "reset in mid-body",
    ],
)
def test_edges_of_a_run_give_identical_objects(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _edge_frames(case)
    held = run_frames(frames)
    with monkeypatch.context() as patch:
        _no_hold(patch)
        fed = run_frames(frames)
    assert held.http()
    assert _comparable(held) == _comparable(fed)
    assert held.stats.anomalies == fed.stats.anomalies


def test_held_bytes_stay_under_the_engine_cap() -> None:
    """Many connections in mid-body at once: what is held for all of them is bounded."""
    engine = Engine(store=NullStore())
    peak = 0
    sessions = []
    for index in range(400):
        s = TcpSession(client=(f"10.1.{index >> 8}.{index & 255}", 40000 + index))
        s.handshake()
        s.send(True, b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        s.send(False, _response(bytes(60_000), "Content-Length: 10000000"), 1448)
        sessions.append(s)
    for s in sessions:
        for ts, frame in s.frames:
            engine.process(ts, 1, frame)
            peak = max(peak, engine._held)
    assert HOLD_BYTES_TOTAL - HOLD_BYTES_PER_FLOW <= peak <= HOLD_BYTES_TOTAL
    stats = engine.finish()
    assert engine._held == 0
    assert stats.objects["http"] == 400


@pytest.mark.corpus
@pytest.mark.parametrize("capture", corpus_captures("http", "tcp", "vlan", "websocket", "ftp"))
def test_corpus_objects_do_not_depend_on_joining(
    capture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = corpus_path("pcaps", capture)
    held = run_capture(path)
    with monkeypatch.context() as patch:
        _no_hold(patch)
        fed = run_capture(path)
    assert _comparable(held) == _comparable(fed)
    assert held.store.blobs == fed.store.blobs


def test_hold_limits_are_named() -> None:
    assert engine_module.HOLD_BYTES_PER_FLOW < engine_module.HOLD_BYTES_TOTAL
