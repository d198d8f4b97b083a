"""TLS parser: records and handshake messages built by hand, fed whole, byte by byte and at
random cuts; fingerprints; certificates; hostile input."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.protocols.helpers import FLOW, ORIG, RESP, End, Scenario, SplitFeed
from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols import tls
from wiresift.protocols.base import Anomaly, Confirmed, Event, Violation
from wiresift.protocols.tls import (
    AlertSeen,
    CertificateSeen,
    ClientHello,
    EncryptedData,
    Resumed,
    ServerHello,
    TlsParser,
)
from wiresift.protocols.tls.fingerprints import is_grease, ja4, version_name
from wiresift.protocols.tls.handshake import HRR_RANDOM, MAX_LIST_ITEMS
from wiresift.protocols.tls.parser import MAX_HANDSHAKE_MESSAGE

# -- builders -------------------------------------------------------------------------


def record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    """One record (RFC 8446 s5.1); longer payloads are cut into 16 KiB records."""
    out = b""
    for start in range(0, max(len(payload), 1), 16384):
        piece = payload[start : start + 16384]
        out += struct.pack("!BHH", content_type, version, len(piece)) + piece
    return out


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def ext(ext_type: int, data: bytes = b"") -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def u16_list(values: list[int], length_bytes: int = 2) -> bytes:
    body = b"".join(struct.pack("!H", v) for v in values)
    return len(body).to_bytes(length_bytes, "big") + body


def sni(name: bytes) -> bytes:
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    return struct.pack("!H", len(entry)) + entry


def alpn(*names: bytes) -> bytes:
    body = b"".join(bytes([len(n)]) + n for n in names)
    return struct.pack("!H", len(body)) + body


def client_hello(
    *,
    version: int = 0x0303,
    ciphers: list[int],
    extensions: list[bytes],
    session_id: bytes = b"",
) -> bytes:
    exts = b"".join(extensions)
    body = (
        struct.pack("!H", version)
        + bytes(32)
        + bytes([len(session_id)])
        + session_id
        + u16_list(ciphers)
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    return handshake(1, body)


def server_hello(
    *,
    version: int = 0x0303,
    cipher: int,
    extensions: list[bytes] = (),  # type: ignore[assignment]
    session_id: bytes = b"",
    server_random: bytes = b"\x01" * 32,
) -> bytes:
    exts = b"".join(extensions)
    body = (
        struct.pack("!H", version)
        + server_random
        + bytes([len(session_id)])
        + session_id
        + struct.pack("!HB", cipher, 0)
        + struct.pack("!H", len(exts))
        + exts
    )
    return handshake(2, body)


def certificate_message(*ders: bytes) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return handshake(11, len(entries).to_bytes(3, "big") + entries)


def make_certificate() -> bytes:
    """A small self-signed EC certificate with fixed fields."""
    key = ec.derive_private_key(12345, ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "test.example"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("test.example"), x509.DNSName("www.test.example")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


GREASE_HELLO = client_hello(
    ciphers=[0x0A0A, 0x1301, 0x1302, 0xC02F],
    extensions=[
        ext(0x1A1A),
        ext(0, sni(b"example.com")),
        ext(10, u16_list([0x2A2A, 29, 23])),
        ext(11, b"\x01\x00"),
        ext(13, u16_list([0x0403, 0x0804])),
        ext(16, alpn(b"h2", b"http/1.1")),
        ext(43, u16_list([0x3A3A, 0x0304, 0x0303], 1)),
        ext(35),
    ],
    session_id=b"\x07" * 32,
)


def only(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def feed_all(parser: TlsParser, steps: list[tuple[int, bytes]]) -> list[Event]:
    events: list[Event] = []
    for ts, (direction, data) in enumerate(steps):
        events += parser.feed(ORIG if direction == 0 else RESP, data, ts)
    return events


def anomaly_names(events: list[Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, Anomaly)]


# -- ClientHello ----------------------------------------------------------------------


def test_client_hello_fields_every_split(split_feed: SplitFeed) -> None:
    """Every ClientHello field is read the same whether fed whole or in pieces."""
    events = split_feed(TlsParser, [(ORIG, record(22, GREASE_HELLO, 0x0301))], strict=True)
    assert events[0] == Confirmed(direction=ORIG, ts=0)
    hello = events[1]
    assert isinstance(hello, ClientHello)
    assert hello.legacy_version == 0x0303
    assert hello.supported_versions == (0x3A3A, 0x0304, 0x0303)
    assert hello.server_name == "example.com"
    assert hello.alpn == ("h2", "http/1.1")
    assert hello.cipher_suites == (0x0A0A, 0x1301, 0x1302, 0xC02F)
    assert hello.extensions == (0x1A1A, 0, 10, 11, 13, 16, 43, 35)
    assert hello.supported_groups == (0x2A2A, 29, 23)
    assert hello.ec_point_formats == (0,)
    assert hello.signature_algorithms == (0x0403, 0x0804)
    assert hello.session_id == b"\x07" * 32
    assert hello.session_ticket is False
    assert hello.sslv2 is False
    assert len(events) == 2


def test_client_hello_fingerprints_leave_grease_out(split_feed: SplitFeed) -> None:
    """JA3 and JA4 strings drop GREASE and follow the published layouts."""
    (_, hello) = split_feed(TlsParser, [(ORIG, record(22, GREASE_HELLO))])
    assert isinstance(hello, ClientHello)
    assert hello.ja3_string == "771,4865-4866-49199,0-10-11-13-16-43-35,29-23,0"
    assert hello.ja3 == hashlib.md5(hello.ja3_string.encode()).hexdigest()
    assert hello.ja4_r == "t13d0307h2_1301,1302,c02f_000a,000b,000d,0023,002b_0403,0804"
    ciphers_hash = hashlib.sha256(b"1301,1302,c02f").hexdigest()[:12]
    ext_hash = hashlib.sha256(b"000a,000b,000d,0023,002b_0403,0804").hexdigest()[:12]
    assert hello.ja4 == f"t13d0307h2_{ciphers_hash}_{ext_hash}"


def test_client_hello_split_across_records_and_segments(split_feed: SplitFeed) -> None:
    """A ClientHello fragmented over three records reassembles into one event."""
    third = len(GREASE_HELLO) // 3
    data = b"".join(
        record(22, GREASE_HELLO[i : i + third]) for i in range(0, len(GREASE_HELLO), third)
    )
    events = split_feed(TlsParser, [(ORIG, data)], strict=True)
    (hello,) = only(events, ClientHello)
    assert isinstance(hello, ClientHello)
    assert hello.server_name == "example.com"


def bare_ja4(legacy_version: int, first_alpn: bytes | None) -> tuple[str, str]:
    return ja4(
        transport="tcp",
        legacy_version=legacy_version,
        supported_versions=(),
        has_sni=False,
        alpn=() if first_alpn is None else (first_alpn,),
        ciphers=(),
        extensions=(),
        signature_algorithms=(),
    )


def test_ja4_alpn_and_version_edges() -> None:
    """No ALPN is 00, a non-alphanumeric ALPN uses hex ends, unknown versions are 00."""
    assert bare_ja4(0x0303, None)[0] == "t12i000000_000000000000_000000000000"
    assert bare_ja4(0x0300, b"\xabx\xcd")[1] == "ts3i0000ad__"
    assert bare_ja4(0x7F12, b"h")[1] == "t00i0000hh__"


def test_grease_and_version_names() -> None:
    """The sixteen GREASE code points, and version names for drafts."""
    assert [v for v in range(0x10000) if is_grease(v)] == [0x0A0A + 0x1010 * i for i in range(16)]
    assert version_name(0x0303) == "TLSv1.2"
    assert version_name(0x7F17) == "TLSv1.3-draft-23"
    assert version_name(0x1234) == "0x1234"


def test_sslv2_client_hello() -> None:
    """An SSLv2-format CLIENT-HELLO yields a ClientHello with its TLS cipher suites."""
    specs = bytes.fromhex("010080") + bytes.fromhex("000039") + bytes.fromhex("00002f")
    challenge = bytes(16)
    message = b"\x01\x03\x01" + struct.pack("!HHH", len(specs), 0, len(challenge))
    message += specs + challenge
    data = bytes([0x80 | (len(message) >> 8), len(message) & 0xFF]) + message
    for cut in range(1, len(data)):
        parser = TlsParser(FLOW, Limits())
        events = parser.feed(ORIG, data[:cut], 0) + parser.feed(ORIG, data[cut:], 1)
        (hello,) = only(events, ClientHello)
        assert isinstance(hello, ClientHello)
        assert hello.sslv2 is True
        assert hello.legacy_version == 0x0301
        assert hello.cipher_suites == (0x39, 0x2F)
        assert hello.ja3_string == "769,57-47,,,"


# -- ServerHello, resumption, certificates --------------------------------------------


def test_full_tls12_handshake(split_feed: SplitFeed) -> None:
    """ServerHello, certificate chain, alert and encrypted counters of a TLS 1.2 session."""
    der = make_certificate()
    server_flight = record(
        22,
        server_hello(cipher=0xC02F, extensions=[ext(65281, b"\x00"), ext(16, alpn(b"h2"))])
        + certificate_message(der)
        + handshake(14, b""),
    )
    scenario: Scenario = [
        (ORIG, record(22, GREASE_HELLO)),
        (RESP, server_flight),
        (ORIG, record(20, b"\x01") + record(22, bytes(40)) + record(23, bytes(100))),
        (RESP, record(20, b"\x01") + record(22, bytes(40)) + record(23, bytes(3000))),
        (ORIG, record(23, bytes(26))),
        End(ORIG),
        End(RESP),
    ]
    events = split_feed(TlsParser, scenario, strict=True)
    (server,) = only(events, ServerHello)
    assert isinstance(server, ServerHello)
    assert server.version == 0x0303
    assert server.cipher_name == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert server.alpn == "h2"
    assert server.ja3s_string == "771,49199,65281-16"
    assert server.retry_request is False
    (cert,) = only(events, CertificateSeen)
    assert isinstance(cert, CertificateSeen)
    assert cert.direction is RESP
    assert cert.index == 0
    assert cert.der == der
    info = cert.info
    assert info is not None
    assert info.subject == "O=Example\\, Inc.,CN=test.example"
    assert info.issuer == info.subject
    assert info.serial == "1234"
    assert info.not_before == 1577836800
    assert info.not_after == 1893456000
    assert info.san_dns == ("test.example", "www.test.example")
    assert (info.key_type, info.key_bits, info.curve) == ("ec", 256, "secp256r1")
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.self_signed is True
    assert info.sha256 == hashlib.sha256(der).hexdigest()
    assert only(events, EncryptedData) == [
        EncryptedData(direction=ORIG, ts=5, records=3, size=166),
        EncryptedData(direction=RESP, ts=6, records=2, size=3040),
    ]
    assert only(events, Resumed) == []


def test_clear_alert(split_feed: SplitFeed) -> None:
    """A clear-text alert before encryption becomes an AlertSeen event."""
    events = split_feed(
        TlsParser, [(ORIG, record(22, GREASE_HELLO)), (RESP, record(21, b"\x02\x28"))]
    )
    assert only(events, AlertSeen) == [AlertSeen(direction=RESP, ts=1, level=2, description=40)]


def test_tls13_negotiation_and_psk(split_feed: SplitFeed) -> None:
    """supported_versions selects TLS 1.3; a pre_shared_key answer is a resumption."""
    hello = server_hello(
        cipher=0x1301,
        extensions=[ext(43, b"\x03\x04"), ext(41, b"\x00\x00")],
        session_id=b"\x07" * 32,
    )
    events = split_feed(
        TlsParser,
        [
            (ORIG, record(22, GREASE_HELLO)),
            (RESP, record(22, hello) + record(20, b"\x01") + record(23, bytes(50))),
        ],
        strict=True,
    )
    (server,) = only(events, ServerHello)
    assert isinstance(server, ServerHello)
    assert server.version == 0x0304
    assert server.legacy_version == 0x0303
    assert server.ja3s_string == "771,4865,43-41"
    assert only(events, Resumed) == [Resumed(direction=RESP, ts=1, method="psk")]


def test_hello_retry_request_then_second_client_hello(split_feed: SplitFeed) -> None:
    """After a HelloRetryRequest the client's second ClientHello is still read in clear."""
    retry = server_hello(cipher=0x1301, extensions=[ext(43, b"\x03\x04")], server_random=HRR_RANDOM)
    events = split_feed(
        TlsParser,
        [
            (ORIG, record(22, GREASE_HELLO)),
            (RESP, record(22, retry) + record(20, b"\x01")),
            (ORIG, record(20, b"\x01") + record(22, GREASE_HELLO)),
        ],
        strict=True,
    )
    assert [type(e).__name__ for e in events] == [
        "Confirmed",
        "ClientHello",
        "ServerHello",
        "ClientHello",
    ]
    assert isinstance(events[2], ServerHello)
    assert events[2].retry_request is True


