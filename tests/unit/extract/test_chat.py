"""The chat builder: messages, contact lists with their changes, and transferred files."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import wiresift.extract.chat as chat_module
from tests.engine.helpers import validator
from wiresift.config import Config, Limits
from wiresift.extract.chat import ChatBuilder
from wiresift.model import FlowRef, ObjectRecord, SourceRef
from wiresift.outputs.memory import MemoryContentStore
from wiresift.protocols.base import Anomaly, Direction
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

FLOW = FlowRef(
    uid="Wtest",
    transport="tcp",
    client_addr="10.0.0.1",
    client_port=40000,
    server_addr="10.0.0.2",
    server_port=6667,
)
ORIG, RESP = Direction.ORIG, Direction.RESP


def source(first: int, last: int) -> SourceRef:
    return SourceRef(kind="file", name="test", first_frame=first, last_frame=last)


def builder(config: Config | None = None) -> tuple[ChatBuilder, MemoryContentStore]:
    store = MemoryContentStore()
    made = ChatBuilder(FLOW, store, config or Config(), source, itertools.count())
    made.protocol = "irc"
    return made, store


def passport(record: ObjectRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(record.to_json()))
    validator().validate(data)
    return data


def test_message_object_with_text_raw_and_account() -> None:
    """A message is one chat object: UTF-8 text, the raw bytes when they differ, the account."""
    chat, store = builder()
    assert chat.on_event(ChatLogin(direction=ORIG, ts=1, account="alice", client="x 1"), 1) == []
    chat.on_event(ChatNotice(direction=ORIG, ts=2, name="typing"), 2)
    raw = "Привет".encode("cp1251")
    (record,) = chat.on_event(
        ChatMessage(
            direction=ORIG,
            ts=5,
            sender="alice",
            recipients=("#room",),
            channel="#room",
            text="Привет",
            raw=raw,
            charset="cp1251",
            message_kind="groupchat",
        ),
        7,
    )
    data = passport(record)
    assert (data["kind"], data["protocol"], data["direction"], data["complete"]) == (
        "chat",
        "irc",
        "upload",
        True,
    )
    assert data["chat"]["text"] == "Привет"
    assert data["chat"]["channel"] == "#room"
    assert data["chat"]["notices"] == {"typing": 1}
    assert data["chat"]["client"] == "x 1"
    assert data["parties"] == {"sender": "alice", "recipients": ["#room"], "account": "alice"}
    text, raw_item = data["contents"]
    assert (text["role"], raw_item["role"]) == ("text", "raw")
    assert store.blobs[text["sha256"]] == "Привет".encode()
    assert store.blobs[raw_item["sha256"]] == raw
    assert data["source"]["first_frame"] == 7


def test_contact_list_changes_applied_and_emitted_at_close() -> None:
    """replace, add, modify and remove end in one contact list object with the final state."""
    chat, _ = builder()
    entries = tuple(
        ContactEntry(contact=f"u{i}", name=f"User {i}", groups=("Friends",)) for i in range(3)
    )
    chat.on_event(
        ContactListUpdate(
            direction=RESP,
            ts=1,
            owner="alice",
            operation="replace",
            entries=entries,
            groups=("Friends", "Work"),
        ),
        1,
    )
    chat.on_event(
        ContactListUpdate(
            direction=RESP,
            ts=2,
            owner="alice",
            operation="add",
            entries=(ContactEntry(contact="boss", groups=("Work",)),),
        ),
        2,
    )
    chat.on_event(
        ContactListUpdate(
            direction=RESP,
            ts=3,
            owner="alice",
            operation="modify",
            entries=(ContactEntry(contact="u1", name="Bob"),),
        ),
        3,
    )
    chat.on_event(
        ContactListUpdate(
            direction=RESP,
            ts=4,
            owner="alice",
            operation="remove",
            entries=(ContactEntry(contact="u0"),),
        ),
        4,
    )
    (record,) = chat.close(9)
    data = passport(record)
    assert data["kind"] == "contact_list"
    meta = data["contact_list"]
    assert meta["groups"] == ["Friends", "Work"]
    assert [(c["contact"], c["name"], c["groups"]) for c in meta["contacts"]] == [
        ("u1", "Bob", ["Friends"]),
        ("u2", "User 2", ["Friends"]),
        ("boss", None, ["Work"]),
    ]
    assert (meta["count"], meta["changes"], data["ts_first_ns"], data["ts_last_ns"]) == (3, 4, 1, 4)


def test_file_streamed_hashed_and_checked_against_its_size() -> None:
    """File bytes stream into one file object; a short file is incomplete."""
    chat, store = builder()
    chat.on_event(FileOffer(direction=ORIG, ts=1, name="../x/report.pdf", size=10), 1)
    chat.on_event(
        FileBegin(direction=RESP, ts=2, file=0, name="../x/report.pdf", size=10, upload=True), 2
    )
    chat.on_event(FileData(direction=ORIG, ts=3, file=0, data=b"01234"), 3)
    chat.on_event(FileData(direction=ORIG, ts=4, file=0, data=b"56789"), 4)
    (done,) = chat.on_event(FileEnd(direction=ORIG, ts=5, file=0, complete=True), 5)
    data = passport(done)
    (item,) = data["contents"]
    assert (data["kind"], data["complete"], data["direction"]) == ("file", True, "upload")
    assert item["name"] == "report.pdf"
    assert item["sha256"] == hashlib.sha256(b"0123456789").hexdigest()
    assert store.blobs[item["sha256"]] == b"0123456789"
    chat.on_event(FileBegin(direction=RESP, ts=6, file=1, name="b.bin", size=100), 6)
    chat.on_event(FileData(direction=RESP, ts=7, file=1, data=b"x" * 40), 7)
    (short,) = chat.on_event(FileEnd(direction=RESP, ts=8, file=1, complete=True), 8)
    assert passport(short)["complete"] is False
    chat.on_event(FileBegin(direction=RESP, ts=9, file=2, name="c.bin"), 9)
    chat.on_event(Anomaly(direction=RESP, ts=9, name="irc_dcc_bad_size"), 9)
    (cut,) = chat.close(10)
    data = passport(cut)
    assert (data["complete"], data["file"]["end_reason"], data["anomalies"]) == (
        False,
        "closed",
        ["irc_dcc_bad_size"],
    )


def test_contact_list_is_bounded() -> None:
    """Past MAX_CONTACTS, additions are counted as dropped and the object says so."""
    chat, _ = builder(Config(limits=Limits()))
    limit = chat_module.MAX_CONTACTS
    chat_module.MAX_CONTACTS = 5
    try:
        chat.on_event(
            ContactListUpdate(
                direction=RESP,
                ts=1,
                owner=None,
                operation="add",
                entries=tuple(ContactEntry(contact=str(i)) for i in range(8)),
            ),
            1,
        )
    finally:
        chat_module.MAX_CONTACTS = limit
    (record,) = chat.close(2)
    data = passport(record)
    assert (data["contact_list"]["count"], data["contact_list"]["dropped"]) == (5, 3)
    assert data["anomalies"] == ["chat_contact_list_too_long"]
