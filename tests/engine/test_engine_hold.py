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
from wiresift.config import Config, Limits
from wiresift.engine import Engine
from wiresift.extract.files import NullStore
from wiresift.outputs.memory import MemoryContentStore, MemorySink

# Every segment fed on its own: the reference the joined runs are compared with.
UNJOINED = Config(limits=Limits(join_body_bytes=1))


def _run(frames: list[tuple[int, bytes]], config: Config) -> tuple[Run, int]:
    """The run, and the most bytes held at once between two packets."""
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(config, [sink], store=store, source_name="test")
    peak = 0
    for ts, frame in frames:
        engine.process(ts, 1, frame)
        peak = max(peak, engine.held_bytes)
    return Run(sink, store, engine.finish()), peak


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


def test_joined_body_segments_give_identical_objects() -> None:
    frames = _mixed_frames()
    held, held_peak = _run(frames, Config())
    fed, fed_peak = _run(frames, UNJOINED)
    assert held_peak > 60_000  # segments were joined (up to the 64 KiB per flow) ...
    assert fed_peak == 0  # ... and were not in the reference run
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
def test_edges_of_a_run_give_identical_objects(case: str) -> None:
    frames = _edge_frames(case)
    held, peak = _run(frames, Config())
    fed = run_frames(frames, UNJOINED)
    assert peak > 0
    assert held.http()
    assert _comparable(held) == _comparable(fed)
    assert held.stats.anomalies == fed.stats.anomalies


def test_imap_literal_segments_are_joined_with_the_same_mail() -> None:
    message = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n\r\n"
        + b"line of the body\r\n" * 12_000
    )
    s = TcpSession(server=("10.0.0.2", 143))
    s.handshake()
    s.send(False, b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
    s.send(True, b"a1 LOGIN user pass\r\n")
    s.send(False, b"a1 OK logged in\r\n")
    s.send(True, b"a2 SELECT INBOX\r\n")
    s.send(False, b"* 1 EXISTS\r\na2 OK [READ-WRITE] done\r\n")
    s.send(True, b"a3 FETCH 1 BODY[]\r\n")
    fetch = b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\na3 OK done\r\n" % (len(message), message)
    s.send(False, fetch, 1448)
    s.fin(True)
    s.fin(False)
    held, peak = _run(s.frames, Config())
    fed, _ = _run(s.frames, UNJOINED)
    assert peak > 60_000
    (mail,) = [p for p in held.passports if p["kind"] == "email"]
    assert mail["email"]["subject"] == "big"
    (raw,) = [c for c in mail["contents"] if c["role"] == "message"]
    assert raw["sha256"] == hashlib.sha256(message).hexdigest()
    assert _comparable(held) == _comparable(fed)


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
            peak = max(peak, engine.held_bytes)
    limits = Limits()
    assert limits.join_body_total - limits.join_body_bytes <= peak <= limits.join_body_total
    stats = engine.finish()
    assert engine.held_bytes == 0
    assert stats.objects["http"] == 400


@pytest.mark.corpus
@pytest.mark.parametrize(
    "capture", corpus_captures("http", "tcp", "vlan", "websocket", "ftp", "imap", "tls", "socks")
)
def test_corpus_objects_do_not_depend_on_joining(capture: str) -> None:
    path = corpus_path("pcaps", capture)
    held = run_capture(path)
    fed = run_capture(path, UNJOINED)
    assert _comparable(held) == _comparable(fed)
    assert held.store.blobs == fed.store.blobs
