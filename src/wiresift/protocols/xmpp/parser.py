"""XMPP passive parser (RFC 6120 core, RFC 6121 IM and presence; several XEPs).

Theory of operation: each direction is an XML stream read by ``XmlStreamReader`` into
stanzas. The client's identity comes from SASL (RFC 6120 s6: PLAIN authzid/authcid,
DIGEST-MD5 username, SCRAM ``n=``; reported at ``<success/>``/``<failure/>``), legacy
jabber:iq:auth (XEP-0078), and resource binding (s7: the full JID). A capture that starts
mid-stream learns the client's JID from the ``to`` of the first stanza the server sends.
``<message>`` stanzas with a body become ``ChatMessage`` (carbons XEP-0280 and MAM
XEP-0313 results are unwrapped; XEP-0203 delay gives ``sent_at``). The roster (RFC 6121
s2) gives ``ContactListUpdate``: a result replaces the list, pushes add, modify or remove.
Files: XEP-0096 SI and XEP-0234 Jingle offers, XEP-0065 SOCKS5 streamhosts (an expected
connection, ``xmpp-s5b``), XEP-0047 in-band data (the bytes themselves) and XEP-0363 upload
slots. ``<proceed/>`` switches the stream to TLS (s5); XEP-0138 zlib compression is
inflated under a ratio guard.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import enum
import hashlib
import ipaddress
import re
import zlib
from dataclasses import dataclass
from typing import Final, NamedTuple

from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser, SwitchProtocol
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
from wiresift.protocols.xmpp.xmlstream import (
    Element,
    StreamClose,
    StreamOpen,
    XmlAnomaly,
    XmlStreamReader,
)

NS_SASL: Final = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_TLS: Final = "urn:ietf:params:xml:ns:xmpp-tls"
NS_BIND: Final = "urn:ietf:params:xml:ns:xmpp-bind"
NS_ROSTER: Final = "jabber:iq:roster"
NS_AUTH: Final = "jabber:iq:auth"
NS_REGISTER: Final = "jabber:iq:register"
NS_COMPRESS: Final = "http://jabber.org/protocol/compress"
NS_DELAY: Final = "urn:xmpp:delay"
NS_LEGACY_DELAY: Final = "jabber:x:delay"
NS_CARBONS: Final = "urn:xmpp:carbons:2"
NS_FORWARD: Final = "urn:xmpp:forward:0"
NS_MAM: Final = ("urn:xmpp:mam:2", "urn:xmpp:mam:1", "urn:xmpp:mam:0")
NS_SI: Final = "http://jabber.org/protocol/si"
NS_SI_FILE: Final = "http://jabber.org/protocol/si/profile/file-transfer"
NS_IBB: Final = "http://jabber.org/protocol/ibb"
NS_BYTESTREAMS: Final = "http://jabber.org/protocol/bytestreams"
NS_JINGLE: Final = "urn:xmpp:jingle:1"
NS_JINGLE_FT: Final = (
    "urn:xmpp:jingle:apps:file-transfer:5",
    "urn:xmpp:jingle:apps:file-transfer:4",
    "urn:xmpp:jingle:apps:file-transfer:3",
)
NS_UPLOAD: Final = ("urn:xmpp:http:upload:0", "urn:xmpp:http:upload")
NS_CHATSTATES: Final = "http://jabber.org/protocol/chatstates"
NS_MUC: Final = "http://jabber.org/protocol/muc"

# Offers (SI, Jingle, SOCKS5) and in-band streams remembered per flow; a client runs a
# few transfers at once, the bound keeps a flood of offers from growing state.
MAX_TRANSFERS: Final = 64
# Roster entries remembered to tell an added contact from a modified one (matches the
# contact-list cap of extract/chat.py).
MAX_ROSTER: Final = 100_000
# Inflated bytes produced per zlib call (XEP-0138); the ratio guard runs between calls.
INFLATE_CHUNK: Final = 64 * 1024
# Inflated bytes tolerated before the ratio guard applies (a stream starts small).
INFLATE_FREE: Final = 1024 * 1024
_DIGEST_USER: Final = re.compile(rb'(?:^|,)\s*username="([^"]*)"')
_STAMP: Final = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?"
)


def bare(jid: str) -> str:
    """The bare JID (RFC 7622 s3.1): the JID without its resource."""
    return jid.partition("/")[0]


def stamp_ns(value: str) -> int | None:
    """Nanoseconds since the epoch of an XEP-0082 date-time (or legacy XEP-0091) stamp."""
    match = _STAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match.group(8)
    if zone and zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    fraction = match.group(7) or ""
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or "0")


def s5b_address(sid: str, requester: str, target: str) -> str:
    """The SOCKS5 DST.ADDR of an XEP-0065 bytestream: SHA-1 hex of sid+requester+target."""
    return hashlib.sha1(f"{sid}{requester}{target}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class S5bContext:
    """What an XEP-0065 data connection needs (``FlowInfo.context``)."""

    sid: str
    name: str | None
    size: int | None
    sender: str
    recipient: str
    dst_addr: str  # the expected SOCKS5 domain (SHA-1 hex)


class _Offer(NamedTuple):
    name: str | None
    size: int | None
    sender: str
    recipient: str


class _Ibb:
    """One XEP-0047 in-band bytestream."""

    __slots__ = ("direction", "file", "received", "seq", "size")

    def __init__(self, file: int, size: int | None, direction: Direction) -> None:
        self.file = file
        self.size = size
        self.direction = direction
        self.seq = 0
        self.received = 0


class _Mode(enum.Enum):
    XML = enum.auto()  # plain XML stream
    ZLIB = enum.auto()  # XEP-0138 compressed XML stream
    DEAD = enum.auto()  # the direction is not parsed any more (bomb, switched)


def _size(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 19:
        return None
    return int(text.strip())


class XmppParser(Parser):
    """One XMPP client-to-server stream (both directions)."""

    name = "xmpp"
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._readers = (XmlStreamReader(), XmlStreamReader())
        self._modes = [_Mode.XML, _Mode.XML]
        self._inflaters: list[zlib._Decompress | None] = [None, None]
        self._inflate_in = [0, 0]
        self._inflate_out = [0, 0]
        self._domain = ""  # the server domain (stream 'to' / 'from')
        self._jid: str | None = None  # the client's full JID once bound or learned
        self._account: str | None = None  # bare JID from SASL
        self._mechanism: str | None = None
        self._secret: str | None = None
        self._compress_requested = False
        self._roster: dict[str, None] = {}
        self._offers: dict[str, _Offer] = {}
        self._ibb: dict[str, _Ibb] = {}
        self._files = 0
        self._switched = False

    # -- Parser -------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        if self._switched:
            return out
        mode = self._modes[direction]
        if mode is _Mode.DEAD:
            return out
        if mode is _Mode.ZLIB:
            self._inflate(direction, data, ts, out)
        else:
            self._readers[direction].push(data)
        self._drain(direction, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="xmpp_content_gap", detail=f"{size} bytes")
        ]
        if self._modes[direction] is _Mode.ZLIB:
            self._modes[direction] = _Mode.DEAD  # a deflate stream cannot resume after a hole
            return out
        self._readers[direction].reset()
        for sid, stream in list(self._ibb.items()):
            if stream.direction is direction:
                del self._ibb[sid]
                out.append(
                    FileEnd(
                        direction=direction, ts=ts, file=stream.file, complete=False, reason="gap"
                    )
                )
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        out: list[Event] = []
        for sid, stream in list(self._ibb.items()):
            if stream.direction is direction:
                del self._ibb[sid]
                out.append(
                    FileEnd(
                        direction=direction,
                        ts=ts,
                        file=stream.file,
                        complete=False,
                        reason="closed",
                    )
                )
        return out

    def buffered_bytes(self) -> int:
        return len(self._readers[0]) + len(self._readers[1])

    # -- bytes --------------------------------------------------------------------------

    def _inflate(self, direction: Direction, data: bytes, ts: int, out: list[Event]) -> None:
        inflater = self._inflaters[direction]
        if inflater is None:
            return
        reader = self._readers[direction]
        self._inflate_in[direction] += len(data)
        pending = data
        while pending or inflater.unconsumed_tail:
            try:
                chunk = inflater.decompress(pending or inflater.unconsumed_tail, INFLATE_CHUNK)
            except zlib.error as exc:
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name="xmpp_bad_compression", detail=str(exc)
                    )
                )
                self._modes[direction] = _Mode.DEAD
                return
            pending = b""
            self._inflate_out[direction] += len(chunk)
            produced = self._inflate_out[direction]
            ratio_cap = self.limits.max_decompression_ratio * max(1, self._inflate_in[direction])
            if produced > INFLATE_FREE and produced > ratio_cap:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="xmpp_decompression_bomb",
                        detail=f"{produced} bytes from {self._inflate_in[direction]}",
                    )
                )
                self._modes[direction] = _Mode.DEAD
                reader.reset()
                return
            reader.push(chunk)
            self._drain(direction, ts, out)
            if self._modes[direction] is not _Mode.ZLIB or self._switched:
                return
            if not chunk:
                return

    def _drain(self, direction: Direction, ts: int, out: list[Event]) -> None:
        reader = self._readers[direction]
        while not self._switched and self._modes[direction] is not _Mode.DEAD:
            item = reader.next_item()
            if item is None:
                return
            if isinstance(item, Element):
                self._stanza(direction, item, ts, out)
            elif isinstance(item, StreamOpen):
                self._stream_open(direction, item, ts, out)
            elif isinstance(item, XmlAnomaly):
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name=f"xmpp_{item.name}", detail=item.detail
                    )
                )
            elif isinstance(item, StreamClose):
                out.append(ChatNotice(direction=direction, ts=ts, name="stream_close"))

    def _stream_open(
        self, direction: Direction, item: StreamOpen, ts: int, out: list[Event]
    ) -> None:
        attrs = item.attrs
        domain = attrs.get("to") if direction is Direction.ORIG else attrs.get("from")
        if domain:
            self._domain = domain
        out.append(
            ChatNotice(
                direction=direction,
                ts=ts,
                name="stream_open",
                who=attrs.get("from"),
                detail=f"to={attrs.get('to', '')} version={attrs.get('version', '')}",
            )
        )

    # -- stanzas ------------------------------------------------------------------------

    def _own(self) -> str:
        return self._jid or self._account or ""

    def _stanza(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        name = element.name
        ns = element.ns
        if (
            direction is Direction.RESP
            and self._jid is None
            and name in ("message", "iq", "presence")
        ):
            to = element.get("to")
            if to and "@" in to and "/" in to:
                # Mid-stream: the server addresses the client by its full JID.
                self._jid = to
                out.append(ChatLogin(direction=direction, ts=ts, account=to, mechanism=None))
        if name == "message":
            self._message(direction, element, ts, out)
        elif name == "iq":
            self._iq(direction, element, ts, out)
        elif name == "presence":
            self._presence(direction, element, ts, out)
        elif ns == NS_SASL:
            self._sasl(direction, element, ts, out)
        elif ns == NS_TLS and name == "proceed" and direction is Direction.RESP:
            self._switch(ts, out)
        elif ns == NS_COMPRESS:
            self._compress(direction, element, ts, out)

    def _switch(self, ts: int, out: list[Event]) -> None:
        self._switched = True
        out.append(
            SwitchProtocol(
                direction=Direction.RESP,
                ts=ts,
                to="tls",
                leftover=self._readers[Direction.RESP].take_rest(),
                leftover_other=self._readers[Direction.ORIG].take_rest(),
            )
        )

    def _compress(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        if direction is Direction.ORIG and element.name == "compress":
            method = element.child_text("method") or ""
            self._compress_requested = method.strip() == "zlib"
            if not self._compress_requested:
                out.append(ChatNotice(direction=direction, ts=ts, name="compress", detail=method))
        elif direction is Direction.RESP and element.name == "compressed":
            if not self._compress_requested:
                out.append(Anomaly(direction=direction, ts=ts, name="xmpp_unrequested_compression"))
            out.append(ChatNotice(direction=direction, ts=ts, name="compressed", detail="zlib"))
            for side in (Direction.RESP, Direction.ORIG):
                # Both sides compress from here on (XEP-0138 s6); bytes already buffered
                # after the switch point are compressed too.
                rest = self._readers[side].take_rest()
                self._modes[side] = _Mode.ZLIB
                self._inflaters[side] = zlib.decompressobj()
                if rest:
                    self._inflate(side, rest, ts, out)

    def _sasl(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        name = element.name
        if direction is Direction.ORIG and name == "auth":
            self._mechanism = element.get("mechanism")
            self._sasl_payload(element.text, out, direction, ts)
        elif direction is Direction.ORIG and name == "response" and self._account is None:
            self._sasl_payload(element.text, out, direction, ts)
        elif direction is Direction.RESP and name in ("success", "failure"):
            if self._account is None:
                out.append(ChatNotice(direction=direction, ts=ts, name=f"sasl_{name}"))
                return  # the account shows with resource binding
            account = self._account
            out.append(
                ChatLogin(
                    direction=direction,
                    ts=ts,
                    account=account,
                    mechanism=self._mechanism,
                    secret=self._secret if self.keep_secrets else None,
                    accepted=name == "success",
                )
            )

    def _sasl_payload(self, text: str, out: list[Event], direction: Direction, ts: int) -> None:
        text = text.strip()
        if not text or text == "=":
            return
        try:
            payload = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            out.append(Anomaly(direction=direction, ts=ts, name="xmpp_bad_base64", detail="sasl"))
            return
        mechanism = (self._mechanism or "").upper()
        user: bytes | None = None
        if mechanism == "PLAIN":
            parts = payload.split(b"\x00")
            if len(parts) == 3:
                authzid, authcid, password = parts
                user = authzid or authcid
                if self.keep_secrets:
                    self._secret = password.decode("utf-8", "replace")
            else:
                out.append(Anomaly(direction=direction, ts=ts, name="xmpp_bad_sasl_plain"))
        elif mechanism.startswith("SCRAM-"):
            for field in payload.split(b","):
                if field.startswith(b"n="):
                    user = field[2:].replace(b"=2C", b",").replace(b"=3D", b"=")
                    break
        elif mechanism == "DIGEST-MD5":
            match = _DIGEST_USER.search(payload)
            user = match.group(1) if match else None
        if user:
            account = user.decode("utf-8", "replace")
            if "@" not in account and self._domain:
                account = f"{account}@{self._domain}"
            self._account = account

    def _iq(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        kind = element.get("type", "")
        for child in element.children:
            ns = child.ns
            if child.name == "bind" and ns == NS_BIND and kind == "result":
                jid = child.child_text("jid")
                if jid:
                    self._jid = jid.strip()
                    out.append(
                        ChatLogin(
                            direction=direction,
                            ts=ts,
                            account=self._jid,
                            mechanism=self._mechanism,
                            secret=self._secret if self.keep_secrets else None,
                            accepted=True,
                        )
                    )
            elif child.name == "query" and ns == NS_ROSTER:
                self._roster_query(direction, kind, child, ts, out)
            elif child.name == "query" and ns == NS_AUTH and kind == "set":
                user = child.child_text("username") or ""
                resource = child.child_text("resource")
                account = f"{user}@{self._domain}" if self._domain else user
                self._account = account
                password = child.child_text("password")
                out.append(
                    ChatLogin(
                        direction=direction,
                        ts=ts,
                        account=f"{account}/{resource}" if resource else account,
                        mechanism="jabber:iq:auth" + ("" if password is not None else " digest"),
                        secret=password if self.keep_secrets else None,
                    )
                )
            elif child.name == "query" and ns == NS_REGISTER and kind == "set":
                registered = child.child_text("username")
                if registered is not None:
                    out.append(
                        ChatNotice(direction=direction, ts=ts, name="register", who=registered)
                    )
            elif child.name == "si" and ns == NS_SI and kind == "set":
                self._si_offer(direction, element, child, ts, out)
            elif child.name == "jingle" and ns == NS_JINGLE:
                self._jingle(direction, element, child, ts, out)
            elif child.name == "query" and ns == NS_BYTESTREAMS and kind == "set":
                self._s5b(direction, element, child, ts, out)
            elif ns == NS_IBB:
                self._ibb_element(direction, element, child, ts, out)
            elif child.name == "slot" and ns in NS_UPLOAD and kind == "result":
                self._upload_slot(direction, child, ts, out)

    def _from(self, direction: Direction, element: Element) -> str:
        sender = element.get("from")
        if sender:
            return sender
        return self._own() if direction is Direction.ORIG else self._domain

    def _to(self, direction: Direction, element: Element) -> str:
        to = element.get("to")
        if to:
            return to
        return self._domain if direction is Direction.ORIG else self._own()

    # -- roster (RFC 6121 s2) --------------------------------------------------------------

    def _roster_query(
        self, direction: Direction, kind: str, query: Element, ts: int, out: list[Event]
    ) -> None:
        owner = bare(self._own()) or None
        entries: dict[str, list[ContactEntry]] = {"add": [], "modify": [], "remove": []}
        # Only the server's result carries the roster; the client's result is the empty
        # acknowledgement of a push (RFC 6121 s2.1.6), and a client's set is a request whose
        # outcome the server's push tells.
        if direction is not Direction.RESP or kind not in ("result", "set"):
            return
        replace = kind == "result"
        items = query.findall("item")
        if replace:
            self._roster.clear()
        for item in items:
            jid = item.get("jid")
            if not jid:
                continue
            subscription = item.get("subscription", "none")
            if subscription == "remove" and not replace:
                self._roster.pop(jid, None)
                entries["remove"].append(ContactEntry(contact=jid))
                continue
            entry = ContactEntry(
                contact=jid,
                name=item.get("name") or None,
                groups=tuple(g.text for g in item.findall("group")),
                extra={"subscription": subscription, "ask": item.get("ask") or None},
            )
            operation = "modify" if jid in self._roster else "add"
            if len(self._roster) < MAX_ROSTER:
                self._roster[jid] = None
            entries[operation].append(entry)
        if replace:
            all_entries = tuple(entries["add"] + entries["modify"])
            groups = tuple(dict.fromkeys(g for e in all_entries for g in e.groups))
            out.append(
                ContactListUpdate(
                    direction=direction,
                    ts=ts,
                    owner=owner,
                    operation="replace",
                    entries=all_entries,
                    groups=groups,
                )
            )
            return
        for operation, listed in entries.items():
            if listed:
                out.append(
                    ContactListUpdate(
                        direction=direction,
                        ts=ts,
                        owner=owner,
                        operation=operation,
                        entries=tuple(listed),
                    )
                )

    # -- presence -----------------------------------------------------------------------

    def _presence(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        kind = element.get("type", "available")
        sender = self._from(direction, element)
        to = element.get("to", "")
        if kind in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name=f"presence_{kind}", who=sender, detail=to
                )
            )
            return
        if direction is Direction.ORIG and element.find("x", NS_MUC) is not None:
            out.append(ChatNotice(direction=direction, ts=ts, name="join", who=sender, detail=to))
            return
        status = element.child_text("show") or element.child_text("status") or ""
        out.append(
            ChatNotice(
                direction=direction,
                ts=ts,
                name="presence",
                who=sender,
                detail=f"{kind} {status}".strip(),
            )
        )

    # -- messages -----------------------------------------------------------------------

    def _message(self, direction: Direction, element: Element, ts: int, out: list[Event]) -> None:
        extra: dict[str, object] = {}
        sent_at = None
        for child in element.children:
            if child.name in ("received", "sent") and child.ns == NS_CARBONS:
                forwarded = child.find("forwarded", NS_FORWARD)
                inner = forwarded.find("message") if forwarded is not None else None
                if inner is not None:
                    extra["carbon"] = child.name
                    self._message_body(direction, inner, ts, out, extra, None, element.raw)
                return
            if child.name == "result" and child.ns in NS_MAM:
                forwarded = child.find("forwarded", NS_FORWARD)
                inner = forwarded.find("message") if forwarded is not None else None
                if inner is not None:
                    extra["archived"] = child.get("id") or None
                    delay = forwarded.find("delay", NS_DELAY) if forwarded is not None else None
                    if delay is not None:
                        sent_at = stamp_ns(delay.get("stamp"))
                    self._message_body(direction, inner, ts, out, extra, sent_at, element.raw)
                return
            if child.ns == NS_IBB:
                self._ibb_element(direction, element, child, ts, out)
                return
        self._message_body(direction, element, ts, out, extra, None, element.raw)

    def _message_body(
        self,
        direction: Direction,
        element: Element,
        ts: int,
        out: list[Event],
        extra: dict[str, object],
        sent_at: int | None,
        raw: bytes,
    ) -> None:
        kind = element.get("type", "normal") or "normal"
        sender = self._from(direction, element)
        to = self._to(direction, element)
        body = element.child_text("body")
        subject = element.child_text("subject")
        thread = element.child_text("thread")
        if kind == "error":
            out.append(
                ChatNotice(direction=direction, ts=ts, name="message_error", who=sender, detail=to)
            )
            return
        if body is None:
            if subject is not None:
                out.append(
                    ChatNotice(
                        direction=direction, ts=ts, name="subject", who=sender, detail=subject
                    )
                )
                return
            for child in element.children:
                if child.ns == NS_CHATSTATES:
                    name = "typing" if child.name == "composing" else f"chatstate_{child.name}"
                    out.append(
                        ChatNotice(direction=direction, ts=ts, name=name, who=sender, detail=to)
                    )
                    return
            return
        for child in element.children:
            if child.name == "delay" and child.ns == NS_DELAY:
                sent_at = stamp_ns(child.get("stamp")) or sent_at
            elif child.name == "x" and child.ns == NS_LEGACY_DELAY and sent_at is None:
                sent_at = stamp_ns(child.get("stamp"))
        if element.get("id"):
            extra["id"] = element.get("id")
        channel = None
        if kind == "groupchat":
            channel = bare(sender if direction is Direction.RESP else to)
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=(to,) if to else (),
                channel=channel,
                text=body,
                raw=raw,
                charset="utf-8",
                message_kind=kind,
                sent_at=sent_at,
                subject=subject,
                thread=thread,
                extra=extra,
            )
        )

    # -- files --------------------------------------------------------------------------

    def _remember(self, sid: str, offer: _Offer) -> None:
        if sid not in self._offers and len(self._offers) >= MAX_TRANSFERS:
            del self._offers[next(iter(self._offers))]
        self._offers[sid] = offer

    def _si_offer(
        self, direction: Direction, iq: Element, si: Element, ts: int, out: list[Event]
    ) -> None:
        file = si.find("file", NS_SI_FILE)
        sid = si.get("id")
        if file is None:
            return
        offer = _Offer(
            file.get("name"),
            _size(file.get("size")),
            self._from(direction, iq),
            self._to(direction, iq),
        )
        self._remember(sid, offer)
        out.append(
            FileOffer(
                direction=direction,
                ts=ts,
                name=offer.name or "",
                size=offer.size,
                sender=offer.sender,
                recipient=offer.recipient,
                transfer_id=sid,
            )
        )

    def _jingle(
        self, direction: Direction, iq: Element, jingle: Element, ts: int, out: list[Event]
    ) -> None:
        action = jingle.get("action", "")
        sid = jingle.get("sid")
        if action not in ("session-initiate", "session-accept"):
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="jingle",
                    who=self._from(direction, iq),
                    detail=f"{action} {sid}",
                )
            )
            return
        for content in jingle.findall("content"):
            for description in content.findall("description"):
                if description.ns not in NS_JINGLE_FT:
                    continue
                file = description.find("file") or description.find("offer")
                if file is not None and file.name == "offer":
                    file = file.find("file")
                if file is None:
                    continue
                offer = _Offer(
                    file.child_text("name") or file.get("name") or None,
                    _size(file.child_text("size") or file.get("size")),
                    jingle.get("initiator") or self._from(direction, iq),
                    self._to(direction, iq),
                )
                self._remember(sid, offer)
                out.append(
                    FileOffer(
                        direction=direction,
                        ts=ts,
                        name=offer.name or "",
                        size=offer.size,
                        sender=offer.sender,
                        recipient=offer.recipient,
                        transfer_id=sid,
                        accepted=True if action == "session-accept" else None,
                    )
                )

    def _s5b(
        self, direction: Direction, iq: Element, query: Element, ts: int, out: list[Event]
    ) -> None:
        sid = query.get("sid")
        requester = self._from(direction, iq)
        target = self._to(direction, iq)
        offer = self._offers.get(sid)
        for host in query.findall("streamhost"):
            address = host.get("host")
            port = _size(host.get("port"))
            if port is None or port > 0xFFFF:
                out.append(Anomaly(direction=direction, ts=ts, name="xmpp_s5b_bad_port"))
                continue
            out.append(
                FileOffer(
                    direction=direction,
                    ts=ts,
                    name=(offer.name if offer else None) or "",
                    size=offer.size if offer else None,
                    sender=requester,
                    recipient=target,
                    transfer_id=sid,
                    endpoint=(address, port),
                )
            )
            try:
                ipaddress.ip_address(address)
            except ValueError:
                continue  # a host name: the connection cannot be told in advance
            context = S5bContext(
                sid=sid,
                name=offer.name if offer else None,
                size=offer.size if offer else None,
                sender=requester,
                recipient=target,
                dst_addr=s5b_address(sid, requester, target),
            )
            out.append(
                ExpectConnection(
                    direction=direction,
                    ts=ts,
                    protocol="xmpp-s5b",
                    server_addr=address,
                    server_port=port,
                    context=context,
                )
            )

    def _ibb_element(
        self, direction: Direction, stanza: Element, child: Element, ts: int, out: list[Event]
    ) -> None:
        sid = child.get("sid")
        if child.name == "open":
            if sid in self._ibb or len(self._ibb) >= MAX_TRANSFERS:
                out.append(
                    Anomaly(direction=direction, ts=ts, name="xmpp_ibb_too_many", detail=sid)
                )
                return
            offer = self._offers.get(sid)
            stream = _Ibb(self._files, offer.size if offer else None, direction)
            self._files += 1
            self._ibb[sid] = stream
            out.append(
                FileBegin(
                    direction=direction,
                    ts=ts,
                    file=stream.file,
                    name=offer.name if offer else None,
                    size=stream.size,
                    sender=self._from(direction, stanza),
                    recipient=self._to(direction, stanza),
                    transfer_id=sid,
                    upload=direction is Direction.ORIG,
                )
            )
        elif child.name == "data":
            stream_or_none = self._ibb.get(sid)
            if stream_or_none is None:
                out.append(
                    Anomaly(direction=direction, ts=ts, name="xmpp_ibb_unknown_sid", detail=sid)
                )
                return
            stream = stream_or_none
            seq = _size(child.get("seq"))
            if seq != stream.seq:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="xmpp_ibb_bad_seq",
                        detail=f"{seq} != {stream.seq}",
                    )
                )
            stream.seq = ((seq if seq is not None else stream.seq) + 1) & 0xFFFF
            try:
                data = base64.b64decode("".join(child.text.split()), validate=True)
            except (binascii.Error, ValueError):
                out.append(
                    Anomaly(direction=direction, ts=ts, name="xmpp_ibb_bad_base64", detail=sid)
                )
                return
            stream.received += len(data)
            out.append(FileData(direction=stream.direction, ts=ts, file=stream.file, data=data))
        elif child.name == "close":
            closed = self._ibb.pop(sid, None)
            if closed is not None:
                complete = closed.size is None or closed.size == closed.received
                out.append(
                    FileEnd(
                        direction=closed.direction,
                        ts=ts,
                        file=closed.file,
                        complete=complete,
                        reason=None if complete else "short",
                    )
                )

    def _upload_slot(self, direction: Direction, slot: Element, ts: int, out: list[Event]) -> None:
        put = slot.find("put")
        get = slot.find("get")
        put_url = (put.get("url") or put.text) if put is not None else ""
        get_url = (get.get("url") or get.text) if get is not None else ""
        out.append(
            ChatNotice(
                direction=direction,
                ts=ts,
                name="http_upload_slot",
                who=self._own(),
                detail=f"PUT {put_url.strip()} GET {get_url.strip()}",
            )
        )


class _S5bState(enum.Enum):
    GREETING = enum.auto()  # client: VER NMETHODS METHODS; server: VER METHOD
    REQUEST = enum.auto()  # client: CONNECT with the SHA-1 domain; server: reply
    DATA = enum.auto()
    DONE = enum.auto()


class XmppS5bParser(Parser):
    """An XEP-0065 SOCKS5 bytestream (RFC 1928 handshake, then the file bytes).

    The handshake is checked (DST.ADDR must be the SHA-1 the offer implies); afterwards
    the first direction that carries bytes is the file's (the streamhost side for a
    direct connection, the requester's side through a proxy).
    """

    name = "xmpp-s5b"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        context = flow.context
        self._context = context if isinstance(context, S5bContext) else None
        self._state = [_S5bState.GREETING, _S5bState.GREETING]
        self._buf = [bytearray(), bytearray()]
        self._file_direction: Direction | None = None
        self._received = 0
        self._done = False

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        context = self._context
        if context is None:
            self._done = True
            return [Anomaly(direction=direction, ts=ts, name="xmpp_s5b_no_context")]
        if self._state[direction] is not _S5bState.DATA:
            buf = self._buf[direction]
            buf += data
            data = self._handshake(direction, buf, ts, context, out)
            if len(buf) > 1024:
                out.append(Anomaly(direction=direction, ts=ts, name="xmpp_s5b_bad_handshake"))
                self._done = True
                return out
        if not data or self._state[direction] is not _S5bState.DATA:
            return out
        if self._file_direction is None:
            self._file_direction = direction
            out.append(
                FileBegin(
                    direction=direction,
                    ts=ts,
                    file=0,
                    name=context.name,
                    size=context.size,
                    sender=context.sender,
                    recipient=context.recipient,
                    transfer_id=context.sid,
                    upload=direction is Direction.ORIG,
                )
            )
        if direction is not self._file_direction:
            return out
        if context.size is not None and self._received + len(data) >= context.size:
            data = data[: context.size - self._received]
            self._received += len(data)
            if data:
                out.append(FileData(direction=direction, ts=ts, file=0, data=data))
            out.append(FileEnd(direction=direction, ts=ts, file=0, complete=True))
            self._done = True
            return out
        self._received += len(data)
        out.append(FileData(direction=direction, ts=ts, file=0, data=data))
        return out

    def _handshake(
        self, direction: Direction, buf: bytearray, ts: int, context: S5bContext, out: list[Event]
    ) -> bytes:
        """Consume handshake messages from ``buf``; return bytes past the handshake."""
        while self._state[direction] is not _S5bState.DATA:
            state = self._state[direction]
            if state is _S5bState.GREETING:
                need = 2 if direction is Direction.RESP else (2 + buf[1] if len(buf) >= 2 else 2)
                if len(buf) < need:
                    return b""
                if buf[0] != 5:
                    out.append(Anomaly(direction=direction, ts=ts, name="xmpp_s5b_bad_handshake"))
                    self._state[direction] = _S5bState.DATA
                    return b""
                del buf[:need]
                self._state[direction] = _S5bState.REQUEST
            else:
                # VER CMD/REP RSV ATYP=3 LEN DOMAIN PORT (RFC 1928 s4, s6; XEP-0065 s5.3.2)
                if len(buf) < 5:
                    return b""
                total = 5 + buf[4] + 2 if buf[3] == 3 else 0
                if total == 0:
                    out.append(Anomaly(direction=direction, ts=ts, name="xmpp_s5b_bad_handshake"))
                    self._state[direction] = _S5bState.DATA
                    del buf[:]
                    return b""
                if len(buf) < total:
                    return b""
                domain = bytes(buf[5 : 5 + buf[4]]).decode("latin-1")
                if domain != context.dst_addr:
                    out.append(
                        Anomaly(
                            direction=direction, ts=ts, name="xmpp_s5b_bad_hash", detail=domain[:64]
                        )
                    )
                del buf[:total]
                self._state[direction] = _S5bState.DATA
        rest = bytes(buf)
        buf.clear()
        return rest

    def end(self, direction: Direction, ts: int) -> list[Event]:
        if self._done or direction is not self._file_direction or self._context is None:
            return []
        self._done = True
        complete = self._context.size is None
        return [
            FileEnd(
                direction=direction,
                ts=ts,
                file=0,
                complete=complete,
                reason=None if complete else "closed",
            )
        ]

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="xmpp_s5b_content_gap", detail=f"{size} bytes")
        ]
        if not self._done and direction is self._file_direction:
            self._done = True
            out.append(FileEnd(direction=direction, ts=ts, file=0, complete=False, reason="gap"))
        return out

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])