def test_session_id_resumption() -> None:
    """A TLS 1.2 ServerHello echoing the client's session id resumes that session."""
    parser = TlsParser(FLOW, Limits())
    events = feed_all(
        parser,
        [
            (0, record(22, GREASE_HELLO)),
            (1, record(22, server_hello(cipher=0x2F, session_id=b"\x07" * 32))),
        ],
    )
    assert only(events, Resumed) == [Resumed(direction=RESP, ts=1, method="session_id")]


def test_ticket_resumption_seen_at_change_cipher_spec() -> None:
    """A ticket offered and a server that goes straight to ChangeCipherSpec resumed."""
    hello = client_hello(ciphers=[0x2F], extensions=[ext(35, b"\xaa" * 64)])
    parser = TlsParser(FLOW, Limits())
    events = feed_all(
        parser,
        [
            (0, record(22, hello)),
            (1, record(22, server_hello(cipher=0x2F, extensions=[ext(35)]))),
            (1, record(22, handshake(4, bytes(10))) + record(20, b"\x01")),
        ],
    )
    assert only(events, Resumed) == [Resumed(direction=RESP, ts=2, method="ticket")]


def test_full_handshake_with_ticket_offer_is_not_resumed() -> None:
    """A Certificate after the ServerHello means a full handshake, not a resumption."""
    hello = client_hello(ciphers=[0x2F], extensions=[ext(35, b"\xaa" * 64)])
    parser = TlsParser(FLOW, Limits())
    events = feed_all(
        parser,
        [
            (0, record(22, hello)),
            (1, record(22, server_hello(cipher=0x2F) + certificate_message(make_certificate()))),
            (1, record(20, b"\x01")),
        ],
    )
    assert only(events, Resumed) == []


