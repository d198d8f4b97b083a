"""BitTorrent: bencode limits, peer ids, the peer wire parser (split feeds), the UDP kinds."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import time

from tests.protocols.helpers import ORIG, RESP, End, SplitFeed
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo
from wiresift.protocols.bittorrent import PeerWireParser, detect
from wiresift.protocols.bittorrent.bencode import decode, decode_prefix
from wiresift.protocols.bittorrent.clients import dht_version_client, peer_id_client
from wiresift.protocols.bittorrent.udp import (
    BittorrentUdpParser,
    DhtParser,
    LsdParser,
    UdpTrackerParser,
    UtpParser,
)
from wiresift.protocols.usage_events import UsageInfo

UDP_FLOW = FlowInfo(
    uid="U1",
    orig_addr="192.0.2.1",
    orig_port=6881,
    resp_addr="198.51.100.7",
    resp_port=6881,
    transport="udp",
)
INFO = b"d6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:" + b"p" * 20 + b"e"
INFO_HASH = hashlib.sha1(INFO).digest()


def bencode(value: object) -> bytes:
    """Test-side encoder (BEP 3)."""
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    assert isinstance(value, dict)
    return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"


def handshake(peer_id: bytes, info_hash: bytes = INFO_HASH) -> bytes:
    return b"\x13BitTorrent protocol" + bytes.fromhex("0000000000100005") + info_hash + peer_id


def message(msg_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", len(payload) + 1, msg_id) + payload


def extended(ext_id: int, payload: bytes) -> bytes:
    return message(20, bytes([ext_id]) + payload)


def merged(events: list[Event]) -> dict[str, object]:
    """What the usage builder would hold: scalars replaced, lists appended."""
    out: dict[str, object] = {}
    for event in events:
        if isinstance(event, UsageInfo):
            out.update(event.metadata)
    return out


def anomalies(events: list[Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, Anomaly)]


# -- bencode -------------------------------------------------------------------------------


def test_bencode_decodes_nested_values() -> None:
    """Integers, strings, lists and dicts decode to ints, bytes, lists and dicts."""
    assert decode(b"d1:ai-3e1:bl2:xy0:ee") == ({b"a": -3, b"b": [b"xy", b""]}, "")


def test_bencode_prefix_leaves_trailing_bytes() -> None:
    """decode_prefix stops at the end of the first value (ut_metadata data follows it)."""
    assert decode_prefix(b"d1:ai1eeRAW") == ({b"a": 1}, 8, "")


def test_bencode_100000_deep_is_refused_quickly() -> None:
    """A list nested 100,000 deep stops at the depth limit, in bounded time."""
    start = time.perf_counter()
    assert decode(b"l" * 100_000 + b"e" * 100_000) == (None, "too_deep")
    assert time.perf_counter() - start < 0.05


def test_bencode_10_mb_string_claim_allocates_nothing() -> None:
    """A string header claiming 10 MB with a few bytes behind it is truncated."""
    assert decode(b"10000000:abc") == (None, "truncated")


def test_bencode_garbage_and_bad_keys() -> None:
    """Garbage, integer keys, leading junk in integers and trailing bytes are problems."""
    assert decode(b"x") == (None, "malformed")
    assert decode(b"di1ei2ee") == (None, "malformed")
    assert decode(b"i1x2e") == (None, "malformed")
    assert decode(b"i1ee") == (None, "trailing_data")
    assert decode(b"l" * 10, max_depth=100) == (None, "truncated")


def test_bencode_item_limit() -> None:
    """More values than max_items is a problem, not a long loop."""
    assert decode(b"l" + b"i1e" * 50 + b"e", max_items=10) == (None, "too_many_items")


# -- client names --------------------------------------------------------------------------


def test_peer_id_conventions() -> None:
    """Azureus, Transmission, Mainline and Shadow styles name the client and version."""
    assert peer_id_client(b"-UT3530-abcdefghijkl") == "µTorrent 3.5.3"
    assert peer_id_client(b"-TR2940-abcdefghijkl") == "Transmission 2.94"
    assert peer_id_client(b"-TR4050-abcdefghijkl") == "Transmission 4.0.5"
    assert peer_id_client(b"-qB4250-abcdefghijkl") == "qBittorrent 4.2.5"
    assert peer_id_client(b"-LT10C0-abcdefghijkl") == "libtorrent 1.0.12"
    assert peer_id_client(b"-ZZ1000-abcdefghijkl") == "unknown client ZZ"
    assert peer_id_client(b"M4-3-6--abcdefghijkl") == "Mainline 4.3.6"
    assert peer_id_client(b"A2-1-36-0-abcdefghij") == "aria2 1.36.0"
    assert peer_id_client(b"S58B-----abcdefghijk") == "Shadow's client 5.8.11"
    assert peer_id_client(b"\xbb" * 20) is None


def test_dht_version_names() -> None:
    """The DHT v key: libtorrent's two bytes are major.minor; others stay raw."""
    assert dht_version_client(b"LT\x01\x02") == "libtorrent 1.2"
    assert dht_version_client(b"UT01") == "µTorrent 0x3031"
    assert dht_version_client(b"??01") is None


