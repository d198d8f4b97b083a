"""HTTP/2 captures through the engine: what corpus MANIFEST.tsv and the Suricata/TShark
expectations named there state, plus a generated capture with a gzip body."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hpack import Encoder

from tests.conftest import corpus_path
from tests.pcapgen import TcpSession
from wiresift import engine as engine_module
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.web import Http2Builder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import http1, http2
from wiresift.protocols.http2 import frames as f


@pytest.fixture(autouse=True)
def http2_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine builds HTTP/2 objects with Http2Builder."""
    monkeypatch.setitem(engine_module.BUILDERS, "http2", Http2Builder)  # type: ignore[arg-type]


def run(path: Path) -> list[dict[str, Any]]:
    """HTTP passports of a capture, read with http1 and http2 registered."""
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=(http1.SPEC, http2.SPEC))
    source = open_source(path)
    try:
        engine.run(source)
    finally:
        source.close()
    engine.finish()
    return [r.to_json() for r in sink.records]


def http2_objects(path: Path) -> list[dict[str, Any]]:
    """The passports of HTTP/2 streams."""
    return [p for p in run(path) if p["kind"] == "http" and p["protocol"] == "http2"]


def summary(passports: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """(stream, method, host, uri, status) of each passport, by stream id."""
    rows = [
        (m["stream_id"], m["method"], m["host"], m["uri"], m["status"])
        for m in (p["http"] for p in passports)
    ]
    return sorted(rows, key=lambda row: str(row[0]).zfill(6))


def sizes(passports: list[dict[str, Any]], role: str) -> list[int]:
    """Sizes of the content items with ``role``, in stream order."""
    ordered = sorted(passports, key=lambda p: int(p["http"]["stream_id"]))
    return [c["size"] for p in ordered for c in p["contents"] if c["role"] == role]


def test_generated_gzip_body(tmp_path: Path) -> None:
    """A gzip body on an HTTP/2 stream is decoded by the HTTP object builder."""
    body = b"hello http2 " * 100
    encoded = gzip.compress(body, mtime=0)
    client, server = Encoder(), Encoder()
    request = [(":method", "GET"), (":path", "/f.txt"), (":scheme", "http"), (":authority", "h")]
    response = [(":status", "200"), ("content-encoding", "gzip")]
    session = TcpSession(server=("10.0.0.2", 8081))
    session.handshake()
    session.send(True, f.PREFACE + f.build_frame(f.SETTINGS, 0, 0, b""))
    session.send(False, f.build_frame(f.SETTINGS, 0, 0, b""))
    session.send(True, f.build_frame(f.HEADERS, 5, 1, bytes(client.encode(request))))
    session.send(False, f.build_frame(f.HEADERS, 4, 1, bytes(server.encode(response))))
    session.send(False, f.build_frame(f.DATA, 1, 1, encoded), segment_size=100)
    session.fin(True)
    session.fin(False)
    session.write_pcap(tmp_path / "h2.pcap")
    (passport,) = http2_objects(tmp_path / "h2.pcap")
    meta = passport["http"]
    assert (meta["stream_id"], meta["url"], meta["status"]) == (1, "http://h/f.txt", 200)
    assert passport["complete"] is True
    decoded = [c for c in passport["contents"] if c["role"] == "response-body"]
    assert [(c["size"], c["sha256"]) for c in decoded] == [
        (len(body), hashlib.sha256(body).hexdigest())
    ]


@pytest.mark.corpus
def test_nghttp2_push_promise() -> None:
    """Arkime: nghttp on stream 13 gets / and a pushed stylesheet; both sha256 as stated."""
    passports = http2_objects(corpus_path("pcaps", "http2", "arkime-http2-nghttp2.pcap"))
    assert summary(passports) == [
        (2, "GET", "nghttp2.org", "/stylesheets/screen.css", 200),
        (13, "GET", "nghttp2.org", "/", 200),
    ]
    hashes = {c["sha256"] for p in passports for c in p["contents"]}
    assert hashes == {
        "80d4404b834c034238ac2e3caeb3a6f24dd093432fd13c5f0e64da9b0d9334bb",
        "cfd844f4f94b56e0d93d6ad47530ba9030cc8d8e41ad6ae53b30fe930efa774f",
    }


@pytest.mark.corpus
def test_ndpi_prior_knowledge_post() -> None:
    """nDPI: one POST /namf-comm/v1/subscriptions on tcp/29518 answered 201."""
    passports = http2_objects(corpus_path("pcaps", "http2", "ndpi-http2.pcapng"))
    assert summary(passports) == [
        (3, "POST", "127.0.0.1:29518", "/namf-comm/v1/subscriptions", 201)
    ]


@pytest.mark.corpus
def test_dns_over_http2_posts() -> None:
    """Suricata doh2: 34 POST /dns-query to mozilla.cloudflare-dns.com (TShark)."""
    passports = http2_objects(corpus_path("pcaps", "http2", "suri-dns-over-http2-post.pcap"))
    rows = summary(passports)
    assert len(rows) == 34
    assert {row[1:] for row in rows} == {("POST", "mozilla.cloudflare-dns.com", "/dns-query", 200)}


@pytest.mark.corpus
def test_bugfixes_gzip_and_brotli_sizes() -> None:
    """Suricata: fileinfo sizes 639 (gzip) and 880 (brotli), no anomaly, 4 requests."""
    passports = http2_objects(corpus_path("pcaps", "http2", "suri-http2-bugfixes.pcap"))
    assert [row[3] for row in summary(passports)] == [
        "/robots.txt",
        "/youtubei/v1/log_event?alt=json&key=AIzaSyAO_FJ2SlqU8Q4STEHLGCilw_Y9_11qcW8",
        "/favicon.ico",
        "/sw.js",
    ]
    assert sizes(passports, "response-body") == [639, 28, 1150, 880]
    assert all(not p["anomalies"] for p in passports)


@pytest.mark.corpus
def test_chrome_session() -> None:
    """Suricata: the decrypted Chrome 107 session has 5 exchanges (TShark), no anomaly."""
    passports = http2_objects(corpus_path("pcaps", "http2", "suri-http2-compression-bug.pcap"))
    rows = summary(passports)
    assert [row[1:3] for row in rows] == [("GET", "ogs.google.com")] + [
        ("POST", "play.google.com")
    ] * 4
    assert all(p["complete"] and not p["anomalies"] for p in passports)


@pytest.mark.corpus
def test_continuation_headers() -> None:
    """Suricata: the request header block spans CONTINUATION frames; field 6 survives."""
    (passport,) = http2_objects(corpus_path("pcaps", "http2", "suri-http2-continuation.pcap"))
    meta = passport["http"]
    assert (meta["method"], meta["host"], meta["uri"]) == ("GET", "127.0.0.1:8080", "/tata")
    assert meta["request_headers"][6] == ["namename" * 5, "value" * 20]
    assert passport["anomalies"] == []


@pytest.mark.corpus
def test_deflate_h2c() -> None:
    """Suricata: h2c upgrade, a deflate body of 30 bytes decoded to 20 (fileinfo.size)."""
    passports = run(corpus_path("pcaps", "http2", "suri-http2-deflate.pcap"))
    assert [(p["protocol"], p["http"]["status"]) for p in passports] == [
        ("http", 101),
        ("http2", 200),
    ]
    stream = passports[1]
    assert stream["http"]["response_version"] == "2"
    assert sizes([stream], "response-body") == [20]
    assert stream["http"]["response_body_bytes"] == 30


@pytest.mark.corpus
def test_keywords_six_streams() -> None:
    """Suricata keywords capture: the manual page and its five assets."""
    passports = http2_objects(corpus_path("pcaps", "http2", "suri-http2-keywords.pcap"))
    assert [row[3] for row in summary(passports)] == [
        "/doc/manual/html/index.html",
        "/doc/manual/html/_static/css/theme.css",
        "/doc/manual/html/_static/jquery.js",
        "/doc/manual/html/_static/underscore.js",
        "/doc/manual/html/_static/doctools.js",
        "/doc/manual/html/_static/js/theme.js",
    ]


@pytest.mark.corpus
def test_long_frame() -> None:
    """Suricata: long_frame_data anomaly, and the request for /malware/payload.exe."""
    passports = http2_objects(corpus_path("pcaps", "http2", "suri-http2-long-frame.pcap"))
    assert [(row[2], row[3]) for row in summary(passports)] == [
        ("target.com", "/"),
        ("evil.com", "/malware/payload.exe"),
    ]
    assert passports[0]["anomalies"] == ["http2_frame_too_large"]


@pytest.mark.corpus
def test_range_h2c() -> None:
    """Suricata: Content-Range bytes 10-20/69 over HTTP/1; the eicar file joined to 69."""
    passports = run(corpus_path("pcaps", "http2", "suri-http2-range.pcap"))
    streams = [p for p in passports if p["protocol"] == "http2"]
    assert [p["http"]["status"] for p in streams] == [206, 206, 206]
    ranges = [p for p in passports if p["protocol"] == "http" and p["kind"] == "http"]
    assert "bytes 10-20/69" in [
        p["http"].get("content_range", {}).get("raw", "")
        or "bytes {start}-{end}/{total}".format(**p["http"]["content_range"])
        for p in ranges
        if "content_range" in p["http"]
    ]
    joined = [p for p in passports if p["kind"] == "file"]
    assert [c["size"] for p in joined for c in p["contents"]] == [69]
