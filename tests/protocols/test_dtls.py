"""DTLS parser: handshakes built by hand and fed datagram by datagram, with cookie exchange,
fragmentation, reordering and retransmission; detection; hostile input; the engine."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import struct

import pytest

from tests.pcapgen import udp_datagram
from tests.protocols.helpers import FLOW, ORIG, RESP
from tests.protocols.test_tls import (
    alpn,
    certificate_message,
    ext,
    make_certificate,
    server_hello,
    sni,
    u16_list,
)
from wiresift.config import Config, Limits
from wiresift.detect.signatures import Verdict
from wiresift.engine import Engine
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import REGISTRY, dtls
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, Violation
from wiresift.protocols.dtls import DtlsParser
from wiresift.protocols.dtls.parser import MAX_FRAGMENTS
from wiresift.protocols.tls import (
    AlertSeen,
    CertificateSeen,
    ClientHello,
    EncryptedData,
    Resumed,
    ServerHello,
)
from wiresift.protocols.usage_events import UsageInfo

UDP_FLOW = dataclasses.replace(FLOW, transport="udp", resp_port=4433)
DTLS12 = 0xFEFD
DTLS10 = 0xFEFF
CERT = make_certificate()

# -- builders -------------------------------------------------------------------------


def record(
    content_type: int, payload: bytes, *, version: int = DTLS12, epoch: int = 0, seq: int = 0
) -> bytes:
    """One DTLS record (RFC 6347 s4.1)."""
    return (
        struct.pack(
            "!BHHHIH", content_type, version, epoch, seq >> 32, seq & 0xFFFFFFFF, len(payload)
        )
        + payload
    )


def fragment(
    msg_type: int, body: bytes, seq: int, offset: int = 0, size: int | None = None
) -> bytes:
    """A handshake fragment (RFC 6347 s4.2.2) of ``body`` from ``offset``."""
    piece = body[offset : len(body) if size is None else offset + size]
    return (
        bytes([msg_type])
        + len(body).to_bytes(3, "big")
        + seq.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + len(piece).to_bytes(3, "big")
        + piece
    )


def client_hello_body(
    *, cookie: bytes = b"", session_id: bytes = b"", version: int = DTLS12
) -> bytes:
    """A DTLS ClientHello body: the TLS one with a cookie after the session id."""
    exts = b"".join(
        [
            ext(0, sni(b"dtls.example")),
            ext(10, u16_list([0x2A2A, 29, 23])),
            ext(11, b"\x01\x00"),
            ext(13, u16_list([0x0403, 0x0804])),
            ext(16, alpn(b"webrtc")),
            ext(35),
        ]
    )
    return (
        struct.pack("!H", version)
        + bytes(32)
        + bytes([len(session_id)])
        + session_id
        + bytes([len(cookie)])
        + cookie
        + u16_list([0x0A0A, 0xC02B, 0xC02F, 0x00FF])
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )


def server_hello_body(session_id: bytes = b"\x05" * 32) -> bytes:
    return server_hello(version=DTLS12, cipher=0xC02B, session_id=session_id)[4:]


def hello_verify_body(cookie: bytes = b"\xc0" * 20) -> bytes:
    return struct.pack("!HB", DTLS10, len(cookie)) + cookie


CERTIFICATE_BODY = certificate_message(CERT)[4:]
COOKIE = b"\xc0" * 20


def run(datagrams: list[tuple[Direction, bytes]], *, end: bool = True) -> list[Event]:
    """Feed whole datagrams at ts 0, 1, 2...; end both directions at ts 99."""
    parser = DtlsParser(UDP_FLOW, Limits())
    events: list[Event] = []
    for ts, (direction, data) in enumerate(datagrams):
        events += parser.feed(direction, data, ts)
        assert parser.buffered_bytes() <= 600 * 1024
    if end:
        events += parser.end(ORIG, 99) + parser.end(RESP, 99)
    return events


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def anomaly_names(events: list[Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, Anomaly)]


def full_handshake() -> list[tuple[Direction, bytes]]:
    """Cookie exchange, a certificate cut in two datagrams, retransmitted flights, data."""
    first_hello = record(22, fragment(1, client_hello_body(), 0), version=DTLS10)
    second_hello = record(22, fragment(1, client_hello_body(cookie=COOKIE), 1), seq=1)
    half = len(CERTIFICATE_BODY) // 2
    server_flight_1 = record(22, fragment(2, server_hello_body(), 1), seq=1) + record(
        22, fragment(11, CERTIFICATE_BODY, 2, 0, half), seq=2
    )
    server_flight_2 = record(22, fragment(11, CERTIFICATE_BODY, 2, half), seq=3) + record(
        22, fragment(14, b"", 3), seq=4
    )
    client_finish = (
        record(22, fragment(16, b"\x04" * 66, 2), seq=2)
        + record(20, b"\x01", seq=3)
        + record(22, b"\xee" * 40, epoch=1)
    )
    server_finish = record(20, b"\x01", seq=5) + record(22, b"\xee" * 40, epoch=1)
    return [
        (ORIG, first_hello),
        (RESP, record(22, fragment(3, hello_verify_body(COOKIE), 0), version=DTLS10)),
        (ORIG, second_hello),
        (ORIG, second_hello),  # retransmitted: nothing new
        (RESP, server_flight_2),  # reordered: the second half arrives first
        (RESP, server_flight_1),
        (RESP, server_flight_2),  # retransmitted
        (ORIG, client_finish),
        (RESP, server_finish),
        (ORIG, record(23, b"\xaa" * 100, epoch=1, seq=1)),
        (RESP, record(23, b"\xbb" * 50, epoch=1, seq=1) + record(23, b"\xbb" * 30, epoch=1, seq=2)),
    ]


# -- handshake ------------------------------------------------------------------------


def test_full_handshake_with_cookie_fragments_and_retransmissions() -> None:
    """Both ClientHellos, the ServerHello and the reassembled certificate are reported once
    each; retransmissions, epochs and encrypted records are counted."""
    events = run(full_handshake())
    assert anomaly_names(events) == []
    assert [type(e).__name__ for e in events if not isinstance(e, UsageInfo)] == [
        "Confirmed",
        "ClientHello",
        "ClientHello",
        "ServerHello",
        "CertificateSeen",
        "EncryptedData",
        "EncryptedData",
    ]
    assert isinstance(events[1], UsageInfo)  # names the usage object before the TLS events
    hello = of(events, ClientHello)[-1]
    assert isinstance(hello, ClientHello)
    assert (hello.legacy_version, hello.server_name, hello.alpn) == (
        DTLS12,
        "dtls.example",
        ("webrtc",),
    )
    assert hello.ja3_string == "65277,49195-49199-255,0-10-11-13-16-35,29-23,0"
    assert hello.ja3 == hashlib.md5(hello.ja3_string.encode()).hexdigest()
    # JA4: "d" for DTLS, version code "d2" (FoxIO JA4 technical details), SNI, 3 ciphers,
    # 6 extensions, ALPN "webrtc" -> "wc"; GREASE left out.
    assert hello.ja4_r == "dd2d0306wc_00ff,c02b,c02f_000a,000b,000d,0023_0403,0804"
    ciphers_hash = hashlib.sha256(b"00ff,c02b,c02f").hexdigest()[:12]
    assert hello.ja4.startswith(f"dd2d0306wc_{ciphers_hash}_")
    (server,) = of(events, ServerHello)
    assert isinstance(server, ServerHello)
    assert (server.version, server.cipher_name) == (
        DTLS12,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    )
    assert server.ja3s_string == "65277,49195,"
    (cert,) = of(events, CertificateSeen)
    assert isinstance(cert, CertificateSeen)
    assert cert.der == CERT
    assert cert.info is not None
    assert cert.info.subject == "O=Example\\, Inc.,CN=test.example"
    summaries = [e.metadata for e in events if isinstance(e, UsageInfo) and e.metadata]
    assert summaries == [
        {"handshake_retransmissions_client": 1, "max_epoch_client": 1, "client_hellos": 2},
        {"handshake_retransmissions_server": 2, "max_epoch_server": 1, "hello_verify_requests": 1},
    ]
    assert [(e.records, e.size) for e in of(events, EncryptedData)] == [(2, 140), (3, 120)]  # type: ignore[attr-defined]


def test_fragments_in_every_order_give_the_same_hello() -> None:
    """A ClientHello cut into 7-byte fragments, shuffled and partly repeated, reassembles."""
    body = client_hello_body(cookie=COOKIE)
    pieces = [fragment(1, body, 0, at, 7) for at in range(0, len(body), 7)]
    whole = run([(ORIG, record(22, fragment(1, body, 0)))])
    for seed in (1, 2, 3):
        shuffled = pieces + pieces[:5]
        random.Random(seed).shuffle(shuffled)
        # several fragments per record, several records per datagram
        datagrams = [
            (
                ORIG,
                record(22, b"".join(shuffled[i : i + 3]))
                + record(22, b"".join(shuffled[i + 3 : i + 6])),
            )
            for i in range(0, len(shuffled), 6)
        ]
        events = run(datagrams)
        assert [dataclasses.replace(e, ts=0) for e in of(events, ClientHello)] == of(
            whole, ClientHello
        )
        (summary, _) = [e for e in events if isinstance(e, UsageInfo) and e.metadata]
        assert isinstance(summary, UsageInfo)
        assert summary.metadata["handshake_retransmissions_client"] == 5


def test_session_resumption_and_clear_alert() -> None:
    """An echoed session id is a resumption; a clear alert is reported."""
    session = b"\x09" * 32
    events = run(
        [
            (ORIG, record(22, fragment(1, client_hello_body(session_id=session), 0))),
            (RESP, record(22, fragment(2, server_hello_body(session), 0)) + record(20, b"\x01")),
            (ORIG, record(21, b"\x02\x28")),
        ]
    )
    assert of(events, Resumed) == [Resumed(direction=RESP, ts=1, method="session_id")]
    assert of(events, AlertSeen) == [AlertSeen(direction=ORIG, ts=2, level=2, description=40)]


def test_dtls13_unified_header_records_are_counted() -> None:
    """RFC 9147 ciphertext records (with and without length, 8/16-bit sequence) are counted."""
    events = run(
        [
            (
                RESP,
                record(
                    22,
                    fragment(
                        2,
                        server_hello(
                            version=DTLS12, cipher=0x1301, extensions=[ext(43, b"\xfe\xfc")]
                        )[4:],
                        0,
                    ),
                )
                + bytes([0x2E, 0x00, 0x01, 0x00, 0x05])
                + b"\x11" * 5
                + bytes([0x23, 0x07])
                + b"\x22" * 9,
            )
        ]
    )
    (server,) = of(events, ServerHello)
    assert isinstance(server, ServerHello)
    assert server.version == 0xFEFC
    assert of(events, EncryptedData) == [EncryptedData(direction=RESP, ts=99, records=2, size=14)]


# -- hostile input --------------------------------------------------------------------


def test_fragment_past_the_message_length_is_an_anomaly() -> None:
    """A fragment ending past its message's length is refused, once per direction."""
    bad = (
        b"\x01"
        + (10).to_bytes(3, "big")
        + b"\x00\x00"
        + (8).to_bytes(3, "big")
        + (4).to_bytes(3, "big")
        + b"abcd"
    )
    events = run([(ORIG, record(22, bad)), (ORIG, record(22, bad))])
    assert anomaly_names(events) == ["dtls_fragment_out_of_range"]
    assert of(events, Anomaly)[0].detail == "type 1, 8+4 > 10"  # type: ignore[attr-defined]


