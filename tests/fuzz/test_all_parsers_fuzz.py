"""Every registered parser on hostile bytes: it never raises and its buffers stay bounded.

Each parser gets random bytes and mutations of a plausible opening of its own protocol, in
both directions and random cuts, then gaps and the end of both directions.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.config import Limits
from wiresift.protocols import REGISTRY
from wiresift.protocols.base import Direction, FlowInfo, ProtocolSpec

LIMITS = Limits(max_line=512, max_header_block=4096, max_stored_body=64 * 1024)
# The most a parser may hold while fed this input (headers, lines and literals are capped).
MAX_HELD = 256 * 1024

OPENINGS: dict[str, bytes] = {
    "http": b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "http2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    "smtp": b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
    "ftp": b"USER anonymous\r\nPASS x\r\nPASV\r\nRETR /f\r\n",
    "pop3": b"USER a\r\nPASS b\r\nRETR 1\r\n",
    "imap": b"a1 LOGIN u p\r\na2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n",
    "tls": bytes.fromhex("16030100310100002d0303") + bytes(32) + b"\x00\x00\x02\x00\x2f\x01\x00",
    "socks": b"\x05\x01\x00\x05\x01\x00\x03\x0bexample.com\x00\x50",
    "websocket": b"\x81\x85\x01\x02\x03\x04ifmmp",
    "nmdc": b"$MyNick a|$Lock EXTENDEDPROTOCOLabc Pk=x|<a> hello|",
    "adc": b"HSUP ADBASE ADTIGR\nBINF AAAB NIalice\nBMSG AAAB hello\\sworld\n",
}


def _info(spec: ProtocolSpec) -> FlowInfo:
    return FlowInfo(
        uid="Wfuzz",
        orig_addr="10.0.0.1",
        orig_port=40000,
        resp_addr="10.0.0.2",
        resp_port=min(spec.ports) if spec.ports else 1,
        transport=spec.transport,
    )


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(0, 8)):
        if not out:
            break
        choice = rng.randrange(4)
        pos = rng.randrange(len(out))
        if choice == 0:
            out[pos] = rng.randrange(256)
        elif choice == 1:
            del out[pos]
        elif choice == 2:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        else:
            out[pos:pos] = out[pos : pos + rng.randrange(1, 40)] * rng.randrange(2, 50)
    return bytes(out)


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda spec: spec.name)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), noise=st.binary(max_size=600))
def test_parser_survives_hostile_bytes(spec: ProtocolSpec, seed: int, noise: bytes) -> None:
    """No exception, whatever arrives, and the parser holds a bounded number of bytes."""
    rng = random.Random(seed)
    parser = spec.parser(_info(spec), LIMITS)
    opening = OPENINGS.get(spec.name, b"")
    stream = _mutate(opening, rng) + noise + _mutate(opening, rng)
    position = 0
    while position < len(stream):
        step = rng.randrange(1, 200)
        direction = Direction(rng.randrange(2))
        parser.feed(direction, stream[position : position + step], position)
        assert parser.buffered_bytes() <= MAX_HELD
        if rng.random() < 0.05:
            parser.gap(Direction(rng.randrange(2)), rng.randrange(1, 5000), position)
        position += step
    parser.end(Direction.ORIG, position)
    parser.end(Direction.RESP, position)
    assert parser.buffered_bytes() <= MAX_HELD