# -- skipping, gaps, limits, garbage --------------------------------------------------


def test_application_data_is_skipped_without_buffering() -> None:
    """A 16 KiB application record fed a byte at a time holds nothing in the parser."""
    parser = TlsParser(FLOW, Limits())
    parser.feed(ORIG, record(22, GREASE_HELLO), 0)
    data = record(23, bytes(16384))
    for index in range(len(data)):
        assert parser.feed(ORIG, data[index : index + 1], 1) == []
        assert parser.buffered_bytes() <= 5
    assert parser.end(ORIG, 2) == [EncryptedData(direction=ORIG, ts=2, records=1, size=16384)]


def test_gap_inside_encrypted_record_keeps_sync() -> None:
    """A hole inside application data is counted; the next record is still framed."""
    parser = TlsParser(FLOW, Limits())
    parser.feed(ORIG, record(22, GREASE_HELLO), 0)
    data = record(23, bytes(1000))
    assert parser.feed(ORIG, data[:105], 1) == []
    assert parser.gap(ORIG, 500, 2) == []
    assert parser.feed(ORIG, data[605:] + record(21, b"\x01\x00"), 3) == [
        AlertSeen(direction=ORIG, ts=3, level=1, description=0)
    ]


def test_gap_in_handshake_loses_the_direction() -> None:
    """A hole in a handshake record is a tls_content_gap; later bytes are ignored."""
    parser = TlsParser(FLOW, Limits())
    data = record(22, GREASE_HELLO)
    parser.feed(ORIG, data[:20], 0)
    events = parser.gap(ORIG, 10, 1)
    assert anomaly_names(events) == ["tls_content_gap"]
    assert parser.feed(ORIG, data[30:] + record(22, GREASE_HELLO), 2) == []
    assert parser.buffered_bytes() == 0


