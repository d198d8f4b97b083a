"""Hostile and malformed mail traffic through the whole engine (SMTP RFC 5321, POP3 RFC 1939,
IMAP RFC 3501): nothing raises, the object comes out marked, stored names are safe, and an
ordinary SMTP connection in the same capture still yields its message byte for byte.

Every capture interleaves the hostile connection's frames with those of one good SMTP
connection (another client port), so a problem on one flow that leaked into another would show.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
import tracemalloc
import unicodedata
from email.message import EmailMessage
from typing import Any, Final

import pytest

from tests.engine.helpers import Run, run_frames
from tests.pcapgen import DEFAULT_START_NS, Frame, TcpSession

HOSTILE_CLIENT: Final = ("10.0.0.1", 40000)
GOOD_CLIENT: Final = ("10.0.0.9", 40001)
SERVER_ADDR: Final = "10.0.0.2"
MSS: Final = 1448
# Segments for the multi-megabyte messages: under the 65,535-byte IPv4 total length.
BIG_SEGMENT: Final = 60_000
# safe_filename's default bound (extract/names.py), in UTF-8 bytes.
MAX_NAME_BYTES: Final = 200

Passport = dict[str, Any]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _good_message() -> tuple[bytes, bytes]:
    """A plain multipart message with one binary attachment: (message, attachment)."""
    attachment = bytes(range(256)) * 40
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "Bob <bob@example.net>"
    msg["Subject"] = "Quarterly report"
    msg.set_content("Hello Bob,\nthe numbers.\n.leading dot\n")
    msg.add_attachment(
        attachment, maintype="application", subtype="octet-stream", filename="numbers.bin"
    )
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), attachment


GOOD_MESSAGE, GOOD_ATTACHMENT = _good_message()


def dot_stuffed(message: bytes) -> bytes:
    """``message`` as DATA sends it: leading dots doubled, then the terminator (RFC 5321
    s4.5.2)."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line[:1] == b"." else line for line in lines) + b".\r\n"


def smtp_connection(
    messages: list[bytes],
    client: tuple[str, int] = HOSTILE_CLIENT,
    segment_size: int = MSS,
) -> TcpSession:
    """A well-behaved SMTP connection sending ``messages`` (each accepted with 250)."""
    s = TcpSession(client=client, server=(SERVER_ADDR, 25))
    s.handshake()
    s.send(False, b"220 mx.example.net ESMTP ready\r\n")
    s.send(True, b"EHLO client.example.org\r\n")
    s.send(False, b"250-mx.example.net\r\n250 PIPELINING\r\n")
    for message in messages:
        _transaction(s, message, segment_size)
    s.send(True, b"QUIT\r\n")
    s.send(False, b"221 bye\r\n")
    s.fin(True)
    s.fin(False)
    return s


def _transaction(s: TcpSession, message: bytes, segment_size: int = MSS) -> None:
    """MAIL, RCPT, DATA and the message, each answered by the server."""
    s.send(True, b"MAIL FROM:<alice@example.org>\r\n")
    s.send(False, b"250 ok\r\n")
    s.send(True, b"RCPT TO:<bob@example.net>\r\n")
    s.send(False, b"250 ok\r\n")
    s.send(True, b"DATA\r\n")
    s.send(False, b"354 go ahead\r\n")
    s.send(True, dot_stuffed(message), segment_size)
    s.send(False, b"250 queued\r\n")


def pop3_logged_in(port: int = 110) -> TcpSession:
    """A POP3 connection past its greeting and USER/PASS login."""
    s = TcpSession(client=HOSTILE_CLIENT, server=(SERVER_ADDR, port))
    s.handshake()
    s.send(False, b"+OK POP3 ready\r\n")
    s.send(True, b"USER alice\r\n")
    s.send(False, b"+OK\r\n")
    s.send(True, b"PASS secret\r\n")
    s.send(False, b"+OK maildrop locked\r\n")
    return s


def capture(hostile: TcpSession) -> list[Frame]:
    """The hostile connection's frames interleaved one by one with the good connection's."""
    good = smtp_connection([GOOD_MESSAGE], GOOD_CLIENT).frames
    pairs = itertools.zip_longest(hostile.frames, good)
    frames = [item[1] for pair in pairs for item in pair if item is not None]
    return [(DEFAULT_START_NS + index * 1000, frame) for index, frame in enumerate(frames)]