def test_message_claiming_sixteen_megabytes_is_not_stored() -> None:
    """A Certificate claiming 16 MiB is dropped at its first fragment."""
    events = run([(RESP, record(22, fragment(11, b"\x00" * 0xFFFFFF, 0, 0, 100)))])
    assert anomaly_names(events) == ["dtls_handshake_too_large"]


def test_ten_thousand_fragments_are_bounded() -> None:
    """10,000 one-byte fragments of one message stop at MAX_FRAGMENTS, memory stays bounded."""
    body = bytes(20000)
    datagrams = [
        (ORIG, b"".join(record(22, fragment(11, body, 0, 2 * (i + j), 1)) for j in range(100)))
        for i in range(0, 10000, 100)
    ]
    events = run(datagrams)
    assert anomaly_names(events) == ["dtls_too_many_fragments"]
    (summary, _) = [e for e in events if isinstance(e, UsageInfo) and e.metadata]
    assert isinstance(summary, UsageInfo)
    assert summary.metadata["handshake_retransmissions_client"] == 10000 - MAX_FRAGMENTS - 1


def test_truncated_records_and_garbage() -> None:
    """A record longer than its datagram, a bad version and a short header are anomalies;
    garbage before the first hello is a violation; later datagrams are still read."""
    events = run(
        [
            (ORIG, b"\x16\x03\x01" + bytes(8) + b"\x00\x05hello"),
            (ORIG, record(22, b"x" * 40)[:30]),
            (ORIG, b"\x16\xfe\xfd\x00"),
            (ORIG, record(22, fragment(1, client_hello_body(), 0))),
            (ORIG, record(22, fragment(1, b"\xfe\xfd\x00", 1))),
        ]
    )
    assert anomaly_names(events) == [
        "dtls_record_invalid",
        "dtls_record_truncated",
        "dtls_client_hello_truncated",
    ]
    assert of(events, Violation) == [Violation(direction=ORIG, ts=0, reason="dtls_record_invalid")]
    assert len(of(events, ClientHello)) == 1
    assert len(of(events, Confirmed)) == 1


