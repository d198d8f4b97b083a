"""WebSocket captures of the shared corpus: the handshake facts match Zeek's websocket.log
(host, uri, subprotocol) and the messages and control frames match TShark's frame opcodes
(MANIFEST.tsv), read with one object per connection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import corpus_captures, corpus_path
from tests.engine.helpers import run_capture
from wiresift.config import Config, OutputConfig

JUPYTER_URL = (
    "ws://192.168.122.182/user/christian/api/kernels/f8645ecd-0a76-4bb1-9e6e-cb464276bc69"
    "/channels?session_id=deeecee7-efc2-42a1-a7c1-e1c0569436e3"
)

# capture -> (url, subprotocol, data messages by opcode, compressed messages, pings, pongs,
# closes). URL and subprotocol from Zeek websocket.log host+uri (the Arkime and Suricata
# captures from their HTTP request line); counts from TShark's websocket opcodes, where a
# packet listing "2,2,...,2" holds that many whole frames and "2,0" one fragmented message.
CASES: dict[str, tuple[str, str | None, dict[str, int], int, int, int, int]] = {
    "websocket/arkime-websocket.pcap": (
        "ws://192.168.43.135:12345/",
        None,
        {"text": 5},
        0,
        0,
        0,
        0,
    ),
    "websocket/suri-websocket-basic.pcap": (
        "ws://websocketstest.com/service",
        None,
        {"text": 17},
        0,
        0,
        0,
        0,
    ),
    "websocket/suri-websocket-compressed.pcap": (
        "ws://app:5000/toggle",
        None,
        {"text": 10},
        10,
        0,
        0,
        0,
    ),
    "websocket/suri-websocket-ping.pcap": (
        "ws://dev.deltamktgresearch.com/",
        None,
        {"text": 1},
        0,
        1,
        1,
        0,
    ),
    "websocket/zeek-http-websocket.pcap": (
        "ws://sandbox.kaazing.net/echo?.kl=Y",
        "x-kaazing-handshake",
        {"binary": 4, "text": 3},
        0,
        0,
        0,
        2,
    ),
    "websocket/zeek-ws-broker.pcap": (
        "ws://localhost:27599/v1/messages/json",
        None,
        {"text": 8},
        0,
        0,
        0,
        1,
    ),
    "websocket/zeek-ws-jupyter.pcap": (
        JUPYTER_URL,
        "v1.kernel.websocket.jupyter.org",
        {"binary": 12},
        0,
        0,
        0,
        2,
    ),
    "websocket/zeek-ws-reply-ping-coalesced.pcap": (
        "ws://localhost:8080/",
        "v1",
        {"text": 2},
        0,
        1,
        1,
        2,
    ),
    "websocket/zeek-ws-two-binary-fragments.pcap": (
        "ws://localhost:8080/",
        "v1",
        {"binary": 2},
        0,
        1,
        1,
        2,
    ),
    "websocket/zeek-ws-wstunnel-http.pcap": (
        "ws://localhost:8888/v1/events",
        "v1",
        {"binary": 2},
        0,
        0,
        0,
        2,
    ),
}

# Payload text Suricata's rules find in a message (websocket.payload, after inflating).
PAYLOADS = {
    "websocket/suri-websocket-compressed.pcap": b"TOGGLE=5659131662f54334",
    "websocket/suri-websocket-basic.pcap": b"version,hybi-draft-13",
}


PER_CONNECTION = Config(output=OutputConfig(websocket_per_connection=True))


@pytest.mark.corpus
def test_every_capture_is_covered(corpus: Path) -> None:
    """The table above names every capture of the websocket folder."""
    assert set(corpus_captures("websocket")) == set(CASES)


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CASES))
def test_websocket_capture(name: str) -> None:
    """Handshake facts and message/control counts match Zeek and TShark."""
    url, subprotocol, opcodes, compressed, pings, pongs, closes = CASES[name]
    run = run_capture(corpus_path("pcaps", *name.split("/")), PER_CONNECTION)
    (obj,) = [p for p in run.passports if p["kind"] == "websocket"]
    meta = obj["websocket"]
    assert (meta["url"], meta["subprotocol"]) == (url, subprotocol)
    assert dict(Counter(m["opcode"] for m in meta["messages"])) == opcodes
    assert sum(m["compressed"] for m in meta["messages"]) == compressed
    assert (meta["pings"], meta["pongs"], len(meta["closes"])) == (pings, pongs, closes)
    assert [m["sha256"] for m in meta["messages"]] == [c["sha256"] for c in obj["contents"]]
    assert all(
        m["size"] == c["size"] for m, c in zip(meta["messages"], obj["contents"], strict=True)
    )
    if name in PAYLOADS:
        assert any(PAYLOADS[name] in run.content(c) for c in obj["contents"])