def mails(run: Run, client: tuple[str, int] = HOSTILE_CLIENT) -> list[Passport]:
    """The e-mail passports of one client's connection, in emission order."""
    return [
        p
        for p in run.passports
        if p["kind"] == "email" and p["flow"]["client"] == {"addr": client[0], "port": client[1]}
    ]


def items(passport: Passport, role: str) -> list[dict[str, Any]]:
    return [c for c in passport["contents"] if c["role"] == role]


def message_item(passport: Passport) -> dict[str, Any]:
    (item,) = items(passport, "message")
    return item


def assert_good_mail_intact(run: Run) -> None:
    """The good connection's one message: complete, accepted, .eml and attachment exact."""
    (good,) = mails(run, GOOD_CLIENT)
    assert (good["complete"], good["email"]["accepted"], good["anomalies"]) == (True, True, [])
    eml = message_item(good)
    assert eml["sha256"] == sha(GOOD_MESSAGE)
    assert run.content(eml) == GOOD_MESSAGE
    (attachment,) = items(good, "attachment")
    assert (attachment["name"], attachment["sha256"]) == ("numbers.bin", sha(GOOD_ATTACHMENT))
    assert run.content(attachment) == GOOD_ATTACHMENT


# -- 1. MIME bombs -----------------------------------------------------------------------------


def nested_multiparts(depth: int) -> bytes:
    """A message whose body is ``depth`` multiparts, each the first part of the one before."""
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    return b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi\r\n"


def test_ten_thousand_nested_multiparts_keep_the_eml_whole() -> None:
    """10,000 nested multiparts: one object, mail_too_many_parts, header parsed only, .eml
    and the unparsed body stored whole."""
    raw = nested_multiparts(10_000)
    run = run_frames(capture(smtp_connection([raw], segment_size=BIG_SEGMENT)))
    (mail,) = mails(run)
    assert mail["anomalies"] == ["mail_too_many_parts"]
    assert (mail["complete"], mail["email"]["accepted"]) == (True, True)
    assert mail["email"]["subject"] == "deep"
    eml = message_item(mail)
    assert (eml["size"], eml["sha256"], eml["complete"]) == (len(raw), sha(raw), True)
    assert run.content(eml) == raw
    # Only the header was parsed: the body stays one part, as sent.
    (body,) = items(mail, "attachment")
    assert body["declared_type"] == "multipart/mixed"
    assert run.content(body) == raw.split(b"\r\n\r\n", 1)[1]
    assert run.stats.anomalies["parser_crash"] == 0
    assert_good_mail_intact(run)


def test_fifty_nested_multiparts_stop_at_the_depth_limit() -> None:
    """50 nested multiparts (under the container cap): mail_mime_too_deep, no part past it."""
    raw = nested_multiparts(50)
    run = run_frames(capture(smtp_connection([raw])))
    (mail,) = mails(run)
    # No closing boundary anywhere: the MIME parser notes a defect too.
    assert mail["anomalies"] == ["mail_mime_defect", "mail_mime_too_deep"]
    assert [c["role"] for c in mail["contents"]] == ["message"]
    assert run.content(message_item(mail)) == raw
    assert_good_mail_intact(run)


def test_two_thousand_flat_parts_stop_at_the_part_limit() -> None:
    """2,000 sibling parts: the first 1,024 (max_multipart_parts) stored, mail_too_many_parts."""
    raw = b"Subject: flat\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n"
    raw += b"".join(
        b"--F\r\nContent-Type: application/octet-stream\r\n\r\npart %d\r\n" % i for i in range(2000)
    )
    raw += b"--F--\r\n"
    run = run_frames(capture(smtp_connection([raw], segment_size=BIG_SEGMENT)))
    (mail,) = mails(run)
    assert mail["anomalies"] == ["mail_too_many_parts"]
    assert (mail["email"]["parts"], mail["email"]["attachments"]) == (1024, 1024)
    attachments = items(mail, "attachment")
    assert len(attachments) == 1024
    assert run.content(attachments[-1]) == b"part 1023"
    assert run.content(message_item(mail)) == raw
    assert_good_mail_intact(run)


