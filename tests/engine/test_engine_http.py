"""End to end: generated TCP sessions in, HTTP objects out, every passport schema-valid."""

from __future__ import annotations

import gzip
import hashlib
import random

from tests.engine.helpers import body, run_frames
from tests.pcapgen import TcpSession
from wiresift.config import Config, Limits


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def response(body_bytes: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body_bytes)}\r\n"
    head += "".join(h + "\r\n" for h in headers)
    return head.encode() + b"\r\n" + body_bytes


def get(path: str = "/index.html", host: str = "example.test") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t/1\r\n\r\n".encode()


PAYLOAD = bytes(random.Random(7).randbytes(20_000))


def test_simple_get_yields_one_object_with_the_exact_body() -> None:
    """One GET and its 20 KB response become one http object holding the body's sha256."""
    s = TcpSession()
    s.handshake()
    s.send(True, get("/files/report.bin"))
    s.send(False, response(PAYLOAD, "Content-Type: application/octet-stream"), 1448)
    s.fin(True)
    s.fin(False)
    run = run_frames(s.frames)
    (obj,) = run.http()
    assert obj["http"]["method"] == "GET"
    assert obj["http"]["url"] == "http://example.test/files/report.bin"
    assert obj["http"]["status"] == 200
    assert obj["complete"] is True
    assert obj["direction"] == "download"
    item = body(obj)
    assert item["sha256"] == sha(PAYLOAD)
    assert item["size"] == len(PAYLOAD)
    assert item["name"] == "report.bin"
    assert item["complete"] is True
    assert run.content(item) == PAYLOAD
    assert obj["flow"]["client"] == {"addr": "10.0.0.1", "port": 40000}
    assert obj["flow"]["server"] == {"addr": "10.0.0.2", "port": 80}
    assert obj["anomalies"] == []


def test_pipelined_requests_pair_in_order() -> None:
    """Three pipelined requests sent at once get their three responses, in order."""
    s = TcpSession()
    s.handshake()
    s.send(True, get("/a") + get("/b") + get("/c"))
    s.send(False, response(b"A" * 10) + response(b"B" * 20) + response(b"C" * 30), 17)
    s.fin(True)
    s.fin(False)
    objs = run_frames(s.frames).http()
    assert [o["http"]["uri"] for o in objs] == ["/a", "/b", "/c"]
    assert [body(o)["size"] for o in objs] == [10, 20, 30]


def test_gzip_body_keeps_decoded_and_wire_forms() -> None:
    """A gzip response is stored decoded (the object) and as sent (the encoded item)."""
    wire = gzip.compress(PAYLOAD, mtime=0)
    s = TcpSession()
    s.handshake()
    s.send(True, get("/z.txt"))
    s.send(False, response(wire, "Content-Encoding: gzip"), 1000)
    s.fin(False)
    (obj,) = run_frames(s.frames).http()
    decoded = body(obj)
    encoded = body(obj, "response-body-encoded")
    assert decoded["sha256"] == sha(PAYLOAD)
    assert decoded["encodings"] == ["gzip"]
    assert encoded["sha256"] == sha(wire)
    assert obj["http"]["content_encoding"] == ["gzip"]


def test_out_of_order_and_retransmitted_segments_give_the_same_body() -> None:
    """Reordering and duplicating the response's segments changes nothing in the object."""
    s = TcpSession()
    s.handshake()
    s.send(True, get())
    start = len(s.frames)
    s.send(False, response(PAYLOAD), 1448)
    data_frames = s.frames[start:]
    rng = random.Random(3)
    shuffled = data_frames + rng.sample(data_frames, 4)
    rng.shuffle(shuffled)
    s.frames[start:] = shuffled
    s.retime()
    s.fin(False)
    run = run_frames(s.frames)
    (obj,) = run.http()
    assert body(obj)["sha256"] == sha(PAYLOAD)
    assert body(obj)["complete"] is True


def test_hole_in_body_is_a_gap_at_its_offset() -> None:
    """A segment never captured becomes a gap of its exact size; the object is incomplete."""
    s = TcpSession()
    s.handshake()
    s.send(True, get())
    head = response(PAYLOAD)[: -len(PAYLOAD)]
    s.send(False, head)
    s.send(False, PAYLOAD[:5000])
    s.skip(False, 3000)
    s.send(False, PAYLOAD[8000:])
    s.fin(False)
    s.fin(True)
    run = run_frames(s.frames)
    (obj,) = run.http()
    item = body(obj)
    assert item["gaps"] == [{"offset": 5000, "size": 3000}]
    assert item["complete"] is False
    assert item["size"] == len(PAYLOAD) - 3000
    assert run.content(item) == PAYLOAD[:5000] + PAYLOAD[8000:]
    assert obj["complete"] is False