# -- peer wire -----------------------------------------------------------------------------


def metadata_exchange() -> list[tuple[Direction, bytes]]:
    client_ext = bencode({b"m": {b"ut_metadata": 3}, b"v": b"Test 1.0", b"p": 6881})
    server_ext = bencode(
        {
            b"m": {b"ut_metadata": 2, b"ut_pex": 1},
            b"v": b"Seeder 2.0",
            b"yourip": bytes([192, 0, 2, 1]),
            b"metadata_size": len(INFO),
        }
    )
    piece = bencode({b"msg_type": 1, b"piece": 0, b"total_size": len(INFO)}) + INFO
    return [
        (ORIG, handshake(b"-TR2940-abcdefghijkl")),
        (RESP, handshake(b"M7-10-3-abcdefghijkl")),
        (ORIG, extended(0, client_ext)),
        (RESP, extended(0, server_ext) + message(5, b"\xff")),
        (ORIG, extended(2, bencode({b"msg_type": 0, b"piece": 0}))),
        (RESP, extended(3, piece)),
        (ORIG, message(2) + message(6, struct.pack(">III", 0, 0, 5)) + struct.pack(">I", 0)),
        (RESP, message(1) + message(7, struct.pack(">II", 0, 0) + b"hello")),
    ]


def test_handshakes_extensions_metadata_and_counts(split_feed: SplitFeed) -> None:
    """Both handshakes, both BEP 10 dicts, the reassembled info dict and message counts."""
    scenario = metadata_exchange()
    events = split_feed(PeerWireParser, [*scenario, End(ORIG), End(RESP)], strict=True)
    meta = merged(events)
    assert meta["info_hash"] == INFO_HASH.hex()
    assert meta["client_software"] == "Transmission 2.94"
    assert meta["server_software"] == "Mainline 7.10.3"
    assert meta["client_features"] == ["extension_protocol", "dht", "fast"]
    assert meta["client_client_name"] == "Test 1.0"
    assert meta["client_listen_port"] == 6881
    assert meta["server_client_name"] == "Seeder 2.0"
    assert meta["server_sees_peer_as"] == "192.0.2.1"
    assert meta["server_extensions"] == ["ut_metadata", "ut_pex"]
    assert meta["torrent_name"] == "a.txt"
    assert meta["torrent_files"] == [{"path": "a.txt", "length": 5}]
    assert meta["torrent_total_length"] == 5
    assert meta["torrent_pieces"] == 1
    assert meta["torrent_verified"] is True
    assert meta["client_messages"] == {
        "extended": 2,
        "interested": 1,
        "request": 1,
        "keep_alive": 1,
    }
    assert meta["server_messages"] == {"extended": 2, "bitfield": 1, "unchoke": 1, "piece": 1}
    assert meta["client_extended_messages"] == {"handshake": 1, "ut_metadata": 1}
    assert meta["server_piece_bytes"] == 5
    assert meta["client_piece_bytes"] == 0