# -- 2. a 10 MB header line ----------------------------------------------------------------------


@pytest.mark.parametrize("field", [b"Subject", b"X-Junk"])
def test_ten_megabyte_header_line(field: bytes) -> None:
    """A 10 MB header line: one complete object in well under 10 s, header text capped."""
    other_subject = b"" if field == b"Subject" else b"Subject: short\r\n"
    raw = (
        other_subject
        + field
        + b": "
        + b"j" * 10_000_000
        + b"\r\nTo: bob@example.net\r\n\r\nbody\r\n"
    )
    frames = capture(smtp_connection([raw], segment_size=BIG_SEGMENT))
    started = time.process_time()
    run = run_frames(frames)
    elapsed = time.process_time() - started
    assert elapsed < 10, elapsed
    (mail,) = mails(run)
    assert (mail["complete"], mail["anomalies"]) == (True, [])
    subject = "j" * 16 * 1024 if field == b"Subject" else "short"
    assert mail["email"]["subject"] == subject
    assert mail["email"]["to"] == [{"name": None, "addr": "bob@example.net"}]
    eml = message_item(mail)
    assert (eml["size"], eml["sha256"]) == (len(raw), sha(raw))
    assert len(eml["name"].encode()) <= MAX_NAME_BYTES
    (text,) = items(mail, "text")
    assert run.content(text) == b"body\r\n"
    assert_good_mail_intact(run)


# -- 3. an IMAP literal claiming 4 GB ------------------------------------------------------------


SEEN_OF_HUGE: Final = b"Subject: huge\r\n\r\nthe first bytes\r\n"


