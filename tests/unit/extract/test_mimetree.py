"""The fast MIME tree equals the standard library's (compat32), on every message."""

from __future__ import annotations

import random
import time
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import SMTP, compat32
from typing import Any

import pytest

from wiresift.extract.mimetree import MAX_FAST_DEPTH, fast_tree, parse_message


def _payload(entity: Message) -> Any:
    return getattr(entity, "_payload", None)


def assert_same_tree(ours: Message, theirs: Message, path: str = "root") -> None:
    """Headers, payload strings, preamble, epilogue, defects and default type, recursively."""
    assert type(ours) is type(theirs), path
    assert ours.get_unixfrom() == theirs.get_unixfrom(), path
    assert list(ours.raw_items()) == list(theirs.raw_items()), path
    assert ours.preamble == theirs.preamble, path
    assert ours.epilogue == theirs.epilogue, path
    assert [type(d) for d in ours.defects] == [type(d) for d in theirs.defects], path
    assert ours.get_default_type() == theirs.get_default_type(), path
    mine, other = _payload(ours), _payload(theirs)
    if isinstance(other, list):
        assert isinstance(mine, list), path
        assert len(mine) == len(other), path
        for index, (a, b) in enumerate(zip(mine, other, strict=True)):
            assert_same_tree(a, b, f"{path}.{index}")
    else:
        assert mine == other, path


def stdlib_tree(data: bytes) -> Message:
    return BytesParser(policy=compat32).parsebytes(data)


def _rich_message() -> bytes:
    """text + HTML alternative, two attachments, an attached message (RFC 2046 s5.2.1)."""
    inner = EmailMessage()
    inner["From"] = "Inner <inner@example.org>"
    inner["Subject"] = "Forwarded"
    inner.set_content("inner body\n")
    inner.add_attachment(
        b"\x00\x01inner-binary" * 40,
        maintype="application",
        subtype="octet-stream",
        filename="in.bin",
    )
    outer = EmailMessage()
    outer["From"] = "Alice <alice@example.org>"
    outer["To"] = "Bob <bob@example.org>, carol@example.org"
    outer["Subject"] = "Quarterly figures"
    outer.set_content("Hello Bob,\nthe figures.\n")
    outer.add_alternative("<p>Hello Bob,</p>", subtype="html")
    outer.add_attachment(
        bytes(range(256)) * 300, maintype="application", subtype="pdf", filename="figures.pdf"
    )
    outer.add_attachment("naïve résumé\n", filename="notes.txt")
    outer.add_attachment(inner)
    outer.preamble = "This is a multi-part message in MIME format."
    outer.epilogue = "bye"
    return outer.as_bytes(policy=SMTP)


def _simple(body: str, newline: str = "\r\n") -> bytes:
    head = f"From: a@example.org{newline}Subject: hi{newline}{newline}"
    return (head + body).encode()


WELL_FORMED: dict[str, bytes] = {
    "rich CRLF": _rich_message(),
    "rich LF": _rich_message().replace(b"\r\n", b"\n"),
    "single part": _simple("line one\r\nline two\r\n"),
    "no final line ending": _simple("line one\r\nline two"),
    "empty body": _simple(""),
    "headers only": b"From: a@example.org\r\nSubject: no body\r\n",
    "no headers": b"\r\njust a body\r\n",
    "unix from line": b"From a@example.org Thu Nov 26 10:00:00 2026\nSubject: x\n\nbody\n",
    "folded header": b"Subject: one\r\n two\r\n\tthree\r\nFrom: a@b\r\n\r\nbody\r\n",
    "8-bit text": b"Subject: \xcf\xf0\xe8\xe2\xe5\xf2\r\n\r\n\xf2\xe5\xeb\xee\r\n",  # cp1251
    "multipart minimal": (
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\r\npart\r\n--XX--\r\n"
    ),
    "boundary with whitespace and epilogue": (
        b'Content-Type: multipart/mixed; boundary="a b"\r\n\r\npre\r\n\r\n--a b  \r\n'
        b"Content-Type: text/plain\r\n\r\none\r\n\r\n--a b\t\r\nX: y\r\n\r\ntwo"
        b"\r\n--a b-- \t\r\n\r\nepilogue line\r\n"
    ),
    "close delimiter at the end without line ending": (
        b"Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n\r\np\r\n--Q--"
    ),
    "header-only part": (
        b"Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\nX-Only: 1\r\n--Q--\r\n"
    ),
    "nested multiparts": (
        b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"
        b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\r\nA\r\n"
        b"--inner\r\n\r\nB\r\n--inner--\r\nafter inner\r\n--outer\r\n\r\nC\r\n--outer--\r\n"
    ),
    "nested multipart with an empty epilogue": (
        b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
        b"Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nA\r\n--i--\r\n"
        b"--o--\r\n"
    ),
    "line that looks like a delimiter": (
        b"Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n\r\n--Qx\r\n--Q -\r\n"
        b"--Q--x\r\n--Q--\r\n"
    ),
}