def test_metadata_not_matching_the_info_hash(split_feed: SplitFeed) -> None:
    """An info dict whose SHA-1 is not the handshake's info-hash is flagged."""
    scenario = metadata_exchange()
    scenario[0] = (ORIG, handshake(b"-TR2940-abcdefghijkl", b"\x01" * 20))
    scenario[1] = (RESP, handshake(b"M7-10-3-abcdefghijkl", b"\x01" * 20))
    events = split_feed(PeerWireParser, scenario)
    assert anomalies(events) == ["bittorrent_metadata_hash_mismatch"]
    assert merged(events)["torrent_verified"] is False


def test_mse_then_plaintext_is_resynchronised(split_feed: SplitFeed) -> None:
    """A random-looking MSE start, then a clear handshake inside the window, is read."""
    key = hashlib.sha512(b"a").digest() + hashlib.sha512(b"b").digest()  # 128 random bytes
    events = split_feed(
        PeerWireParser,
        [(RESP, key + handshake(b"-UT3530-abcdefghijkl")), End(RESP)],
        strict=True,
    )
    meta = merged(events)
    assert meta["server_software"] == "µTorrent 3.5.3"
    assert meta["server_encryption"] == "mse-plaintext"
    assert meta["server_unparsed_bytes"] == 128


def test_fully_encrypted_direction_is_counted(split_feed: SplitFeed) -> None:
    """No clear text in the MSE window: the direction is marked encrypted, no anomaly."""
    blob = b"".join(hashlib.sha512(bytes([i])).digest() for i in range(40))  # 2560 bytes
    events = split_feed(PeerWireParser, [(ORIG, blob), End(ORIG)], strict=True)
    meta = merged(events)
    assert meta["client_encryption"] == "mse"
    assert meta["client_unparsed_bytes"] == 2560


def test_garbage_is_an_anomaly(split_feed: SplitFeed) -> None:
    """Text where a handshake should be is a bad handshake."""
    events = split_feed(PeerWireParser, [(ORIG, b"GET / HTTP/1.1\r\n" * 10), End(ORIG)])
    assert anomalies(events) == ["bittorrent_bad_handshake"]


def test_huge_length_loses_the_framing(split_feed: SplitFeed) -> None:
    """A message length past MAX_MESSAGE is an anomaly and the rest is counted."""
    events = split_feed(
        PeerWireParser,
        [(ORIG, handshake(b"-UT3530-abcdefghijkl") + b"\xff\xff\xff\xff" + b"x" * 100)],
    )
    assert anomalies(events) == ["bittorrent_message_too_long"]


def test_deep_extension_handshake_is_bounded() -> None:
    """A BEP 10 dict nested 100,000 deep gives bittorrent_bencode_too_deep quickly."""
    parser = PeerWireParser(dataclasses.replace(UDP_FLOW, transport="tcp"), Limits())
    events = parser.feed(ORIG, handshake(b"-UT3530-abcdefghijkl"), 1)
    start = time.perf_counter()
    events += parser.feed(ORIG, extended(0, b"d1:ml" + b"l" * 100_000), 2)
    assert time.perf_counter() - start < 0.1
    assert anomalies(events) == ["bittorrent_extended_too_long"]
    events = parser.feed(ORIG, extended(0, b"d1:m" + b"l" * 60_000), 3)
    assert anomalies(events) == ["bittorrent_bencode_too_deep"]


def test_gap_inside_a_piece_keeps_the_framing() -> None:
    """A hole inside a counted piece body is absorbed; the next message still parses."""
    parser = PeerWireParser(dataclasses.replace(UDP_FLOW, transport="tcp"), Limits())
    parser.feed(RESP, handshake(b"-UT3530-abcdefghijkl"), 1)
    parser.feed(RESP, message(7, b"\x00" * 8 + b"d" * 1000)[:100], 2)
    assert parser.gap(RESP, 500, 3) == []
    parser.feed(RESP, b"d" * 413 + message(1), 4)
    meta = merged(parser.end(RESP, 5))
    assert meta["server_messages"] == {"piece": 1, "unchoke": 1}
    assert meta["server_piece_bytes"] == 1000


# -- UDP -----------------------------------------------------------------------------------