@pytest.mark.parametrize(
    "claim",
    [
        b"4294967296",
        b"4294967297",
        b"9" * 40,
    ],
)
def test_imap_literal_claiming_four_gigabytes(claim: bytes) -> None:
    """A FETCH literal announcing >= 4 GiB, then the connection ends: imap_literal_too_large,
    an incomplete object with the bytes seen, no memory allocated for the claim."""
    s = TcpSession(client=HOSTILE_CLIENT, server=(SERVER_ADDR, 143))
    s.handshake()
    s.send(False, b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
    s.send(True, b"a1 LOGIN alice secret\r\n")
    s.send(False, b"a1 OK logged in\r\n")
    s.send(True, b"a2 SELECT INBOX\r\n")
    s.send(False, b"* 1 EXISTS\r\na2 OK [READ-WRITE] done\r\n")
    s.send(True, b"a3 FETCH 1 BODY[]\r\n")
    s.send(False, b"* 1 FETCH (BODY[] {" + claim + b"}\r\n" + SEEN_OF_HUGE)
    s.fin(False)
    s.fin(True)
    frames = capture(s)
    tracemalloc.start()
    try:
        run = run_frames(frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, peak
    assert run.stats.anomalies["imap_literal_too_large"] == 1
    (mail,) = mails(run)
    assert mail["protocol"] == "imap"
    assert mail["anomalies"] == ["imap_literal_too_large"]
    assert (mail["complete"], mail["email"]["end_reason"]) == (False, "closed")
    eml = message_item(mail)
    assert (eml["complete"], run.content(eml)) == (False, SEEN_OF_HUGE)
    assert_good_mail_intact(run)


# -- 4. garbage inside base64 --------------------------------------------------------------------


def test_base64_attachment_with_garbage_keeps_the_decodable_bytes() -> None:
    """Characters outside the base64 alphabet mid-attachment: mail_bad_base64, the
    attachment stored with every byte the valid letters carry."""
    payload = bytes(range(256)) * 4
    lines = base64.encodebytes(payload).split(b"\n")
    middle = len(lines) // 2
    garbage = b"!!#$%&*;<>? \x00\x7f\xff~~ = ="
    encoded = b"\r\n".join([*lines[:middle], garbage, *lines[middle:]])
    raw = (
        b"From: alice@example.org\r\nSubject: b64\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--XX\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
        b"Content-Disposition: attachment; filename=data.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--XX--\r\n"
    )
    run = run_frames(capture(smtp_connection([raw])))
    (mail,) = mails(run)
    assert mail["anomalies"] == ["mail_bad_base64"]
    assert mail["complete"] is True
    (attachment,) = items(mail, "attachment")
    assert (attachment["name"], attachment["size"]) == ("data.bin", len(payload))
    assert attachment["sha256"] == sha(payload)
    assert run.content(attachment) == payload
    assert run.content(message_item(mail)) == raw
    assert_good_mail_intact(run)


# -- 5. hostile attachment names -------------------------------------------------------------------


LONG_NAME: Final = "A" * 5000 + ".txt"
# (Content-Disposition parameter as sent, wire_name expected, stored name expected)
HOSTILE_NAMES: Final = [
    (b'filename="../../etc/passwd"', "../../etc/passwd", "passwd"),
    # RFC 2231 s4 percent-encoding carries NUL, ESC and CR LF into the name.
    (
        b"filename*=utf-8''evil%00%1B%5B31mname%0D%0A.txt",
        "evil\x00\x1b[31mname\r\n.txt",
        "evil_[31mname__.txt",
    ),
    (b'filename="' + LONG_NAME.encode() + b'"', LONG_NAME, "A" * 196 + ".txt"),
    # RFC 2047 encoded-words hiding traversal (Q and B encodings, both separators).
    (
        b'filename="=?utf-8?q?=2E=2E=2F=2E=2E=2Fetc=2Fshadow?="',
        "../../etc/shadow",
        "shadow",
    ),
    (
        b'filename="=?utf-8?b?' + base64.b64encode(b"..\\..\\boot.ini") + b'?="',
        "..\\..\\boot.ini",
        "boot.ini",
    ),
    (b'filename="=?utf-8?q?=2E=2E?="', "..", "_"),
]


def test_hostile_attachment_names_are_stored_safely() -> None:
    """Traversal, control characters, a 5,000-character name and encoded-word tricks: each
    stored under a safe, bounded name, the original kept in wire_name."""
    parts = [
        b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        + parameter
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"file %d\n" % index).replace(b"\n", b"\r\n")
        for index, (parameter, _, _) in enumerate(HOSTILE_NAMES)
    ]
    raw = (
        b"From: alice@example.org\r\nSubject: names\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" + b"".join(parts) + b"--XX--\r\n"
    )
    run = run_frames(capture(smtp_connection([raw])))
    (mail,) = mails(run)
    assert (mail["complete"], mail["anomalies"]) == (True, [])
    attachments = items(mail, "attachment")
    assert [(a["wire_name"], a["name"]) for a in attachments] == [
        (wire, stored) for _, wire, stored in HOSTILE_NAMES
    ]
    for index, attachment in enumerate(attachments):
        name = attachment["name"]
        assert "/" not in name, name
        assert "\\" not in name, name
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name), name
        assert 0 < len(name.encode()) <= MAX_NAME_BYTES
        assert name not in (".", "..")
        assert not name.startswith(".")
        assert run.content(attachment) == b"file %d\n" % index
    assert_good_mail_intact(run)


# -- 6. a POP3 message that never ends -----------------------------------------------------------


@pytest.mark.parametrize("close", ["fin", "rst"])
def test_pop3_retr_cut_by_the_close_is_incomplete(close: str) -> None:
    """RETR whose response stops mid-line (FIN or RST): an incomplete object holding the
    bytes seen, dot-unstuffed."""
    seen = b"From: alice@example.org\r\nSubject: cut\r\n\r\nline one\r\n..dotted\r\nline thr"
    s = pop3_logged_in()
    s.send(True, b"RETR 1\r\n")
    s.send(False, b"+OK 500 octets\r\n" + seen, 20)
    if close == "fin":
        s.fin(False)
        s.fin(True)
    else:
        s.rst(False)
    run = run_frames(capture(s))
    (mail,) = mails(run)
    assert mail["protocol"] == "pop3"
    assert mail["complete"] is False
    meta = mail["email"]
    assert (meta["command"], meta["number"], meta["account"]) == ("RETR", 1, "alice")
    assert (meta["complete"], meta["end_reason"], meta["partial"]) == (False, "closed", None)
    eml = message_item(mail)
    unstuffed = seen.replace(b"\r\n..", b"\r\n.")
    assert (eml["complete"], eml["size"], eml["sha256"]) == (False, len(unstuffed), sha(unstuffed))
    assert run.content(eml) == unstuffed
    assert mail["email"]["subject"] == "cut"
    assert_good_mail_intact(run)