@pytest.mark.parametrize("name", WELL_FORMED)
def test_fast_path_builds_the_standard_tree(name: str) -> None:
    data = WELL_FORMED[name]
    tree = fast_tree(data.decode("ascii", "surrogateescape"))
    assert tree is not None, "this message should take the fast path"
    assert_same_tree(tree, stdlib_tree(data))
    assert_same_tree(parse_message(data), stdlib_tree(data))


FALLBACKS: dict[str, bytes] = {
    "mixed line endings": b"Subject: x\r\n\nbody\r\nmore\n",
    "bare carriage return": b"Subject: x\r\n\r\nbo\rdy\r\n",
    "no boundary parameter": b"Content-Type: multipart/mixed\r\n\r\n--X\r\n\r\na\r\n--X--\r\n",
    "no close delimiter": b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n\r\na\r\n",
    "no first delimiter": b"Content-Type: multipart/mixed; boundary=X\r\n\r\njust text\r\n",
    "close delimiter first": b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X--\r\n",
    "empty part": (
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n--X\r\n\r\na\r\n--X--\r\n"
    ),
    "same boundary nested": (
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n"
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n\r\na\r\n--X--\r\n--X--\r\n"
    ),
    "encoded multipart": (
        b"Content-Type: multipart/mixed; boundary=X\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n--X\r\n\r\na\r\n--X--\r\n"
    ),
    "digest": b"Content-Type: multipart/digest; boundary=X\r\n\r\n--X\r\n\r\nA: b\r\n--X--\r\n",
    "delivery status": b"Content-Type: message/delivery-status\r\n\r\nA: b\r\n\r\nC: d\r\n",
    "body line inside the header": b"Subject: x\r\nnot a header line\r\n\r\nbody\r\n",
}


@pytest.mark.parametrize("name", FALLBACKS)
def test_messages_the_fast_path_cannot_reproduce_go_to_the_standard_parser(name: str) -> None:
    data = FALLBACKS[name]
    assert fast_tree(data.decode("ascii", "surrogateescape")) is None
    assert_same_tree(parse_message(data), stdlib_tree(data))


def test_deep_nesting_goes_to_the_standard_parser() -> None:
    depth = MAX_FAST_DEPTH + 5
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    data = head + b"\r\nleaf" + tail
    assert fast_tree(data.decode()) is None
    assert_same_tree(parse_message(data), stdlib_tree(data))


_PIECES = (b"\r\n", b"\n", b"\r", b"--", b" ", b"\t", b":", b"\r\n\r\n", b"x")


def _mutations(data: bytes, count: int, rng: random.Random) -> list[bytes]:
    """Deletions, duplications and insertions of structural bytes and delimiter lines."""
    lines = [line for line in data.split(b"\r\n") if line.startswith(b"--")] or [b"--"]
    out = []
    for _ in range(count):
        cut = rng.randrange(len(data) + 1)
        kind = rng.randrange(4)
        if kind == 0:
            mutated = data[:cut] + data[cut + rng.randrange(1, 40) :]
        elif kind == 1:
            mutated = data[:cut] + rng.choice(_PIECES) + data[cut:]
        elif kind == 2:
            mutated = data[:cut] + b"\r\n" + rng.choice(lines) + b"\r\n" + data[cut:]
        else:
            mutated = data[:cut]
        out.append(mutated)
    return out


@pytest.mark.parametrize(
    "name", ["rich CRLF", "rich LF", "nested multiparts", "boundary with whitespace and epilogue"]
)
def test_mutated_messages_give_the_standard_tree_whichever_path(name: str) -> None:
    rng = random.Random(f"mimetree {name}")
    taken = 0
    for mutated in _mutations(WELL_FORMED[name], 250, rng):
        if fast_tree(mutated.decode("ascii", "surrogateescape")) is not None:
            taken += 1
        assert_same_tree(parse_message(mutated), stdlib_tree(mutated))
    assert taken >= 40  # the fast path was exercised, not only the fallback


def test_many_near_delimiters_and_parts_stay_linear() -> None:
    """20,000 lines that start like a delimiter but are none, and 1,000 real parts."""
    lines = b"".join(b"--Bx not a delimiter %d\r\n" % i for i in range(20_000))
    parts = b"".join(
        b"--B\r\nX-Part: %d\r\n\r\n%s" % (i, lines if i == 0 else b"p\r\n") for i in range(1000)
    )
    data = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + b"--B--\r\n"
    started = time.process_time()
    tree = fast_tree(data.decode("ascii"))
    elapsed = time.process_time() - started
    assert tree is not None
    assert len(_payload(tree)) == 1000
    assert elapsed < 5  # under 0.1 s here; scanning quadratic in the lines would not be
    assert_same_tree(tree, stdlib_tree(data))