def feed_datagrams(
    parser_type: type[BittorrentUdpParser], datagrams: list[tuple[Direction, bytes]]
) -> list[Event]:
    parser = parser_type(UDP_FLOW, Limits())
    events: list[Event] = []
    for ts, (direction, data) in enumerate(datagrams):
        events += parser.feed(direction, data, ts)
    events += parser.end(ORIG, len(datagrams))
    events += parser.end(RESP, len(datagrams))
    return events


def test_dht_queries_and_responses() -> None:
    """KRPC queries and responses give node ids, info-hashes, tokens, peers and versions."""
    node_a, node_b, target = b"A" * 20, b"B" * 20, b"\x11" * 20
    query = bencode(
        {
            b"a": {b"id": node_a, b"info_hash": target},
            b"q": b"get_peers",
            b"t": b"aa",
            b"y": b"q",
            b"v": b"LT\x01\x02",
        }
    )
    reply = bencode(
        {
            b"r": {b"id": node_b, b"token": b"tok", b"values": [bytes([10, 0, 0, 1, 0x1A, 0xE1])]},
            b"t": b"aa",
            b"y": b"r",
        }
    )
    error = bencode({b"e": [201, b"A Generic Error"], b"t": b"aa", b"y": b"e"})
    events = feed_datagrams(DhtParser, [(ORIG, query), (RESP, reply), (RESP, error)])
    meta = merged(events)
    assert [e.protocol for e in events if isinstance(e, UsageInfo)] == ["bittorrent-dht"] * 2
    assert meta["dht_client_node_id"] == node_a.hex()
    assert meta["dht_server_node_id"] == node_b.hex()
    assert meta["info_hashes"] == [target.hex()]
    assert meta["dht_tokens"] == [b"tok".hex()]
    assert meta["dht_peers"] == ["10.0.0.1:6881"]
    assert meta["dht_client_software"] == "libtorrent 1.2"
    assert meta["dht_queries"] == {"get_peers": 1, "response": 1, "error": 1}
    assert meta["dht_errors"] == [{"code": 201, "message": "A Generic Error"}]


def test_dht_bad_input_is_bounded() -> None:
    """A datagram nested 100,000 deep, a 10 MB claim and garbage are anomalies."""
    start = time.perf_counter()
    events = feed_datagrams(
        DhtParser,
        [
            (ORIG, b"d1:al" + b"l" * 100_000),
            (ORIG, b"d1:a10000000:xx"),
            (ORIG, b"d3:abcxyz"),
            (ORIG, b"\x00garbage"),
        ],
    )
    assert time.perf_counter() - start < 0.1
    assert anomalies(events) == [
        "bittorrent_bencode_too_deep",
        "bittorrent_bencode_truncated",
        "bittorrent_bencode_malformed",
    ]
    assert merged(events)["datagrams"] == {"dht_malformed": 3, "other": 1}


def test_udp_tracker_connect_announce_scrape() -> None:
    """BEP 15: connect, announce (info-hash, peer id, event, counters) and its answer."""
    magic = (0x41727101980).to_bytes(8, "big")
    connect = magic + struct.pack(">II", 0, 7)
    connected = struct.pack(">IIQ", 0, 7, 99)
    announce = struct.pack(
        ">QII20s20sQQQIIIiH",
        99,
        1,
        8,
        INFO_HASH,
        b"-qB4250-abcdefghijkl",
        10,
        20,
        30,
        2,
        0,
        5,
        -1,
        6881,
    )
    answer = struct.pack(">IIIII", 1, 8, 1800, 3, 4) + bytes([10, 0, 0, 2, 0x1A, 0xE1])
    scrape = struct.pack(">QII", 99, 2, 9) + INFO_HASH
    scraped = struct.pack(">IIIII", 2, 9, 4, 10, 3)
    events = feed_datagrams(
        UdpTrackerParser,
        [
            (ORIG, connect),
            (RESP, connected),
            (ORIG, announce),
            (RESP, answer),
            (ORIG, scrape),
            (RESP, scraped),
        ],
    )
    meta = merged(events)
    assert meta["info_hash"] == INFO_HASH.hex()
    assert meta["client_software"] == "qBittorrent 4.2.5"
    assert (meta["tracker_event"], meta["tracker_downloaded"], meta["tracker_left"]) == (
        "started",
        10,
        20,
    )
    assert meta["tracker_uploaded"] == 30
    assert meta["tracker_peers"] == ["10.0.0.2:6881"]
    assert (meta["tracker_seeders"], meta["tracker_leechers"]) == (4, 3)
    assert meta["tracker_scrape"] == [{"seeders": 4, "completed": 10, "leechers": 3}]
    assert meta["tracker_actions"] == {
        "connect_request": 1,
        "connect_response": 1,
        "announce_request": 1,
        "announce_response": 1,
        "scrape_request": 1,
        "scrape_response": 1,
    }
    assert anomalies(events) == []