def test_incomplete_message_at_the_end() -> None:
    """A message still missing fragments when the flow ends is reported."""
    body = client_hello_body()
    events = run([(ORIG, record(22, fragment(1, body, 0, 0, 20)))])
    assert anomaly_names(events) == ["dtls_handshake_incomplete"]
    assert of(events, ClientHello) == []


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise(seed: int) -> None:
    """Random datagrams and mutated handshakes give anomalies, never exceptions."""
    rng = random.Random(seed)
    good = [data for _, data in full_handshake()]
    datagrams: list[tuple[Direction, bytes]] = []
    for _ in range(40):
        data = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        datagrams.append((rng.choice((ORIG, RESP)), bytes(data[: rng.randint(0, len(data))])))
        datagrams.append((ORIG, rng.randbytes(rng.randint(0, 200))))
    run(datagrams)


# -- detection ------------------------------------------------------------------------


def test_probe() -> None:
    """Hellos of the right side match; TLS, later epochs, short or cut records do not."""
    hello = record(22, fragment(1, client_hello_body(), 0))
    server = record(22, fragment(2, server_hello_body(), 0))
    verify = record(22, fragment(3, hello_verify_body(), 0), version=DTLS10)
    assert [
        dtls.probe(direction, data)
        for direction, data in [
            (ORIG, hello),
            (RESP, server),
            (RESP, verify),
            (RESP, hello),
            (ORIG, server),
            (ORIG, hello[:-1]),
            (ORIG, hello.replace(b"\x16\xfe\xfd", b"\x16\x03\x03", 1)),
            (ORIG, record(22, fragment(1, client_hello_body(), 0), epoch=1)),
            (ORIG, record(22, fragment(1, client_hello_body(), 0, 10))),
            (ORIG, hello[:20]),
        ]
    ] == [Verdict.MATCH] * 3 + [Verdict.NO_MATCH] * 7


