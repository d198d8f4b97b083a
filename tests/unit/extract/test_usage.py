"""UsageBuilder: TLS events and generic UsageInfo events into one "usage" object per flow."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from tests.engine.helpers import validator
from wiresift.config import Config
from wiresift.extract.usage import MAX_CERTIFICATES, MAX_LIST_VALUES, UsageBuilder
from wiresift.model import FlowRef, SourceRef
from wiresift.outputs.memory import MemoryContentStore
from wiresift.protocols.base import Anomaly, Confirmed, Direction
from wiresift.protocols.tls.events import (
    AlertSeen,
    CertificateInfo,
    CertificateSeen,
    ClientHello,
    EncryptedData,
    Resumed,
    ServerHello,
)
from wiresift.protocols.usage_events import UsageInfo

ORIG = Direction.ORIG
RESP = Direction.RESP
FLOW = FlowRef(
    uid="CU1",
    transport="tcp",
    client_addr="192.0.2.1",
    client_port=50000,
    server_addr="198.51.100.7",
    server_port=443,
    encapsulation=("eth", "ipv4", "tcp"),
)
DER = b"\x30\x03\x02\x01\x05"
INFO = CertificateInfo(
    subject="CN=test.example",
    issuer="CN=Example CA",
    serial="05",
    not_before=1577836800,
    not_after=1893456000,
    san_dns=("test.example",),
    san_ip=("192.0.2.9",),
    key_type="ec",
    key_bits=256,
    curve="secp256r1",
    signature_algorithm="ecdsa-with-SHA256",
    self_signed=False,
    sha256=hashlib.sha256(DER).hexdigest(),
    sha1=hashlib.sha1(DER).hexdigest(),
)
CLIENT_HELLO = ClientHello(
    direction=ORIG,
    ts=1_000,
    legacy_version=0x0303,
    supported_versions=(0x0A0A, 0x0304, 0x0303),
    server_name="test.example",
    alpn=("h2", "http/1.1"),
    cipher_suites=(0x0A0A, 0x1301, 0xC02F, 0x7777),
    extensions=(0, 16, 43),
    supported_groups=(29,),
    ec_point_formats=(0,),
    signature_algorithms=(0x0403,),
    session_id=b"",
    session_ticket=False,
    psk_offered=False,
    sslv2=False,
    ja3="j3",
    ja3_string="771,4865-49199-30583,0-16-43,29,0",
    ja4="t13d0303h2_aaaaaaaaaaaa_bbbbbbbbbbbb",
    ja4_r="t13d0303h2_raw",
)
SERVER_HELLO = ServerHello(
    direction=RESP,
    ts=2_000,
    legacy_version=0x0303,
    version=0x0304,
    cipher_suite=0x1301,
    cipher_name="TLS_AES_128_GCM_SHA256",
    compression=0,
    alpn="h2",
    extensions=(43,),
    session_id=b"",
    retry_request=False,
    ja3s="j3s",
    ja3s_string="771,4865,43",
)


def source(first: int, last: int) -> SourceRef:
    return SourceRef(kind="file", name="t.pcap", first_frame=first, last_frame=last)


def builder(store: MemoryContentStore | None = None) -> UsageBuilder:
    return UsageBuilder(
        FLOW, store or MemoryContentStore(), Config(), source, itertools.count(3), None
    )


def test_tls_session_becomes_one_usage_object() -> None:
    """Hellos, resumption, certificate, alert and counters merge into one valid passport."""
    store = MemoryContentStore()
    usage = builder(store)
    assert usage.on_event(Confirmed(direction=ORIG, ts=1_000), 4) == []
    assert usage.on_event(CLIENT_HELLO, 4) == []
    assert usage.on_event(SERVER_HELLO, 6) == []
    usage.on_event(Resumed(direction=RESP, ts=2_000, method="psk"), 6)
    usage.on_event(CertificateSeen(direction=RESP, ts=2_500, index=0, der=DER, info=INFO), 7)
    usage.on_event(AlertSeen(direction=ORIG, ts=2_600, level=1, description=0), 8)
    usage.on_event(Anomaly(direction=RESP, ts=2_700, name="tls_truncated_record"), 9)
    usage.on_event(EncryptedData(direction=RESP, ts=3_000, records=4, size=900), 9)
    usage.set_counters(
        5, 7, 1200, 4800, "signature matched the initiator's first bytes", "SIGNATURE"
    )
    (record,) = usage.close(3_000)
    assert usage.close(3_001) == []
    passport: dict[str, Any] = record.to_json()
    validator().validate(json.loads(json.dumps(passport)))
    assert record.id == "CU1-3"
    assert record.kind == "usage"
    assert record.protocol == "tls"
    assert (record.ts_first, record.ts_last) == (1_000, 3_000)
    assert (record.source.first_frame, record.source.last_frame) == (4, 9)
    assert record.direction == "none"
    assert record.complete is True
    assert record.anomalies == ("tls_truncated_record",)
    summary = {
        "from": "server",
        "chain_index": 0,
        "subject": "CN=test.example",
        "issuer": "CN=Example CA",
        "serial": "05",
        "not_before": 1577836800,
        "not_after": 1893456000,
        "san_dns": ["test.example"],
        "san_ip": ["192.0.2.9"],
        "key_type": "ec",
        "key_bits": 256,
        "curve": "secp256r1",
        "signature_algorithm": "ecdsa-with-SHA256",
        "self_signed": False,
        "sha256": INFO.sha256,
        "sha1": INFO.sha1,
    }
    assert passport["usage"] == {
        "protocol": "tls",
        "packets": {"client": 5, "server": 7},
        "bytes": {"client": 1200, "server": 4800},
        "detection": "signature matched the initiator's first bytes",
        "confidence": "SIGNATURE",
        "metadata": {
            "client_version": "TLSv1.2",
            "offered_versions": ["TLSv1.3", "TLSv1.2"],
            "sni": "test.example",
            "alpn_offered": ["h2", "http/1.1"],
            "ciphers_offered": [
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "0x7777",
            ],
            "sslv2_hello": False,
            "ja3": "j3",
            "ja3_string": "771,4865-49199-30583,0-16-43,29,0",
            "ja4": "t13d0303h2_aaaaaaaaaaaa_bbbbbbbbbbbb",
            "ja4_r": "t13d0303h2_raw",
            "version": "TLSv1.3",
            "cipher": "TLS_AES_128_GCM_SHA256",
            "alpn": "h2",
            "ja3s": "j3s",
            "ja3s_string": "771,4865,43",
            "hello_retry": False,
            "resumed": True,
            "resumption": "psk",
            "server_certificates": [summary],
            "alerts": [{"from": "client", "level": 1, "description": 0}],
            "encrypted_records_server": 4,
            "encrypted_bytes_server": 900,
        },
    }
    (item,) = passport["contents"]
    assert item["role"] == "certificate"
    assert item["name"] == f"{INFO.sha256}.der"
    assert item["sha256"] == INFO.sha256
    assert item["size"] == len(DER)
    assert item["declared_type"] == "application/pkix-cert"
    assert item["complete"] is True
    assert item["certificate"] == summary
    assert store.blobs[INFO.sha256] == DER


def test_client_hello_alone_is_incomplete() -> None:
    """A TLS flow without a ServerHello gives an incomplete object without counters."""
    usage = builder()
    usage.on_event(CLIENT_HELLO, 1)
    (record,) = usage.close(5_000)
    assert record.complete is False
    assert record.meta["protocol"] == "tls"
    assert "packets" not in record.meta
    assert record.meta["metadata"]["sni"] == "test.example"  # type: ignore[index,call-overload]
    validator().validate(json.loads(json.dumps(record.to_json())))


def test_nothing_seen_gives_no_object() -> None:
    """A flow whose parser said nothing of use yields no usage object."""
    usage = builder()
    usage.on_event(Confirmed(direction=ORIG, ts=1), 1)
    usage.set_counters(1, 1, 10, 10, "port", "PORT")
    assert usage.close(2) == []


def test_usage_info_merges_scalars_and_lists() -> None:
    """Scalars replace, lists append without duplicates, and the first protocol names it."""
    usage = builder()
    usage.on_event(
        UsageInfo(
            direction=ORIG, ts=10, protocol="bittorrent", metadata={"client": "A", "peers": [1, 2]}
        ),
        2,
    )
    usage.on_event(
        UsageInfo(
            direction=RESP,
            ts=20,
            protocol="bittorrent",
            metadata={"client": "B", "peers": [2, 3], "info_hash": "ab"},
            complete=False,
        ),
        5,
    )
    (record,) = usage.close(30)
    assert record.protocol == "bittorrent"
    assert record.meta == {
        "protocol": "bittorrent",
        "metadata": {"client": "B", "peers": [1, 2, 3], "info_hash": "ab"},
    }
    assert (record.ts_first, record.ts_last) == (10, 20)
    assert record.complete is False
    assert record.contents == ()


def test_usage_lists_and_certificates_are_capped() -> None:
    """Merged lists stop at MAX_LIST_VALUES; certificates past MAX_CERTIFICATES are dropped."""
    usage = builder()
    usage.on_event(
        UsageInfo(direction=ORIG, ts=1, protocol="skype", metadata={"ids": list(range(500))}), 1
    )
    for index in range(MAX_CERTIFICATES + 3):
        usage.on_event(
            CertificateSeen(direction=RESP, ts=2, index=index, der=DER + bytes([index]), info=None),
            2,
        )
    (record,) = usage.close(3)
    assert record.meta["metadata"]["ids"] == list(range(MAX_LIST_VALUES))  # type: ignore[index,call-overload]
    assert len(record.contents) == MAX_CERTIFICATES
    assert record.anomalies == ("tls_too_many_certificates",) * 3
    assert record.contents[0].extra == {"certificate": {"from": "server", "chain_index": 0}}