def utp(kind: int, conn_id: int, seq: int, payload: bytes = b"", ts_diff: int = 1) -> bytes:
    return struct.pack(">BBHIIIHH", kind << 4 | 1, 0, conn_id, 5, ts_diff, 65536, seq, 0) + payload


def test_utp_reorders_data_and_reads_the_handshake_inside() -> None:
    """DATA payloads are fed in sequence order: the handshake inside gives the info-hash."""
    shake = handshake(b"-LT1100-abcdefghijkl")
    datagrams = [
        (ORIG, utp(4, 100, 1, ts_diff=0)),
        (RESP, utp(2, 100, 50)),
        (ORIG, utp(0, 101, 3, shake[30:])),  # arrives first, held
        (ORIG, utp(0, 101, 2, shake[:30])),
        (ORIG, utp(0, 101, 2, shake[:30])),  # retransmission, dropped
        (ORIG, utp(1, 101, 4)),
    ]
    events = feed_datagrams(UtpParser, datagrams)
    meta = merged(events)
    assert meta["info_hash"] == INFO_HASH.hex()
    assert meta["client_software"] == "libtorrent 1.1.0"
    assert meta["utp_packets"] == {"syn": 1, "state": 1, "data": 3, "fin": 1}
    assert meta["utp_connection_ids"] == [100, 101]
    assert anomalies(events) == []


def test_lsd_announce() -> None:
    """BEP 14: the listen port, every Infohash and the cookie."""
    lsd = (
        b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\n"
        b"Infohash: " + INFO_HASH.hex().upper().encode() + b"\r\ncookie: c1\r\n\r\n\r\n"
    )
    meta = merged(feed_datagrams(LsdParser, [(ORIG, lsd)]))
    assert meta["info_hashes"] == [INFO_HASH.hex()]
    assert (meta["lsd_port"], meta["lsd_cookie"]) == (51413, "c1")


# -- detection -----------------------------------------------------------------------------


def test_detection_probes() -> None:
    """Each probe matches its protocol's first bytes and not the others'."""
    assert detect.peer_wire_probe(ORIG, b"\x13BitTorr") is Verdict.NEED_MORE
    assert detect.peer_wire_probe(ORIG, b"GET / HTTP/1.1\r\n\r\n" * 8) is Verdict.NO_MATCH
    assert detect.dht_probe(ORIG, b"d1:ad2:id20:" + b"x" * 20 + b"e1:q4:ping1:y1:qe") is (
        Verdict.MATCH
    )
    assert detect.dht_probe(ORIG, b"d4:spaml1:a1:bee") is Verdict.NO_MATCH
    magic = (0x41727101980).to_bytes(8, "big")
    assert detect.tracker_probe(ORIG, magic + bytes(8)) is Verdict.MATCH
    assert detect.utp_probe(ORIG, utp(4, 1, 1, ts_diff=0)) is Verdict.MATCH
    assert detect.utp_probe(ORIG, utp(4, 1, 1, ts_diff=7)) is Verdict.NO_MATCH
    assert detect.utp_probe(ORIG, utp(2, 1, 1)) is Verdict.NO_MATCH
    assert detect.utp_probe(ORIG, utp(0, 1, 1, handshake(b"x" * 20))) is Verdict.MATCH