# -- engine ---------------------------------------------------------------------------


def test_engine_makes_a_dtls_usage_object() -> None:
    """Through the engine: the first datagram decides, and the usage object carries the same
    TLS fields as over TCP, with protocol dtls and the DTLS counters."""
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=REGISTRY)
    engine.keep_detections = True
    client, server = ("10.1.0.1", 51000), ("10.1.0.2", 7000)
    for index, (direction, payload) in enumerate(full_handshake()):
        src, dst = (client, server) if direction is ORIG else (server, client)
        engine.process(1_000_000 * (index + 1), 1, udp_datagram(src, dst, payload))
    engine.finish()
    assert [(d.protocol, d.reason) for _, d in engine.detections] == [
        ("dtls", "probe matched an initiator datagram")
    ]
    (usage,) = [r for r in sink.records if r.kind == "usage"]
    meta = usage.meta["metadata"]
    assert isinstance(meta, dict)
    assert (usage.protocol, usage.complete, usage.anomalies) == ("dtls", True, ())
    assert {
        k: meta[k] for k in ("sni", "version", "cipher", "client_version", "client_hellos")
    } == {
        "sni": "dtls.example",
        "version": "DTLSv1.2",
        "cipher": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "client_version": "DTLSv1.2",
        "client_hellos": 2,
    }
    assert meta["hello_verify_requests"] == 1
    assert meta["encrypted_records_server"] == 3
    (item,) = usage.contents
    assert item.name == f"{hashlib.sha256(CERT).hexdigest()}.der"