def test_ten_thousand_extensions_are_bounded() -> None:
    """A ClientHello with 10,000 extensions keeps the first 1024 and says so."""
    hello = client_hello(ciphers=[0x2F], extensions=[ext(0x4000 + i % 100) for i in range(10_000)])
    events = TlsParser(FLOW, Limits()).feed(ORIG, record(22, hello), 0)
    assert anomaly_names(events) == ["tls_too_many_extensions"]
    (parsed,) = only(events, ClientHello)
    assert isinstance(parsed, ClientHello)
    assert len(parsed.extensions) == MAX_LIST_ITEMS


def test_one_megabyte_certificate_is_not_stored() -> None:
    """A Certificate message past the cap is stepped over, never held, and reported."""
    subject_blob = b"\x30" + b"A" * (1 << 20)
    data = record(22, certificate_message(subject_blob))
    parser = TlsParser(FLOW, Limits())
    parser.feed(RESP, record(22, server_hello(cipher=0x2F)), 0)
    events: list[Event] = []
    peak = 0
    for start in range(0, len(data), 4096):
        events += parser.feed(RESP, data[start : start + 4096], 1)
        peak = max(peak, parser.buffered_bytes())
    assert anomaly_names(events) == ["tls_handshake_too_large"]
    assert only(events, CertificateSeen) == []
    assert peak <= 5
    assert parser.feed(RESP, record(21, b"\x02\x32"), 2) == [
        AlertSeen(direction=RESP, ts=2, level=2, description=50)
    ]


