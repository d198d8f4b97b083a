"""MailBuilder: mail events -> "email" objects (RFC 5322, RFC 2045-2047, RFC 2231)."""

from __future__ import annotations

import binascii
import hashlib
import itertools
import json
import struct
import time
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.helpers import validator
from wiresift.config import Config, Limits
from wiresift.extract.mail import MailBuilder, decode_words
from wiresift.extract.tnef import tnef_available
from wiresift.model import FlowRef, ObjectRecord, SourceRef
from wiresift.outputs.memory import MemoryContentStore
from wiresift.protocols.base import Anomaly, Direction
from wiresift.protocols.mailevents import MailLogin, MessageBegin, MessageData, MessageEnd

FLOW = FlowRef(
    uid="Cmail",
    transport="tcp",
    client_addr="10.0.0.1",
    client_port=40000,
    server_addr="10.0.0.2",
    server_port=25,
)
ORIG = Direction.ORIG
CHUNKINGS = (1 << 30, 1, 7, 1000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source(first: int, last: int) -> SourceRef:
    return SourceRef(kind="file", name="test", first_frame=first, last_frame=last)


def run(
    raw: bytes,
    *,
    chunk: int = 1 << 30,
    config: Config | None = None,
    **begin: Any,
) -> tuple[ObjectRecord, dict[str, Any], MemoryContentStore]:
    """Feed one SMTP message (by default) in ``chunk``-byte pieces; its record and passport."""
    store = MemoryContentStore()
    builder = MailBuilder(FLOW, store, config or Config(), source, itertools.count())
    fields: dict[str, Any] = {
        "protocol": "smtp",
        "flow": "outgoing",
        "command": "DATA",
        "mail_from": "alice@example.org",
        "rcpt_to": ("bob@example.net",),
    }
    fields.update(begin)
    records: list[ObjectRecord] = []
    records += builder.on_event(
        MailLogin(direction=ORIG, ts=1, mechanism="PLAIN", account="alice", accepted=True), 1
    )
    records += builder.on_event(MessageBegin(direction=ORIG, ts=2, message=0, **fields), 2)
    for offset in range(0, len(raw), chunk):
        piece = raw[offset : offset + chunk]
        records += builder.on_event(MessageData(direction=ORIG, ts=3, message=0, data=piece), 3)
    records += builder.on_event(
        MessageEnd(direction=ORIG, ts=4, message=0, complete=True, accepted=True), 4
    )
    records += builder.close(5)
    assert len(records) == 1
    passport = json.loads(json.dumps(records[0].to_json()))
    validator().validate(passport)
    return records[0], passport, store


def items(passport: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [c for c in passport["contents"] if c["role"] == role]


def plain() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "Bob <bob@example.net>, carol@example.net"
    msg["Subject"] = "Quarterly report"
    msg["Date"] = "Mon, 03 Jun 2024 14:05:00 +0200"
    msg["Message-ID"] = "<m1@example.org>"
    msg["References"] = "<a@x> <b@y>"
    msg.set_content("Hello Bob,\nthe numbers.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_plain_message_fields(chunk: int) -> None:
    """A plain message: the .eml is byte-identical, the text body and header fields read."""
    raw = plain()
    _, passport, store = run(raw, chunk=chunk)
    message = items(passport, "message")[0]
    assert message["sha256"] == sha(raw)
    assert store.blobs[message["sha256"]] == raw
    assert message["name"] == "Quarterly report.eml"
    assert message["declared_type"] == "message/rfc822"
    assert store.blobs[items(passport, "text")[0]["sha256"]] == b"Hello Bob,\r\nthe numbers.\r\n"
    meta = passport["email"]
    assert meta["from"] == [{"name": "Alice", "addr": "alice@example.org"}]
    assert meta["to"] == [
        {"name": "Bob", "addr": "bob@example.net"},
        {"name": None, "addr": "carol@example.net"},
    ]
    assert meta["bcc"] == []
    assert meta["subject"] == "Quarterly report"
    assert meta["date_utc"] == "2024-06-03T12:05:00Z"
    assert meta["message_id"] == "<m1@example.org>"
    assert meta["references"] == ["<a@x>", "<b@y>"]
    assert (meta["size"], meta["parts"], meta["attachments"]) == (len(raw), 1, 0)
    assert (meta["flow"], meta["command"], meta["account"]) == ("outgoing", "DATA", "alice")
    assert passport["parties"] == {
        "sender": "alice@example.org",
        "recipients": ["bob@example.net"],
        "account": "alice",
    }
    assert (passport["direction"], passport["complete"], passport["anomalies"]) == (
        "upload",
        True,
        [],
    )


def test_envelope_recipient_missing_from_headers_is_bcc() -> None:
    """An envelope recipient no header names is listed as a blind copy, flagged."""
    _, passport, _ = run(plain(), rcpt_to=("bob@example.net", "eve@example.com"))
    assert passport["email"]["bcc"] == [{"name": None, "addr": "eve@example.com", "envelope": True}]


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_alternative_and_three_attachments(chunk: int) -> None:
    """text+HTML alternative and binary, RFC 2231 and RFC 2047 named attachments."""
    msg = EmailMessage()
    msg["Subject"] = "files"
    msg.set_content("plain body\n")
    msg.add_alternative("<p>html body</p>\n", subtype="html")
    binary = bytes(range(256)) * 4
    msg.add_attachment(binary, maintype="application", subtype="octet-stream", filename="data.bin")
    msg.add_attachment(
        b"%PDF-1.4 rapport",
        maintype="application",
        subtype="pdf",
        filename="r\u00e9sum\u00e9 \u65e5\u672c.pdf",
    )
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    rfc2047 = (
        b'Content-Type: image/png; name="=?utf-8?B?0YTQvtGC0L4ucG5n?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + binascii.b2a_base64(b"\x89PNG\r\n\x1a\nxyz")
    )
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    end = b"--" + boundary + b"--"
    raw = raw.replace(end, b"--" + boundary + b"\r\n" + rfc2047 + b"\r\n" + end)
    _, passport, store = run(raw, chunk=chunk)
    assert items(passport, "message")[0]["sha256"] == sha(raw)
    assert store.blobs[items(passport, "html")[0]["sha256"]] == b"<p>html body</p>\r\n"
    attachments = items(passport, "attachment")
    assert [(a["name"], a["declared_type"], a["part"]) for a in attachments] == [
        ("data.bin", "application/octet-stream", "2"),
        ("r\u00e9sum\u00e9 \u65e5\u672c.pdf", "application/pdf", "3"),
        ("\u0444\u043e\u0442\u043e.png", "image/png", "4"),
    ]
    assert attachments[0]["sha256"] == sha(binary)
    assert attachments[1]["sha256"] == sha(b"%PDF-1.4 rapport")
    assert attachments[2]["sha256"] == sha(b"\x89PNG\r\n\x1a\nxyz")
    assert attachments[2]["media_type"] == "image/png"
    assert items(passport, "text")[0]["part"] == "1.1"
    assert (passport["email"]["parts"], passport["email"]["attachments"]) == (5, 3)


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("koi8-r", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440"),
        ("iso-2022-jp", "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d"),
        ("gb2312", "\u4e2d\u6587\u90ae\u4ef6"),
    ],
)
def test_subject_and_body_in_legacy_charsets(charset: str, text: str) -> None:
    """RFC 2047 subjects and bodies in koi8-r, iso-2022-jp and gb2312 become UTF-8."""
    encoded = text.encode(charset)
    subject = f"=?{charset}?B?{binascii.b2a_base64(encoded, newline=False).decode()}?="
    raw = (
        (
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        + binascii.b2a_qp(encoded)
        + b"\r\n"
    )
    _, passport, store = run(raw)
    assert passport["email"]["subject"] == text
    body = items(passport, "text")[0]
    assert store.blobs[body["sha256"]] == text.encode() + b"\r\n"
    assert body["charset"] == charset
    assert passport["anomalies"] == []


def test_encoded_words_split_multibyte_join() -> None:
    """Adjacent encoded-words are joined before decoding; white space between is dropped."""
    value = "=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?= ok =?x-nonexistent?Q?a?="
    assert decode_words(value) == ("caf\u00e9 ok a", False)


def test_nested_message_is_stored_and_expanded() -> None:
    """A message/rfc822 part is an .eml attachment, and its parts are extracted with parent."""
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner text\n")
    inner.add_attachment(
        b"inner file", maintype="application", subtype="octet-stream", filename="in.bin"
    )
    outer = EmailMessage()
    outer["Subject"] = "outer"
    outer.set_content("outer text\n")
    outer.add_attachment(inner)
    raw = outer.as_bytes(policy=outer.policy.clone(linesep="\r\n"))
    _, passport, store = run(raw)
    attachments = items(passport, "attachment")
    assert [(a["name"], a["part"], a.get("parent")) for a in attachments] == [
        ("inner.eml", "2", None),
        ("in.bin", "2.2", "2"),
    ]
    assert store.blobs[attachments[0]["sha256"]] == inner.as_bytes(
        policy=inner.policy.clone(linesep="\r\n")
    )
    assert attachments[1]["sha256"] == sha(b"inner file")
    texts = items(passport, "text")
    assert [(t["part"], t.get("parent")) for t in texts] == [("1", None), ("2.1", "2")]


def test_uuencoded_block_in_text_is_unpacked() -> None:
    """A begin/end uuencoded block in a text body becomes an attachment."""
    data = bytes(range(200))
    lines = [binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, 200, 45)]
    body = b"see file\r\nbegin 644 ../x.bin\r\n" + b"\r\n".join(lines) + b"\r\n`\r\nend\r\n"
    raw = b"Subject: uu\r\n\r\n" + body
    _, passport, _ = run(raw)
    (found,) = items(passport, "attachment")
    assert (found["name"], found["sha256"], found["unpacked_from"]) == (
        "x.bin",
        sha(data),
        "uuencode",
    )


def tnef_attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    """One TNEF attribute ([MS-OXTNEF] s2.1.3.3) with its checksum."""
    return (
        bytes([level])
        + struct.pack("<HHI", name, kind, len(data))
        + data
        + struct.pack("<H", sum(data) & 0xFFFF)
    )


@pytest.mark.skipif(not tnef_available(), reason="tnefparse not installed")
def test_tnef_attachments_are_unpacked() -> None:
    """winmail.dat stays, and the files inside it are attachments too."""
    stream = b"\x78\x9f\x3e\x22\x01\x00" + tnef_attribute(1, 0x9006, 8, b"\x00\x00\x01\x00")
    for name, data in ((b"a.txt", b"alpha"), (b"b.bin", b"\x00\x01beta")):
        stream += tnef_attribute(2, 0x9002, 6, bytes(14))
        stream += tnef_attribute(2, 0x8010, 1, name + b"\x00")
        stream += tnef_attribute(2, 0x800F, 6, data)
    msg = EmailMessage()
    msg.set_content("see attached\n")
    msg.add_attachment(stream, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    _, passport, _ = run(msg.as_bytes())
    attachments = items(passport, "attachment")
    assert [(a["name"], a["sha256"], a.get("unpacked_from")) for a in attachments] == [
        ("winmail.dat", sha(stream), None),
        ("a.txt", sha(b"alpha"), "tnef"),
        ("b.bin", sha(b"\x00\x01beta"), "tnef"),
    ]


def test_dangerous_file_names_are_made_safe() -> None:
    """Path traversal and control characters never reach a stored name."""
    msg = EmailMessage()
    msg.set_content("x\n")
    msg.add_attachment(b"root", maintype="text", subtype="plain", filename="../../etc/passwd")
    msg.add_attachment(
        b"ctl", maintype="application", subtype="octet-stream", filename="a\x07b\u202etxt.exe"
    )
    _, passport, _ = run(msg.as_bytes())
    attachments = items(passport, "attachment")
    assert [a["name"] for a in attachments] == ["passwd", "a_b_txt.exe"]
    assert attachments[0]["wire_name"] == "../../etc/passwd"


def test_unknown_charset_falls_back_with_anomaly() -> None:
    """charset x-nonexistent: UTF-8 with replacement, anomaly mail_bad_charset."""
    raw = b"Subject: c\r\nContent-Type: text/plain; charset=x-nonexistent\r\n\r\nab\xffc\r\n"
    _, passport, store = run(raw)
    assert store.blobs[items(passport, "text")[0]["sha256"]] == "ab\ufffdc\r\n".encode()
    assert passport["anomalies"] == ["mail_bad_charset"]


def test_base64_garbage_decodes_what_it_can() -> None:
    """Garbage in a base64 part: the valid letters decode, anomaly mail_bad_base64."""
    raw = (
        b"Subject: b\r\nContent-Type: application/octet-stream; name=g.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8g!!d29y*bGQ\r\n"
    )
    record, passport, _ = run(raw)
    assert items(passport, "attachment")[0]["sha256"] == sha(b"hello world")
    assert passport["anomalies"] == ["mail_bad_base64"]
    assert record.complete is True


def test_ten_thousand_nested_multiparts() -> None:
    """10,000 nested multiparts: the object is emitted with its .eml and an anomaly."""
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(10_000)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    started = time.process_time()
    _, passport, _ = run(raw)
    assert time.process_time() - started < 6  # CPU seconds
    assert items(passport, "message")[0]["sha256"] == sha(raw)
    assert passport["anomalies"] == ["mail_too_many_parts"]
    assert passport["email"]["subject"] == "deep"


def test_depth_limit_stops_expansion() -> None:
    """Parts nested deeper than max_mime_depth are not expanded: mail_mime_too_deep."""
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(5)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    _, passport, _ = run(raw, config=Config(limits=Limits(max_mime_depth=3)))
    assert items(passport, "text") == []
    assert passport["anomalies"] == ["mail_mime_defect", "mail_mime_too_deep"]


def test_ten_megabyte_header_line() -> None:
    """A 10 MB Subject line: parsed in reasonable time, capped in the passport."""
    raw = b"Subject: " + b"a" * 10_000_000 + b"\r\nTo: b@example.net\r\n\r\nbody\r\n"
    started = time.process_time()
    _, passport, _ = run(raw)
    assert time.process_time() - started < 6  # CPU seconds
    assert len(passport["email"]["subject"]) == 16 * 1024
    assert passport["email"]["to"] == [{"name": None, "addr": "b@example.net"}]
    assert items(passport, "message")[0]["size"] == len(raw)


def test_message_over_the_parse_limit_is_stored_whole() -> None:
    """Past max_stored_body the .eml is still whole; parsing is cut: mail_truncated."""
    raw = plain() + b"x" * 5000
    record, passport, _ = run(raw, chunk=1000, config=Config(limits=Limits(max_stored_body=600)))
    assert items(passport, "message")[0]["sha256"] == sha(raw)
    assert passport["anomalies"] == ["mail_truncated"]
    assert (record.complete, passport["email"]["truncated"]) == (False, True)


def test_imap_header_and_text_pieces_join() -> None:
    """BODY[HEADER] and BODY[TEXT] of one UID become one whole message."""
    raw = plain()
    head, text = raw.split(b"\r\n\r\n", 1)
    store = MemoryContentStore()
    builder = MailBuilder(FLOW, store, Config(), source, itertools.count())
    records: list[ObjectRecord] = []
    for number, (section, data) in enumerate((("HEADER", head + b"\r\n\r\n"), ("TEXT", text))):
        records += builder.on_event(
            MessageBegin(
                direction=Direction.RESP,
                ts=1,
                message=number,
                protocol="imap",
                flow="incoming",
                command="FETCH",
                mailbox="INBOX",
                uid=7,
                section=section,
                partial="imap_section",
            ),
            1,
        )
        records += builder.on_event(
            MessageData(direction=Direction.RESP, ts=2, message=number, data=data), 2
        )
        records += builder.on_event(
            MessageEnd(direction=Direction.RESP, ts=3, message=number, complete=True), 3
        )
    assert builder.close(4) == []
    (record,) = records
    passport = json.loads(json.dumps(record.to_json()))
    validator().validate(passport)
    assert items(passport, "message")[0]["sha256"] == sha(raw)
    assert passport["email"]["partial"] is None
    assert passport["email"]["pieces"] == {"sections": ["HEADER", "TEXT"], "origins": [None, None]}
    assert (passport["direction"], passport["complete"]) == ("download", True)


def test_imap_origin_pieces_join_marked_partial() -> None:
    """Consecutive <origin> pieces join at close, marked imap_partial."""
    raw = plain()
    builder = MailBuilder(FLOW, MemoryContentStore(), Config(), source, itertools.count())
    for number, origin in enumerate((0, 100)):
        builder.on_event(
            MessageBegin(
                direction=Direction.RESP,
                ts=1,
                message=number,
                protocol="imap",
                flow="incoming",
                command="FETCH",
                mailbox="INBOX",
                uid=9,
                section="",
                origin=origin,
                partial="imap_partial",
            ),
            1,
        )
        builder.on_event(
            MessageData(
                direction=Direction.RESP, ts=2, message=number, data=raw[origin : origin + 100]
            ),
            2,
        )
        builder.on_event(
            MessageEnd(direction=Direction.RESP, ts=3, message=number, complete=True), 3
        )
    (record,) = builder.close(4)
    passport = json.loads(json.dumps(record.to_json()))
    validator().validate(passport)
    assert items(passport, "message")[0]["sha256"] == sha(raw[:200])
    assert (passport["email"]["partial"], passport["complete"]) == ("imap_partial", False)


def test_pop3_message_login_and_protocol_anomaly() -> None:
    """POP3: download, recipients from the headers, account of the accepted login."""
    store = MemoryContentStore()
    builder = MailBuilder(FLOW, store, Config(), source, itertools.count())
    resp = Direction.RESP
    events = [
        MailLogin(direction=ORIG, ts=1, mechanism="USER", account="bob", accepted=True),
        MailLogin(direction=ORIG, ts=1, mechanism="USER", account="mallory", accepted=False),
        MessageBegin(
            direction=resp,
            ts=2,
            message=0,
            protocol="pop3",
            flow="incoming",
            command="RETR",
            number=3,
        ),
        MessageData(direction=resp, ts=3, message=0, data=plain()),
        Anomaly(direction=resp, ts=3, name="pop3_bare_lf"),
        MessageEnd(direction=resp, ts=4, message=0, complete=True),
    ]
    records = [r for frame, e in enumerate(events) for r in builder.on_event(e, frame + 1)]
    (record,) = records
    passport = json.loads(json.dumps(record.to_json()))
    validator().validate(passport)
    assert (passport["direction"], passport["protocol"], passport["email"]["number"]) == (
        "download",
        "pop3",
        3,
    )
    assert passport["parties"] == {
        "sender": "alice@example.org",
        "recipients": ["bob@example.net", "carol@example.net"],
        "account": "bob",
    }
    assert passport["anomalies"] == ["pop3_bare_lf"]
    assert passport["source"] == {"type": "file", "name": "test", "first_frame": 3, "last_frame": 6}


def test_unfinished_message_is_emitted_at_close() -> None:
    """A message cut by the end of the flow: emitted at close, incomplete, .eml as seen."""
    builder = MailBuilder(FLOW, MemoryContentStore(), Config(), source, itertools.count())
    raw = plain()[:50]
    builder.on_event(
        MessageBegin(
            direction=ORIG, ts=1, message=0, protocol="smtp", flow="outgoing", command="DATA"
        ),
        1,
    )
    builder.on_event(MessageData(direction=ORIG, ts=2, message=0, data=raw), 2)
    (record,) = builder.close(3)
    passport = json.loads(json.dumps(record.to_json()))
    validator().validate(passport)
    assert (passport["complete"], passport["email"]["end_reason"]) == (False, "closed")
    assert items(passport, "message")[0]["sha256"] == sha(raw)
    assert record.id == "Cmail-0"


def test_tnef_garbage_keeps_attachment_with_anomaly() -> None:
    """A winmail.dat that is not TNEF: kept as it is, anomaly mail_bad_tnef."""
    msg = EmailMessage()
    msg.set_content("x\n")
    msg.add_attachment(
        b"\x78\x9f\x3e\x22\x01\x00" + b"\x02" * 100,
        maintype="application",
        subtype="ms-tnef",
        filename="winmail.dat",
    )
    _, passport, _ = run(msg.as_bytes())
    assert [a["name"] for a in items(passport, "attachment")] == ["winmail.dat"]
    assert passport["anomalies"] == ["mail_bad_tnef"]


MIME_PIECES = [
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/plain; charset*=utf-8''%FF%FE\r\n",
    b'Content-Type: text/html; charset="=?x?Q?y?="\r\n',
    b"Content-Disposition: attachment; filename*0*=x-bad''a%; filename*1=b\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"Subject: =?utf-8?B?####?= =?iso-2022-jp?Q?=1B$B?=\r\n",
    b'From: "a" <<@@>>, =?utf-8?Q?=FF?= <x@y>\r\n',
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n",
    b"\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"begin 644 f\r\nM86)C\r\nend\r\n",
    b"\xff\xfe\x00garbage\r\n",
    b"Content-Type: application/ms-tnef\r\n",
    b"\x78\x9f\x3e\x22\x01\x00\x02\x10\x80\x01\x00\xff\xff\xff\x7f",
    b"Content-Type: text/plain; charset=iso-2022-jp\r\n",
    b"\x1b$B\x1b(J\x80\x8e\r\n",
    b"=?gb2312?B?1tDOxA==?=\r\n",
    b"begin 644 ../\x01\r\n!!!\r\n",
    b"a" * 200 + b"\r\n",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Only indices are drawn (no bytes): hypothesis's cache mixes bytes and ints under -bb.
@given(st.lists(st.sampled_from(MIME_PIECES), max_size=30))
def test_arbitrary_messages_never_raise(pieces: list[bytes]) -> None:
    """Any mix of MIME fragments and bytes: one valid object whose .eml is the input."""
    raw = b"".join(pieces)
    _, passport, _ = run(raw, chunk=13)
    assert items(passport, "message")[0]["sha256"] == sha(raw)
