"""What the line-based mail protocols share (SMTP RFC 5321, POP3 RFC 1939): the
dot-stuffed block reader, SASL exchanges (RFC 4954, RFC 5034) and a parser base with the
state every one of them keeps (both directions' buffers, confirmation, limits).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import (
    Anomaly,
    Direction,
    Event,
    FlowInfo,
    Parser,
    SwitchProtocol,
    Violation,
)
from wiresift.protocols.mailevents import MailLogin

# Client response lines of an AUTH exchange, without and with an initial response.
_SASL_LINES: Final = {
    "PLAIN": (1, 0),  # RFC 4616
    "LOGIN": (2, 1),  # draft-murchison-sasl-login
    "CRAM-MD5": (1, 1),  # RFC 2195
    "XOAUTH2": (1, 0),  # Google XOAUTH2
    "OAUTHBEARER": (1, 0),  # RFC 7628
}
_SASL_MAX_RESPONSES: Final = 8  # responses kept per AUTH exchange
_SASL_UNTIL_REPLY: Final = -1


class LineMailParser(Parser):
    """Base of the SMTP and POP3 parsers: buffers, limits, the first-violation rule, the
    too-long-line anomaly and the hand-over to TLS."""

    name = ""
    # Passwords go into MailLogin events only when the engine sets this (output.keep_secrets).
    keep_secrets: bool = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._bufs = (ByteBuffer(), ByteBuffer())
        self._max_line = limits.max_line
        self._max_pending = limits.max_pending_tx
        self._reader = DotStuffedReader()
        self._confirmed = False
        self._violation_reported = False

    def buffered_bytes(self) -> int:
        """Bytes held in both directions' buffers and the body reader."""
        return len(self._bufs[0]) + len(self._bufs[1]) + self._reader.held()

    def _line_too_long(self, direction: Direction, ts: int, out: list[Event]) -> None:
        out.append(
            Anomaly(
                direction=direction,
                ts=ts,
                name=f"{self.name}_line_too_long",
                detail=f"over {self._max_line} bytes",
            )
        )
        # The SKIP_LINE state drops the rest of this line; what follows it stays.

    def _violation(self, direction: Direction, ts: int, out: list[Event], reason: str) -> None:
        """Only the first sign that the stream is not this protocol, before it was confirmed."""
        if not self._confirmed and not self._violation_reported:
            self._violation_reported = True
            out.append(Violation(direction=direction, ts=ts, reason=reason))

    def _tls_switch(self, direction: Direction, ts: int) -> SwitchProtocol:
        """STARTTLS/STLS accepted: the rest of both directions belongs to TLS (RFC 3207,
        RFC 2595)."""
        other = Direction(1 - direction)
        return SwitchProtocol(
            direction=direction,
            ts=ts,
            to="tls",
            leftover=self._bufs[direction].take_all(),
            leftover_other=self._bufs[other].take_all(),
        )


class DotStuffedReader:
    """The body of a dot-terminated block: SMTP DATA (RFC 5321 s4.5.2), POP3 multi-line
    responses (RFC 1939 s3).

    A line that starts with "." loses that dot; a line holding only "." ends the block. A
    line ends at LF (CRLF or bare LF, which real software also accepts). The reader holds
    back at most the two bytes (".", ".\\r") that may still turn into the terminator.
    """

    __slots__ = ("_held", "_line_start")

    def __init__(self, *, line_start: bool = True) -> None:
        self._held = b""
        self._line_start = line_start

    def held(self) -> int:
        """Bytes held back for the next call."""
        return len(self._held)

    def feed(self, data: bytes) -> tuple[bytes, bytes | None]:
        """Unstuffed content of ``data``, and the bytes after the terminator (None: no
        terminator yet)."""
        if self._held:
            data = self._held + data
            self._held = b""
        pieces: list[bytes] = []
        pos = 0
        size = len(data)
        line_start = self._line_start
        while pos < size:
            if line_start:
                line_start = False
                if data[pos] == 0x2E:  # "."
                    after = data[pos + 1 : pos + 3]
                    if after == b"\r\n":
                        return b"".join(pieces), data[pos + 3 :]
                    if after[:1] == b"\n":
                        return b"".join(pieces), data[pos + 2 :]
                    if after in (b"", b"\r"):
                        self._held = data[pos:]
                        self._line_start = True
                        return b"".join(pieces), None
                    pos += 1  # a stuffed dot
                    if pos == size:
                        break
            newline_dot = data.find(b"\n.", pos)
            if newline_dot < 0:
                pieces.append(data[pos:])
                line_start = data[-1] == 0x0A
                break
            pieces.append(data[pos : newline_dot + 1])
            pos = newline_dot + 1
            line_start = True
        self._line_start = line_start
        return b"".join(pieces), None


