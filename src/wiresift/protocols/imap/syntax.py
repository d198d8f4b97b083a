"""IMAP4 lexical helpers (RFC 3501 s4, s9; RFC 9051 s4, s9): tokens, literals, names.

A command or response is a sequence of *fragments*: the bytes up to a CRLF. A fragment
that ends in a literal marker ``{n}``, ``{n+}`` (RFC 7888) or ``~{n}`` (RFC 3516) is
followed by ``n`` raw bytes and then by the next fragment of the same command or response.
The parser cuts the stream into fragments and literals; this module turns one fragment into
tokens without ever looking at literal contents.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from typing import Final, NamedTuple


class Token(enum.IntEnum):
    """Kinds of lexical token (RFC 3501 s4)."""

    OPEN = 0  # "("
    CLOSE = 1  # ")"
    ATOM = 2  # atom, number, NIL, or a fetch item name such as BODY[1.MIME]<0>
    STRING = 3  # quoted string (unescaped) or a literal's stored contents


TokenList = list[tuple[Token, bytes]]

# Literal marker at the end of a fragment: optional "~" (binary, RFC 3516 s4.1), digits,
# optional "+" (non-synchronising, RFC 7888 s3).
_LITERAL_MARK: Final = re.compile(rb"(~?)\{([0-9]{1,40})(\+?)\}\Z")
# Digits read at most from a literal size: 10**19 bytes is far past any real literal, and
# int() of a longer digit string is slow.
_MAX_SIZE_DIGITS: Final = 19
# One token: spaces, a parenthesis, a quoted string, or an atom. Brackets in an atom may
# hold spaces and parentheses: BODY[HEADER.FIELDS (FROM TO)]<0> is one fetch item name
# (RFC 3501 s7.4.2). Anything else is taken one byte at a time as a stray atom.
_TOKEN: Final = re.compile(
    rb' +|(\()|(\))|"((?:[^"\\\r\n]|\\.)*)"|((?:[^ ()"\[\r\n]|\[[^\]\r\n]*\])+)|([\s\S])'
)
_QUOTED_ESCAPE: Final = re.compile(rb"\\([\s\S])")


class LiteralMark(NamedTuple):
    """A literal announced at the end of a fragment."""

    size: int
    binary: bool  # ~{n}: may hold NUL and any octet (RFC 3516)
    synchronising: bool  # {n}: the sender waits for a "+" continuation (RFC 3501 s7.5)
    mark_len: int  # bytes of the marker at the end of the fragment


def literal_mark(fragment: bytes) -> LiteralMark | None:
    """The literal marker that ends ``fragment``, if any."""
    if not fragment.endswith(b"}"):
        return None
    match = _LITERAL_MARK.search(fragment)
    if match is None:
        return None
    digits = match.group(2).lstrip(b"0") or b"0"
    size = int(digits) if len(digits) <= _MAX_SIZE_DIGITS else 10**_MAX_SIZE_DIGITS
    return LiteralMark(
        size=size,
        binary=bool(match.group(1)),
        synchronising=not match.group(3),
        mark_len=match.end() - match.start(),
    )


def tokenize(fragment: bytes) -> TokenList:
    """Tokens of one fragment (without its literal marker and CRLF)."""
    tokens: TokenList = []
    for match in _TOKEN.finditer(fragment):
        index = match.lastindex
        if index is None:  # spaces
            continue
        if index == 1:
            tokens.append((Token.OPEN, b"("))
        elif index == 2:
            tokens.append((Token.CLOSE, b")"))
        elif index == 3:
            tokens.append((Token.STRING, unquote(match.group(3))))
        else:
            tokens.append((Token.ATOM, match.group(index)))
    return tokens


def unquote(inner: bytes) -> bytes:
    """A quoted string's contents with its ``\\"`` and ``\\\\`` escapes removed (RFC 3501 s9)."""
    if b"\\" not in inner:
        return inner
    return _QUOTED_ESCAPE.sub(rb"\1", inner)


