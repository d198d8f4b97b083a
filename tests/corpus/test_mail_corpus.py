"""Real SMTP, POP3 and IMAP captures of the shared corpus: every message and attachment.

Hash conventions: Suricata and Zeek hash attachments after the transfer encoding is
removed (our attachment ``sha256``/``md5``; Zeek's files.log gives sha1); Suricata's raw
extraction hashes the message as sent over DATA, dot-unstuffing removed, through the CRLF
ending its last line (our ``message`` item, the .eml); Arkime hashes text parts after the
transfer encoding, in their own charset (our ``sent_sha256``/``sent_md5`` when converting
to UTF-8 changed the bytes). TShark's IMF export drops the message's final CRLF, and for
POP3 it exports single TCP segments: those hashes are not expected here.
"""

from __future__ import annotations

import csv
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, corpus_path
from tests.engine.helpers import Run, run_capture

HEX = re.compile(r"\b(?:[0-9a-f]{64}|[0-9a-f]{32})\b")
DIRS = ("smtp", "pop3", "imap")


@cache
def rows() -> list[dict[str, str]]:
    if not CORPUS.is_dir():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["file"].split("/")[1] in DIRS]


def trusted_hashes(row: dict[str, str]) -> set[str]:
    """Hashes stated by Zeek, Suricata or Arkime (not TShark, not the capture's own)."""
    short = Path(row["file"]).stem
    found: set[str] = set()
    for clause in row["expected_objects"].split("||"):
        origin = clause.strip().lower()
        if not origin.startswith(("tshark", "mime leaf", "hard-case", "manual")):
            found |= set(HEX.findall(clause))
    for f in (CORPUS / "expected").glob(f"{short}__*.sha256"):
        found |= set(HEX.findall(f.read_text(errors="replace"))[:1])
    return found - {row["sha256"]}


def produced_hashes(run: Run) -> set[str]:
    hashes: set[str] = set()
    for passport in run.passports:
        for item in passport["contents"]:
            for key in ("sha256", "md5", "sent_sha256", "sent_md5"):
                if item.get(key):
                    hashes.add(item[key])
    return hashes


@cache
def run_of(name: str) -> Run:
    return run_capture(corpus_path(*name.split("/")))


@pytest.mark.corpus
@pytest.mark.parametrize("name", [r["file"] for r in rows()] or ["pcaps/smtp (corpus absent)"])
def test_trusted_mail_hashes_are_reproduced(name: str) -> None:
    """Every attachment or message hash the reference tools state is among our objects'."""
    run = run_of(name)
    row = next(r for r in rows() if r["file"] == name)
    assert trusted_hashes(row) - produced_hashes(run) == set()


def summary(passport: dict[str, Any]) -> tuple[object, ...]:
    mail = passport["email"]
    attachments = tuple(
        (c["name"], c["size"])
        for c in passport["contents"]
        if c["role"] in ("attachment", "inline")
    )
    (message,) = [c for c in passport["contents"] if c["role"] == "message"]
    return (
        mail["subject"],
        mail["command"],
        passport["complete"],
        mail["partial"],
        message["size"],
        attachments,
    )


# What each capture must give, in order of the messages' first packet: subject, command,
# complete, partial reason, .eml size, attachments (name, size). Counts agree with the
# MANIFEST (RETR/TOP counts of tshark, Zeek's smtp.log mails, Suricata's records).
EXPECTED: dict[str, list[tuple[object, ...]]] = {
    "smtp/zeek-bdat-multipart": [
        ("Zeek Logo", "BDAT", True, None, 3460, (("zeek-logo.png", 2011),))
    ],
    "smtp/zeek-bdat-multipart-chunked": [
        ("Zeek Logo", "BDAT", True, None, 3460, (("zeek-logo.png", 2011),))
    ],
    "smtp/suri-smtp-rfc2231": [
        (
            "SMTPbelka-test_sans_name2021-03-08-17:28:53-"
            "221a0d8d17b3b41e28ec113dcabb55da7bdb03a8c0bb5d3de252f5d69347aa4d.zip",
            "DATA",
            True,
            None,
            71497,
            (
                # RFC 2231 continuations joined: Suricata's fileinfo.filename.
                (
                    "smtptest-2021-02-25T13-54-22Z-aefb2fc1308d62f4b6c74769f69b13"
                    "ddf80e995fd98ae442f3be499ea928c67f..zip",
                    51675,
                ),
            ),
        )
    ],
    "smtp/suri-mime-quoted-printable": [
        (
            "Test message for capture",
            "DATA",
            True,
            None,
            44935,
            (("words.txt", 1058), ("related.patch", 34224)),
        )
    ],
    "smtp/arkime-smtp-subject-8859-q": [
        ("é î ø ü" + " " * 185 + "test", "DATA", True, None, 965, ())
    ],
    "smtp/arkime-smtp-subject-gb2312-b": [("test 测试", "DATA", True, None, 1448, ())],
    "smtp/zeek-smtp-attachment-msg": [("subject", "DATA", True, None, 586, (("test.msg", 34),))],
    "smtp/suri-smtp-raw-extraction": [
        (
            "Testing testing 1 2 3 (Multiple attachments)",
            "DATA",
            True,
            None,
            15162,
            (
                ("winmail.dat", 10355),
                ("packet-tnef-name-string.patch.gz", 878),
                ("info-16.png", 603),
            ),
        )
    ],
    "smtp/zeek-smtp-one-side-only": [
        ("Hello1!", "DATA", True, None, 9178, ()),
        ("Hello2!", "DATA", True, None, 9179, ()),
    ],
    "smtp/zeek-smtp": [
        ("SMTP", "DATA", True, None, 14545, (("NEWS.txt", 10807),)),
        ("Re: Bro SMTP CC Header", "DATA", True, None, 804, ()),
    ],
    "pop3/zeek-pop3": [
        ("A message from 1&1 Internet", "RETR", True, None, 5565, ()),
        ("Testing", "RETR", True, None, 8412, ()),
        ("RE: Testing", "RETR", True, None, 5214, ()),
    ],
    "pop3/ppa-email-troubles-pop3": [
        ("Re: Details", "RETR", True, None, 100220, (("document_9446.pif", 72477),)),
        ("Re: Details", "RETR", True, None, 100600, (("movie0045.pif", 72769),)),
        ("Re: Approved", "RETR", True, None, 100149, (("document_all.pif", 72446),)),
    ],
    "imap/ndpi-imap": [("coucou", "FETCH", False, "imap_section", 666, ())],
}


