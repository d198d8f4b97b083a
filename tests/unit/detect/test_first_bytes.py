"""``ProtocolSpec.first_bytes`` is only a shortcut: it never changes a detection verdict."""

from __future__ import annotations

import dataclasses
import random
import struct

import pytest

from wiresift.detect.detector import StreamDetector
from wiresift.detect.signatures import Verdict
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Direction, ProtocolSpec

FILTERED = [spec for spec in REGISTRY if spec.first_bytes is not None]

# First lines of every text protocol, both sides, whole and cut: the material a rule could
# match if the first byte did not stop it.
LINES = [
    b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"REQMOD icap://proxy/avscan ICAP/1.0\r\n",
    b"ICAP/1.0 200 OK\r\n",
    b"EHLO mail.example\r\n",
    b"220 mx.example ESMTP Postfix\r\n",
    b"220 ftp.example FTP server ready\r\n",
    b"USER anonymous\r\n",
    b"+OK POP3 ready\r\n",
    b"RETR 1\r\n",
    b"* OK [CAPABILITY IMAP4rev1] ready\r\n",
    b"a001 LOGIN user pass\r\n",
    b"NICK alice\r\nUSER alice 0 * :Alice\r\n",
    b":irc.example NOTICE * :*** Looking up your hostname\r\n",
    b"<?xml version='1.0'?><stream:stream to='example.com'>",
    b"<message to='a@b' type='chat'>",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    # datagram protocols
    b"d1:ad2:id20:" + b"a" * 20 + b"e1:q4:ping1:t2:aa1:y1:qe",  # DHT ping (BEP 5)
    (0x41727101980).to_bytes(8, "big") + b"\x00\x00\x00\x00\x12\x34\x56\x78",  # BEP 15
    struct.pack(">BBHIIIHH", 0x41, 0, 7, 0, 0, 65535, 1, 0),  # uTP SYN (BEP 29)
    struct.pack(">BBHIIIHH", 0x01, 0, 7, 5, 0, 65535, 2, 1) + b"\x13BitTorrent protocol",
    b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n\r\n",
    b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"t" * 12,  # STUN binding request
    b"\x01\x01\x00\x00\x21\x12\xa4\x42" + b"t" * 12,  # its success response
    # DTLS 1.2 ClientHello record and handshake headers (RFC 6347 s4.1, s4.2.2)
    b"\x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x30"
    + b"\x01\x00\x00\x24\x00\x00\x00\x00\x00\x00\x00\x24\xfe\xfd"
    + b"r" * 34,
]


def verdicts(spec: ProtocolSpec, data: bytes) -> list[object]:
    other = {Direction.ORIG: Direction.RESP, Direction.RESP: Direction.ORIG}
    return [StreamDetector._check(spec, side, other[side], data) for side in Direction]


def samples() -> list[bytes]:
    rng = random.Random(20261126)
    out = []
    for line in LINES:
        for cut in (1, 2, 5, len(line)):
            out.append(line[:cut])
            for first in (0x00, 0x16, 0x80, 0xFF, 0x7F, 0x08, 0x41, 0x64, 0x42):
                out.append(bytes([first]) + line[:cut])
                out.append(bytes([first]) + line[1:cut])
    out.extend(rng.randbytes(rng.randrange(1, 300)) for _ in range(3000))
    return out


@pytest.mark.parametrize("spec", FILTERED, ids=[spec.name for spec in FILTERED])
def test_first_bytes_never_change_a_verdict(spec: ProtocolSpec) -> None:
    """For every sample, the rules with and without the first-byte shortcut agree."""
    unfiltered = dataclasses.replace(spec, first_bytes=None)
    skipped = 0
    first_bytes = spec.first_bytes or frozenset()
    matched = 0
    for data in samples():
        expected = verdicts(unfiltered, data)
        assert verdicts(spec, data) == expected, (spec.name, data[:40])
        skipped += data[0] not in first_bytes
        matched += any(verdict[0] is Verdict.MATCH for verdict in expected)
    assert skipped > 2000  # the shortcut was taken, and had to agree
    assert matched  # and some sample is the protocol's own, which still matches


def test_which_protocols_declare_their_first_bytes() -> None:
    """The line-based protocols and the datagram protocols with a fixed first byte carry
    the shortcut; TLS (SSLv2 hellos), HTTP/2 (a server's first frame), the peer wire (MSE)
    and the classic Skype heuristic do not."""
    names = {spec.name for spec in FILTERED}
    assert names == {
        "icap", "http", "smtp", "ftp", "pop3", "imap", "irc", "xmpp",
        "dtls", "bittorrent-dht", "bittorrent-tracker-udp", "utp", "bittorrent-lsd", "stun",
    }  # fmt: skip
