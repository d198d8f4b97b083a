"""OSCAR (ICQ/AIM) control connections: FLAP frames carrying sign-on TLVs and SNACs.

Theory of operation (layouts in /work/shared/protocols.md s1, sources per constant): each
direction is a stream of FLAP frames (marker 0x2A, channel, sequence, length). Channel 1
signs on (screen name or UIN, roasted password, client id, or the BOS cookie), channel 2
carries SNACs, channel 4 the old login reply or the sign-off. The SNACs read here are the
ICBM messages (family 0x0004: channels 1, 2 and 4, typing), the ICQ meta family 0x0015
(offline messages), the feedbag 0x0013 (contact list), BUCP 0x0017 (MD5 login), presence
(0x0003) and user info (0x0001, 0x0002). The client side (ORIG) is the local user.

A stream that starts mid-way or after a hole resynchronises on a FLAP header whose length
lands on the next FLAP header (protocols.md s1.6: two good frames before trusting sync).
"""

from __future__ import annotations

import calendar
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
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.oscar.events import OftOffer
from wiresift.protocols.oscar.wire import (
    CHANNEL_KEEPALIVE,
    CHANNEL_SIGNOFF,
    CHANNEL_SIGNON,
    CHANNEL_SNAC,
    FLAP_HEADER,
    FLAP_MARKER,
    FLAP_VERSION,
    SNAC_FLAG_HAS_VERSION_TLV,
    SNAC_FLAG_MORE_FOLLOWS,
    SNAC_HEADER,
    U16,
    U16_LE,
    U32,
    U32_LE,
    decode_icbm_text,
    decode_local,
    decode_named,
    ipv4_text,
    parse_tlvs,
    screen_name,
    strip_html,
    unroast,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP
NS: Final = 1_000_000_000

# SNAC families (protocols.md s1.2; libpurple snactypes.h).
FAMILY_OSERVICE: Final = 0x0001
FAMILY_LOCATE: Final = 0x0002
FAMILY_BUDDY: Final = 0x0003
FAMILY_ICBM: Final = 0x0004
FAMILY_FEEDBAG: Final = 0x0013
FAMILY_ICQ: Final = 0x0015
FAMILY_BUCP: Final = 0x0017
# Highest family number libpurple knows (0x0025, "alert"); larger ones mean desync.
MAX_FAMILY: Final = 0x0025

# Subtypes (protocols.md s1.2-s1.4; libpurple snactypes.h).
OSERVICE_SELF_INFO: Final = 0x000F
LOCATE_SET_INFO: Final = 0x0004
LOCATE_USER_INFO: Final = 0x0006
BUDDY_ARRIVED: Final = 0x000B
BUDDY_DEPARTED: Final = 0x000C
ICBM_SEND: Final = 0x0006
ICBM_INCOMING: Final = 0x0007
ICBM_TYPING: Final = 0x0014
FEEDBAG_LIST: Final = 0x0006
FEEDBAG_ADD: Final = 0x0008
FEEDBAG_MODIFY: Final = 0x0009
FEEDBAG_DELETE: Final = 0x000A
ICQ_META_REQUEST: Final = 0x0002
ICQ_META_REPLY: Final = 0x0003
BUCP_LOGIN: Final = 0x0002
BUCP_LOGIN_REPLY: Final = 0x0003
BUCP_KEY_REQUEST: Final = 0x0006

# Sign-on and login-reply TLVs (protocols.md s1.1; packet-aim.c client TLV numbers).
TLV_SCREEN_NAME: Final = 0x0001
TLV_ROASTED_PASSWORD: Final = 0x0002
TLV_CLIENT_ID: Final = 0x0003
TLV_BOS_ADDRESS: Final = 0x0005
TLV_COOKIE: Final = 0x0006
TLV_ERROR: Final = 0x0008
TLV_VERSION_MAJOR: Final = 0x0017
TLV_VERSION_MINOR: Final = 0x0018
TLV_VERSION_POINT: Final = 0x0019
TLV_VERSION_BUILD: Final = 0x001A
TLV_MD5_HASH: Final = 0x0025

# ICBM channels and message TLVs (protocols.md s1.3).
ICBM_PLAIN: Final = 1
ICBM_RENDEZVOUS: Final = 2
ICBM_ICQ: Final = 4
TLV_MESSAGE_BLOCK: Final = 0x0002
TLV_AUTO_RESPONSE: Final = 0x0004
TLV_RENDEZVOUS: Final = 0x0005  # also channel 4's ICQ data (same number)
TLV_STORE_OFFLINE: Final = 0x0006
# Server's timestamp on a stored (offline) message, unix seconds (libpurple family_icbm.c).
TLV_OFFLINE_TIME: Final = 0x0016
FRAGMENT_TEXT: Final = 0x0101  # id 0x01 version 0x01 (protocols.md s1.3)

# Rendezvous (channel 2, protocols.md s1.3 table).
RENDEZVOUS_PROPOSE: Final = 0
RENDEZVOUS_CANCEL: Final = 1
RENDEZVOUS_ACCEPT: Final = 2
RV_PROXY_IP: Final = 0x0002
RV_CLIENT_IP: Final = 0x0003
RV_VERIFIED_IP: Final = 0x0004
RV_PORT: Final = 0x0005
RV_USE_PROXY: Final = 0x0010
RV_SERVICE_DATA: Final = 0x2711
RV_FILENAME_CHARSET: Final = 0x2712
CAP_SEND_FILE: Final = bytes.fromhex("094613434C7F11D18222444553540000")  # protocols.md s1.3
CAP_DIRECT_IM: Final = bytes.fromhex("094613454C7F11D18222444553540000")  # protocols.md s1.3
# AOL's rendezvous proxy listens on 5190 (protocols.md s1.5, libpurple peer_proxy.c).
PROXY_PORT: Final = 5190

# ICQ channel-4 message types (protocols.md s1.3 [S]/[?]).
ICQ_TYPE_PLAIN: Final = 0x01
ICQ_TYPE_URL: Final = 0x04
ICQ_TYPE_CONTACTS: Final = 0x13
ICQ_FIELD_SEPARATOR: Final = 0xFE  # protocols.md s1.3: 0xFE-separated fields

# ICQ meta commands (protocols.md s1.3 "ICQ meta family 0x0015" [?]; libfaim icq.h).
META_OFFLINE_REQUEST: Final = 0x003C
META_OFFLINE_MESSAGE: Final = 0x0041
META_OFFLINE_END: Final = 0x0042

# Typing notification kinds (libpurple family_icbm.c).
TYPING_STATES: Final = {0x0000: "finished", 0x0001: "typed", 0x0002: "begun"}

# Feedbag item types and TLVs (protocols.md s1.4).
ITEM_BUDDY: Final = 0x0000
ITEM_GROUP: Final = 0x0001
TLV_ALIAS: Final = 0x0131
TLV_AWAITING_AUTH: Final = 0x0066
# Feedbag items kept per list (a server stores a few hundred; AIM capped lists at 1000).
MAX_FEEDBAG_ITEMS: Final = 20_000
# Bytes held while looking for a FLAP header again: one largest frame plus the next header.
MAX_RESYNC_WINDOW: Final = 6 + 0xFFFF + 2


class _Side:
    __slots__ = ("buffer", "scan", "synced")

    def __init__(self, synced: bool) -> None:
        self.buffer = ByteBuffer()
        self.synced = synced
        self.scan = 0  # no resync candidate starts before this offset


def _plausible_header(data: bytes | bytearray, offset: int) -> bool:
    return data[offset] == FLAP_MARKER and CHANNEL_SIGNON <= data[offset + 1] <= CHANNEL_KEEPALIVE


class OscarParser(Parser):
    """FLAP/SNAC parser of one login or BOS connection; ``keep_secrets`` keeps passwords."""

    name = "oscar"
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        synced = not flow.mid_stream
        self._sides = (_Side(synced), _Side(synced))
        self._confirmed = False
        self.local: str | None = None  # the signed-on user's screen name or UIN
        self._groups: dict[int, str] = {}  # feedbag group id -> name
        self._pending_items: list[tuple[str, int, int, int, dict[int, bytes]]] = []
        self._pending_dropped = False

    def buffered_bytes(self) -> int:
        return sum(len(side.buffer) for side in self._sides)

    # -- stream -------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        side.buffer.push(data)
        out: list[Event] = []
        self._drain(direction, side, ts, out, at_end=False)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        side.buffer.clear()
        side.synced = False
        side.scan = 0
        return [Anomaly(direction=direction, ts=ts, name="oscar_content_gap", detail=f"{size}")]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        self._drain(direction, side, ts, out, at_end=True)
        if side.buffer:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_truncated_frame",
                    detail=f"{len(side.buffer)} bytes",
                )
            )
            side.buffer.clear()
        return out

    def _drain(
        self, direction: Direction, side: _Side, ts: int, out: list[Event], at_end: bool
    ) -> None:
        buffer = side.buffer
        while buffer:
            if not side.synced and not self._resync(direction, side, ts, out, at_end):
                return
            head = buffer.peek(6)
            if len(head) < 6:
                return
            marker, channel, _, length = FLAP_HEADER.unpack(head)
            if marker != FLAP_MARKER or not CHANNEL_SIGNON <= channel <= CHANNEL_KEEPALIVE:
                out.append(
                    Anomaly(direction=direction, ts=ts, name="oscar_bad_frame", detail=head.hex())
                )
                side.synced = False
                side.scan = 0
                continue
            frame = buffer.take_exact(6 + length)
            if frame is None:
                return
            if not self._confirmed:
                self._confirmed = True
                out.append(Confirmed(direction=direction, ts=ts))
            self._frame(direction, channel, frame[6:], ts, out)

    def _resync(
        self, direction: Direction, side: _Side, ts: int, out: list[Event], at_end: bool
    ) -> bool:
        """Find a FLAP header whose frame ends on another header; drop what lies before."""
        data = side.buffer.peek(len(side.buffer))
        size = len(data)
        position = side.scan
        while position + 6 <= size:
            if not _plausible_header(data, position):
                position += 1
                continue
            (length,) = U16.unpack_from(data, position + 4)
            after = position + 6 + length
            if after + 2 <= size:
                if _plausible_header(data, after):
                    break
                position += 1
                continue
            if at_end and after == size:
                break
            side.scan = position
            if size > MAX_RESYNC_WINDOW and position > 0:
                self._skip(direction, side, position, ts, out)
            return False
        else:
            if at_end:
                position = size
            else:
                side.scan = max(0, size - 5)
                if side.scan > 0 and size > MAX_RESYNC_WINDOW:
                    self._skip(direction, side, side.scan, ts, out)
                return False
        self._skip(direction, side, position, ts, out)
        side.synced = position < size or not at_end
        return side.synced and bool(side.buffer)

    @staticmethod
    def _skip(direction: Direction, side: _Side, count: int, ts: int, out: list[Event]) -> None:
        if count <= 0:
            return
        side.buffer.skip(count)
        side.scan = max(0, side.scan - count)
        out.append(
            Anomaly(direction=direction, ts=ts, name="oscar_resync", detail=f"skipped {count}")
        )

    # -- frames -------------------------------------------------------------------

    def _frame(
        self, direction: Direction, channel: int, data: bytes, ts: int, out: list[Event]
    ) -> None:
        if channel == CHANNEL_SNAC:
            self._snac(direction, data, ts, out)
        elif channel == CHANNEL_SIGNON:
            if data[:4] == FLAP_VERSION and direction is ORIG and len(data) > 4:
                self._signon(data, ts, out)
        elif channel == CHANNEL_SIGNOFF and direction is RESP and data:
            values, _, _ = parse_tlvs(data)
            self._login_reply(direction, values, ts, out)

    def _signon(self, data: bytes, ts: int, out: list[Event]) -> None:
        """Channel-1 sign-on TLVs (protocols.md s1.1): old login, or BOS cookie."""
        values, _, complete = parse_tlvs(data, 4)
        if not complete:
            out.append(Anomaly(direction=ORIG, ts=ts, name="oscar_bad_tlv_list", detail="signon"))
        name = values.get(TLV_SCREEN_NAME)
        if name is not None:
            self.local = name.decode("utf-8", "replace")
            roasted = values.get(TLV_ROASTED_PASSWORD)
            secret = None
            if roasted is not None and self.keep_secrets:
                secret = unroast(roasted).decode("latin-1")
            out.append(
                ChatLogin(
                    direction=ORIG,
                    ts=ts,
                    account=self.local,
                    client=_client_id(values),
                    mechanism="roasted" if roasted is not None else None,
                    secret=secret,
                )
            )
        cookie = values.get(TLV_COOKIE)
        if cookie is not None:
            out.append(
                ChatNotice(
                    direction=ORIG, ts=ts, name="cookie", who=self.local, detail=cookie.hex()
                )
            )

    def _login_reply(
        self, direction: Direction, values: dict[int, bytes], ts: int, out: list[Event]
    ) -> None:
        """Login reply TLVs (channel 4 or BUCP 0x0003): BOS address and cookie, or error."""
        name = values.get(TLV_SCREEN_NAME)
        account = name.decode("utf-8", "replace") if name is not None else self.local
        if account is not None:
            self.local = account
        error = values.get(TLV_ERROR)
        if error is not None:
            if account is not None:
                out.append(ChatLogin(direction=direction, ts=ts, account=account, accepted=False))
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="login_error", who=account, detail=error.hex()
                )
            )
            return
        cookie = values.get(TLV_COOKIE)
        if cookie is None:
            return
        if account is not None:
            out.append(ChatLogin(direction=direction, ts=ts, account=account, accepted=True))
        address = values.get(TLV_BOS_ADDRESS)
        if address is not None:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="bos_server",
                    who=account,
                    detail=address.decode("latin-1"),
                )
            )
        out.append(
            ChatNotice(direction=direction, ts=ts, name="cookie", who=account, detail=cookie.hex())
        )

    def _snac(self, direction: Direction, data: bytes, ts: int, out: list[Event]) -> None:
        if len(data) < SNAC_HEADER.size:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_snac"))
            return
        family, subtype, flags, _ = SNAC_HEADER.unpack_from(data)
        body = data[SNAC_HEADER.size :]
        if flags & SNAC_FLAG_HAS_VERSION_TLV and len(body) >= 2:
            (skip,) = U16.unpack_from(body)
            body = body[2 + skip :]
        if family == FAMILY_ICBM:
            if subtype in (ICBM_SEND, ICBM_INCOMING):
                self._icbm(direction, subtype, body, ts, out)
            elif subtype == ICBM_TYPING:
                self._typing(direction, body, ts, out)
        elif family == FAMILY_FEEDBAG:
            self._feedbag(direction, subtype, flags, body, ts, out)
        elif family == FAMILY_ICQ and subtype in (ICQ_META_REQUEST, ICQ_META_REPLY):
            self._icq_meta(direction, body, ts, out)
        elif family == FAMILY_BUCP:
            self._bucp(direction, subtype, body, ts, out)
        elif family == FAMILY_BUDDY and subtype in (BUDDY_ARRIVED, BUDDY_DEPARTED):
            info = _user_info(body, 0)
            if info is not None:
                status = info[1].get(TLV_COOKIE)  # TLV 0x0006 status in a user-info block
                detail = "online" if subtype == BUDDY_ARRIVED else "offline"
                if status is not None:
                    detail += f" status={status.hex()}"
                out.append(
                    ChatNotice(
                        direction=direction, ts=ts, name="presence", who=info[0], detail=detail
                    )
                )
        elif family == FAMILY_OSERVICE and subtype == OSERVICE_SELF_INFO and direction is RESP:
            info = _user_info(body, 0)
            if info is not None:
                if self.local != info[0]:
                    # The BOS connection signs on with the authoriser's cookie, not a name:
                    # the server's self-info names the account (its objects carry it).
                    out.append(
                        ChatLogin(
                            direction=direction,
                            ts=ts,
                            account=info[0],
                            mechanism="cookie",
                            accepted=True,
                        )
                    )
                self.local = info[0]
                out.append(ChatNotice(direction=direction, ts=ts, name="self_info", who=info[0]))
        elif family == FAMILY_LOCATE and subtype == LOCATE_USER_INFO and direction is RESP:
            info = _user_info(body, 0)
            if info is not None:
                out.append(ChatNotice(direction=direction, ts=ts, name="user_info", who=info[0]))
        elif family == FAMILY_LOCATE and subtype == LOCATE_SET_INFO and direction is ORIG:
            out.append(ChatNotice(direction=direction, ts=ts, name="profile_set", who=self.local))

    # -- BUCP (MD5 login) ---------------------------------------------------------

    def _bucp(
        self, direction: Direction, subtype: int, body: bytes, ts: int, out: list[Event]
    ) -> None:
        values, _, _ = parse_tlvs(body)
        if direction is ORIG and subtype in (BUCP_LOGIN, BUCP_KEY_REQUEST):
            name = values.get(TLV_SCREEN_NAME)
            if name is None:
                return
            self.local = name.decode("utf-8", "replace")
            if subtype == BUCP_LOGIN:
                digest = values.get(TLV_MD5_HASH)
                out.append(
                    ChatLogin(
                        direction=ORIG,
                        ts=ts,
                        account=self.local,
                        client=_client_id(values),
                        mechanism="md5",
                        secret=digest.hex() if digest is not None and self.keep_secrets else None,
                    )
                )
        elif direction is RESP and subtype == BUCP_LOGIN_REPLY:
            self._login_reply(direction, values, ts, out)

    # -- ICBM ---------------------------------------------------------------------

    def _icbm(
        self, direction: Direction, subtype: int, body: bytes, ts: int, out: list[Event]
    ) -> None:
        """ICBM send (0x0006, client) or incoming (0x0007, server) (protocols.md s1.3)."""
        if len(body) < 11:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_icbm"))
            return
        cookie = body[:8]
        (channel,) = U16.unpack_from(body, 8)
        if subtype == ICBM_SEND:
            found = screen_name(body, 10)
            if found is None:
                out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_icbm"))
                return
            peer, offset = found
            sender: str | None = self.local
            recipient: str | None = peer
        else:
            info = _user_info(body, 10)
            if info is None:
                out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_icbm"))
                return
            peer, _, offset = info
            sender, recipient = peer, self.local
        values, _, complete = parse_tlvs(body, offset)
        if not complete:
            out.append(
                Anomaly(direction=direction, ts=ts, name="oscar_bad_tlv_list", detail="icbm")
            )
        if channel == ICBM_PLAIN:
            self._plain(direction, values, sender, recipient, cookie, ts, out)
        elif channel == ICBM_RENDEZVOUS:
            block = values.get(TLV_RENDEZVOUS)
            if block is not None:
                self._rendezvous(direction, block, sender, recipient, ts, out)
        elif channel == ICBM_ICQ:
            block = values.get(TLV_RENDEZVOUS)
            if block is not None:
                self._icq_legacy(direction, block, sender, recipient, cookie, ts, out)
        else:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_unknown_icbm_channel",
                    detail=str(channel),
                )
            )

    def _plain(
        self,
        direction: Direction,
        values: dict[int, bytes],
        sender: str | None,
        recipient: str | None,
        cookie: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        """Channel 1: fragments of TLV 0x0002, text fragments 0x0101 (protocols.md s1.3)."""
        block = values.get(TLV_MESSAGE_BLOCK)
        if block is None:
            return
        raw = bytearray()
        texts: list[str] = []
        charsets: list[str] = []
        offset = 0
        while offset + 4 <= len(block):
            ident, length = U16.unpack_from(block, offset)[0], U16.unpack_from(block, offset + 2)[0]
            start = offset + 4
            fragment = block[start : start + length]
            offset = start + length
            if ident == FRAGMENT_TEXT and len(fragment) >= 4:
                (charset,) = U16.unpack_from(fragment)
                piece = fragment[4:]
                raw += piece
                text, label = decode_icbm_text(piece, charset)
                texts.append(text)
                if label not in charsets:
                    charsets.append(label)
        if offset != len(block):
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_bad_message_block"))
        full = "".join(texts)
        text, markup = strip_html(full)
        extra: dict[str, object] = {"cookie": cookie.hex()}
        kind = "chat"
        sent_at = None
        stamp = values.get(TLV_OFFLINE_TIME)
        if stamp is not None and len(stamp) == 4:
            kind = "offline"
            sent_at = U32.unpack(stamp)[0] * NS
        if TLV_STORE_OFFLINE in values and direction is ORIG:
            extra["store_offline"] = True
        if TLV_AUTO_RESPONSE in values:
            extra["auto_response"] = True
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender or "",
                recipients=(recipient,) if recipient else (),
                text=text,
                raw=bytes(raw),
                charset="+".join(charsets) or None,
                markup=markup,
                message_kind=kind,
                sent_at=sent_at,
                extra=extra,
            )
        )

    def _icq_legacy(
        self,
        direction: Direction,
        block: bytes,
        sender: str | None,
        recipient: str | None,
        cookie: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        """Channel 4: LE UIN, type, flags, LE length, NUL-terminated text (protocols.md s1.3)."""
        if len(block) < 8:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_icbm"))
            return
        (uin,) = U32_LE.unpack_from(block)
        kind, flags = block[4], block[5]
        (length,) = U16_LE.unpack_from(block, 6)
        raw = block[8 : 8 + length]
        if len(raw) < length:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_icbm"))
        raw = raw.split(b"\x00", 1)[0]
        extra: dict[str, object] = {"cookie": cookie.hex(), "icq_type": kind, "icq_flags": flags}
        if direction is RESP and not sender:
            sender = str(uin)
        fields = raw.split(bytes((ICQ_FIELD_SEPARATOR,)))
        text, charset = decode_local(raw)
        message_kind = "chat"
        if kind == ICQ_TYPE_URL and len(fields) >= 2:
            description, _ = decode_local(fields[0])
            url, _ = decode_local(fields[1])
            text = f"{url} {description}".strip()
            message_kind = "url"
            extra["url"] = url
        elif kind == ICQ_TYPE_CONTACTS:
            parts = [decode_local(f)[0] for f in fields[1:]]
            contacts = [[parts[i], parts[i + 1]] for i in range(0, len(parts) - 1, 2)]
            extra["contacts"] = contacts
            text = ", ".join(f"{uin_} ({nick})" for uin_, nick in contacts)
            message_kind = "contacts"
        elif kind != ICQ_TYPE_PLAIN:
            message_kind = f"icq_type_{kind:#04x}"
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender or str(uin),
                recipients=(recipient,) if recipient else (),
                text=text,
                raw=raw,
                charset=charset,
                message_kind=message_kind,
                extra=extra,
            )
        )

    def _rendezvous(
        self,
        direction: Direction,
        block: bytes,
        sender: str | None,
        recipient: str | None,
        ts: int,
        out: list[Event],
    ) -> None:
        """Channel 2: type, cookie, capability, TLVs (protocols.md s1.3 table)."""
        if len(block) < 26:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_rendezvous"))
            return
        (kind,) = U16.unpack_from(block)
        cookie = block[2:10]
        capability = block[10:26]
        values, _, _ = parse_tlvs(block, 26)
        if kind == RENDEZVOUS_CANCEL:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="rendezvous_cancel",
                    who=sender,
                    detail=cookie.hex(),
                )
            )
            return
        if kind == RENDEZVOUS_ACCEPT:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="rendezvous_accept",
                    who=sender,
                    detail=cookie.hex(),
                )
            )
            return
        if capability not in (CAP_SEND_FILE, CAP_DIRECT_IM):
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="rendezvous",
                    who=sender,
                    detail=capability.hex(),
                )
            )
            return
        endpoint = _rendezvous_endpoint(values)
        if capability == CAP_DIRECT_IM:
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="direct_im_offer",
                    who=sender,
                    detail=cookie.hex(),
                )
            )
            offer = OftOffer(
                kind="direct_im",
                cookie=cookie,
                sender=sender,
                recipient=recipient,
                control_uid=self.flow.uid,
            )
            self._expect(direction, endpoint, offer, ts, out)
            return
        service = values.get(RV_SERVICE_DATA)
        if service is None or len(service) < 8:
            # A second-stage proposal (redirect through the proxy) names no file again.
            offer = OftOffer(
                kind="file",
                cookie=cookie,
                sender=sender,
                recipient=recipient,
                control_uid=self.flow.uid,
            )
            self._expect(direction, endpoint, offer, ts, out)
            return
        _, count = U16.unpack_from(service)[0], U16.unpack_from(service, 2)[0]
        (size,) = U32.unpack_from(service, 4)
        raw_name = service[8:].split(b"\x00", 1)[0]
        charset = values.get(RV_FILENAME_CHARSET)
        name, _ = decode_named(raw_name, charset.decode("latin-1") if charset else None)
        if _has_path(name):
            out.append(
                Anomaly(direction=direction, ts=ts, name="oscar_file_name_path", detail=name[:200])
            )
        out.append(
            FileOffer(
                direction=direction,
                ts=ts,
                name=name,
                size=size,
                sender=sender,
                recipient=recipient,
                transfer_id=cookie.hex(),
                endpoint=endpoint,
            )
        )
        offer = OftOffer(
            kind="file",
            cookie=cookie,
            sender=sender,
            recipient=recipient,
            name=name,
            size=size,
            count=count,
            control_uid=self.flow.uid,
        )
        self._expect(direction, endpoint, offer, ts, out)

    @staticmethod
    def _expect(
        direction: Direction,
        endpoint: tuple[str, int] | None,
        offer: OftOffer,
        ts: int,
        out: list[Event],
    ) -> None:
        if endpoint is None:
            return
        out.append(
            ExpectConnection(
                direction=direction,
                ts=ts,
                protocol="oscar-oft",
                server_addr=endpoint[0],
                server_port=endpoint[1],
                context=offer,
            )
        )

    def _typing(self, direction: Direction, body: bytes, ts: int, out: list[Event]) -> None:
        """Typing notification: cookie, channel, screen name, state (libpurple family_icbm.c)."""
        found = screen_name(body, 10)
        if found is None or found[1] + 2 > len(body):
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_typing"))
            return
        peer, offset = found
        (state,) = U16.unpack_from(body, offset)
        who = peer if direction is RESP else self.local
        detail = TYPING_STATES.get(state, f"{state:#06x}")
        if direction is ORIG:
            detail += f" to={peer}"
        out.append(ChatNotice(direction=direction, ts=ts, name="typing", who=who, detail=detail))

    # -- ICQ meta (family 0x0015) -------------------------------------------------

    def _icq_meta(self, direction: Direction, body: bytes, ts: int, out: list[Event]) -> None:
        """TLV 0x0001 of LE fields: length, own UIN, command, request id (protocols.md s1.3)."""
        values, _, _ = parse_tlvs(body)
        meta = values.get(0x0001)
        if meta is None or len(meta) < 10:
            return
        (own,) = U32_LE.unpack_from(meta, 2)
        (command,) = U16_LE.unpack_from(meta, 6)
        if self.local is None:
            self.local = str(own)
        if command == META_OFFLINE_REQUEST:
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="offline_messages_request", who=str(own)
                )
            )
        elif command == META_OFFLINE_END:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="offline_messages_end", who=str(own))
            )
        elif command == META_OFFLINE_MESSAGE:
            self._offline(direction, meta[10:], str(own), ts, out)

    @staticmethod
    def _offline(direction: Direction, data: bytes, own: str, ts: int, out: list[Event]) -> None:
        """Offline message: UIN, date, minute, type, flags, text (libfaim icq.h)."""
        if len(data) < 14:
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_short_offline_message"))
            return
        (sender,) = U32_LE.unpack_from(data)
        (year,) = U16_LE.unpack_from(data, 4)
        month, day, hour, minute, kind, flags = data[6:12]
        (length,) = U16_LE.unpack_from(data, 12)
        raw = data[14 : 14 + length].split(b"\x00", 1)[0]
        text, charset = decode_local(raw)
        sent_at = None
        if 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and year >= 1970:
            sent_at = calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) * NS
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=str(sender),
                recipients=(own,),
                text=text,
                raw=raw,
                charset=charset,
                message_kind="offline",
                sent_at=sent_at,
                extra={"icq_type": kind, "icq_flags": flags},
            )
        )

    # -- feedbag (family 0x0013) --------------------------------------------------

    def _feedbag(
        self,
        direction: Direction,
        subtype: int,
        flags: int,
        body: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        if subtype == FEEDBAG_LIST:
            if direction is ORIG or len(body) < 3:
                return
            (count,) = U16.unpack_from(body, 1)
            items, complete = self._items(body, 3, count)
            if not complete:
                out.append(Anomaly(direction=direction, ts=ts, name="oscar_bad_feedbag_item"))
            room = MAX_FEEDBAG_ITEMS - len(self._pending_items)
            if len(items) > room:
                self._pending_dropped = True
                items = items[: max(0, room)]
            self._pending_items += items
            if flags & SNAC_FLAG_MORE_FOLLOWS:
                return
            self._emit_list(direction, ts, out)
        elif subtype in (FEEDBAG_ADD, FEEDBAG_MODIFY, FEEDBAG_DELETE):
            items, complete = self._items(body, 0, None)
            if not complete:
                out.append(Anomaly(direction=direction, ts=ts, name="oscar_bad_feedbag_item"))
            self._apply(direction, subtype, items, ts, out)

    @staticmethod
    def _items(
        body: bytes, offset: int, count: int | None
    ) -> tuple[list[tuple[str, int, int, int, dict[int, bytes]]], bool]:
        """Feedbag items (protocols.md s1.4 table); capped at ``MAX_FEEDBAG_ITEMS``."""
        items: list[tuple[str, int, int, int, dict[int, bytes]]] = []
        end = len(body)
        while (count is None or len(items) < count) and len(items) < MAX_FEEDBAG_ITEMS:
            if count is None and offset >= end:
                break
            if offset + 2 > end:
                return items, False
            (name_length,) = U16.unpack_from(body, offset)
            start = offset + 2
            fixed = start + name_length
            if fixed + 8 > end:
                return items, False
            name = body[start:fixed].decode("utf-8", "replace")
            group, item, kind, tlv_length = (
                U16.unpack_from(body, fixed + i)[0] for i in (0, 2, 4, 6)
            )
            tlv_start = fixed + 8
            if tlv_start + tlv_length > end:
                return items, False
            values, _, _ = parse_tlvs(body[tlv_start : tlv_start + tlv_length])
            items.append((name, group, item, kind, values))
            offset = tlv_start + tlv_length
        return items, count is None or len(items) >= min(count, MAX_FEEDBAG_ITEMS)

    def _entry(self, name: str, group: int, values: dict[int, bytes]) -> ContactEntry:
        alias = values.get(TLV_ALIAS)
        extra: dict[str, object] = {"group_id": group}
        if TLV_AWAITING_AUTH in values:
            extra["awaiting_authorization"] = True
        group_name = self._groups.get(group)
        return ContactEntry(
            contact=name,
            name=alias.decode("utf-8", "replace") if alias is not None else None,
            groups=(group_name,) if group_name is not None else (),
            extra=extra,
        )

    def _emit_list(self, direction: Direction, ts: int, out: list[Event]) -> None:
        items = self._pending_items
        self._pending_items = []
        if self._pending_dropped:
            self._pending_dropped = False
            out.append(Anomaly(direction=direction, ts=ts, name="oscar_contact_list_too_long"))
        self._groups = {
            group: name for name, group, item, kind, _ in items if kind == ITEM_GROUP and group
        }
        entries = tuple(
            self._entry(name, group, values)
            for name, group, _, kind, values in items
            if kind == ITEM_BUDDY
        )
        out.append(
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=self.local,
                operation="replace",
                entries=entries,
                groups=tuple(self._groups.values()),
            )
        )

    def _apply(
        self,
        direction: Direction,
        subtype: int,
        items: list[tuple[str, int, int, int, dict[int, bytes]]],
        ts: int,
        out: list[Event],
    ) -> None:
        groups: list[str] = []
        for name, group, _, kind, _ in items:
            if kind != ITEM_GROUP or not group:
                continue
            if subtype == FEEDBAG_DELETE:
                self._groups.pop(group, None)
            else:
                self._groups[group] = name
                groups.append(name)
        entries = tuple(
            self._entry(name, group, values)
            for name, group, _, kind, values in items
            if kind == ITEM_BUDDY
        )
        if not entries and not groups:
            return
        operation = {FEEDBAG_ADD: "add", FEEDBAG_MODIFY: "modify"}.get(subtype, "remove")
        out.append(
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=self.local,
                operation=operation,
                entries=entries,
                groups=tuple(groups),
            )
        )