# -- 7. junk around an SMTP dialogue ------------------------------------------------------------


FIRST: Final = b"From: alice@example.org\r\nSubject: one\r\n\r\nfirst\r\n"
SECOND: Final = b"From: alice@example.org\r\nSubject: two\r\n\r\nsecond\r\n"
# Every byte value three times: four "lines" (the LFs), each an unknown command.
CLIENT_JUNK: Final = bytes(range(256)) * 3 + b"\r\n"


def _junk_connection(client_junk: bytes, server_answers: bytes, server_junk: bytes) -> TcpSession:
    """Client junk before EHLO, the server's answers to it, server junk before its EHLO
    reply, then two ordinary transactions."""
    s = TcpSession(client=HOSTILE_CLIENT, server=(SERVER_ADDR, 25))
    s.handshake()
    s.send(True, client_junk)
    s.send(False, b"220 mx.example.net ESMTP\r\n" + server_answers)
    s.send(True, b"EHLO client.example.org\r\n")
    s.send(False, server_junk + b"250 mx.example.net\r\n")
    _transaction(s, FIRST)
    _transaction(s, SECOND)
    s.send(True, b"QUIT\r\n")
    s.send(False, b"221 bye\r\n")
    s.fin(True)
    s.fin(False)
    return s


def _assert_both_messages(run: Run) -> None:
    assert [(m["email"]["subject"], m["complete"], m["email"]["accepted"]) for m in mails(run)] == [
        ("one", True, True),
        ("two", True, True),
    ]
    assert [run.content(message_item(m)) for m in mails(run)] == [FIRST, SECOND]
    assert {m["email"]["helo"] for m in mails(run)} == {"client.example.org"}


def test_smtp_binary_junk_answered_by_the_server_resynchronises() -> None:
    """Binary junk before EHLO (each line answered 500) and garbage server lines: anomalies
    counted, both later messages extracted whole."""
    answers = b"500 unrecognised\r\n" * CLIENT_JUNK.count(b"\n")
    server_junk = b"\x00\xff\xfe not a reply\r\n\x1b[2J\r\n"
    run = run_frames(capture(_junk_connection(CLIENT_JUNK, answers, server_junk)))
    assert run.stats.anomalies["smtp_unknown_command"] == 4
    assert run.stats.anomalies["smtp_bad_reply"] == 2
    assert run.stats.anomalies["parser_crash"] == 0
    assert run.stats.protocols["smtp"] == 2
    _assert_both_messages(run)
    assert [m["anomalies"] for m in mails(run)] == [[], []]
    assert_good_mail_intact(run)


def test_smtp_over_long_junk_lines_lose_only_themselves() -> None:
    """Over-long binary lines (past max_line) on both sides: only those lines are dropped."""
    client_junk = CLIENT_JUNK + b"\x00\xff" * 5000 + b"\r\n"
    answers = b"500 unrecognised\r\n" * CLIENT_JUNK.count(b"\n") + b"500 line too long\r\n"
    server_junk = b"\xee" * 9000 + b"\r\n"
    run = run_frames(capture(_junk_connection(client_junk, answers, server_junk)))
    assert run.stats.anomalies["smtp_line_too_long"] == 2
    _assert_both_messages(run)
    assert_good_mail_intact(run)


def test_smtp_over_long_junk_lines_never_crash() -> None:
    """Over-long binary lines on both sides: anomalies, no crash, the other flow intact."""
    client_junk = CLIENT_JUNK + b"\x00\xff" * 5000 + b"\r\n"
    answers = b"500 unrecognised\r\n" * CLIENT_JUNK.count(b"\n") + b"500 line too long\r\n"
    server_junk = b"\xee" * 9000 + b"\r\n"
    run = run_frames(capture(_junk_connection(client_junk, answers, server_junk)))
    assert run.stats.anomalies["smtp_line_too_long"] == 2
    assert run.stats.anomalies["parser_crash"] == 0
    assert_good_mail_intact(run)