def test_capture_starting_mid_response_resyncs_on_the_next_exchange() -> None:
    """Without the handshake and the first request, the next full exchange is still found."""
    s = TcpSession()
    s.handshake()
    s.send(True, get("/first"))
    s.send(False, response(b"x" * 3000), 1000)
    s.send(True, get("/second"))
    s.send(False, response(b"y" * 500))
    s.fin(False)
    frames = s.frames[5:]  # drop the handshake, the first request and part of the response
    run = run_frames(frames)
    uris = [o["http"]["uri"] for o in run.http()]
    assert "/second" in uris
    second = next(o for o in run.http() if o["http"]["uri"] == "/second")
    assert body(second)["sha256"] == sha(b"y" * 500)


def test_vlan_tags_are_recorded_as_encapsulation() -> None:
    """A flow inside QinQ tags carries them in its encapsulation chain."""
    s = TcpSession(vlans=(100, 200))
    s.handshake()
    s.send(True, get())
    s.send(False, response(b"ok"))
    s.fin(False)
    (obj,) = run_frames(s.frames).http()
    assert obj["flow"]["encapsulation"] == ["eth", "vlan:100", "vlan:200", "ipv4", "tcp"]


def test_ipv6_flow() -> None:
    """IPv6 endpoints are written in RFC 5952 form."""
    s = TcpSession(ipv6=True)
    s.handshake()
    s.send(True, get())
    s.send(False, response(b"six"))
    s.fin(False)
    (obj,) = run_frames(s.frames).http()
    assert obj["flow"]["client"]["addr"] == "fd00::1"
    assert body(obj)["sha256"] == sha(b"six")


def test_body_over_the_store_limit_is_truncated() -> None:
    """Past max_stored_body the content stops, the object says so, and sizes stay exact."""
    config = Config(limits=Limits(max_stored_body=5000))
    s = TcpSession()
    s.handshake()
    s.send(True, get())
    s.send(False, response(PAYLOAD), 1448)
    s.send(True, get("/next"))
    s.send(False, response(b"after"))
    s.fin(False)
    run = run_frames(s.frames, config)
    first, second = run.http()
    item = body(first)
    assert item["truncated"] == "size_limit"
    assert item["size"] == 5000
    assert item["sha256"] == sha(PAYLOAD[:5000])
    assert first["http"]["response_body_bytes"] == len(PAYLOAD)
    assert body(second)["sha256"] == sha(b"after")


def test_multipart_upload_parts_are_objects_of_their_own() -> None:
    """A multipart/form-data POST stores each file part with its name and field."""
    boundary = "----b0und"
    part1 = b"first file\r\nwith two lines"
    part2 = PAYLOAD[:4000]
    form = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="f1"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + part1
        + (
            f"\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="f2"; filename="../../etc/b.bin"\r\n\r\n'
        ).encode()
        + part2
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = (
        "POST /upload HTTP/1.1\r\nHost: h\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(form)}\r\n\r\n"
    ).encode() + form
    s = TcpSession()
    s.handshake()
    s.send(True, request, 1448)
    s.send(False, response(b"done"))
    s.fin(False)
    (obj,) = run_frames(s.frames).http()
    assert obj["direction"] == "both"
    parts = [c for c in obj["contents"] if c["role"] == "request-body-part"]
    assert [p["field_name"] for p in parts] == ["note", "f1", "f2"]
    assert [p["name"] for p in parts] == [None, "a.txt", "b.bin"]
    assert parts[2]["wire_name"] == "../../etc/b.bin"
    assert parts[1]["sha256"] == sha(part1)
    assert parts[2]["sha256"] == sha(part2)
    assert body(obj, "request-body")["sha256"] == sha(form)


