"""Events shared by the instant-messaging protocols (IRC, XMPP, OSCAR, MRIM, MSN, YMSG, DC).

Each chat parser turns its protocol into these events, and one builder
(``extract/chat.py``) makes the objects, whichever protocol carried them:

- ``ChatLogin``: the account that signed on (the secret only when configured);
- ``ChatMessage``: one message (``chat`` object);
- ``ContactListUpdate``: a contact list, whole or changed (``contact_list`` object, the
  final state of the flow, with every change applied);
- ``FileOffer``: a file announced for transfer (recorded on the chat side; the bytes
  travel on another connection or in band);
- ``FileBegin`` / ``FileData`` / ``FileEnd``: the bytes of a file carried by this flow
  (a ``file`` object);
- ``ChatNotice``: something counted or recorded, not an object (typing, presence,
  joins, searches...).

Texts are ``str`` already decoded by the parser (with its charset rules); ``raw`` keeps the
bytes as sent so nothing is lost when the decoding was a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wiresift.protocols.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatLogin(Event):
    """An account signing on (nick, screen name, UIN, JID, e-mail...)."""

    account: str
    client: str | None = None  # client name and version as announced
    mechanism: str | None = None
    secret: str | None = None  # only when the configuration asks for secrets
    accepted: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage(Event):
    """One message. ``direction`` says which side of the flow sent it."""

    sender: str
    recipients: tuple[str, ...] = ()
    channel: str | None = None  # chat room, channel, conference, hub
    text: str = ""
    raw: bytes = b""  # the message as sent (before charset decoding and markup stripping)
    charset: str | None = None  # how ``raw`` was decoded
    markup: str | None = None  # the text with its markup (HTML, RTF) when it had some
    message_kind: str = "chat"  # chat, groupchat, private, offline, notice, action, headline
    sent_at: int | None = None  # the protocol's own timestamp (ns), e.g. delayed delivery
    subject: str | None = None
    thread: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEntry:
    """One contact of a list."""

    contact: str  # the id: screen name, UIN, JID, e-mail, nick
    name: str | None = None  # the nickname or alias given to it
    groups: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactListUpdate(Event):
    """A contact list: ``replace`` gives the whole list, ``add``/``remove``/``modify`` change it."""

    owner: str | None
    operation: str  # "replace", "add", "remove", "modify"
    entries: tuple[ContactEntry, ...] = ()
    groups: tuple[str, ...] = ()  # group names (also those without contacts)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOffer(Event):
    """A file announced for transfer (the transfer itself may be on another flow)."""

    name: str
    size: int | None = None
    sender: str | None = None
    recipient: str | None = None
    transfer_id: str | None = None  # cookie, session id, token
    endpoint: tuple[str, int] | None = None  # announced address for the data connection
    accepted: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileBegin(Event):
    """This flow now carries the bytes of a file; ``FileData`` follow with the same ``file``."""

    file: int  # numbers the files of one flow: 0, 1, 2...
    name: str | None
    size: int | None = None  # announced size
    offset: int = 0  # a resumed transfer starts here
    sender: str | None = None
    recipient: str | None = None
    transfer_id: str | None = None
    upload: bool = False  # True when the flow's client sends the file


@dataclass(frozen=True, slots=True, kw_only=True)
class FileData(Event):
    """The next bytes of a file."""

    file: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEnd(Event):
    """A file's bytes ended."""

    file: int
    complete: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatNotice(Event):
    """Recorded, not an object: typing, presence, join/part, search, status."""

    name: str  # "typing", "presence", "join", "part", "search", ...
    who: str | None = None
    detail: str = ""


__all__ = [
    "ChatLogin",
    "ChatMessage",
    "ChatNotice",
    "ContactEntry",
    "ContactListUpdate",
    "FileBegin",
    "FileData",
    "FileEnd",
    "FileOffer",
]