def _client_id(values: dict[int, bytes]) -> str | None:
    """Client id string and version TLVs (protocols.md s1.1) as "name major.minor.point.build"."""
    ident = values.get(TLV_CLIENT_ID)
    if ident is None:
        return None
    parts = [
        str(U16.unpack(v)[0])
        for v in (
            values.get(t)
            for t in (TLV_VERSION_MAJOR, TLV_VERSION_MINOR, TLV_VERSION_POINT, TLV_VERSION_BUILD)
        )
        if v is not None and len(v) == 2
    ]
    text = ident.decode("latin-1")
    return f"{text} {'.'.join(parts)}" if parts else text


def _user_info(data: bytes, offset: int) -> tuple[str, dict[int, bytes], int] | None:
    """User-info block: name, warning level, TLV count, TLVs (protocols.md s1.2)."""
    found = screen_name(data, offset)
    if found is None or found[1] + 4 > len(data):
        return None
    name, offset = found
    (count,) = U16.unpack_from(data, offset + 2)
    values, end, complete = parse_tlvs(data, offset + 4, count)
    if not complete:
        return None
    return name, values, end


def _rendezvous_endpoint(values: dict[int, bytes]) -> tuple[str, int] | None:
    """Where the peer connection goes: proxy, verified or client IP and port (s1.3 table)."""
    port_value = values.get(RV_PORT)
    if RV_USE_PROXY in values:
        proxy = ipv4_text(values.get(RV_PROXY_IP, b""))
        return (proxy, PROXY_PORT) if proxy else None
    address = ipv4_text(values.get(RV_VERIFIED_IP, b"")) or ipv4_text(values.get(RV_CLIENT_IP, b""))
    if address is None or port_value is None or len(port_value) != 2:
        return None
    (port,) = U16.unpack(port_value)
    return (address, port) if port else None


def _has_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith("..") or "\x00" in name