def test_smtp_junk_never_answered_keeps_the_later_messages() -> None:
    """Junk lines the server never answers shift reply pairing; the second message, sent
    whole after its DATA, must still come out."""
    run = run_frames(capture(_junk_connection(CLIENT_JUNK, b"", b"")))
    assert run.stats.anomalies["smtp_unknown_command"] == 4
    assert [m["email"]["subject"] for m in mails(run)] == ["one", "two"]
    assert [run.content(message_item(m)) for m in mails(run)] == [FIRST, SECOND]
    assert_good_mail_intact(run)


def test_smtp_junk_never_answered_never_crashes() -> None:
    """Junk lines the server never answers: anomalies, the first message extracted whole,
    the other flow intact."""
    run = run_frames(capture(_junk_connection(CLIENT_JUNK, b"", b"")))
    assert run.stats.anomalies["smtp_unknown_command"] == 4
    assert run.stats.anomalies["parser_crash"] == 0
    first = mails(run)[0]
    assert (first["email"]["subject"], first["complete"]) == ("one", True)
    assert run.content(message_item(first)) == FIRST
    assert_good_mail_intact(run)


def test_smtp_message_whose_data_reply_is_missing_is_kept() -> None:
    """The server's reply to DATA never appears and the connection closes: the message the
    client sent whole is still an object (verdict unknown)."""
    s = TcpSession(client=HOSTILE_CLIENT, server=(SERVER_ADDR, 25))
    s.handshake()
    s.send(False, b"220 mx.example.net ESMTP\r\n")
    s.send(True, b"EHLO client.example.org\r\n")
    s.send(False, b"250 mx.example.net\r\n")
    s.send(True, b"MAIL FROM:<alice@example.org>\r\n")
    s.send(False, b"250 ok\r\n")
    s.send(True, b"RCPT TO:<bob@example.net>\r\n")
    s.send(False, b"250 ok\r\n")
    s.send(True, b"DATA\r\n" + dot_stuffed(FIRST) + b"QUIT\r\n")
    s.fin(True)
    s.fin(False)
    run = run_frames(capture(s))
    found = mails(run)
    assert len(found) == 1
    assert run.content(message_item(found[0])) == FIRST
    assert found[0]["email"]["accepted"] is None
    assert_good_mail_intact(run)


# -- 8. a gap inside a POP3 message ----------------------------------------------------------------


def test_pop3_gap_inside_retr_then_next_retr_is_complete() -> None:
    """A segment lost inside RETR 1: that object is incomplete (gap, bytes before the hole);
    RETR 2 on the same connection is extracted complete."""
    first = b"From: alice@example.org\r\nSubject: first\r\n\r\n" + b"".join(
        b"line %04d of the first message\r\n" % i for i in range(100)
    )
    second = b"From: alice@example.org\r\nSubject: second\r\n\r\nhello again\r\n"
    response = b"+OK\r\n" + first + b".\r\n"
    hole_start, hole_end = 1000, 1500
    s = pop3_logged_in()
    s.send(True, b"RETR 1\r\n")
    s.send(False, response[:hole_start], MSS)
    s.skip(False, hole_end - hole_start)
    s.send(False, response[hole_end:], MSS)
    s.send(True, b"RETR 2\r\n")  # its ACK covers the hole: the capture lost those bytes
    s.send(False, b"+OK\r\n" + second + b".\r\n")
    s.send(True, b"QUIT\r\n")
    s.send(False, b"+OK bye\r\n")
    s.fin(True)
    s.fin(False)
    run = run_frames(capture(s))
    assert run.stats.anomalies["tcp_content_gap"] == 1
    assert run.stats.anomalies["pop3_content_gap"] == 1
    cut, whole = mails(run)
    assert (cut["email"]["number"], cut["complete"]) == (1, False)
    assert (cut["email"]["complete"], cut["email"]["end_reason"]) == (False, "gap")
    assert cut["anomalies"] == ["pop3_content_gap"]
    before_hole = first[: hole_start - len(b"+OK\r\n")]
    eml = message_item(cut)
    assert (eml["complete"], eml["sha256"]) == (False, sha(before_hole))
    assert run.content(eml) == before_hole
    assert (whole["email"]["number"], whole["complete"], whole["anomalies"]) == (2, True, [])
    assert whole["email"]["subject"] == "second"
    assert run.content(message_item(whole)) == second
    assert_good_mail_intact(run)