def ordered(run: Run) -> list[dict[str, Any]]:
    mails = [p for p in run.passports if p["kind"] == "email"]
    return sorted(mails, key=lambda p: (p["ts_first_ns"], p["id"]))


@pytest.mark.corpus
@pytest.mark.parametrize("short", sorted(EXPECTED))
def test_messages_subjects_and_attachments(short: str) -> None:
    """The exact messages: subject decoded, command, completeness, .eml size, attachments."""
    run = run_of(f"pcaps/{short}.pcap")
    assert [summary(p) for p in ordered(run)] == EXPECTED[short]
    for passport in ordered(run):
        (message,) = [c for c in passport["contents"] if c["role"] == "message"]
        assert hashlib.sha256(run.content(message)).hexdigest() == message["sha256"]


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "count", "command"),
    [
        ("pop3/aie-pop-flow.pcap", 5, "RETR"),
        ("pop3/ndpi-pop3.pcapng", 4, "RETR"),
        ("pop3/suri-pop3.pcap", 49, "TOP"),
        ("imap/arkime-imap.pcap", 26, "FETCH"),
    ],
)
def test_message_counts(name: str, count: int, command: str) -> None:
    """Every RETR, TOP and FETCH body of these sessions is an object (TOP ones partial)."""
    mails = ordered(run_of(f"pcaps/{name}"))
    assert len(mails) == count
    assert {p["email"]["command"] for p in mails} == {command}
    if command == "TOP":
        assert {p["email"]["partial"] for p in mails} == {"pop3_top"}


def _sha1_of(run: Run, role: str, name: str | None) -> set[str]:
    return {
        hashlib.sha1(run.content(c), usedforsecurity=False).hexdigest()
        for p in run.passports
        for c in p["contents"]
        if c["role"] == role and (name is None or c["name"] == name)
    }


@pytest.mark.corpus
def test_zeek_sha1_of_bdat_parts_and_attached_message() -> None:
    """Zeek's files.log sha1 of the BDAT logo and text, and of the attached message/rfc822."""
    bdat = run_of("pcaps/smtp/zeek-bdat-multipart-chunked.pcap")
    assert "e9a752f145e10688ab485277a723ecbcfb5c8a63" in _sha1_of(
        bdat, "attachment", "zeek-logo.png"
    ) | _sha1_of(bdat, "inline", "zeek-logo.png")
    texts = {
        hashlib.sha1(run_content, usedforsecurity=False).hexdigest()
        for run_content in (bdat.content(c) for p in bdat.passports for c in p["contents"])
    }
    assert "5cd7c323275d114627acbae92abc666d4335c8bb" in texts
    attached = run_of("pcaps/smtp/zeek-smtp-attachment-msg.pcap")
    (passport,) = attached.passports
    assert passport["email"]["from"] == [{"name": None, "addr": "sender@example.com"}]
    assert passport["email"]["attachments"] == 1


@pytest.mark.corpus
def test_accounts_and_envelopes() -> None:
    """Login names and the SMTP envelope are recorded; no password without keep_secrets."""
    pop3 = ordered(run_of("pcaps/pop3/aie-pop-flow.pcap"))
    assert {p["email"]["account"] for p in pop3} == {"plod"}
    smtp = ordered(run_of("pcaps/smtp/zeek-smtp.pcap"))
    assert smtp[1]["email"]["mail_from"] == "albert@example.com"
    assert smtp[1]["email"]["rcpt_to"] == [
        "ericlim220@yahoo.com",
        "felica4uu@hotmail.com",
        "davis_mark1@outlook.com",
    ]
    assert smtp[0]["email"]["account"] == "gurpartap@patriots.in"
    assert all("secret" not in repr(p["email"]).lower() for p in smtp + pop3)
    assert {p["direction"] for p in smtp} == {"upload"}
    assert {p["direction"] for p in pop3} == {"download"}
