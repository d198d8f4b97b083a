"""HTTP/2, WebSocket and SOCKS extraction end to end: real servers, proxies and clients on a
namespace's loopback, captured by tcpdump and read back by the engine.

HTTP/2: nghttpd (prior knowledge) and nghttpx (``Upgrade: h2c``) with nghttp and curl.
WebSocket: the ``websockets`` package on both ends, with and without permessage-deflate.
SOCKS 4 and 5: Dante, with and without username/password, in front of ``http.server``, with
curl. The ground truth is the served files and what the clients sent and received. Needs
root, ``ip netns``, tcpdump and the servers: skipped without them, except under CI=true,
where their absence is a failure. Dante rejects SOCKS 4a requests, so curl's ``--socks4a``
is not exercised here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, body, run_capture
from tests.live.mailservers import which
from tests.live.webservers import (
    H2_PORT,
    H2_UPGRADE_PORT,
    HTTP_PORT,
    SOCKS_AUTH_PORT,
    SOCKS_PASSWORD,
    SOCKS_PORT,
    SOCKS_USER,
    WS_FRAGMENT_SIZE,
    WS_FRAGMENTS,
    WS_ORIGIN,
    WS_PATH,
    WS_PORT,
    WS_SUBPROTOCOL,
    CapturingNamespace,
    SystemUser,
    dante_argv,
    nghttpx_argv,
    prerequisites_missing,
    sha256,
    write_dante_config,
    write_site,
    ws_conversation,
)

LOCAL = "127.0.0.1"
# nghttp opens streams 3 to 11 for its priority tree (PRIORITY frames only), so the
# requests of one run take the odd ids from 13 on.
NGHTTP_FILES = ("small.txt", "random.bin", "large.bin", "page.html", "empty.txt")
NGHTTP_STREAMS = [13, 15, 17, 19, 21]
WS_URL = f"ws://{LOCAL}:{WS_PORT}{WS_PATH}"
WS_DEFLATE = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
SOCKS_FILE = "random.bin"


def require(tools: Sequence[str], *, need_websockets: bool = False) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(tools, need_websockets=need_websockets)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live web tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture of a scenario, the engine's reading of it, and the reference data."""

    pcap: Path
    run: Run
    files: dict[str, bytes]
    reference: dict[str, Any]