def decode_mailbox(name: bytes) -> str:
    """A mailbox name decoded from modified UTF-7 (RFC 3501 s5.1.3).

    ``&`` starts modified BASE64 (``,`` for ``/``, no padding) of UTF-16BE, ``-`` ends it,
    ``&-`` is ``&`` itself. INBOX is case-insensitive (RFC 3501 s5.1). Raw 8-bit bytes are
    read as UTF-8 (RFC 6855 UTF8=ACCEPT); an undecodable shift sequence stays as written.
    """
    if name.upper() == b"INBOX":
        return "INBOX"
    if b"&" not in name:
        return name.decode("utf-8", "backslashreplace")
    parts: list[str] = []
    start = 0
    while True:
        amp = name.find(b"&", start)
        dash = name.find(b"-", amp + 1) if amp >= 0 else -1
        if dash < 0:
            parts.append(name[start:].decode("utf-8", "backslashreplace"))
            return "".join(parts)
        parts.append(name[start:amp].decode("utf-8", "backslashreplace"))
        encoded = name[amp + 1 : dash]
        if not encoded:
            parts.append("&")
        else:
            try:
                raw = base64.b64decode(
                    encoded.replace(b",", b"/") + b"=" * (-len(encoded) % 4), validate=True
                )
                parts.append(raw.decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError):
                parts.append(name[amp : dash + 1].decode("utf-8", "backslashreplace"))
        start = dash + 1


def text(value: bytes) -> str:
    """Wire bytes as text for events: UTF-8, undecodable bytes shown as escapes."""
    return value.decode("utf-8", "backslashreplace")


class SaslAccount(NamedTuple):
    """What the client's SASL responses say of the account (RFC 4422)."""

    account: str
    secret: str | None


def _b64(response: bytes) -> bytes | None:
    """A base64 SASL response decoded; ``=`` is the empty initial response (RFC 4959 s3)."""
    if response == b"=":
        return b""
    try:
        return base64.b64decode(response, validate=True)
    except binascii.Error:
        return None


def sasl_account(mechanism: str, responses: list[bytes]) -> SaslAccount | None:
    """Account (and secret) from the base64 client responses of one SASL exchange.

    PLAIN: ``authzid NUL authcid NUL passwd`` (RFC 4616 s2). LOGIN: the user name, then the
    password (draft-murchison-sasl-login). XOAUTH2 / OAUTHBEARER: ``user=`` and
    ``auth=Bearer`` key-value pairs separated by ^A (RFC 7628 s3.1). CRAM-MD5: ``user SP
    digest`` (RFC 2195 s2). Other mechanisms carry no clear account.
    """
    decoded = [_b64(response) for response in responses]
    values = [value for value in decoded if value is not None]
    if not values:
        return None
    first = values[0]
    if mechanism == "PLAIN":
        fields = first.split(b"\x00")
        if len(fields) != 3:
            return None
        authzid, authcid, passwd = fields
        return SaslAccount(text(authcid or authzid), text(passwd))
    if mechanism == "LOGIN":
        return SaslAccount(text(first), text(values[1]) if len(values) > 1 else None)
    if mechanism in ("XOAUTH2", "OAUTHBEARER"):
        account = secret = None
        for pair in first.split(b"\x01"):
            if pair.startswith(b"user="):
                account = text(pair[5:])
            elif pair.startswith(b"auth="):
                secret = text(pair[5:].removeprefix(b"Bearer "))
            elif pair.startswith((b"n,a=", b"y,a=")):  # OAUTHBEARER gs2
                account = text(pair[4:].split(b",", 1)[0])
        return SaslAccount(account, secret) if account is not None else None
    if mechanism == "CRAM-MD5" and len(values) >= 1:
        # The first response of CRAM-MD5 answers the server's challenge.
        user, _, _ = values[-1].partition(b" ")
        return SaslAccount(text(user), None)
    return None
