"""Mail extraction end to end: real servers and clients on a namespace's loopback, captured
by tcpdump and read back by the engine.

SMTP: aiosmtpd and smtplib (AUTH PLAIN and LOGIN, several messages per session). POP3 and
IMAP: Dovecot with Python's poplib and imaplib and with curl. The ground truth is what the
server stored (SMTP) or what the clients received (POP3, IMAP). Needs root, ``ip netns``,
tcpdump, Dovecot and aiosmtpd: skipped without them, except under CI=true, where their
absence is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.mailservers import (
    IMAP_PORT,
    IMAP_USER,
    MAIL_FROM,
    MAIL_PASSWORD,
    POP3_PORT,
    POP3_USER,
    RCPT_TO,
    SMTP_LOGIN_USER,
    SMTP_PORT,
    SMTP_USER,
    LoopbackNamespace,
    SampleMessage,
    build_messages,
    crlf,
    prerequisites_missing,
    which,
    write_dovecot_setup,
)


def require(tools: Sequence[str], *, need_aiosmtpd: bool = False) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(tools, need_aiosmtpd=need_aiosmtpd)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live mail tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture of a scenario, the engine's reading of it, and the reference bytes."""

    pcap: Path
    run: Run
    messages: list[SampleMessage]
    reference: dict[str, Any]


def mails(run: Run, protocol: str) -> list[dict[str, Any]]:
    """Email passports of ``protocol`` in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == "email" and p["protocol"] == protocol]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def message_bytes(run: Run, passport: dict[str, Any]) -> bytes:
    """The stored ``.eml`` of an email passport."""
    (item,) = [c for c in passport["contents"] if c["role"] == "message"]
    return run.content(item)


@pytest.fixture(scope="module")
def smtp_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """aiosmtpd receives four messages from smtplib in two sessions, under tcpdump."""
    require(["ip", "ss", "tcpdump"], need_aiosmtpd=True)
    work = tmp_path_factory.mktemp("smtp")
    messages = build_messages()
    outgoing, received = work / "outgoing", work / "received"
    outgoing.mkdir()
    received.mkdir()
    for index, message in enumerate(messages, start=1):
        (outgoing / f"{index:02d}.eml").write_bytes(message.raw)
    pcap = work / "smtp.pcap"
    namespace = LoopbackNamespace()
    try:
        server = namespace.spawn(
            [sys.executable, "-m", "tests.live.mailservers", "smtp-server", str(received)],
            work / "smtp-server.log",
        )
        namespace.wait_listening([SMTP_PORT], server)
        namespace.start_capture(pcap)
        namespace.run_tool("smtp-client", str(outgoing), str(work / "client.json"))
        namespace.stop_capture()
    finally:
        namespace.close()
    reference = {
        "received": [
            (path.read_bytes(), json.loads(path.with_suffix(".json").read_text()))
            for path in sorted(received.glob("*.eml"))
        ],
        "client": json.loads((work / "client.json").read_text()),
    }
    return Captured(pcap, run_capture(pcap), messages, reference)


@pytest.fixture(scope="module")
def dovecot_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """Dovecot serves three stored messages to curl, poplib and imaplib, under tcpdump."""
    require(["ip", "ss", "tcpdump", "curl", "dovecot"])
    work = tmp_path_factory.mktemp("dovecot")
    messages = build_messages()
    append_file = work / "append.eml"
    append_file.write_bytes(messages[3].raw)
    pcap = work / "dovecot.pcap"
    root = Path(tempfile.mkdtemp(prefix="wiresift-dovecot-"))
    namespace: LoopbackNamespace | None = None
    try:
        config = write_dovecot_setup(root, messages)
        namespace = LoopbackNamespace()
        dovecot = which("dovecot") or "dovecot"
        server = namespace.spawn([dovecot, "-F", "-c", str(config)], work / "dovecot.out")
        namespace.wait_listening([POP3_PORT, IMAP_PORT], server)
        namespace.start_capture(pcap)
        curl = which("curl") or "curl"
        pop3_url = f"pop3://{POP3_USER}:{MAIL_PASSWORD}@127.0.0.1/1"
        imap_url = f"imap://{IMAP_USER}:{MAIL_PASSWORD}@127.0.0.1/INBOX;UID=1"
        curl_pop3 = namespace.run([curl, "-sS", pop3_url]).stdout
        curl_imap = namespace.run([curl, "-sS", imap_url]).stdout
        namespace.run_tool("pop3-client", str(work / "pop3.json"))
        namespace.run_tool("imap-client", str(append_file), str(work / "imap.json"))
        namespace.stop_capture()
        stored = {
            user: sorted(p.read_bytes() for p in (root / "mail" / user / "cur").iterdir())
            for user in (POP3_USER, IMAP_USER)
        }
    finally:
        if namespace is not None:
            namespace.close()
        if (root / "dovecot.log").exists():
            shutil.copy(root / "dovecot.log", work / "dovecot.log")
        shutil.rmtree(root, ignore_errors=True)
    reference = {
        "curl_pop3": curl_pop3,
        "curl_imap": curl_imap,
        "pop3": json.loads((work / "pop3.json").read_text()),
        "imap": json.loads((work / "imap.json").read_text()),
        "stored": stored,
    }
    return Captured(pcap, run_capture(pcap), messages, reference)


def b64(text: str) -> bytes:
    """Bytes from the clients' base64 JSON values."""
    return base64.b64decode(text)


