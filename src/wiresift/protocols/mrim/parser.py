"""Mail.Ru Agent (MRIM) sessions and their file-transfer connections.

Theory of operation (protocols.md s4): both directions are packets with a 44-byte
little-endian header (magic 0xDEADBEEF, version, sequence, type, body length) and a body
of UL and LPS fields. The client (ORIG) is the local user. Texts are UTF-16LE from protocol
minor 16 or with the message flag 0x100000, cp1251 before; the decoding is checked against
the bytes (protocols.md s4.4) and the raw bytes are kept. After the server's start-TLS OK
(0x1087) the stream is TLS. Mid-stream and after holes the parser looks for the next magic
followed by a version word ``xx 00 01 00`` (protocols.md s4.6).

The file-transfer connection (protocols.md s4.5) carries NUL-terminated ``MRA_FT_HELLO`` and
``MRA_FT_GET_FILE <name>`` commands; after a GET_FILE the other side sends the file's bytes,
whose size comes from the announcing FILE_TRANSFER packet (``MrimTransfer`` context).
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    SwitchProtocol,
)
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
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.mrim.events import MrimTransfer
from wiresift.protocols.mrim.wire import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAGIC_BYTES,
    UNICODE_MINOR,
    Reader,
    decode_text,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP
NS: Final = 1_000_000_000

# Packet types (protocols.md s4.2; kopete-mrim mra_proto.h, mrim-server globals.js).
HELLO: Final = 0x1001
HELLO_ACK: Final = 0x1002
LOGIN: Final = 0x1003
LOGIN_ACK: Final = 0x1004
LOGIN_REJ: Final = 0x1005
PING: Final = 0x1006
MESSAGE: Final = 0x1008
MESSAGE_ACK: Final = 0x1009
USER_STATUS: Final = 0x100F
MESSAGE_RECV: Final = 0x1011
MESSAGE_STATUS: Final = 0x1012
LOGOUT: Final = 0x1013
CONNECTION_PARAMS: Final = 0x1014
USER_INFO: Final = 0x1015
ADD_CONTACT: Final = 0x1019
ADD_CONTACT_ACK: Final = 0x101A
MODIFY_CONTACT: Final = 0x101B
MODIFY_CONTACT_ACK: Final = 0x101C
OFFLINE_MESSAGE_ACK: Final = 0x101D
DELETE_OFFLINE_MESSAGE: Final = 0x101E
AUTHORIZE: Final = 0x1020
AUTHORIZE_ACK: Final = 0x1021
CHANGE_STATUS: Final = 0x1022
GET_MPOP_SESSION: Final = 0x1024
MPOP_SESSION: Final = 0x1025
FILE_TRANSFER: Final = 0x1026
FILE_TRANSFER_ACK: Final = 0x1027
ANKETA_INFO: Final = 0x1028
WP_REQUEST: Final = 0x1029
MAILBOX_STATUS: Final = 0x1033
TRANSFER_SUCCEED: Final = 0x1034
CONTACT_LIST2: Final = 0x1037
LOGIN2: Final = 0x1038
SMS: Final = 0x1039
SMS_ACK: Final = 0x1040
PROXY: Final = 0x1044
PROXY_ACK: Final = 0x1045
PROXY_HELLO: Final = 0x1046
PROXY_HELLO_ACK: Final = 0x1047
NEW_MAIL: Final = 0x1048
LOGIN3: Final = 0x1078
START_TLS: Final = 0x1086
START_TLS_OK: Final = 0x1087
FAILURE: Final = 0x1088
COMPRESS_SERVER_STREAM: Final = 0x1089
# Types read without an event of their own (keep-alives, acks, directory searches).
QUIET_TYPES: Final = frozenset(
    {
        HELLO,
        HELLO_ACK,
        PING,
        MESSAGE_RECV,
        CONNECTION_PARAMS,
        ADD_CONTACT_ACK,
        MODIFY_CONTACT_ACK,
        DELETE_OFFLINE_MESSAGE,
        AUTHORIZE_ACK,
        GET_MPOP_SESSION,
        MPOP_SESSION,
        ANKETA_INFO,
        WP_REQUEST,
        SMS_ACK,
        PROXY,
        PROXY_ACK,
        PROXY_HELLO,
        PROXY_HELLO_ACK,
        FAILURE,
    }
)

# Message flags (protocols.md s4.2).
FLAG_OFFLINE: Final = 0x1
FLAG_AUTHORIZE: Final = 0x8
FLAG_RTF: Final = 0x80
FLAG_CONTACT: Final = 0x200
FLAG_NOTIFY: Final = 0x400  # typing
FLAG_SMS: Final = 0x800
FLAG_MULTICAST: Final = 0x1000
FLAG_UNICODE: Final = 0x100000
FLAG_CHAT: Final = 0x400000

# Contact flags (protocols.md s4.3).
CONTACT_REMOVED: Final = 0x1
CONTACT_GROUP: Final = 0x2

# Largest body kept: a contact list of a few thousand entries is well under 1 MiB; mrim-
# server reads bodies into memory whole as well.
MAX_BODY: Final = 4 * 1024 * 1024
# Contacts kept from one list (the extract layer keeps 100,000 per list).
MAX_CONTACTS: Final = 20_000
# Groups of one list (Mail.Ru allowed 20; kopete-mrim's MAX_GROUP).
MAX_GROUPS: Final = 1024
# Fields of a contact-list mask read per entry (masks in protocols.md s4.3 have up to 21).
MAX_MASK: Final = 64
# Bytes searched for the magic before giving up on the front of the buffer.
MAX_RESYNC_WINDOW: Final = 64 * 1024
# Files of one transfer request.
MAX_TRANSFER_FILES: Final = 1024

# Header of an offline message's RFC 822-like blob (protocols.md s4.4).
_ADDRESS: Final = re.compile(r"^([^:;\s]+):(\d{1,5})$")


def _plausible(data: bytes | bytearray, offset: int) -> bool:
    """Magic followed by a version word whose major is 1 (``xx 00 01 00``)."""
    return data[offset : offset + 4] == MAGIC_BYTES and data[offset + 6 : offset + 8] == b"\x01\x00"


class _Side:
    __slots__ = ("buffer", "skipped", "synced")

    def __init__(self, synced: bool) -> None:
        self.buffer = ByteBuffer()
        self.synced = synced
        self.skipped = 0  # bytes dropped while looking for the magic, not yet reported


class MrimParser(Parser):
    """One MRIM session; ``keep_secrets`` keeps the LOGIN2 password."""

    name = "mrim"
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        synced = not flow.mid_stream
        self._sides = (_Side(synced), _Side(synced))
        self._confirmed = False
        self._switched = False
        self._tls_requested = False
        self.account: str | None = None
        self.minor: int | None = None  # the session's protocol minor (from the login)
        self._groups: dict[int, str] = {}

    def buffered_bytes(self) -> int:
        return sum(len(side.buffer) for side in self._sides)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        if self._switched:
            return []
        side = self._sides[direction]
        side.buffer.push(data)
        out: list[Event] = []
        self._drain(direction, side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        side.skipped += len(side.buffer)
        side.buffer.clear()
        side.synced = False
        out: list[Event] = []
        self._report_skipped(direction, side, ts, out)
        out.append(Anomaly(direction=direction, ts=ts, name="mrim_content_gap", detail=f"{size}"))
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        if self._switched:
            return []
        out: list[Event] = []
        self._report_skipped(direction, side, ts, out)
        if not side.buffer:
            return out
        size = len(side.buffer)
        side.buffer.clear()
        return [Anomaly(direction=direction, ts=ts, name="mrim_truncated_packet", detail=f"{size}")]

    def _drain(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> None:
        buffer = side.buffer
        while buffer and not self._switched:
            if not side.synced and not self._resync(direction, side, ts, out):
                return
            head = buffer.peek(HEADER_SIZE)
            if len(head) < HEADER_SIZE:
                return
            magic, version, _, kind, length, _, _, _ = HEADER.unpack(head)
            if magic != MAGIC:
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name="mrim_bad_magic", detail=head[:8].hex()
                    )
                )
                side.synced = False
                continue
            if length > MAX_BODY:
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name="mrim_packet_too_long", detail=str(length)
                    )
                )
                buffer.skip(4)  # look for the next packet past this header
                side.synced = False
                continue
            packet = buffer.take_exact(HEADER_SIZE + length)
            if packet is None:
                return
            if not self._confirmed:
                self._confirmed = True
                out.append(Confirmed(direction=direction, ts=ts))
            self._packet(direction, version, kind, packet[HEADER_SIZE:], ts, out)

    def _resync(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> bool:
        """Drop bytes before the next magic + version word (protocols.md s4.6).

        The dropped count is reported once, when sync is found (or at a gap or the end).
        """
        data = side.buffer.peek(len(side.buffer))
        position = data.find(MAGIC_BYTES)
        while position >= 0 and position + 8 <= len(data) and not _plausible(data, position):
            position = data.find(MAGIC_BYTES, position + 1)
        if position < 0:
            drop = max(0, len(data) - 3)
        elif position + 8 > len(data):
            drop = position
        else:
            drop = position
            side.synced = True
        if drop:
            side.buffer.skip(drop)
            side.skipped += drop
        if side.synced:
            self._report_skipped(direction, side, ts, out)
        return side.synced

    @staticmethod
    def _report_skipped(direction: Direction, side: _Side, ts: int, out: list[Event]) -> None:
        if side.skipped:
            out.append(
                Anomaly(
                    direction=direction, ts=ts, name="mrim_resync", detail=f"skipped {side.skipped}"
                )
            )
            side.skipped = 0

    # -- packets --------------------------------------------------------------------

    def _unicode(self, version: int, flags: int = 0) -> bool:
        minor = self.minor if self.minor is not None else version & 0xFFFF
        return minor >= UNICODE_MINOR or bool(flags & FLAG_UNICODE)

    def _packet(
        self, direction: Direction, version: int, kind: int, body: bytes, ts: int, out: list[Event]
    ) -> None:
        reader = Reader(body)
        if kind in (LOGIN, LOGIN2, LOGIN3) and direction is ORIG:
            self._login(kind, version, reader, ts, out)
        elif kind == LOGIN_ACK and direction is RESP and self.account:
            out.append(ChatLogin(direction=direction, ts=ts, account=self.account, accepted=True))
        elif kind == LOGIN_REJ and direction is RESP:
            reason = reader.lps().decode("cp1251", "replace")
            if self.account:
                out.append(
                    ChatLogin(direction=direction, ts=ts, account=self.account, accepted=False)
                )
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="login_rejected",
                    who=self.account,
                    detail=reason,
                )
            )
        elif kind == MESSAGE and direction is ORIG:
            flags = reader.ul()
            peer = reader.lps().decode("cp1251", "replace")
            self._message(direction, version, flags, self.account, peer, reader, ts, out)
        elif kind == MESSAGE_ACK and direction is RESP:
            message_id = reader.ul()
            flags = reader.ul()
            peer = reader.lps().decode("cp1251", "replace")
            self._message(
                direction, version, flags, peer, self.account, reader, ts, out, message_id
            )
        elif kind == OFFLINE_MESSAGE_ACK and direction is RESP:
            self._offline(direction, reader, ts, out)
        elif kind == CONTACT_LIST2 and direction is RESP:
            self._contact_list(direction, version, reader, ts, out)
        elif kind in (ADD_CONTACT, MODIFY_CONTACT) and direction is ORIG:
            self._contact_change(direction, version, kind, reader, ts, out)
        elif kind == FILE_TRANSFER:
            self._file_transfer(direction, version, reader, ts, out)
        elif kind == FILE_TRANSFER_ACK:
            status = reader.ul()
            peer = reader.lps().decode("cp1251", "replace")
            session = reader.ul()
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="file_transfer_answer",
                    who=peer,
                    detail=f"session={session} status={status:#x}",
                )
            )
        elif kind == TRANSFER_SUCCEED:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="file_transfer_done",
                    detail=f"session={reader.ul()}",
                )
            )
        elif kind == MAILBOX_STATUS and direction is RESP:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="mailbox_status",
                    who=self.account,
                    detail=f"unread={reader.ul()}",
                )
            )
        elif kind == NEW_MAIL and direction is RESP:
            count = reader.ul()
            reader.ul()
            subject, _ = decode_text(reader.lps(), True)
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="new_mail",
                    who=self.account,
                    detail=f"count={count} subject={subject[:200]}",
                )
            )
        elif kind == SMS:
            reader.ul()
            phone = reader.lps().decode("cp1251", "replace")
            text, _ = decode_text(reader.lps(), True)
            out.append(
                ChatNotice(direction=direction, ts=ts, name="sms", who=phone, detail=text[:1000])
            )
        elif kind == USER_STATUS and direction is RESP:
            status = reader.ul()
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="presence", detail=f"status={status:#x}"
                )
            )
        elif kind == CHANGE_STATUS and direction is ORIG:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="status",
                    who=self.account,
                    detail=f"status={reader.ul():#x}",
                )
            )
        elif kind == USER_INFO and direction is RESP:
            out.append(ChatNotice(direction=direction, ts=ts, name="user_info", who=self.account))
        elif kind == AUTHORIZE:
            peer = reader.lps().decode("cp1251", "replace")
            out.append(ChatNotice(direction=direction, ts=ts, name="authorize", who=peer))
        elif kind == LOGOUT and direction is RESP:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="logout",
                    who=self.account,
                    detail=f"reason={reader.ul():#x}",
                )
            )
        elif kind == MESSAGE_STATUS and direction is RESP:
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="message_status", detail=f"{reader.ul():#x}"
                )
            )
        elif kind == START_TLS and direction is ORIG:
            self._tls_requested = True
        elif kind == START_TLS_OK and direction is RESP:
            self._switch(direction, ts, out)
        elif kind == COMPRESS_SERVER_STREAM:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="compression", detail="unsupported")
            )
        elif kind not in QUIET_TYPES:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="unknown_packet", detail=f"{kind:#06x}")
            )
        if not reader.ok:
            out.append(
                Anomaly(direction=direction, ts=ts, name="mrim_short_body", detail=f"{kind:#06x}")
            )

    def _switch(self, direction: Direction, ts: int, out: list[Event]) -> None:
        """Start-TLS OK: the rest of both directions is TLS (protocols.md s4.2, s4.6)."""
        self._switched = True
        own = self._sides[direction].buffer.take_all()
        other = self._sides[1 - direction].buffer.take_all()
        out.append(
            SwitchProtocol(direction=direction, ts=ts, to="tls", leftover=own, leftover_other=other)
        )

    def _login(self, kind: int, version: int, reader: Reader, ts: int, out: list[Event]) -> None:
        """LOGIN2: login, clear password, status, description; LOGIN3: a hash instead."""
        self.minor = version & 0xFFFF
        self.account = reader.lps().decode("cp1251", "replace")
        secret = reader.lps()
        status = reader.ul()
        description = reader.lps().decode("cp1251", "replace") if kind != LOGIN else ""
        mechanism = {LOGIN3: "md5"}.get(kind, "plain")
        kept = None
        if self.keep_secrets:
            kept = secret.hex() if kind == LOGIN3 else secret.decode("cp1251", "replace")
        out.append(
            ChatLogin(
                direction=ORIG,
                ts=ts,
                account=self.account,
                client=description or f"MRIM {version >> 16}.{version & 0xFFFF}",
                mechanism=mechanism,
                secret=kept,
            )
        )
        out.append(
            ChatNotice(
                direction=ORIG, ts=ts, name="status", who=self.account, detail=f"status={status:#x}"
            )
        )

    def _message(
        self,
        direction: Direction,
        version: int,
        flags: int,
        sender: str | None,
        recipient: str | None,
        reader: Reader,
        ts: int,
        out: list[Event],
        message_id: int | None = None,
    ) -> None:
        """MESSAGE / MESSAGE_ACK: text LPS, then the RTF part (protocols.md s4.2)."""
        raw = reader.lps()
        rtf = reader.lps() if flags & FLAG_RTF and reader.remaining() else b""
        if flags & FLAG_NOTIFY:
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="typing", who=sender, detail=f"to={recipient}"
                )
            )
            return
        text, charset = decode_text(raw, self._unicode(version, flags))
        extra: dict[str, object] = {"flags": f"{flags:#x}"}
        if message_id is not None:
            extra["message_id"] = message_id
        if rtf:
            extra["rtf"] = rtf.decode("latin-1")[:4096]
        kind = "chat"
        if flags & FLAG_AUTHORIZE:
            kind = "auth_request"
        elif flags & FLAG_SMS:
            kind = "sms"
        elif flags & FLAG_OFFLINE:
            kind = "offline"
        elif flags & FLAG_CONTACT:
            kind = "contacts"
        channel = None
        if flags & FLAG_CHAT:
            channel = recipient if direction is ORIG else sender
            kind = "groupchat"
        if flags & FLAG_MULTICAST:
            extra["multicast"] = True
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender or "",
                recipients=(recipient,) if recipient else (),
                channel=channel,
                text=text,
                raw=raw,
                charset=charset,
                message_kind=kind,
                extra=extra,
            )
        )

    def _offline(self, direction: Direction, reader: Reader, ts: int, out: list[Event]) -> None:
        """OFFLINE_MESSAGE_ACK: UIDL, RFC 822-like message (protocols.md s4.4)."""
        uidl = reader.data[reader.offset : reader.offset + 8]
        reader.offset += 8
        blob = reader.lps()
        if not reader.ok:
            return
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(blob)
        sender = str(message.get("From", "") or "")
        flags_text = str(message.get("X-MRIM-Flags", "0") or "0").strip()
        try:
            flags = int(flags_text, 16)
        except ValueError:
            flags = 0
        sent_at = None
        date = message.get("Date")
        if date:
            parsed = email.utils.parsedate_tz(str(date))
            if parsed is not None:
                sent_at = int(email.utils.mktime_tz(parsed)) * NS
        part = message
        if message.is_multipart():
            parts = [p for p in message.walk() if not p.is_multipart()]
            part = parts[0] if parts else message
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        charset = (part.get_content_charset() or "").lower()
        if charset in ("utf-16le", "utf-16"):
            text, label = raw[: len(raw) & ~1].decode("utf-16-le", "replace"), "utf-16le"
        else:
            text, label = decode_text(raw, bool(flags & FLAG_UNICODE))
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=(self.account,) if self.account else (),
                text=text,
                raw=raw,
                charset=label,
                message_kind="offline",
                sent_at=sent_at,
                extra={"flags": f"{flags:#x}", "uidl": uidl.hex()},
            )
        )

    def _contact_list(
        self, direction: Direction, version: int, reader: Reader, ts: int, out: list[Event]
    ) -> None:
        """CONTACT_LIST2: status, group count, masks, groups, contacts (protocols.md s4.3)."""
        status = reader.ul()
        group_count = reader.ul()
        group_mask = reader.lps().decode("latin-1")[:MAX_MASK]
        contact_mask = reader.lps().decode("latin-1")[:MAX_MASK]
        if status != 0 or not reader.ok:
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="contact_list_status", detail=f"{status:#x}"
                )
            )
            return
        unicode = self._unicode(version)
        groups: dict[int, str] = {}
        if group_count > MAX_GROUPS:
            out.append(
                Anomaly(
                    direction=direction, ts=ts, name="mrim_too_many_groups", detail=str(group_count)
                )
            )
        for index in range(group_count):
            fields = _masked(reader, group_mask)
            if not reader.ok:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="mrim_contact_list_truncated",
                        detail=f"group {index}",
                    )
                )
                break
            if index < MAX_GROUPS:
                name = fields[1] if len(fields) > 1 and isinstance(fields[1], bytes) else b""
                groups[index] = decode_text(name, unicode)[0]
        self._groups = groups
        entries: list[ContactEntry] = []
        dropped = 0
        while reader.ok and reader.remaining() > 0:
            fields = _masked(reader, contact_mask)
            if not reader.ok:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="mrim_contact_list_truncated",
                        detail=f"contact {len(entries)}",
                    )
                )
                break
            if len(entries) >= MAX_CONTACTS:
                dropped += 1
                continue
            entry = self._contact(fields, unicode)
            if entry is not None:
                entries.append(entry)
        reader.ok = True  # reported above
        if dropped:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="mrim_contact_list_too_long",
                    detail=f"{dropped} dropped",
                )
            )
        out.append(
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=self.account,
                operation="replace",
                entries=tuple(entries),
                groups=tuple(groups.values()),
            )
        )

    def _contact(self, fields: list[int | bytes], unicode: bool) -> ContactEntry | None:
        """Leading contact fields: flags, group, e-mail, nickname, server flags, status."""
        if len(fields) < 4:
            return None
        flags, group, address, nick = fields[:4]
        if not isinstance(flags, int) or not isinstance(group, int):
            return None
        if not isinstance(address, bytes) or not isinstance(nick, bytes):
            return None
        if flags & CONTACT_REMOVED:
            return None
        extra: dict[str, object] = {"flags": f"{flags:#x}"}
        if len(fields) > 4 and isinstance(fields[4], int):
            extra["server_flags"] = f"{fields[4]:#x}"
        if len(fields) > 5 and isinstance(fields[5], int):
            extra["status"] = f"{fields[5]:#x}"
        group_name = self._groups.get(group)
        return ContactEntry(
            contact=address.decode("cp1251", "replace"),
            name=decode_text(nick, unicode)[0] or None,
            groups=(group_name,) if group_name is not None else (),
            extra=extra,
        )

    def _contact_change(
        self,
        direction: Direction,
        version: int,
        kind: int,
        reader: Reader,
        ts: int,
        out: list[Event],
    ) -> None:
        """ADD_CONTACT (flags, group, e-mail, name) / MODIFY_CONTACT (id first) (s4.2)."""
        if kind == MODIFY_CONTACT:
            reader.ul()
        flags = reader.ul()
        group = reader.ul()
        address = reader.lps().decode("cp1251", "replace")
        name, _ = decode_text(reader.lps(), self._unicode(version))
        if flags & CONTACT_GROUP:
            if kind == ADD_CONTACT:
                self._groups[len(self._groups)] = name
                out.append(
                    ContactListUpdate(
                        direction=direction,
                        ts=ts,
                        owner=self.account,
                        operation="add",
                        groups=(name,),
                    )
                )
            return
        group_name = self._groups.get(group)
        entry = ContactEntry(
            contact=address,
            name=name or None,
            groups=(group_name,) if group_name is not None else (),
        )
        operation = "add" if kind == ADD_CONTACT else "modify"
        if flags & CONTACT_REMOVED:
            operation = "remove"
        out.append(
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=self.account,
                operation=operation,
                entries=(entry,),
            )
        )

    def _file_transfer(
        self, direction: Direction, version: int, reader: Reader, ts: int, out: list[Event]
    ) -> None:
        """FILE_TRANSFER: peer, session id, total size, {files, {?, unicode files}, addresses}."""
        peer = reader.lps().decode("cp1251", "replace")
        session = reader.ul()
        total = reader.ul()
        inner = Reader(reader.lps())
        files_cp1251 = inner.lps()
        unicode_block = Reader(inner.lps())
        addresses = inner.lps().decode("latin-1")
        unicode_block.ul()
        files_unicode = unicode_block.lps()
        if unicode_block.ok and files_unicode:
            listing, _ = decode_text(files_unicode, True)
        else:
            listing, _ = decode_text(files_cp1251, False)
        files = _file_list(listing)
        sender: str | None
        recipient: str | None
        if direction is ORIG:
            sender, recipient = self.account, peer
        else:
            sender, recipient = peer, self.account
        endpoints = [
            (m.group(1), int(m.group(2)))
            for m in (_ADDRESS.match(a.strip()) for a in addresses.split(";"))
            if m is not None and 0 < int(m.group(2)) < 65536
        ]
        first = endpoints[0] if endpoints else None
        for name, size in files:
            if "/" in name or "\\" in name or name.startswith(".."):
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name="mrim_file_name_path", detail=name[:200]
                    )
                )
            out.append(
                FileOffer(
                    direction=direction,
                    ts=ts,
                    name=name,
                    size=size,
                    sender=sender,
                    recipient=recipient,
                    transfer_id=str(session),
                    endpoint=first,
                )
            )
        if not files:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="file_transfer",
                    who=peer,
                    detail=f"session={session} size={total}",
                )
            )
            return
        context = MrimTransfer(
            session_id=session,
            sender=sender,
            recipient=recipient,
            files=tuple(files),
            control_uid=self.flow.uid,
        )
        for address, port in endpoints[:8]:
            out.append(
                ExpectConnection(
                    direction=direction,
                    ts=ts,
                    protocol="mrim-ft",
                    server_addr=address,
                    server_port=port,
                    context=context,
                )
            )


def _masked(reader: Reader, mask: str) -> list[int | bytes]:
    """Fields by mask letters: ``u`` UL, ``s`` LPS, ``z`` NUL-terminated (protocols.md s4.3)."""
    fields: list[int | bytes] = []
    for letter in mask:
        if letter == "u":
            fields.append(reader.ul())
        elif letter == "s":
            fields.append(reader.lps())
        elif letter == "z":
            fields.append(reader.z())
        else:
            reader.ok = False
        if not reader.ok:
            break
    return fields


def _file_list(listing: str) -> list[tuple[str, int]]:
    """``name;size;name;size;`` (protocols.md s4.5) -> [(name, size)]."""
    parts = listing.split(";")
    files: list[tuple[str, int]] = []
    for index in range(0, len(parts) - 1, 2):
        size = parts[index + 1].strip()
        if parts[index] and size.isdigit() and len(size) <= 12:
            files.append((parts[index], int(size)))
        if len(files) >= MAX_TRANSFER_FILES:
            break
    return files


# -- file transfer connection ---------------------------------------------------------

FT_HELLO: Final = b"MRA_FT_HELLO "  # protocols.md s4.5 (kopete-mrim filetransfertask.cpp)
FT_GET_FILE: Final = b"MRA_FT_GET_FILE "  # protocols.md s4.5
# Longest command line kept (an e-mail address or a file name).
MAX_FT_COMMAND: Final = 4096


class _FtSide:
    __slots__ = ("buffer", "file", "remaining", "streaming")

    def __init__(self) -> None:
        self.buffer = ByteBuffer()
        self.remaining = 0
        self.file = -1
        self.streaming = False  # bytes of unknown size until the end


class MrimFileParser(Parser):
    """``MRA_FT_*`` connection: commands one way, the requested file's bytes the other."""

    name = "mrim-ft"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_FtSide(), _FtSide())
        context = flow.context
        self._transfer = context if isinstance(context, MrimTransfer) else None
        self._files = 0
        self._confirmed = False

    def buffered_bytes(self) -> int:
        return sum(len(side.buffer) for side in self._sides)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        if side.streaming:
            out.append(FileData(direction=direction, ts=ts, file=side.file, data=data))
            return out
        if side.remaining:
            data = self._stream(direction, side, data, ts, out)
        if data:
            side.buffer.push(data)
            self._commands(direction, side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="mrim_ft_content_gap", detail=f"{size}")
        ]
        if side.file >= 0:
            out.append(
                FileEnd(direction=direction, ts=ts, file=side.file, complete=False, reason="gap")
            )
            side.file = -1
            side.remaining = 0
            side.streaming = False
        side.buffer.clear()
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        if side.file >= 0:
            out.append(
                FileEnd(
                    direction=direction,
                    ts=ts,
                    file=side.file,
                    complete=side.streaming,
                    reason=None if side.streaming else "closed",
                )
            )
            side.file = -1
        side.buffer.clear()
        return out

    def _stream(
        self, direction: Direction, side: _FtSide, data: bytes, ts: int, out: list[Event]
    ) -> bytes:
        taken = min(side.remaining, len(data))
        side.remaining -= taken
        out.append(FileData(direction=direction, ts=ts, file=side.file, data=data[:taken]))
        if not side.remaining:
            out.append(FileEnd(direction=direction, ts=ts, file=side.file, complete=True))
            side.file = -1
        return data[taken:]

    def _commands(self, direction: Direction, side: _FtSide, ts: int, out: list[Event]) -> None:
        buffer = side.buffer
        while buffer:
            data = buffer.peek(MAX_FT_COMMAND)
            end = data.find(b"\x00")
            if end < 0:
                if len(data) >= MAX_FT_COMMAND:
                    out.append(Anomaly(direction=direction, ts=ts, name="mrim_ft_command_too_long"))
                    buffer.skip(len(data))
                return
            buffer.skip(end + 1)
            line = data[:end]
            if not self._confirmed and line.startswith(FT_HELLO):
                self._confirmed = True
                out.append(Confirmed(direction=direction, ts=ts))
            if line.startswith(FT_HELLO):
                out.append(
                    ChatNotice(
                        direction=direction,
                        ts=ts,
                        name="file_transfer_hello",
                        who=line[len(FT_HELLO) :].decode("cp1251", "replace"),
                    )
                )
            elif line.startswith(FT_GET_FILE):
                self._get(direction, line[len(FT_GET_FILE) :], ts, out)
            else:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="mrim_ft_unknown_command",
                        detail=line[:64].decode("latin-1"),
                    )
                )

    def _get(self, direction: Direction, raw_name: bytes, ts: int, out: list[Event]) -> None:
        """A file is requested: the other direction carries its bytes next."""
        name, _ = decode_text(raw_name, False)
        transfer = self._transfer
        size = None
        if transfer is not None:
            size = next((s for n, s in transfer.files if n == name), None)
        other = 1 - direction
        side = self._sides[other]
        if side.file >= 0:
            out.append(
                FileEnd(
                    direction=Direction(other),
                    ts=ts,
                    file=side.file,
                    complete=False,
                    reason="restarted",
                )
            )
        number = self._files
        self._files += 1
        out.append(
            FileBegin(
                direction=Direction(other),
                ts=ts,
                file=number,
                name=name,
                size=size,
                sender=transfer.sender if transfer else None,
                recipient=transfer.recipient if transfer else None,
                transfer_id=str(transfer.session_id) if transfer else None,
                upload=other == ORIG,
            )
        )
        side.file = number
        side.remaining = size or 0
        side.streaming = size is None
        if size == 0:
            out.append(FileEnd(direction=Direction(other), ts=ts, file=number, complete=True))
            side.file = -1
        pending = side.buffer.take_all()
        if pending:
            if side.streaming:
                out.append(FileData(direction=Direction(other), ts=ts, file=number, data=pending))
            elif side.remaining:
                rest = self._stream(Direction(other), side, pending, ts, out)
                side.buffer.push(rest)
            else:
                side.buffer.push(pending)