def test_handshake_claiming_sixteen_megabytes() -> None:
    """A handshake length of 16 MiB and a record length of 64 KiB are anomalies, not
    allocations."""
    parser = TlsParser(FLOW, Limits())
    header = b"\x16\x03\x03\xff\xff" + b"\x0b\xff\xff\xff"
    events = parser.feed(RESP, header + bytes(0xFFFF - 4), 0)
    assert anomaly_names(events) == ["tls_record_too_long", "tls_handshake_too_large"]
    assert parser.buffered_bytes() == 0
    assert MAX_HANDSHAKE_MESSAGE == 256 * 1024


def test_invalid_certificate_der() -> None:
    """A certificate that is not DER is reported and still handed over without a summary."""
    parser = TlsParser(FLOW, Limits())
    events = parser.feed(RESP, record(22, certificate_message(b"\x30\x03abc")), 0)
    assert anomaly_names(events) == ["tls_certificate_invalid"]
    (cert,) = only(events, CertificateSeen)
    assert isinstance(cert, CertificateSeen)
    assert cert.info is None
    assert cert.der == b"\x30\x03abc"


def test_garbage_is_a_violation() -> None:
    """Bytes that are not TLS records give a Violation and are then ignored."""
    parser = TlsParser(FLOW, Limits())
    events = parser.feed(ORIG, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0)
    assert events == [
        Violation(direction=ORIG, ts=0, reason="tls_record_invalid"),
        Anomaly(direction=ORIG, ts=0, name="tls_record_invalid"),
    ]
    assert parser.feed(ORIG, b"more", 1) == []


