"""Content decoding and multipart splitting on bodies from the shared corpus, checked against
the hashes that Zeek, Suricata and TShark give for the same captures.

The bodies are cut out of the captures here with a small reader (classic pcap, Ethernet,
IPv4/IPv6, TCP in sequence order, HTTP/1 framing by Content-Length or chunked), so these
tests depend on nothing but the extract layer.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from tests.conftest import corpus_path
from wiresift.extract.content import ContentDecoder, parse_content_encoding
from wiresift.extract.multipart import (
    MultipartParser,
    PartData,
    PartEvent,
    PartStart,
    boundary_from_content_type,
)

pytestmark = pytest.mark.corpus

_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}
_RECORD = struct.Struct("IIII")


def tcp_payload(path: Path, src_port: int) -> bytes:
    """The in-order TCP bytes sent from ``src_port`` (first copy of each sequence number)."""
    data = path.read_bytes()
    order = _PCAP_MAGIC[data[:4]]
    record = struct.Struct(order + "IIII")
    assert struct.unpack(order + "I", data[20:24])[0] == 1  # LINKTYPE_ETHERNET
    segments: dict[int, bytes] = {}
    offset = 24
    while offset + record.size <= len(data):
        caplen = record.unpack_from(data, offset)[2]
        frame = data[offset + record.size : offset + record.size + caplen]
        offset += record.size + caplen
        ethertype = int.from_bytes(frame[12:14], "big")
        if ethertype == 0x0800:
            header = (frame[14] & 0x0F) * 4
            protocol = frame[23]
            end = 14 + int.from_bytes(frame[16:18], "big")
            l4 = 14 + header
        elif ethertype == 0x86DD:
            protocol = frame[20]
            l4 = 54
            end = l4 + int.from_bytes(frame[18:20], "big")
        else:
            continue
        if protocol != 6 or int.from_bytes(frame[l4 : l4 + 2], "big") != src_port:
            continue
        seq = int.from_bytes(frame[l4 + 4 : l4 + 8], "big")
        payload = frame[l4 + (frame[l4 + 12] >> 4) * 4 : end]
        if payload:
            segments.setdefault(seq, payload)
    stream = bytearray()
    next_seq: int | None = None
    for seq in sorted(segments):
        payload = segments[seq]
        if next_seq is not None and seq < next_seq:
            payload = payload[next_seq - seq :]
        stream += payload
        next_seq = (
            seq + len(segments[seq])
            if next_seq is None
            else max(next_seq, seq + len(segments[seq]))
        )
    return bytes(stream)


def http_messages(stream: bytes) -> list[tuple[dict[bytes, list[bytes]], bytes]]:
    """(headers, body) of each HTTP/1 message with a body framed by length or chunks."""
    messages: list[tuple[dict[bytes, list[bytes]], bytes]] = []
    while True:
        head_end = stream.find(b"\r\n\r\n")
        if head_end < 0 or stream[:4] not in (b"HTTP", b"POST", b"GET "):
            return messages
        headers: dict[bytes, list[bytes]] = {}
        for line in stream[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        stream = stream[head_end + 4 :]
        if b"chunked" in b"".join(headers.get(b"transfer-encoding", [])):
            body = bytearray()
            while True:
                line_end = stream.find(b"\r\n")
                size = int(stream[:line_end].split(b";")[0], 16)
                body += stream[line_end + 2 : line_end + 2 + size]
                stream = stream[line_end + 2 + size + 2 :]
                if size == 0:
                    break
            messages.append((headers, bytes(body)))
        else:
            length = int(headers.get(b"content-length", [b"0"])[0])
            messages.append((headers, stream[:length]))
            stream = stream[length:]


def decode_body(headers: dict[bytes, list[bytes]], body: bytes, max_layers: int = 8) -> bytes:
    decoder = ContentDecoder(
        parse_content_encoding(headers.get(b"content-encoding", [])),
        max_output=32 * 1024 * 1024,
        max_ratio=1000,
        max_layers=max_layers,
    )
    out = b"".join(decoder.feed(body[i : i + 1448]) for i in range(0, len(body), 1448))
    out += decoder.finish()
    assert decoder.anomalies == []
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_raw_deflate_from_iis() -> None:
    """zeek-missing-zlib-header: 'deflate' without a zlib header decodes (tshark sha256)."""
    stream = tcp_payload(corpus_path("pcaps", "http", "zeek-missing-zlib-header.pcap"), 80)
    bodies = [decode_body(h, b) for h, b in http_messages(stream)]
    assert [(len(b), sha256(b)) for b in bodies] == [
        (13249, "21f693252bc943812b916f4fb0a5ac82bee898dcf53ff582af448f85d463b81f")
    ] * 2


def test_x_gzip() -> None:
    """zeek-x-gzip: 'x-gzip' is gzip (tshark export sha256)."""
    stream = tcp_payload(corpus_path("pcaps", "http", "zeek-x-gzip.pcap"), 80)
    [(headers, body)] = http_messages(stream)
    decoded = decode_body(headers, body)
    assert sha256(decoded) == "e62e2e4e455ae0f61ebc56102417cd415f6994222da9fd0ae01935a1b6fa2ad3"


def test_gzip_get() -> None:
    """zeek-get-gzip: gzip body decodes to Zeek's extracted file (197 bytes)."""
    stream = tcp_payload(corpus_path("pcaps", "http", "zeek-get-gzip.pcap"), 80)
    [(headers, body)] = http_messages(stream)
    decoded = decode_body(headers, body)
    assert sha256(decoded) == "202b775be087f5af98e95120e42769a9b3488f84c5aa79c4f4c1093d348f849c"