def objects(run: Run, kind: str, server_port: int) -> list[dict[str, Any]]:
    """Passports of ``kind`` whose server port is ``server_port``, in order of first byte."""
    found = [
        p for p in run.passports if p["kind"] == kind and p["flow"]["server"]["port"] == server_port
    ]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def by_connection(passports: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Passports grouped by flow, flows in order of their first passport."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for passport in passports:
        groups.setdefault(passport["flow"]["uid"], []).append(passport)
    return list(groups.values())


def stored_sha256(run: Run, passport: dict[str, Any], role: str) -> str:
    """SHA-256 of the stored bytes of ``passport``'s single ``role`` item (checked)."""
    item = body(passport, role)
    assert sha256(run.content(item)) == item["sha256"]
    return str(item["sha256"])


# --- HTTP/2 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h2_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """nghttp and curl fetch files from nghttpd (prior knowledge) and through nghttpx
    (h2c upgrade), under tcpdump."""
    require(["ip", "ss", "tcpdump", "curl", "nghttpd", "nghttp", "nghttpx"])
    work = tmp_path_factory.mktemp("h2")
    files = write_site(work / "site")
    pcap = work / "h2.pcap"
    namespace = CapturingNamespace()
    try:
        nghttpd = [which("nghttpd") or "nghttpd", "--no-tls", "-a", LOCAL]
        server = namespace.spawn([*nghttpd, "-d", str(work / "site"), str(H2_PORT)], work / "d.log")
        namespace.wait_port(H2_PORT, server)
        proxy = namespace.spawn(nghttpx_argv(work), work / "nghttpx.out")
        namespace.wait_port(H2_UPGRADE_PORT, proxy)
        namespace.start_capture(pcap)
        direct = f"http://{LOCAL}:{H2_PORT}"
        upgrade = f"http://{LOCAL}:{H2_UPGRADE_PORT}"
        nghttp, curl = which("nghttp") or "nghttp", which("curl") or "curl"
        namespace.run([nghttp, "-n", *(f"{direct}/{name}" for name in NGHTTP_FILES)])
        prior = [curl, "-sS", "-o", "/dev/null", "--http2-prior-knowledge"]
        namespace.run([*prior, f"{direct}/large.bin"])
        # curl 7.88 fails an upgrade whose first response frames exceed 32 KiB: a small file
        namespace.run([curl, "-sS", "-o", "/dev/null", "--http2", f"{upgrade}/page.html"])
        namespace.run([nghttp, "-n", "-u", f"{upgrade}/random.bin"])
        namespace.stop_capture()
        dropped = namespace.dropped
    finally:
        namespace.close()
    return Captured(pcap, run_capture(pcap), files, {"dropped": dropped})


def test_h2_capture_is_whole(h2_capture: Captured) -> None:
    """tcpdump dropped no packet, so every assertion below is about the parser alone."""
    assert h2_capture.reference["dropped"] == 0


def test_h2_multiplexed_streams_one_object_each(h2_capture: Captured) -> None:
    """nghttp's five concurrent requests on one connection: one http2 object per stream,
    with its stream id, URL, status and the served file's bytes."""
    run = h2_capture.run
    first, _, _ = by_connection(objects(run, "http", H2_PORT))
    assert len({p["flow"]["uid"] for p in first}) == 1
    found = sorted(first, key=lambda p: p["http"]["stream_id"])
    assert [p["protocol"] for p in found] == ["http2"] * 5
    assert [p["http"]["stream_id"] for p in found] == NGHTTP_STREAMS
    assert [p["http"]["url"] for p in found] == [
        f"http://{LOCAL}:{H2_PORT}/{name}" for name in NGHTTP_FILES
    ]
    assert [(p["http"]["method"], p["http"]["status"]) for p in found] == [("GET", 200)] * 5
    # an empty body gives no content item
    assert [stored_sha256(run, p, "response-body") if p["contents"] else None for p in found] == [
        sha256(h2_capture.files[name]) if h2_capture.files[name] else None for name in NGHTTP_FILES
    ]
    assert [p["http"]["response_body_bytes"] for p in found] == [
        len(h2_capture.files[name]) for name in NGHTTP_FILES
    ]
    assert [(p["complete"], p["anomalies"]) for p in found] == [(True, [])] * 5
    # every request went out before the largest response ended: the streams overlapped
    large_end = found[NGHTTP_FILES.index("large.bin")]["ts_last_ns"]
    assert max(p["ts_first_ns"] for p in found) < large_end


def test_h2_prior_knowledge_curl(h2_capture: Captured) -> None:
    """curl --http2-prior-knowledge: stream 1 carries the 1.5 MB file whole."""
    run = h2_capture.run
    _, second, _ = by_connection(objects(run, "http", H2_PORT))
    assert [(p["protocol"], p["http"]["stream_id"], p["http"]["url"]) for p in second] == [
        ("http2", 1, f"http://{LOCAL}:{H2_PORT}/large.bin")
    ]
    (passport,) = second
    assert passport["http"]["status"] == 200
    assert stored_sha256(run, passport, "response-body") == sha256(h2_capture.files["large.bin"])
    assert (passport["complete"], passport["anomalies"], passport["direction"]) == (
        True,
        [],
        "download",
    )


@pytest.mark.parametrize(("client", "name"), [("curl", "page.html"), ("nghttp", "random.bin")])
def test_h2c_upgrade_gives_the_file(h2_capture: Captured, client: str, name: str) -> None:
    """Upgrade: h2c through nghttpx: the HTTP/1.1 request is its own object answered 101,
    stream 1 holds the same request with the real response and the file's bytes."""
    run = h2_capture.run
    connections = by_connection(objects(run, "http", H2_UPGRADE_PORT))
    assert len(connections) == 2
    found = connections[0 if client == "curl" else 1]
    url = f"http://{LOCAL}:{H2_UPGRADE_PORT}/{name}"
    assert [
        (p["protocol"], p["http"].get("stream_id"), p["http"]["url"], p["http"]["status"])
        for p in found
    ] == [("http", None, url, 101), ("http2", 1, url, 200)]
    upgrade_request, stream = found
    headers = {k.lower(): v for k, v in upgrade_request["http"]["request_headers"]}
    assert headers["upgrade"] == "h2c"
    assert stored_sha256(run, stream, "response-body") == sha256(h2_capture.files[name])
    assert [(p["complete"], p["anomalies"]) for p in found] == [(True, [])] * 2


def test_h2_proxy_backend_connection(h2_capture: Captured) -> None:
    """nghttpx forwards both upgraded requests to nghttpd over one HTTP/2 connection of
    its own, streams 1 and 3, with the proxy's authority in the URL."""
    run = h2_capture.run
    _, _, backend = by_connection(objects(run, "http", H2_PORT))
    names = ("page.html", "random.bin")
    assert [(p["protocol"], p["http"]["stream_id"], p["http"]["url"]) for p in backend] == [
        ("http2", 1, f"http://{LOCAL}:{H2_UPGRADE_PORT}/page.html"),
        ("http2", 3, f"http://{LOCAL}:{H2_UPGRADE_PORT}/random.bin"),
    ]
    assert [stored_sha256(run, p, "response-body") for p in backend] == [
        sha256(h2_capture.files[name]) for name in names
    ]


# --- WebSocket -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """Two websockets connections (permessage-deflate, then none) to a websockets server."""
    require(["ip", "ss", "tcpdump"], need_websockets=True)
    work = tmp_path_factory.mktemp("ws")
    pcap = work / "ws.pcap"
    namespace = CapturingNamespace()
    tool = [sys.executable, "-m", "tests.live.webservers"]
    try:
        server = namespace.spawn([*tool, "ws-server"], work / "ws-server.log")
        namespace.wait_port(WS_PORT, server)
        namespace.start_capture(pcap)
        namespace.run([*tool, "ws-client", "deflate", str(work / "deflate.json")])
        namespace.run([*tool, "ws-client", "none", str(work / "plain.json")])
        namespace.stop_capture()
        dropped = namespace.dropped
    finally:
        namespace.close()
    reference = {
        "dropped": dropped,
        "clients": [
            json.loads((work / name).read_text()) for name in ("deflate.json", "plain.json")
        ],
    }
    return Captured(pcap, run_capture(pcap), {}, reference)


def test_ws_clients_saw_the_expected_conversation(ws_capture: Captured) -> None:
    """Both clients negotiated the subprotocol (and deflate only when offered) and got the
    greeting and one acknowledgement per message; tcpdump dropped nothing."""
    expected = [
        [m.opcode, len(m.payload), sha256(m.payload)]
        for m in ws_conversation()
        if m.sender == "server"
    ]
    clients = ws_capture.reference["clients"]
    assert [(c["subprotocol"], c["extensions"]) for c in clients] == [
        (WS_SUBPROTOCOL, WS_DEFLATE),
        (WS_SUBPROTOCOL, None),
    ]
    assert [c["received"] for c in clients] == [expected, expected]
    assert ws_capture.reference["dropped"] == 0


@pytest.mark.parametrize("compressed", [True, False], ids=["deflate", "plain"])
def test_ws_every_message_in_order(ws_capture: Captured, compressed: bool) -> None:
    """Nine messages per connection: sender, direction, opcode, size and SHA-256 of each
    payload equal what was sent, in order, with the handshake's URL and subprotocol."""
    run = ws_capture.run
    connections = by_connection(objects(run, "websocket", WS_PORT))
    assert len(connections) == 2
    found = connections[0 if compressed else 1]
    conversation = ws_conversation()
    assert [
        (
            p["websocket"]["sender"],
            p["direction"],
            p["websocket"]["opcode"],
            p["websocket"]["size"],
            stored_sha256(run, p, "message"),
        )
        for p in found
    ] == [
        (
            m.sender,
            "upload" if m.sender == "client" else "download",
            m.opcode,
            len(m.payload),
            sha256(m.payload),
        )
        for m in conversation
    ]
    assert [p["websocket"]["index"] for p in found] == list(range(len(conversation)))
    assert {
        (
            p["protocol"],
            p["websocket"]["url"],
            p["websocket"]["origin"],
            p["websocket"]["subprotocol"],
            p["websocket"]["extensions"],
            p["websocket"]["compressed"],
            p["complete"],
        )
        for p in found
    } == {
        (
            "websocket",
            WS_URL,
            WS_ORIGIN,
            WS_SUBPROTOCOL,
            WS_DEFLATE if compressed else None,
            compressed,
            True,
        )
    }
    assert [p["anomalies"] for p in found] == [[]] * len(conversation)


@pytest.mark.parametrize("compressed", [True, False], ids=["deflate", "plain"])
def test_ws_fragmented_messages(ws_capture: Captured, compressed: bool) -> None:
    """The 96,000-character text and the 3 MiB binary went out in 64 KiB frames plus the
    empty final frame websockets ends an iterable with; both are joined whole."""
    run = ws_capture.run
    found = by_connection(objects(run, "websocket", WS_PORT))[0 if compressed else 1]
    client = [p for p in found if p["websocket"]["sender"] == "client"]
    big_text = 96_000
    assert [p["websocket"]["fragments"] for p in client] == [
        1,
        1,
        -(-big_text // WS_FRAGMENT_SIZE) + 1,
        WS_FRAGMENTS + 1,
    ]
    assert [p["websocket"]["size"] for p in client[2:]] == [
        big_text,
        WS_FRAGMENTS * WS_FRAGMENT_SIZE,
    ]
    wire = [p["websocket"]["wire_size"] for p in client[2:]]
    if compressed:
        assert wire[0] < big_text // 100  # repetitive text deflates well
        assert wire[1] < WS_FRAGMENTS * WS_FRAGMENT_SIZE * 3 // 5  # half of it is zeros
        assert [body(p, "message")["encodings"] for p in client] == [["permessage-deflate"]] * 4
    else:
        assert wire == [big_text, WS_FRAGMENTS * WS_FRAGMENT_SIZE]


def test_ws_handshake_is_an_http_object(ws_capture: Captured) -> None:
    """Each connection's Upgrade request is an http object answered 101."""
    found = objects(ws_capture.run, "http", WS_PORT)
    assert [(p["http"]["url"], p["http"]["status"]) for p in found] == [
        (f"http://{LOCAL}:{WS_PORT}{WS_PATH}", 101)
    ] * 2


# --- SOCKS -----------------------------------------------------------------------------------

SOCKS_CLIENTS = (
    ("socks4", ["--socks4", f"{LOCAL}:{SOCKS_PORT}"], LOCAL, SOCKS_PORT),
    ("socks5", ["--socks5", f"{LOCAL}:{SOCKS_PORT}"], LOCAL, SOCKS_PORT),
    ("socks5-hostname", ["--socks5-hostname", f"{LOCAL}:{SOCKS_PORT}"], "localhost", SOCKS_PORT),
    (
        "socks5-password",
        ["--socks5", f"{LOCAL}:{SOCKS_AUTH_PORT}", "-U", f"{SOCKS_USER}:{SOCKS_PASSWORD}"],
        LOCAL,
        SOCKS_AUTH_PORT,
    ),
)


@pytest.fixture(scope="module")
def socks_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """curl fetches a file from http.server through two Dante instances (no authentication;
    username/password of a throwaway system account), under tcpdump."""
    require(["ip", "ss", "tcpdump", "curl", "danted", "useradd", "chpasswd"])
    work = tmp_path_factory.mktemp("socks")
    work.chmod(0o755)  # Dante's workers run as nobody
    files = write_site(work / "site")
    pcap = work / "socks.pcap"
    user: SystemUser | None = None
    namespace = CapturingNamespace()
    try:
        user = SystemUser(SOCKS_USER, SOCKS_PASSWORD)
        target = [sys.executable, "-m", "http.server", "--bind", LOCAL]
        target += ["--directory", str(work / "site"), str(HTTP_PORT)]
        server = namespace.spawn(target, work / "http.log")
        namespace.wait_port(HTTP_PORT, server)
        for port, method in ((SOCKS_PORT, "none"), (SOCKS_AUTH_PORT, "username")):
            config = work / f"danted-{port}.conf"
            write_dante_config(config, port, method)
            proxy = namespace.spawn(dante_argv(config), work / f"danted-{port}.out")
            namespace.wait_port(port, proxy)
        namespace.start_capture(pcap)
        curl = which("curl") or "curl"
        for _, options, host, _ in SOCKS_CLIENTS:
            url = f"http://{host}:{HTTP_PORT}/{SOCKS_FILE}"
            namespace.run([curl, "-sS", "-o", "/dev/null", *options, url])
        namespace.stop_capture()
        dropped = namespace.dropped
    finally:
        namespace.close()
        if user is not None:
            user.close()
    return Captured(pcap, run_capture(pcap), files, {"dropped": dropped})


@pytest.mark.parametrize("index", range(len(SOCKS_CLIENTS)), ids=[c[0] for c in SOCKS_CLIENTS])
def test_socks_tunnelled_http(socks_capture: Captured, index: int) -> None:
    """The HTTP exchange inside each SOCKS tunnel: the requested target as server, the proxy
    in flow.via, socks in the encapsulation, and the served file's bytes."""
    run = socks_capture.run
    tunnelled = [p for p in objects(run, "http", HTTP_PORT) if "via" in p["flow"]]
    assert len(tunnelled) == len(SOCKS_CLIENTS)
    _, _, host, proxy_port = SOCKS_CLIENTS[index]
    passport = tunnelled[index]
    flow = passport["flow"]
    assert flow["server"] == {"addr": host, "port": HTTP_PORT}
    assert flow["via"] == {"addr": LOCAL, "port": proxy_port}
    assert flow["encapsulation"] == ["eth", "ipv4", "tcp", "socks"]
    assert (passport["protocol"], passport["http"]["url"], passport["http"]["status"]) == (
        "http",
        f"http://{host}:{HTTP_PORT}/{SOCKS_FILE}",
        200,
    )
    assert stored_sha256(run, passport, "response-body") == sha256(socks_capture.files[SOCKS_FILE])
    assert (passport["complete"], passport["anomalies"]) == (True, [])


def test_socks_proxy_side_connections_are_plain(socks_capture: Captured) -> None:
    """Dante's own connections to the target are plain HTTP with no via, one per request;
    tcpdump dropped nothing."""
    direct = [p for p in objects(socks_capture.run, "http", HTTP_PORT) if "via" not in p["flow"]]
    assert [
        (p["flow"]["encapsulation"], p["flow"]["server"]["addr"], p["http"]["status"])
        for p in direct
    ] == [(["eth", "ipv4", "tcp"], LOCAL, 200)] * len(SOCKS_CLIENTS)
    assert {body(p, "response-body")["sha256"] for p in direct} == {
        sha256(socks_capture.files[SOCKS_FILE])
    }
    assert socks_capture.reference["dropped"] == 0