def parts(run: Run, passport: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Text bodies (role, sha256) and attachments (file name as sent, sha256) of a passport."""
    texts = [(c["role"], c["sha256"]) for c in passport["contents"] if c["role"] in TEXT_ROLES]
    files = [
        (c["wire_name"], c["sha256"])
        for c in passport["contents"]
        if c["role"] in ("attachment", "inline")
    ]
    for item in passport["contents"]:
        assert hashlib.sha256(run.content(item)).hexdigest() == item["sha256"]
    return {"texts": texts, "files": files}


TEXT_ROLES = ("text", "html")


def expected_parts(message: SampleMessage) -> dict[str, list[tuple[str, str]]]:
    """What ``parts`` must give for a sample message."""
    roles = ["text", "html"] if len(message.texts) == 2 else ["text"]
    return {
        "texts": [(r, sha256(t)) for r, t in zip(roles, message.texts, strict=True)],
        "files": [(name, sha256(data)) for name, data in message.attachments.items()],
    }


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# --- SMTP ----------------------------------------------------------------------------------


def test_smtp_server_received_the_messages_with_crlf_line_ends(smtp_capture: Captured) -> None:
    """aiosmtpd stored each message as sent: LF turned to CRLF, dot-unstuffed, nothing added;
    the pipelined session got its replies in order."""
    received = [raw for raw, _ in smtp_capture.reference["received"]]
    messages = smtp_capture.messages
    assert received == [crlf(m.raw) for m in [*messages, messages[0]]]
    assert smtp_capture.reference["client"]["pipelined_replies"] == [
        220,
        250,
        250,
        250,
        354,
        250,
        221,
    ]
    assert received[0].count(b"\r\n.\r\n") == 1  # the lone dot line survived the round trip


def test_smtp_one_email_per_message_byte_identical(smtp_capture: Captured) -> None:
    """Five DATA objects, each .eml byte-identical to what the server received."""
    found = mails(smtp_capture.run, "smtp")
    received = [raw for raw, _ in smtp_capture.reference["received"]]
    assert [message_bytes(smtp_capture.run, p) for p in found] == received
    assert [
        (p["email"]["command"], p["email"]["accepted"], p["complete"], p["email"]["partial"])
        for p in found
    ] == [("DATA", True, True, None)] * 5
    assert [p["direction"] for p in found] == ["upload"] * 5


def test_smtp_envelope_and_accounts(smtp_capture: Captured) -> None:
    """MAIL FROM, RCPT TO and the AUTH PLAIN / AUTH LOGIN accounts agree with the server
    (the pipelined session has no AUTH, so no account)."""
    found = mails(smtp_capture.run, "smtp")
    server_side = [
        (meta["mail_from"], meta["rcpt_to"], meta["login"])
        for _, meta in smtp_capture.reference["received"]
    ]
    assert server_side == [(MAIL_FROM, list(RCPT_TO), SMTP_USER)] * 3 + [
        (MAIL_FROM, [RCPT_TO[0]], SMTP_LOGIN_USER),
        (MAIL_FROM, [RCPT_TO[1]], None),
    ]
    assert [
        (p["email"]["mail_from"], p["email"]["rcpt_to"], p["email"]["account"]) for p in found
    ] == server_side
    helo = "client.example.test"
    assert [p["email"]["helo"] for p in found] == [helo] * 4 + ["pipeline.example.test"]


def test_smtp_subjects_texts_and_attachments(smtp_capture: Captured) -> None:
    """koi8-r and iso-2022-jp subjects decoded; text, HTML and attachment hashes exact."""
    found = mails(smtp_capture.run, "smtp")
    sent = [*smtp_capture.messages, smtp_capture.messages[0]]
    assert [p["email"]["subject"] for p in found] == [m.subject for m in sent]
    assert [parts(smtp_capture.run, p) for p in found] == [expected_parts(m) for m in sent]
    assert [p["email"]["attachments"] for p in found] == [0, 0, 3, 0, 0]


# --- POP3 ----------------------------------------------------------------------------------


def test_pop3_retr_byte_identical_to_what_clients_received(dovecot_capture: Captured) -> None:
    """curl's RETR 1 and poplib's RETR 1..3: each .eml equals the bytes the client got."""
    pop3 = dovecot_capture.reference["pop3"]
    got = [b64(pop3["retr"][str(n)]) for n in (1, 2, 3)]
    # Dovecot serves the maildir files (LF) with CRLF line ends and nothing added.
    assert got == [crlf(m.raw) for m in dovecot_capture.messages[:3]]
    assert dovecot_capture.reference["curl_pop3"] == got[0]
    retr = [p for p in mails(dovecot_capture.run, "pop3") if p["email"]["command"] == "RETR"]
    assert [
        (p["email"]["number"], p["complete"], p["email"]["partial"], p["email"]["account"])
        for p in retr
    ] == [(1, True, None, POP3_USER), (1, True, None, POP3_USER)] + [
        (n, True, None, POP3_USER) for n in (2, 3)
    ]
    assert [message_bytes(dovecot_capture.run, p) for p in retr] == [got[0], *got]


def test_pop3_top_is_partial(dovecot_capture: Captured) -> None:
    """TOP 1 3 is one object marked pop3_top holding exactly the lines the client got."""
    top = [p for p in mails(dovecot_capture.run, "pop3") if p["email"]["command"] == "TOP"]
    assert [(p["email"]["number"], p["email"]["partial"], p["complete"]) for p in top] == [
        (1, "pop3_top", False)
    ]
    expected = b64(dovecot_capture.reference["pop3"]["top"])
    assert message_bytes(dovecot_capture.run, top[0]) == expected
    assert expected.startswith(crlf(dovecot_capture.messages[0].raw).split(b"\r\n\r\n")[0])


def test_pop3_subjects_texts_and_attachments(dovecot_capture: Captured) -> None:
    """Subjects decoded; text and attachment hashes of the retrieved messages exact."""
    retr = [p for p in mails(dovecot_capture.run, "pop3") if p["email"]["command"] == "RETR"]
    messages = dovecot_capture.messages
    wanted = [messages[0], *messages[:3]]
    assert [p["email"]["subject"] for p in retr] == [m.subject for m in wanted]
    assert [parts(dovecot_capture.run, p) for p in retr] == [expected_parts(m) for m in wanted]


# --- IMAP ----------------------------------------------------------------------------------


def imap_fetches(captured: Captured) -> list[dict[str, Any]]:
    """IMAP objects read by the client (FETCH)."""
    return [p for p in mails(captured.run, "imap") if p["email"]["command"] == "FETCH"]


def test_imap_fetch_body_byte_identical(dovecot_capture: Captured) -> None:
    """curl's UID FETCH and imaplib's FETCH BODY[] 1..3: each .eml equals what the client got."""
    imap = dovecot_capture.reference["imap"]
    bodies = [b64(imap["bodies"][str(n)]) for n in (1, 2, 3)]
    assert bodies == [crlf(m.raw) for m in dovecot_capture.messages[:3]]
    assert dovecot_capture.reference["curl_imap"] == bodies[0]
    whole = [
        p
        for p in imap_fetches(dovecot_capture)
        if p["email"]["section"] == "" and p["email"]["partial"] is None
    ]
    assert [
        (p["email"]["number"], p["email"]["uid"], p["email"]["mailbox"], p["complete"])
        for p in whole
    ] == [
        (1, 1, "INBOX", True),  # curl
        (1, 1, "INBOX", True),
        (2, 2, "INBOX", True),
        (3, 3, "INBOX", True),
        (3, None, "INBOX", True),  # after COMPRESS DEFLATE
    ]
    after_compress = b64(imap["after_compress"])
    assert after_compress == bodies[2]
    assert [message_bytes(dovecot_capture.run, p) for p in whole] == [
        bodies[0],
        *bodies,
        after_compress,
    ]


def test_imap_compress_deflate_was_used(dovecot_capture: Captured) -> None:
    """Dovecot announced COMPRESS=DEFLATE after login and the client switched to it."""
    imap = dovecot_capture.reference["imap"]
    assert "COMPRESS=DEFLATE" in imap["capabilities"]
    assert imap["compress"] == "OK"


def test_imap_partial_fetch_is_marked(dovecot_capture: Captured) -> None:
    """FETCH BODY[]<0.100> gives one imap_partial object with the 100 bytes received."""
    imap = dovecot_capture.reference["imap"]
    partial = [p for p in imap_fetches(dovecot_capture) if p["email"]["partial"] is not None]
    assert [(p["email"]["number"], p["email"]["partial"], p["complete"]) for p in partial] == [
        (1, "imap_partial", False)
    ]
    received = b64(imap["partial"])
    assert received == b64(imap["bodies"]["1"])[:100]
    assert message_bytes(dovecot_capture.run, partial[0]) == received


def test_imap_header_and_text_make_one_message(dovecot_capture: Captured) -> None:
    """BODY[HEADER] then BODY[TEXT] of message 2 are joined into the whole message."""
    imap = dovecot_capture.reference["imap"]
    joined = [p for p in imap_fetches(dovecot_capture) if p["email"]["section"] == "HEADER"]
    header, text = b64(imap["header"]), b64(imap["text"])
    assert header + text == b64(imap["bodies"]["2"])
    assert [(p["email"]["number"], p["email"]["partial"], p["complete"]) for p in joined] == [
        (2, None, True)
    ]
    assert message_bytes(dovecot_capture.run, joined[0]) == header + text
    assert parts(dovecot_capture.run, joined[0]) == expected_parts(dovecot_capture.messages[1])


def test_imap_append_is_an_outgoing_message(dovecot_capture: Captured) -> None:
    """APPEND gives one outgoing object holding the appended bytes (CRLF, as imaplib sends)."""
    imap = dovecot_capture.reference["imap"]
    assert imap["append"] == "OK"
    appended = [p for p in mails(dovecot_capture.run, "imap") if p["email"]["command"] == "APPEND"]
    assert [
        (p["email"]["flow"], p["direction"], p["email"]["mailbox"], p["email"]["accepted"])
        for p in appended
    ] == [("outgoing", "upload", "INBOX", True)]
    assert message_bytes(dovecot_capture.run, appended[0]) == b64(imap["appended"])
    assert b64(imap["appended"]) == crlf(dovecot_capture.messages[3].raw)
    assert appended[0]["email"]["subject"] == dovecot_capture.messages[3].subject


def test_imap_accounts_subjects_and_attachments(dovecot_capture: Captured) -> None:
    """Every IMAP object names the LOGIN account; message 3's attachments hash exactly."""
    found = mails(dovecot_capture.run, "imap")
    assert {p["email"]["account"] for p in found} == {IMAP_USER}
    assert {p["parties"]["account"] for p in found} == {IMAP_USER}
    third = [p for p in imap_fetches(dovecot_capture) if p["email"]["number"] == 3]
    assert len(third) == 2
    for passport in third:
        assert passport["email"]["subject"] == dovecot_capture.messages[2].subject
        assert parts(dovecot_capture.run, passport) == expected_parts(dovecot_capture.messages[2])


# --- anomalies -----------------------------------------------------------------------------


def test_smtp_capture_has_no_anomaly(smtp_capture: Captured) -> None:
    """Ordinary traffic of real software raises no anomaly."""
    assert dict(smtp_capture.run.stats.anomalies) == {}


def test_dovecot_capture_anomalies_are_the_partial_fetch_only(dovecot_capture: Captured) -> None:
    """No flow anomaly but the one below; the only flagged object is the 100-byte partial
    fetch, which ends inside the header (a MIME defect)."""
    anomalies = dict(dovecot_capture.run.stats.anomalies)
    anomalies.pop("imap_deflate_end", None)  # see the test below
    assert anomalies == {}
    flagged = [(p["email"]["partial"], p["anomalies"]) for p in dovecot_capture.run.passports]
    assert [f for f in flagged if f[1]] == [("imap_partial", ["mail_mime_defect"])]


def test_imap_compress_stream_ended_at_logout_is_no_anomaly(dovecot_capture: Captured) -> None:
    """A DEFLATE stream that ends just before the connection closes is ordinary."""
    assert dovecot_capture.run.stats.anomalies["imap_deflate_end"] == 0
