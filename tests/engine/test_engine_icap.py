"""End to end: ICAP sessions built with TcpSession in, "http" objects with protocol icap out."""

from __future__ import annotations

import base64
import hashlib
import random

from tests.engine.helpers import body, run_frames
from tests.pcapgen import TcpSession
from wiresift.extract.icap import authenticated_user, http_server

PAYLOAD = random.Random(11).randbytes(5000)
ICAP_CLIENT = ("10.1.0.5", 51000)
ICAP_SERVER = ("10.1.0.9", 1344)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunked(data: bytes, size: int = 1460) -> bytes:
    """``data`` as an ICAP chunked body with its last chunk."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


def session() -> TcpSession:
    """A connection from a proxy to an ICAP server, after its handshake."""
    s = TcpSession(client=ICAP_CLIENT, server=ICAP_SERVER)
    s.handshake()
    return s


def reqmod(http: bytes, *headers: bytes) -> bytes:
    """A REQMOD whose encapsulated request has a body."""
    head = [b"REQMOD icap://10.1.0.9/av ICAP/1.0", b"Host: 10.1.0.9", *headers]
    head.append(b"Encapsulated: req-hdr=0, req-body=%d" % len(http))
    return b"\r\n".join(head) + b"\r\n\r\n" + http


POST = (
    b"POST http://upload.example.test:8080/put?x=1 HTTP/1.1\r\nHost: upload.example.test:8080\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 5000\r\n\r\n"
)


def test_reqmod_gives_original_and_adapted_objects_with_the_real_endpoints() -> None:
    """A REQMOD with X-Client-IP, X-Server-IP and X-Authenticated-User answered 200 with a
    modified request: two objects, the real client and server, the ICAP server in via."""
    user = base64.b64encode(b"Local://alice").decode()
    modified = POST.replace(b"\r\n\r\n", b"\r\nX-Scanned: clean\r\n\r\n")
    s = session()
    s.send(
        True,
        reqmod(
            POST,
            b"X-Client-IP: 192.0.2.44",
            b"X-Server-IP: 198.51.100.80",
            b"X-Authenticated-User: " + user.encode(),
            b"X-Subscriber-ID: sub-7",
        )
        + chunked(PAYLOAD),
        1448,
    )
    answer = (
        b'ICAP/1.0 200 OK\r\nISTag: "av-1"\r\n'
        b"Encapsulated: req-hdr=0, req-body=%d\r\n\r\n" % len(modified)
    )
    s.send(False, answer + modified + chunked(PAYLOAD), 1448)
    s.fin(True)
    s.fin(False)
    run = run_frames(s.frames)
    original, adapted = run.http()
    for obj in (original, adapted):
        assert obj["protocol"] == "icap"
        assert obj["complete"] is True
        assert obj["direction"] == "upload"
        assert obj["flow"]["client"] == {"addr": "192.0.2.44", "port": 0}
        assert obj["flow"]["server"] == {"addr": "198.51.100.80", "port": 8080}
        assert obj["flow"]["via"] == {"addr": "10.1.0.9", "port": 1344}
        assert obj["flow"]["encapsulation"] == ["eth", "ipv4", "tcp", "icap"]
        assert obj["http"]["method"] == "POST"
        assert obj["http"]["url"] == "http://upload.example.test:8080/put?x=1"
        assert obj["http"]["user"] == "alice"
        assert obj["parties"] == {"account": "alice"}
        assert body(obj, "request-body")["sha256"] == sha(PAYLOAD)
        icap = obj["http"]["icap"]
        assert (icap["tx"], icap["method"], icap["status"], icap["istag"]) == (
            0,
            "REQMOD",
            200,
            '"av-1"',
        )
        assert icap["client"] == {"addr": "10.1.0.5", "port": 51000}
        assert icap["subscriber_id"] == "sub-7"
        assert obj["anomalies"] == []
    assert original["http"]["icap"]["role"] == "original"
    assert adapted["http"]["icap"]["role"] == "adapted"
    assert ["X-Scanned", "clean"] in adapted["http"]["request_headers"]
    assert original["http"]["status"] is None
    assert run.stats.protocols == {"icap": 1}


def test_options_then_respmod_answered_204() -> None:
    """OPTIONS first on the connection, then a RESPMOD answered 204: one object holding
    the response body, flow endpoints unchanged (no client headers)."""
    get = b"GET /report.pdf HTTP/1.1\r\nHost: files.example.test\r\n\r\n"
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 5000\r\n\r\n"
    encapsulated = b"req-hdr=0, res-hdr=%d, res-body=%d" % (len(get), len(get) + len(ok))
    s = session()
    s.send(True, b"OPTIONS icap://10.1.0.9/av ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n")
    s.send(
        False,
        b"ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nISTag: x\r\nEncapsulated: null-body=0\r\n\r\n",
    )
    s.send(
        True,
        b"RESPMOD icap://10.1.0.9/av ICAP/1.0\r\nAllow: 204\r\n"
        b"Encapsulated: " + encapsulated + b"\r\n\r\n" + get + ok + chunked(PAYLOAD),
        1448,
    )
    s.send(False, b"ICAP/1.0 204 No Content\r\nEncapsulated: null-body=0\r\n\r\n")
    s.fin(True)
    s.fin(False)
    run = run_frames(s.frames)
    (obj,) = run.http()
    assert obj["protocol"] == "icap"
    assert obj["complete"] is True
    assert obj["direction"] == "download"
    assert obj["flow"]["client"] == {"addr": "10.1.0.5", "port": 51000}
    assert obj["flow"]["server"] == {"addr": "10.1.0.9", "port": 1344}
    assert "via" not in obj["flow"]
    assert obj["flow"]["encapsulation"] == ["eth", "ipv4", "tcp", "icap"]
    assert (obj["http"]["url"], obj["http"]["status"]) == (
        "http://files.example.test/report.pdf",
        200,
    )
    assert (obj["http"]["icap"]["method"], obj["http"]["icap"]["status"]) == ("RESPMOD", 204)
    assert obj["http"]["icap"]["tx"] == 1
    assert obj["http"]["user"] is None
    item = body(obj)
    assert (item["sha256"], item["name"], item["complete"]) == (sha(PAYLOAD), "report.pdf", True)
    assert run.content(item) == PAYLOAD
    assert obj["anomalies"] == []


def test_bad_offsets_and_garbage_do_not_stop_the_flow() -> None:
    """Offsets past the headers give an anomaly on the object; garbage on port 1344 gives
    anomalies and no object."""
    s = session()
    bad = reqmod(POST).replace(b"req-body=%d" % len(POST), b"req-body=412")
    s.send(True, bad + chunked(PAYLOAD), 1448)
    s.send(False, b"ICAP/1.0 204 No Content\r\n\r\n")
    s.fin(True)
    s.fin(False)
    junk = TcpSession(client=("10.1.0.6", 52000), server=ICAP_SERVER)
    junk.handshake()
    junk.send(True, b"REQMOD icap://x/y ICAP/1.0\r\n" + b"\x00\xff" * 3000)
    junk.fin(True)
    run = run_frames([*s.frames, *junk.frames])
    (obj,) = run.http()
    assert obj["anomalies"] == ["icap_bad_encapsulated"]
    assert body(obj, "request-body")["sha256"] == sha(PAYLOAD)
    assert run.stats.anomalies["icap_bad_encapsulated"] == 1
    assert run.stats.anomalies["icap_truncated_head"] == 1


def test_authenticated_user_forms() -> None:
    """X-Authenticated-User: Local:// gives the name, LDAP:// the decoded URL, junk None."""
    assert authenticated_user(base64.b64encode(b"Local://bob")) == "bob"
    ldap = b"LDAP://ldap.example.test/cn=Carol,dc=example,dc=test"
    assert authenticated_user(base64.b64encode(ldap)) == ldap.decode()
    assert authenticated_user(b"not base64!") is None
    assert authenticated_user(base64.b64encode(b"\x00\x01")) is None


def test_http_server_from_target_or_host() -> None:
    """The HTTP server's name and port from an absolute target, else Host, else defaults."""
    assert http_server(b"https://user@Secure.example.test/x", None) == ("secure.example.test", 443)
    assert http_server(b"/x", b"h.example.test:8081") == ("h.example.test", 8081)
    assert http_server(b"http://[2001:db8::1]:81/", None) == ("2001:db8::1", 81)
    assert http_server(b"/x", None) == (None, 80)
