"""Yahoo! Messenger (YMSG versions 9 to 16) passive parser.

Theory of operation (libpurple ``yahoo/yahoo_packet.h``, ``yahoo_packet.c``, ``libymsg.c``,
``yahoochat.c``, ``yahoo_filexfer.c``; Wireshark ``ymsg``): each direction is a sequence of
packets, a 20-byte big-endian header (``YMSG``, version, vendor id, body length, service,
status, session id) and a body of ``key C0 80 value C0 80`` pairs, keys in ASCII decimal.
Keys repeat and their order groups them (several offline messages, buddies under a group),
so the body is kept as an ordered list of pairs. Services map to chat events: messages,
conference and chat-room messages, typing, buddy lists and their changes, presence and the
version-15 file transfers. Bytes that do not start with ``YMSG`` (mid-stream start, after a
gap) are dropped up to the next ``YMSG`` whose version is plausible.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
    FileOffer,
)

# Header: magic, version, vendor id, body length, service, status, session id
# (libpurple yahoo_packet.h YAHOO_PACKET_HDRLEN = 20; big-endian).
HEADER: Final = struct.Struct(">4sHHHHII")
MAGIC: Final = b"YMSG"
# Highest version taken as plausible when resynchronising (protocols.md s3.3: <= 0x0020).
MAX_VERSION: Final = 0x20
# Pair separator (libpurple yahoo_packet.c: 0xC0 0x80).
SEPARATOR: Final = b"\xc0\x80"
# Pairs read from one packet. A 64 KiB body holds at most ~13,000 pairs; a buddy list of a
# thousand buddies uses about 4,000 (group, buddy, network, separators).
MAX_PAIRS: Final = 4096

# Services (libpurple yahoo_packet.h enum yahoo_service).
SERVICE_LOGON: Final = 0x01
SERVICE_LOGOFF: Final = 0x02
SERVICE_MESSAGE: Final = 0x06
SERVICE_USERSTAT: Final = 0x0A
SERVICE_NEWMAIL: Final = 0x0B
SERVICE_CONFINVITE: Final = 0x18
SERVICE_CONFLOGON: Final = 0x19
SERVICE_CONFLOGOFF: Final = 0x1B
SERVICE_CONFMSG: Final = 0x1D
SERVICE_FILETRANSFER: Final = 0x46
SERVICE_NOTIFY: Final = 0x4B
SERVICE_AUTHRESP: Final = 0x54
SERVICE_LIST: Final = 0x55
SERVICE_AUTH: Final = 0x57
SERVICE_ADDBUDDY: Final = 0x83
SERVICE_REMBUDDY: Final = 0x84
SERVICE_CHATJOIN: Final = 0x98
SERVICE_COMMENT: Final = 0xA8
SERVICE_STATUS_UPDATE: Final = 0xC6
SERVICE_AUTH_REQ_15: Final = 0xD6
SERVICE_FILETRANS_15: Final = 0xDC
SERVICE_FILETRANS_INFO_15: Final = 0xDD
SERVICE_FILETRANS_ACC_15: Final = 0xDE
SERVICE_STATUS_15: Final = 0xF0
SERVICE_LIST_15: Final = 0xF1
SERVICE_SMS_MSG: Final = 0x2EA
PRESENCE_SERVICES: Final = frozenset(
    {SERVICE_LOGON, SERVICE_LOGOFF, SERVICE_USERSTAT, SERVICE_STATUS_UPDATE, SERVICE_STATUS_15}
)
# Status of a packet delivering stored offline messages (protocols.md s3.1, 0x5A55AA56).
STATUS_OFFLINE: Final = 0x5A55AA56
# LIST_15 markers: key 302/300 value 318 starts a group, 319 a buddy, 320 the ignore list
# (libpurple libymsg.c yahoo_process_list_15).
LIST15_GROUP: Final = b"318"
LIST15_BUDDY: Final = b"319"
LIST15_IGNORE: Final = b"320"
# FILETRANS_15 key 222 actions (libpurple yahoo_filexfer.c): 1 send, 2 cancel, 3 accept,
# 4 reject.
ACTION_SEND: Final = b"1"
ACTION_ACCEPT: Final = b"3"
ACTION_REFUSED: Final = frozenset({b"2", b"4"})
# Key 249 method 3 = relay through key 250's host (libpurple yahoo_filexfer.c).
METHOD_RELAY: Final = b"3"
RELAY_PORT: Final = 80  # the relay is plain HTTP on port 80 (libpurple yahoo_filexfer.c)
# Formatting inside message text (protocols.md s3.3): ANSI-like escapes and a few tags.
_ESCAPES: Final = re.compile(r"\x1b\[[^m]{0,16}m")
_TAGS: Final = re.compile(
    r"</?(?:font|b|i|u|s|alt|fade|ding|span|p|br)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
NS_PER_SECOND: Final = 1_000_000_000

Pairs = list[tuple[bytes, bytes]]


class YmsgParser(Parser):
    """One YMSG connection (client to server, or peer to peer)."""

    name = "ymsg"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._buf = (ByteBuffer(), ByteBuffer())
        self._skipped = [0, 0]
        self._confirmed = False
        self.account: str | None = None

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        buf = self._buf[direction]
        buf.push(data)
        while len(buf) >= HEADER.size:
            head = buf.peek(HEADER.size)
            magic, version, _vendor, length, service, status, _session = HEADER.unpack(head)
            if magic != MAGIC or version > MAX_VERSION:
                self._resync(direction, buf)
                continue
            if len(buf) < HEADER.size + length:
                break
            if self._skipped[direction]:
                out.append(
                    self._anomaly(
                        direction, ts, "ymsg_resync", f"{self._skipped[direction]} bytes skipped"
                    )
                )
                self._skipped[direction] = 0
            buf.skip(HEADER.size)
            body = buf.take_exact(length) or b""
            if not self._confirmed:
                self._confirmed = True
                out.append(Confirmed(direction=direction, ts=ts))
            self._packet(direction, service, status, body, ts, out)
        return out

    def _resync(self, direction: Direction, buf: ByteBuffer) -> None:
        """Drop bytes up to the next ``YMSG`` (kept: a magic that may straddle pushes)."""
        data = buf.peek(len(buf))
        index = data.find(MAGIC, 1)
        drop = index if index > 0 else max(1, len(data) - (len(MAGIC) - 1))
        buf.skip(drop)
        self._skipped[direction] += drop

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        self._buf[direction].clear()
        return [self._anomaly(direction, ts, "ymsg_content_gap", f"{size} bytes")]

    # -- packets ----------------------------------------------------------------------

    def _packet(
        self,
        direction: Direction,
        service: int,
        status: int,
        body: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        pairs = self._pairs(direction, body, ts, out)
        if service in (SERVICE_MESSAGE, SERVICE_SMS_MSG):
            self._messages(direction, service, status, pairs, ts, out)
        elif service in (SERVICE_AUTH, SERVICE_AUTHRESP, SERVICE_AUTH_REQ_15):
            self._login(direction, service, pairs, ts, out)
        elif service == SERVICE_NOTIFY:
            values = dict(pairs)
            if values.get(b"49", b"").upper() == b"TYPING":
                who = _text(values.get(b"4") or values.get(b"1") or b"")
                state = "started" if values.get(b"13") == b"1" else "stopped"
                out.append(
                    ChatNotice(direction=direction, ts=ts, name="typing", who=who, detail=state)
                )
        elif service == SERVICE_CONFMSG:
            self._group_message(direction, pairs, b"57", b"3", b"14", ts, out)
        elif service == SERVICE_COMMENT:
            self._group_message(direction, pairs, b"104", b"109", b"117", ts, out)
        elif service in (
            SERVICE_CONFINVITE,
            SERVICE_CONFLOGON,
            SERVICE_CONFLOGOFF,
            SERVICE_CHATJOIN,
        ):
            values = dict(pairs)
            room = values.get(b"57") or values.get(b"104") or b""
            name = {
                SERVICE_CONFINVITE: "conference_invite",
                SERVICE_CONFLOGON: "join",
                SERVICE_CONFLOGOFF: "part",
                SERVICE_CHATJOIN: "join",
            }[service]
            member = values.get(b"3") or values.get(b"109") or values.get(b"1")
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name=name,
                    who=_text(member) if member else None,
                    detail=_text(room),
                )
            )
        elif service == SERVICE_LIST:
            self._list(direction, pairs, ts, out)
        elif service == SERVICE_LIST_15:
            self._list15(direction, pairs, ts, out)
        elif service in (SERVICE_ADDBUDDY, SERVICE_REMBUDDY):
            self._buddy_change(direction, service, pairs, ts, out)
        elif service in PRESENCE_SERVICES:
            self._presence(direction, service, pairs, ts, out)
        elif service == SERVICE_NEWMAIL:
            values = dict(pairs)
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="mail_notification",
                    who=self.account,
                    detail=_text(values.get(b"9", b"")),
                )
            )
        elif service in (SERVICE_FILETRANS_15, SERVICE_FILETRANS_INFO_15, SERVICE_FILETRANS_ACC_15):
            self._file15(direction, service, pairs, ts, out)
        elif service == SERVICE_FILETRANSFER:
            values = dict(pairs)
            if b"27" in values or b"20" in values:
                url = _text(values.get(b"20", b""))
                out.append(
                    FileOffer(
                        direction=direction,
                        ts=ts,
                        name=_text(values.get(b"27", b"")) or url.rsplit("/", 1)[-1],
                        size=_number(values.get(b"28", b"")),
                        sender=_text(values[b"4"]) if b"4" in values else None,
                        recipient=_text(values[b"5"]) if b"5" in values else None,
                        transfer_id=url or None,
                    )
                )

    def _pairs(self, direction: Direction, body: bytes, ts: int, out: list[Event]) -> Pairs:
        """Ordered key/value pairs of a body, at most ``MAX_PAIRS``."""
        fields = body.split(SEPARATOR, 2 * MAX_PAIRS)
        if len(fields) > 2 * MAX_PAIRS:
            out.append(self._anomaly(direction, ts, "ymsg_too_many_pairs", f"> {MAX_PAIRS}"))
            fields = fields[: 2 * MAX_PAIRS]
        elif fields and fields[-1]:
            out.append(self._anomaly(direction, ts, "ymsg_unterminated_pair"))
        return list(zip(fields[0::2], fields[1::2], strict=False))

    # -- services ---------------------------------------------------------------------

    def _login(
        self, direction: Direction, service: int, pairs: Pairs, ts: int, out: list[Event]
    ) -> None:
        values = dict(pairs)
        account = values.get(b"1") or values.get(b"0")
        if not account or direction is not Direction.ORIG:
            return
        self.account = _text(account)
        mechanism = {SERVICE_AUTH: "auth", SERVICE_AUTHRESP: "authresp"}.get(service, "auth15")
        out.append(ChatLogin(direction=direction, ts=ts, account=self.account, mechanism=mechanism))

    def _messages(
        self,
        direction: Direction,
        service: int,
        status: int,
        pairs: Pairs,
        ts: int,
        out: list[Event],
    ) -> None:
        groups: list[dict[bytes, bytes]] = []
        current: dict[bytes, bytes] = {}
        for key, value in pairs:
            if key in current and b"14" in current:
                groups.append(current)  # a second message of the packet starts
                current = {}
            current[key] = value
        if b"14" in current:
            groups.append(current)
        offline = status == STATUS_OFFLINE or len(groups) > 1
        for values in groups:
            sender = values.get(b"4") or values.get(b"1") or (self.account or "").encode()
            recipient = values.get(b"5")
            text, raw, charset, markup = _message_text(values)
            extra: dict[str, object] = {}
            if b"429" in values:
                extra["message_id"] = _text(values[b"429"])
            if b"241" in values:
                extra["network"] = _text(values[b"241"])
            sent = _number(values.get(b"15", b""))
            kind = "sms" if service == SERVICE_SMS_MSG else ("offline" if offline else "chat")
            out.append(
                ChatMessage(
                    direction=direction,
                    ts=ts,
                    sender=_text(sender),
                    recipients=(_text(recipient),) if recipient else (),
                    text=text,
                    raw=raw,
                    charset=charset,
                    markup=markup,
                    message_kind=kind,
                    sent_at=sent * NS_PER_SECOND if sent is not None else None,
                    extra=extra,
                )
            )

    def _group_message(
        self,
        direction: Direction,
        pairs: Pairs,
        room_key: bytes,
        sender_key: bytes,
        text_key: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        """Conference (CONFMSG: 57, 3, 14) and chat room (COMMENT: 104, 109, 117) messages."""
        values = dict(pairs)
        if text_key not in values:
            return
        values[b"14"] = values[text_key]
        text, raw, charset, markup = _message_text(values)
        sender = values.get(sender_key) or values.get(b"1") or (self.account or "").encode()
        action = values.get(b"124") == b"2"  # "/me" in a chat room (libpurple yahoochat.c)
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=_text(sender),
                channel=_text(values.get(room_key, b"")),
                text=text,
                raw=raw,
                charset=charset,
                markup=markup,
                message_kind="action" if action else "groupchat",
            )
        )

    def _list(self, direction: Direction, pairs: Pairs, ts: int, out: list[Event]) -> None:
        """LIST key 87: ``Group:buddy1,buddy2`` lines (libpurple libymsg.c)."""
        entries: list[ContactEntry] = []
        groups: list[str] = []
        for key, value in pairs:
            if key != b"87":
                continue
            for line in _text(value).split("\n"):
                group, sep, buddies = line.partition(":")
                if not sep:
                    continue
                groups.append(group)
                entries += (
                    ContactEntry(contact=b, groups=(group,)) for b in buddies.split(",") if b
                )
        if groups:
            out.append(
                ContactListUpdate(
                    direction=direction,
                    ts=ts,
                    owner=self.account,
                    operation="add",
                    entries=tuple(entries),
                    groups=tuple(groups),
                )
            )

    def _list15(self, direction: Direction, pairs: Pairs, ts: int, out: list[Event]) -> None:
        """LIST_15: 318 group (65 name), 319 buddy (7 id, 241 network), 320 ignore list."""
        entries: list[ContactEntry] = []
        groups: list[str] = []
        group: str | None = None
        ignoring = False
        for key, value in pairs:
            if key in (b"300", b"302"):
                if value == LIST15_IGNORE:
                    ignoring = True
                elif value == LIST15_GROUP:
                    ignoring = False
            elif key == b"65" and not ignoring:
                group = _text(value)
                groups.append(group)
            elif key == b"7":
                extra: dict[str, object] = {"ignored": True} if ignoring else {}
                entries.append(
                    ContactEntry(
                        contact=_text(value),
                        groups=(group,) if group is not None and not ignoring else (),
                        extra=extra,
                    )
                )
            elif key == b"241" and entries:
                last = entries[-1]
                entries[-1] = ContactEntry(
                    contact=last.contact,
                    groups=last.groups,
                    extra={**last.extra, "network": _text(value)},
                )
        if entries or groups:
            out.append(
                ContactListUpdate(
                    direction=direction,
                    ts=ts,
                    owner=self.account,
                    operation="add",
                    entries=tuple(entries),
                    groups=tuple(groups),
                )
            )

    def _buddy_change(
        self, direction: Direction, service: int, pairs: Pairs, ts: int, out: list[Event]
    ) -> None:
        values = dict(pairs)
        buddy = values.get(b"7")
        if not buddy:
            return
        group = _text(values[b"65"]) if b"65" in values else None
        owner = _text(values[b"1"]) if b"1" in values else self.account
        adding = service == SERVICE_ADDBUDDY
        entry = ContactEntry(contact=_text(buddy), groups=(group,) if group and adding else ())
        out.append(
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=owner,
                operation="add" if adding else "remove",
                entries=(entry,),
                groups=(group,) if group and adding else (),
            )
        )

    def _presence(
        self, direction: Direction, service: int, pairs: Pairs, ts: int, out: list[Event]
    ) -> None:
        """LOGON/LOGOFF/USERSTAT/STATUS: key 7 buddy, 10 status, 19 custom text."""
        who: bytes | None = None
        detail: list[str] = []
        for key, value in [*pairs, (b"7", b"")]:
            if key == b"7":
                if who:
                    state = "offline" if service == SERVICE_LOGOFF else " ".join(detail)
                    out.append(
                        ChatNotice(
                            direction=direction,
                            ts=ts,
                            name="presence",
                            who=_text(who),
                            detail=state,
                        )
                    )
                who, detail = value, []
            elif key in (b"10", b"19"):
                detail.append(_text(value))

    def _file15(
        self, direction: Direction, service: int, pairs: Pairs, ts: int, out: list[Event]
    ) -> None:
        """Version-15 transfers: 0xDC offer (265 id, 222 action, 27/28 files), 0xDD/0xDE
        relay details (249 method, 250 host, 251 token)."""
        values = dict(pairs)
        transfer = _text(values.get(b"265", b"")) or None
        # Key 1 when the client sends; key 4 ("from") in what the server delivers, as in
        # messages (libpurple yahoo_filexfer.c reads 4 as the sender there).
        sender_key = b"1" if b"1" in values else b"4"
        sender = _text(values[sender_key]) if sender_key in values else None
        peer = _text(values[b"5"]) if b"5" in values else None
        if service == SERVICE_FILETRANS_15:
            action = values.get(b"222", b"")
            accepted = (
                True if action == ACTION_ACCEPT else (False if action in ACTION_REFUSED else None)
            )
            files: list[tuple[str, int | None]] = []
            for key, value in pairs:
                if key == b"27":
                    files.append((_text(value), None))
                elif key == b"28" and files:
                    files[-1] = (files[-1][0], _number(value))
            if action != ACTION_SEND and not files:
                files = [("", None)]
            for name, size in files:
                out.append(
                    FileOffer(
                        direction=direction,
                        ts=ts,
                        name=name,
                        size=size,
                        sender=sender if action == ACTION_SEND else peer,
                        recipient=peer if action == ACTION_SEND else sender,
                        transfer_id=transfer,
                        accepted=accepted,
                    )
                )
            return
        # INFO/ACC: the relay token is what the HTTP URL carries (/relay?token=...), so it
        # is the transfer id; the YMSG id (265) stays in the 0xDC offer.
        token = _text(values.get(b"251", b"")) or None
        host = _text(values.get(b"250", b""))
        endpoint = (host, RELAY_PORT) if host and values.get(b"249") == METHOD_RELAY else None
        out.append(
            FileOffer(
                direction=direction,
                ts=ts,
                name=_text(values.get(b"27", b"")),
                size=None,
                sender=sender,
                recipient=peer,
                transfer_id=token or transfer,
                endpoint=endpoint,
                accepted=True if service == SERVICE_FILETRANS_ACC_15 else None,
            )
        )

    @staticmethod
    def _anomaly(direction: Direction, ts: int, name: str, detail: str = "") -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=name, detail=detail)


def _text(value: bytes) -> str:
    """An id or name: UTF-8, else cp1252 (protocols.md s3.3)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace")


def _number(value: bytes) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 18 else None


def _message_text(values: dict[bytes, bytes]) -> tuple[str, bytes, str, str | None]:
    """Text of key 14: UTF-8 when key 97 is 1 (or it decodes so), else cp1252; markup
    (ANSI-like escapes, font tags) stripped, the marked-up text kept apart."""
    raw = values.get(b"14", b"")
    if values.get(b"97") == b"1":
        charset, text = "utf-8", raw.decode("utf-8", "replace")
    else:
        try:
            charset, text = "utf-8", raw.decode("utf-8")
        except UnicodeDecodeError:
            charset, text = "cp1252", raw.decode("cp1252", "replace")
    plain = _TAGS.sub("", _ESCAPES.sub("", text))
    return plain, raw, charset, (text if plain != text else None)
