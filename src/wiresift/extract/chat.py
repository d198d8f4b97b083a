"""Objects of the instant-messaging protocols: messages, contact lists and files.

``ChatBuilder`` takes the events of ``protocols/chatevents.py`` from any chat parser:

- every ``ChatMessage`` is one ``chat`` object at once (text, sender, recipients,
  channel; the raw bytes stored as a content item when they differ from the UTF-8 text);
- ``ContactListUpdate`` events are applied to one list per owner, and the list's final
  state is one ``contact_list`` object when the flow ends (with how many changes it saw);
- ``FileBegin``/``FileData``/``FileEnd`` make one ``file`` object per transferred file,
  its bytes streamed to the content store;
- ``FileOffer`` and ``ChatNotice`` are kept on the flow and reported with the next object
  (offers also in the ``contact_list``'s and files' metadata), counted in ``notices``.

The account of the last ``ChatLogin`` is every object's ``parties.account``.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from wiresift.extract.builder import Builder
from wiresift.extract.files import ContentTracker
from wiresift.extract.names import safe_filename
from wiresift.model import ContentItem, JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Direction, Event
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
    FileBegin,
    FileData,
    FileEnd,
    FileOffer,
)

# Contacts kept per list; past it further additions are counted, not stored.
MAX_CONTACTS: Final = 100_000
# File offers remembered per flow (reported on the objects that follow).
MAX_OFFERS: Final = 256
# Anomaly names kept per object.
MAX_OBJECT_ANOMALIES: Final = 64
# Longest text kept in a message object's metadata (the whole text is the content item).
MAX_META_TEXT: Final = 64 * 1024

_NOTHING: Final[list[ObjectRecord]] = []


class _ContactList:
    __slots__ = ("changes", "contacts", "dropped", "first_frame", "groups", "last_frame", "ts")

    def __init__(self, ts: int, frame: int) -> None:
        self.contacts: dict[str, ContactEntry] = {}
        self.groups: dict[str, None] = {}
        self.changes = 0
        self.dropped = 0
        self.ts = [ts, ts]
        self.first_frame = self.last_frame = frame


class _File:
    __slots__ = ("begin", "first_frame", "last_frame", "tracker", "ts_last")

    def __init__(self, begin: FileBegin, tracker: ContentTracker, frame: int) -> None:
        self.begin = begin
        self.tracker = tracker
        self.first_frame = self.last_frame = frame
        self.ts_last = begin.ts


def _contact_json(entry: ContactEntry) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {
        "contact": entry.contact,
        "name": entry.name,
        "groups": list(entry.groups),
    }
    for key, value in entry.extra.items():
        out[key] = _jsonable(value)
    return out


def _jsonable(value: object) -> JsonValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class ChatBuilder(Builder):
    """Turns one flow's chat events into objects."""

    def _start(self) -> None:
        self.protocol = ""  # set by the engine (the parser's protocol name)
        self._account: str | None = None
        self._client: str | None = None
        self._lists: dict[str | None, _ContactList] = {}
        self._files: dict[int, _File] = {}
        self._offers: list[dict[str, JsonValue]] = []
        self._notices: Counter[str] = Counter()
        self._anomalies: list[str] = []

    # -- events ---------------------------------------------------------------------

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if type(event) is FileData:
            item = self._files.get(event.file)
            if item is not None:
                item.tracker.write(event.data)
                item.ts_last = event.ts
                item.last_frame = frame
            return _NOTHING
        if isinstance(event, ChatMessage):
            return [self._message(event, frame)]
        if isinstance(event, ChatLogin):
            if event.accepted is not False or self._account is None:
                self._account = event.account
            self._client = event.client or self._client
            return _NOTHING
        if isinstance(event, ContactListUpdate):
            self._contacts(event, frame)
            return _NOTHING
        if isinstance(event, FileBegin):
            return self._file_begin(event, frame)
        if isinstance(event, FileEnd):
            item = self._files.pop(event.file, None)
            if item is None:
                return _NOTHING
            return [self._file_record(item, event.complete, event.reason, event.ts)]
        if isinstance(event, FileOffer):
            if len(self._offers) < MAX_OFFERS:
                self._offers.append(
                    {
                        "name": safe_filename(event.name),
                        "wire_name": event.name,
                        "size": event.size,
                        "sender": event.sender,
                        "recipient": event.recipient,
                        "transfer_id": event.transfer_id,
                        "endpoint": list(event.endpoint) if event.endpoint else None,
                        "accepted": event.accepted,
                    }
                )
            return _NOTHING
        if isinstance(event, ChatNotice):
            self._notices[event.name] += 1
            return _NOTHING
        if isinstance(event, Anomaly):
            self.anomaly(event.name, event.detail)
        return _NOTHING

    def anomaly(self, name: str, detail: str) -> None:
        """An anomaly of the flow: carried by the objects made from now on."""
        if len(self._anomalies) < MAX_OBJECT_ANOMALIES and name not in self._anomalies:
            self._anomalies.append(name)

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended: open files end incomplete, contact lists are emitted."""
        records = [
            self._file_record(item, False, "closed", ts) for item in list(self._files.values())
        ]
        self._files.clear()
        for owner, contacts in self._lists.items():
            records.append(self._contact_record(owner, contacts))
        self._lists.clear()
        return records

    # -- objects --------------------------------------------------------------------

    def _parties(self, sender: str | None, recipients: list[str]) -> dict[str, JsonValue]:
        return {
            "sender": sender,
            "recipients": list(recipients),
            "account": self._account,
        }

    def _message(self, event: ChatMessage, frame: int) -> ObjectRecord:
        contents: list[ContentItem] = []
        text_bytes = event.text.encode("utf-8", "surrogatepass")
        text = ContentTracker(
            self.store.open(),
            role="text",
            name=None,
            declared_type="text/plain; charset=utf-8",
            limit=self.config.limits.max_stored_body,
        )
        text.write(text_bytes)
        contents.append(text.finish(complete=True))
        if event.raw and event.raw != text_bytes:
            raw = ContentTracker(
                self.store.open(),
                role="raw",
                name=None,
                declared_type=None,
                limit=self.config.limits.max_stored_body,
            )
            raw.write(event.raw)
            contents.append(raw.finish(complete=True))
        meta: dict[str, JsonValue] = {
            "message_kind": event.message_kind,
            "channel": event.channel,
            "text": event.text[:MAX_META_TEXT],
            "text_truncated": len(event.text) > MAX_META_TEXT,
            "charset": event.charset,
            "markup": event.markup[:MAX_META_TEXT] if event.markup is not None else None,
            "subject": event.subject,
            "thread": event.thread,
            "sent_at_ns": event.sent_at,
            "client": self._client,
            "sent_by": "client" if event.direction is Direction.ORIG else "server",
        }
        for key, value in event.extra.items():
            meta.setdefault(key, _jsonable(value))
        if self._notices:
            meta["notices"] = dict(self._notices)
        return ObjectRecord(
            id=self._next_id(),
            kind="chat",
            protocol=self.protocol,
            ts_first=event.ts,
            ts_last=event.ts,
            source=self._source(frame, frame),
            flow=self.flow,
            direction="upload" if event.direction is Direction.ORIG else "download",
            complete=True,
            meta=meta,
            contents=tuple(contents),
            parties=self._parties(event.sender, list(event.recipients)),
            anomalies=tuple(self._anomalies),
        )

    def _contacts(self, event: ContactListUpdate, frame: int) -> None:
        contacts = self._lists.get(event.owner)
        if contacts is None:
            contacts = self._lists[event.owner] = _ContactList(event.ts, frame)
        contacts.ts[1] = event.ts
        contacts.last_frame = frame
        contacts.changes += 1
        if event.operation == "replace":
            contacts.contacts.clear()
        for group in event.groups:
            if len(contacts.groups) < MAX_CONTACTS:
                contacts.groups[group] = None
        for entry in event.entries:
            if event.operation == "remove":
                contacts.contacts.pop(entry.contact, None)
                continue
            if entry.contact not in contacts.contacts and len(contacts.contacts) >= MAX_CONTACTS:
                contacts.dropped += 1
                continue
            old = contacts.contacts.get(entry.contact)
            merged = entry
            if event.operation == "modify" and old is not None:
                merged = ContactEntry(
                    contact=entry.contact,
                    name=entry.name if entry.name is not None else old.name,
                    groups=entry.groups or old.groups,
                    extra={**old.extra, **entry.extra},
                )
            contacts.contacts[entry.contact] = merged
            for group in merged.groups:
                if len(contacts.groups) < MAX_CONTACTS:
                    contacts.groups[group] = None

    def _contact_record(self, owner: str | None, contacts: _ContactList) -> ObjectRecord:
        anomalies = list(self._anomalies)
        if contacts.dropped and "chat_contact_list_too_long" not in anomalies:
            anomalies.append("chat_contact_list_too_long")
        meta: dict[str, JsonValue] = {
            "owner": owner or self._account,
            "groups": list(contacts.groups),
            "contacts": [_contact_json(e) for e in contacts.contacts.values()],
            "count": len(contacts.contacts),
            "changes": contacts.changes,
            "dropped": contacts.dropped,
            "client": self._client,
            "file_offers": list(self._offers),
        }
        return ObjectRecord(
            id=self._next_id(),
            kind="contact_list",
            protocol=self.protocol,
            ts_first=contacts.ts[0],
            ts_last=contacts.ts[1],
            source=self._source(contacts.first_frame, contacts.last_frame),
            flow=self.flow,
            direction="download",
            complete=not contacts.dropped,
            meta=meta,
            parties=self._parties(owner or self._account, []),
            anomalies=tuple(anomalies),
        )

    def _file_begin(self, event: FileBegin, frame: int) -> list[ObjectRecord]:
        records: list[ObjectRecord] = []
        old = self._files.pop(event.file, None)
        if old is not None:
            records.append(self._file_record(old, False, "restarted", event.ts))
        name = safe_filename(event.name) if event.name else None
        tracker = ContentTracker(
            self.store.open(),
            role="file",
            name=name,
            declared_type=None,
            limit=self.config.limits.max_stored_body,
        )
        tracker.extra = {"wire_name": event.name}
        self._files[event.file] = _File(event, tracker, frame)
        return records

    def _file_record(
        self, item: _File, complete: bool, reason: str | None, ts: int
    ) -> ObjectRecord:
        begin = item.begin
        size_ok = begin.size is None or item.tracker.offset + begin.offset == begin.size
        content = item.tracker.finish(
            complete=complete and size_ok,
            expected_size=begin.size - begin.offset if begin.size is not None else None,
        )
        meta: dict[str, JsonValue] = {
            "name": content.name,
            "wire_name": begin.name,
            "size": begin.size if begin.size is not None else begin.offset + content.size,
            "announced_size": begin.size,
            "offset": begin.offset,
            "transfer_id": begin.transfer_id,
            "end_reason": reason,
            "client": self._client,
        }
        return ObjectRecord(
            id=self._next_id(),
            kind="file",
            protocol=self.protocol,
            ts_first=begin.ts,
            ts_last=max(ts, item.ts_last),
            source=self._source(item.first_frame, item.last_frame),
            flow=self.flow,
            direction="upload" if begin.upload else "download",
            complete=content.complete,
            meta=meta,
            contents=(content,),
            parties=self._parties(begin.sender, [begin.recipient] if begin.recipient else []),
            anomalies=tuple(self._anomalies),
        )