def test_brotli_chunked() -> None:
    """suri-http-brotli-ce (cleartext, port 443): br bodies match the fileinfo checks."""
    stream = tcp_payload(corpus_path("pcaps", "http", "suri-http-brotli-ce.pcap"), 443)
    decoded = [decode_body(h, b) for h, b in http_messages(stream) if b]
    assert sorted((len(d), sha256(d)) for d in decoded) == [
        (121, "e6b6bc6bc162fcea2d575f3565c0d085f47b22a3c1926244504f9b5ba83607ab"),
        (1743, "f66256471cd5a28ff9fda1752c92896cfd06954a3a29c936cfc586ee954794fe"),
    ]


def test_identity_gzip_layers() -> None:
    """suri-identity-gzip-layers: six listed codings, three of them gzip, decode in order;
    a two-layer cap reports what Suricata reports (too many layers)."""
    stream = tcp_payload(corpus_path("pcaps", "http", "suri-identity-gzip-layers.pcap"), 8080)
    [(headers, body)] = http_messages(stream)
    assert headers[b"content-encoding"] == [b"identity, identity, gzip, identity, gzip, gzip"]
    assert decode_body(headers, body) == b"Hi john dauny mladshiy!\n"
    capped = ContentDecoder(
        parse_content_encoding(headers[b"content-encoding"]),
        max_output=1024,
        max_ratio=1000,
        max_layers=2,
    )
    assert capped.feed(body) == b""
    assert capped.anomalies == [("content_too_many_encodings", "3 codings, at most 2")]


def parts_of(stream: bytes) -> list[tuple[str | None, str | None, int, str]]:
    """(field name, filename, size, sha256) of each part of the first request body."""
    [(headers, body), *_] = http_messages(stream)
    boundary = boundary_from_content_type(headers[b"content-type"][0])
    assert boundary is not None
    parser = MultipartParser(boundary, max_depth=10, max_parts=100, max_header_block=65536)
    events: list[PartEvent] = []
    for i in range(0, len(body), 1448):
        events += parser.feed(body[i : i + 1448])
    events += parser.finish()
    assert parser.anomalies == []
    starts = {e.index: e for e in events if isinstance(e, PartStart)}
    data = {index: b"" for index in starts}
    for event in events:
        if isinstance(event, PartData):
            data[event.index] += event.data
    return [
        (starts[i].name, starts[i].filename, len(data[i]), sha256(data[i])) for i in sorted(starts)
    ]


def test_multipart_form_fields() -> None:
    """zeek-multipart: three curl form fields match Zeek's extracted files 1-3."""
    stream = tcp_payload(corpus_path("pcaps", "http", "zeek-multipart.pcap"), 57262)
    assert parts_of(stream) == [
        ("example", None, 4, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("example2", None, 5, "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"),
        ("example3", None, 5, "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13"),
    ]


def test_multipart_file_uploads() -> None:
    """suri-file-match-crossed-multipart: two uploaded files match Suricata's fileinfo."""
    stream = tcp_payload(
        corpus_path("pcaps", "http", "suri-file-match-crossed-multipart.pcap"), 37642
    )
    assert parts_of(stream) == [
        (
            "upload1",
            "toto.txt",
            24,
            "0605686b5f3a54d2fe07b3b6ed039779911f43ff079d7ff6fecbf4f75bf5ee10",
        ),
        (
            "upload2",
            "titi.txt",
            25,
            "c345c434702129224a0a3e89810a7ed2556718221c0d36fdb7e52b93fa732b00",
        ),
    ]


def test_multipart_browser_upload() -> None:
    """zeek-multipart-form-data: a Chrome upload's file part (Zeek: test.txt, text/plain)."""
    stream = tcp_payload(corpus_path("pcaps", "http", "zeek-multipart-form-data.pcap"), 45376)
    [(name, filename, size, _)] = parts_of(stream)
    assert (name, filename, size) == ("file1", "test.txt", 584)