def test_100_continue_is_one_object_with_the_interim_status() -> None:
    """An interim 100 does not end the exchange; the final response completes it."""
    s = TcpSession()
    s.handshake()
    s.send(
        True,
        b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    s.send(False, b"HTTP/1.1 100 Continue\r\n\r\n")
    s.send(True, b"data")
    s.send(False, response(b"fine"))
    s.fin(False)
    (obj,) = run_frames(s.frames).http()
    assert obj["http"]["interim_statuses"] == [100]
    assert obj["http"]["status"] == 200
    assert body(obj, "request-body")["sha256"] == sha(b"data")
    assert body(obj)["sha256"] == sha(b"fine")


def test_port_reuse_after_close_starts_a_new_flow() -> None:
    """The same 5-tuple after FINs, with a new ISN, is a new connection and a new flow."""
    first = TcpSession()
    first.handshake()
    first.send(True, get("/one"))
    first.send(False, response(b"1"))
    first.fin(True)
    first.fin(False)
    second = TcpSession(isn_client=900_000, isn_server=700_000, start_ns=first.frames[-1][0] + 10)
    second.handshake()
    second.send(True, get("/two"))
    second.send(False, response(b"2"))
    second.fin(False)
    objs = run_frames(first.frames + second.frames).http()
    assert [o["http"]["uri"] for o in objs] == ["/one", "/two"]
    assert objs[0]["flow"]["uid"] != objs[1]["flow"]["uid"]


def test_connect_tunnel_is_detected_again_and_its_http_extracted() -> None:
    """After CONNECT 200, the tunnelled bytes go back to detection: inner HTTP is an object."""
    s = TcpSession(server=("10.0.0.2", 3128))
    s.handshake()
    s.send(True, b"CONNECT inner.test:80 HTTP/1.1\r\nHost: inner.test:80\r\n\r\n")
    s.send(False, b"HTTP/1.1 200 Connection established\r\n\r\n")
    s.send(True, get("/inside.txt", host="inner.test"))
    s.send(False, response(b"tunnelled body"))
    s.fin(False)
    objs = run_frames(s.frames).http()
    assert [o["http"]["method"] for o in objs] == ["CONNECT", "GET"]
    assert objs[0]["id"] != objs[1]["id"]
    assert objs[0]["http"]["status"] == 200
    inner = objs[1]
    assert inner["http"]["url"] == "http://inner.test/inside.txt"
    assert body(inner)["sha256"] == sha(b"tunnelled body")


def test_disabled_protocol_yields_nothing() -> None:
    """A protocol switched off in the configuration is not parsed at all."""
    s = TcpSession()
    s.handshake()
    s.send(True, get())
    s.send(False, response(b"ok"))
    s.fin(False)
    run = run_frames(s.frames, Config(disabled_protocols=frozenset({"http"})))
    assert run.http() == []
    assert run.stats.protocols == {}


def _range_flow(client_port: int, first: int, last: int, start_ns: int) -> list[tuple[int, bytes]]:
    s = TcpSession(client=("10.0.0.1", client_port), start_ns=start_ns)
    s.handshake()
    s.send(True, get("/big.bin") + b"")
    piece = PAYLOAD[first : last + 1]
    s.send(
        False,
        response(
            piece,
            f"Content-Range: bytes {first}-{last}/{len(PAYLOAD)}",
            'ETag: "v1"',
            status="206 Partial Content",
        ),
        1448,
    )
    s.fin(True)
    s.fin(False)
    return s.frames


def test_byte_ranges_over_two_connections_are_joined_into_the_file() -> None:
    """Two 206 pieces of one resource, on two connections, become one file object too."""
    frames = _range_flow(40001, 0, 9_999, 1_700_000_000_000_000_000)
    frames += _range_flow(40002, 10_000, len(PAYLOAD) - 1, frames[-1][0] + 1000)
    run = run_frames(frames)
    assert [o["http"]["content_range"]["start"] for o in run.http()] == [0, 10_000]
    (joined,) = [p for p in run.passports if p["kind"] == "file"]
    item = body(joined, "joined-ranges")
    assert item["sha256"] == sha(PAYLOAD)
    assert item["complete"] is True
    assert joined["file"]["ranges"] == [[0, len(PAYLOAD) - 1]]
    assert joined["file"]["sources"] == [o["id"] for o in run.http()]
    assert run.content(item) == PAYLOAD


def test_pieces_that_never_cover_the_file_are_joined_with_a_hole() -> None:
    """At the end of the input, two pieces with a hole between them are a file with a gap;
    a single piece is left as its http object only."""
    frames = _range_flow(40001, 0, 999, 1_700_000_000_000_000_000)
    frames += _range_flow(40002, 5_000, 5_999, frames[-1][0] + 1000)
    run = run_frames(frames)
    (joined,) = [p for p in run.passports if p["kind"] == "file"]
    item = body(joined, "joined-ranges")
    assert item["gaps"] == [
        {"offset": 1_000, "size": 4_000},
        {"offset": 6_000, "size": len(PAYLOAD) - 6_000},
    ]
    assert joined["complete"] is False
    single = run_frames(_range_flow(40003, 0, 999, 1_700_000_000_000_000_000))
    assert [p["kind"] for p in single.passports] == ["http"]
