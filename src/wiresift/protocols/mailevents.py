"""Events shared by the mail protocols (SMTP, POP3, IMAP4).

Each mail parser turns its protocol into the same few events, so one builder
(``extract/mail.py``) makes e-mail objects whichever protocol carried the message:

- ``MailLogin``: an account name used to authenticate (the secret only when configured);
- ``MessageBegin`` / ``MessageData`` / ``MessageEnd``: one message's bytes, already
  unstuffed (SMTP and POP3 dot-stuffing removed, IMAP literal framing removed), in order,
  with CRLF line ends as on the wire;
- ``MailCommand``: a command worth recording (DELE, RSET, SELECT, EXPUNGE, QUIT...).

STARTTLS/STLS is a ``SwitchProtocol(to="tls")`` from protocols/base.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wiresift.protocols.base import Event

MailProtocol = Literal["smtp", "pop3", "imap"]
# outgoing: SMTP DATA/BDAT and IMAP APPEND (the user sends); incoming: POP3 RETR/TOP and
# IMAP FETCH (the user reads).
MailFlow = Literal["outgoing", "incoming"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MailLogin(Event):
    """An authentication attempt (RFC 4954 AUTH, RFC 1939 USER/APOP, RFC 3501 LOGIN)."""

    mechanism: str  # "PLAIN", "LOGIN", "CRAM-MD5", "USER", "APOP", "IMAP-LOGIN", ...
    account: str
    secret: str | None = None  # only when the configuration asks for secrets
    accepted: bool | None = None  # the server's verdict, None when not seen


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBegin(Event):
    """A message starts; its bytes follow as ``MessageData`` with the same ``message``."""

    message: int  # numbers the messages of one flow: 0, 1, 2...
    protocol: MailProtocol
    flow: MailFlow
    command: str  # "DATA", "BDAT", "RETR", "TOP", "FETCH", "APPEND"
    mail_from: str | None = None  # SMTP envelope (RFC 5321 s4.1.1.2), without <>
    rcpt_to: tuple[str, ...] = ()  # recipients the server accepted
    rcpt_rejected: tuple[str, ...] = ()  # recipients the server refused
    helo: str | None = None  # SMTP EHLO/HELO argument
    mailbox: str | None = None  # IMAP selected (or APPEND target) mailbox
    number: int | None = None  # POP3 message number, IMAP sequence number
    uid: int | None = None  # IMAP UID when the response carries it
    section: str | None = None  # IMAP body section ("" for the whole message, "HEADER",
    # "TEXT", "1.2", "1.MIME"...); None for SMTP and POP3
    origin: int | None = None  # IMAP partial fetch start (RFC 3501 s6.4.5 <origin.size>)
    partial: str | None = None  # why the bytes are not a whole message from the start
    # ("pop3_top", "mid_stream", "imap_section", "imap_partial")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData(Event):
    """The next bytes of a message."""

    message: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEnd(Event):
    """A message's bytes ended."""

    message: int
    complete: bool  # every byte was seen and the terminator arrived
    accepted: bool | None = None  # SMTP: the reply after DATA/BDAT LAST (2xx); IMAP APPEND:
    # the tagged OK/NO; else None
    reason: str | None = None  # when not complete: "gap", "closed", "limit", ...
    uid: int | None = None  # IMAP UID learnt after MessageBegin (a FETCH response's UID item
    # after the body; APPENDUID of RFC 4315 s3)


@dataclass(frozen=True, slots=True, kw_only=True)
class MailCommand(Event):
    """A command recorded for the session (DELE 3, RSET, SELECT INBOX, QUIT...)."""

    name: str
    argument: str = ""
    accepted: bool | None = None


__all__ = [
    "MailCommand",
    "MailFlow",
    "MailLogin",
    "MailProtocol",
    "MessageBegin",
    "MessageData",
    "MessageEnd",
]