def _text(raw: bytes) -> str:
    """Wire bytes to text for an event field, never failing."""
    return raw.decode("utf-8", "backslashreplace")


def _b64(raw: bytes) -> bytes | None:
    try:
        return base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def sasl_credentials(mechanism: str, responses: Sequence[bytes]) -> tuple[str, str] | None:
    """Account and secret from the client's base64 SASL responses (RFC 4954 s4), or None
    when they do not decode. The secret is "" when the mechanism carries none readable.

    PLAIN (RFC 4616): ``authzid NUL authcid NUL passwd``; LOGIN: user, then password;
    CRAM-MD5 (RFC 2195): ``user SP digest``; XOAUTH2: ``user=...^Aauth=Bearer ...^A^A``;
    OAUTHBEARER (RFC 7628): a GS2 header ``n,a=user,`` then the same key=value pairs.
    """
    decoded: list[bytes] = []
    for response in responses:
        if response == b"=":  # an empty initial response (RFC 4954 s4)
            decoded.append(b"")
            continue
        value = _b64(response)
        if value is None:
            return None
        decoded.append(value)
    if not decoded:
        return "", ""
    first = decoded[0]
    if mechanism == "PLAIN":
        parts = first.split(b"\0")
        if len(parts) != 3:
            return None
        return _text(parts[1] or parts[0]), _text(parts[2])
    if mechanism == "LOGIN":
        return _text(first), _text(decoded[1]) if len(decoded) > 1 else ""
    if mechanism == "CRAM-MD5":
        user, _, digest = first.partition(b" ")
        return _text(user), _text(digest)
    if mechanism in ("XOAUTH2", "OAUTHBEARER"):
        account = b""
        secret = b""
        for field in first.split(b"\x01"):
            key, _, value = field.partition(b"=")
            if key == b"user":
                account = value
            elif key == b"auth":
                secret = value.removeprefix(b"Bearer ")
            elif key.startswith((b"n,", b"y,")):
                # GS2 header "n,a=user," (RFC 5801 s4)
                for part in field.split(b","):
                    if part.startswith(b"a="):
                        account = part[2:]
        return _text(account), _text(secret)
    return "", ""


class SaslExchange:
    """One AUTH exchange: the mechanism and the client's responses so far."""

    __slots__ = ("lines_left", "mechanism", "responses")

    def __init__(self, mechanism: str, initial: bytes | None) -> None:
        self.mechanism = mechanism
        self.responses: list[bytes] = [] if initial is None else [initial]
        without, with_initial = _SASL_LINES.get(mechanism, (_SASL_UNTIL_REPLY, _SASL_UNTIL_REPLY))
        self.lines_left = with_initial if initial is not None else without

    @classmethod
    def from_arguments(cls, arguments: bytes) -> SaslExchange:
        """From the text after AUTH: ``mechanism [initial-response]``."""
        mechanism, _, initial = arguments.strip().partition(b" ")
        return cls(_text(mechanism.upper()), initial.strip() or None)

    def take(self, line: bytes) -> bool:
        """Record a client response line; True while more lines belong to the exchange."""
        if line == b"*":  # the client cancels (RFC 4954 s4)
            self.responses.clear()
            self.lines_left = 0
            return False
        if len(self.responses) < _SASL_MAX_RESPONSES:
            self.responses.append(line)
        if self.lines_left > 0:
            self.lines_left -= 1
        return self.lines_left != 0

    def login(
        self, direction: Direction, ts: int, accepted: bool | None, keep_secret: bool
    ) -> MailLogin | None:
        """The login event, or None when the responses did not decode."""
        credentials = sasl_credentials(self.mechanism, self.responses)
        if credentials is None:
            return None
        account, secret = credentials
        return MailLogin(
            direction=direction,
            ts=ts,
            mechanism=self.mechanism,
            account=account,
            secret=secret if keep_secret else None,
            accepted=accepted,
        )