def test_truncated_hello_is_an_anomaly() -> None:
    """A ClientHello whose lengths point past its end is reported, not raised."""
    bad = handshake(1, b"\x03\x03" + bytes(32) + b"\x20")
    assert anomaly_names(TlsParser(FLOW, Limits()).feed(ORIG, record(22, bad), 0)) == [
        "tls_client_hello_truncated"
    ]


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise(seed: int) -> None:
    """Arbitrary bytes (raw, and behind a valid record header) never raise and stay
    bounded."""
    rng = random.Random(seed)
    parser = TlsParser(FLOW, Limits())
    blob = rng.randbytes(rng.randrange(1, 3000))
    if seed % 2:
        blob = record(22, handshake(rng.choice([1, 2, 11]), blob))
    for start in range(0, len(blob), 97):
        for direction in (ORIG, RESP):
            parser.feed(direction, blob[start : start + 97], start)
            assert parser.buffered_bytes() <= 2 * MAX_HANDSHAKE_MESSAGE
    parser.gap(ORIG, 10, 99)
    parser.end(ORIG, 100)
    parser.end(RESP, 100)


# -- detection and registration -------------------------------------------------------


def test_detection_rules() -> None:
    """The probe and signatures tell ClientHello, ServerHello and SSLv2 from the rest."""
    hello = record(22, GREASE_HELLO)
    server = record(22, server_hello(cipher=0x2F))
    assert tls.SPEC.name == "tls"
    assert tls.SPEC.signatures[0].pattern.match(hello[:6])
    assert tls.SPEC.signatures[1].pattern.match(server[:6])
    assert not tls.SPEC.signatures[0].pattern.match(server[:6])
    assert tls.probe(ORIG, hello[:3]) is Verdict.NEED_MORE
    assert tls.probe(ORIG, b"\x80\x2e\x01\x03\x01\x00\x15") is Verdict.MATCH
    assert tls.probe(ORIG, b"GET / HTTP/1.1\r\n") is Verdict.NO_MATCH
    assert tls.probe(RESP, b"\x80\x2e\x01\x03\x01\x00\x15") is Verdict.NO_MATCH


def test_end_with_partial_record_is_reported() -> None:
    """A direction ending inside a handshake record says so."""
    parser = TlsParser(FLOW, Limits())
    parser.feed(ORIG, record(22, GREASE_HELLO)[:30], 0)
    assert anomaly_names(parser.end(ORIG, 1)) == ["tls_truncated_record"]


def test_body_run_covers_encrypted_records_and_lost_framing() -> None:
    """Inside an application_data record the parser only counts: body_run says how far
    (short of the record's last byte); after lost framing, everything; elsewhere nothing."""
    parser = TlsParser(FLOW, Limits())
    assert parser.body_run(ORIG) == 0
    parser.feed(ORIG, record(22, GREASE_HELLO), 0)
    assert parser.body_run(ORIG) == 0  # the next record header must be read
    app = record(23, b"\x42" * 5000)
    parser.feed(ORIG, app[:1005], 1)  # header and 1,000 bytes of a 5,000-byte record
    assert parser.body_run(ORIG) == 3999
    parser.feed(ORIG, app[1005:], 2)
    assert parser.body_run(ORIG) == 0
    parser.feed(RESP, b"\x05\x00\x00garbage", 3)  # not a record header: framing lost
    assert parser.body_run(RESP) > 1 << 40
    events = parser.end(ORIG, 4)
    (encrypted,) = only(events, EncryptedData)
    assert (encrypted.records, encrypted.size) == (1, 5000)
