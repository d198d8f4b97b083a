"""NMDC (Neo-Modus Direct Connect) parser: hub connections and client-to-client transfers.

Theory of operation: one parser reads both kinds of NMDC connection, since they share the
framing (commands closed by ``|``) and the handshake (``$Lock``/``$Key``). A hub
connection gives chat (``<nick> text``), private messages (``$To:``), the user list
(``$MyINFO``, ``$Hello``, ``$Quit``, ``$NickList``, ``$OpList``), searches and connection
requests; a client-to-client connection gives files (``$ADCSND`` + counted bytes, zlib with
``ZL1``; legacy ``$Get``/``$FileLength``/``$Send``). Framing, file data and ``$ZOn``
stream compression live in ``stream.py``.

Text has no declared charset in NMDC: modern hubs send UTF-8, older ones the hub's code
page. Text is read as UTF-8 when it is valid UTF-8, else as ``hub_charset``; ``raw`` keeps
the bytes. Escapes ``&#36;`` ``&#124;`` ``&amp;`` (DC++) and ``/%DCNnnn%/`` (older clients)
are undone before decoding.

Sources: direct-connect/protocols ``nmdc/nmdc.md`` (command syntax, escaping, $MyINFO,
$Search, $SR, $ConnectToMe, $ADCGET/$ADCSND, $ZOn); dmnc.sourceforge.net client-to-client
notes ($Get/$FileLength/$Send).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

from wiresift.config import Limits
from wiresift.protocols.base import Confirmed, Direction, Event, FlowInfo
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    ContactEntry,
    ContactListUpdate,
)
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.nmdc.stream import DcPeerContext, DcStreamParser

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# nmdc.md "Escaping": DC++ writes $ | & as HTML entities; older clients used /%DCNnnn%/
# with the decimal byte (000, 005, 036, 096, 124, 126).
_ENTITIES: Final = ((b"&#36;", b"$"), (b"&#124;", b"|"), (b"&amp;", b"&"))
_DCN: Final = re.compile(rb"/%DCN(\d{3})%/")
# nmdc.md $MyINFO: "$ALL <nick> <description><tag>$ $<connection><flag>$<email>$<share>$".
_MYINFO: Final = re.compile(rb"\$ALL (\S+) (.*?)\$.\$(.*?)\$(.*?)\$(\d*)\$?", re.DOTALL)
# The client tag closes the description: "<++ V:0.868,M:A,H:1/0/0,S:3>" (nmdc.md $MyINFO).
_TAG: Final = re.compile(rb"<[^<>]*>\Z")
_TAG_CLIENT: Final = re.compile(rb"<([^ <>,]+) V:([^,<>]+)")
# nmdc.md private message: "$To: <target> From: <nick> $<<nick>> text".
_PRIVATE: Final = re.compile(rb"(\S+) From: (\S+) \$(.*)", re.DOTALL)
# nmdc.md $MCTo: "$MCTo: <target> $<nick> <text>" (an extension).
_MCTO: Final = re.compile(rb"(\S+) \$(\S+) (.*)", re.DOTALL)
# nmdc.md $Search: "<ip>:<port> <F|T>?<F|T>?<size>?<type>?<pattern>" or "Hub:<nick> ...".
_SEARCH: Final = re.compile(rb"(\S+) [FT]\?[FT]\?\d*\?(\d+)\?(.*)", re.DOTALL)
# nmdc.md $ConnectToMe: "<target> <ip>:<port>[S|N|R...]"; IPv6 in brackets.
_CONNECT: Final = re.compile(rb"(\S+) (\[[0-9A-Fa-f:.]+\]|[^\s:]+):(\d{1,5})([A-Z]*)")
# nmdc.md search type 9: the pattern is "TTH:<base32 root>".
SEARCH_TYPE_TTH: Final = b"9"
# nmdc.md $Direction "<Download|Upload> <number>"; $ADCSND flag for a zlib body.
FLAG_ZLIB: Final = b"ZL1"


def unescape(raw: bytes) -> bytes:
    """Undo NMDC text escaping (entities and DCN forms)."""
    if b"&" in raw:
        for escaped, plain in _ENTITIES:
            raw = raw.replace(escaped, plain)
    if b"/%DCN" in raw:
        raw = _DCN.sub(lambda found: bytes([int(found.group(1)) & 0xFF]), raw)
    return raw


def _tokens(arguments: bytes) -> list[bytes]:
    """Split $ADCGET/$ADCSND arguments on spaces; ``\\ `` and ``\\s`` are escaped spaces."""
    tokens: list[bytes] = []
    current = bytearray()
    index = 0
    while index < len(arguments):
        byte = arguments[index : index + 1]
        if byte == b"\\" and index + 1 < len(arguments):
            code = arguments[index + 1 : index + 2]
            current += {b"s": b" ", b"n": b"\n"}.get(code, code)
            index += 2
            continue
        if byte == b" ":
            tokens.append(bytes(current))
            current.clear()
        else:
            current += byte
        index += 1
    tokens.append(bytes(current))
    return tokens


def _number(raw: bytes) -> int | None:
    """A decimal count (at most 19 digits), or None."""
    return int(raw) if raw.isdigit() and len(raw) <= 19 else None


class NmdcParser(DcStreamParser):
    """NMDC hub and client-to-client connections (nmdc.md)."""

    name = "nmdc"
    terminator = b"|"
    # The code page tried when text is not UTF-8 (Russian hubs; set per deployment).
    hub_charset = "cp1251"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._confirmed = False
        self.hub_address = f"{flow.resp_addr}:{flow.resp_port}"
        self.hub_name: str | None = None
        self.own_nick: str | None = None
        # Legacy transfer ($Get path$offset, $FileLength size) per direction.
        self._requests: list[tuple[str, int] | None] = [None, None]
        self._lengths: list[int | None] = [None, None]
        context = flow.context
        if isinstance(context, DcPeerContext):
            self.hub_name = context.hub
            if context.connector:
                self._set_nick(ORIG, context.connector)
            if context.listener:
                self._set_nick(RESP, context.listener)
        self._handlers: dict[bytes, Callable[[Direction, bytes, int], list[Event] | None]] = {
            b"Lock": self._lock,
            b"MyNick": self._my_nick,
            b"HubName": self._hub_name,
            b"ValidateNick": self._validate_nick,
            b"Hello": self._hello,
            b"Quit": self._quit,
            b"MyINFO": self._my_info,
            b"NickList": self._nick_list,
            b"OpList": self._op_list,
            b"To:": self._private,
            b"MCTo:": self._mc_to,
            b"Search": self._search,
            b"SR": self._search_result,
            b"ConnectToMe": self._connect_to_me,
            b"RevConnectToMe": self._rev_connect,
            b"BadPass": self._refused,
            b"ValidateDenide": self._refused,
            b"ZOn": self._zon,
            b"ADCGET": self._adcget,
            b"ADCSND": self._adcsnd,
            b"Get": self._get,
            b"FileLength": self._file_length,
            b"Send": self._send,
            b"Error": self._transfer_error,
            b"MaxedOut": self._transfer_error,
            b"Failed": self._transfer_error,
        }

    # -- text ---------------------------------------------------------------------------

    def decode(self, raw: bytes) -> tuple[str, str]:
        """``raw`` as text: UTF-8 when valid, else ``hub_charset``; returns (text, charset)."""
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return raw.decode(self.hub_charset, "replace"), self.hub_charset

    def _text(self, raw: bytes) -> str:
        return self.decode(unescape(raw))[0]

    @property
    def channel(self) -> str:
        """The hub's name when announced, else its address."""
        return self.hub_name or self.hub_address

    # -- dispatch -----------------------------------------------------------------------

    def _command(self, direction: Direction, command: bytes, ts: int) -> list[Event] | None:
        if not command:
            return []  # a lone "|" is a keep-alive (nmdc.md)
        first = command[0]
        if first == 0x3C:  # "<": main chat
            return self._chat(direction, command, ts)
        if first != 0x24:  # "$"
            return None
        verb, _, arguments = command[1:].partition(b" ")
        handler = self._handlers.get(verb)
        if handler is None:
            # Known-shaped but unparsed commands ($Key, $Supports, $Version, $UserIP...).
            return [] if verb[:1].isalpha() else None
        return handler(direction, arguments, ts)

    def _confirm(self, direction: Direction, ts: int) -> list[Event]:
        if self._confirmed:
            return []
        self._confirmed = True
        return [Confirmed(direction=direction, ts=ts)]

    # -- handshake and login --------------------------------------------------------------

    def _lock(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        return self._confirm(direction, ts)

    def _my_nick(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        self._set_nick(direction, self._text(arguments))
        return self._confirm(direction, ts)

    def _hub_name(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        self.hub_name = self._text(arguments)
        return []

    def _validate_nick(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        self.own_nick = self._text(arguments)
        self._set_nick(direction, self.own_nick)
        return [ChatLogin(direction=direction, ts=ts, account=self.own_nick)]

    def _refused(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        if self.own_nick is None:
            return []
        return [ChatLogin(direction=direction, ts=ts, account=self.own_nick, accepted=False)]

    # -- user list ----------------------------------------------------------------------

    def _contacts(
        self, direction: Direction, ts: int, operation: str, entries: list[ContactEntry]
    ) -> list[Event]:
        if not entries:
            return []
        return [
            ContactListUpdate(
                direction=direction,
                ts=ts,
                owner=self.hub_address,
                operation=operation,
                entries=tuple(entries),
            )
        ]

    def _hello(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        nick = self._text(arguments)
        out: list[Event] = []
        if direction is RESP and nick == self.own_nick:
            out.append(ChatLogin(direction=direction, ts=ts, account=nick, accepted=True))
        out += self._contacts(direction, ts, "modify", [ContactEntry(contact=nick)])
        return out

    def _quit(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        return self._contacts(
            direction, ts, "remove", [ContactEntry(contact=self._text(arguments))]
        )

    def _nick_list(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        nicks = [self._text(n) for n in arguments.split(b"$$") if n]
        return self._contacts(direction, ts, "modify", [ContactEntry(contact=n) for n in nicks])

    def _op_list(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        nicks = [self._text(n) for n in arguments.split(b"$$") if n]
        entries = [ContactEntry(contact=n, extra={"operator": True}) for n in nicks]
        return self._contacts(direction, ts, "modify", entries)

    def _my_info(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        found = _MYINFO.match(arguments)
        if found is None:
            return None
        nick_raw, described, connection, email, share = found.groups()
        extra: dict[str, object] = {}
        tag = _TAG.search(described)
        if tag is not None:
            extra["tag"] = self._text(tag.group())
            described = described[: tag.start()]
        extra["description"] = self._text(described)
        if connection:
            extra["connection"] = self._text(connection[:-1])
            extra["flag"] = connection[-1]
        if email:
            extra["email"] = self._text(email)
        if share:
            extra["share_size"] = int(share[:19])
        nick = self._text(nick_raw)
        events = self._contacts(direction, ts, "modify", [ContactEntry(contact=nick, extra=extra)])
        client = _tag_client(tag.group()) if tag is not None else None
        if client is not None and nick == self.own_nick:
            # Our own $MyINFO names the client software in its tag (nmdc.md $MyINFO).
            login = ChatLogin(direction=direction, ts=ts, account=nick, client=client)
            return [login, *(events or [])]
        return events

    # -- chat -----------------------------------------------------------------------------

    def _split_chat(self, line: bytes) -> tuple[bytes, bytes] | None:
        """ "<nick> text" -> (nick, text); the nick ends at the first "> " (nmdc.md)."""
        close = line.find(b"> ")
        if close < 0:
            if line.endswith(b">"):
                return line[1:-1], b""
            return None
        return line[1:close], line[close + 2 :]

    def _chat(self, direction: Direction, line: bytes, ts: int) -> list[Event] | None:
        parts = self._split_chat(line)
        if parts is None:
            return None
        nick, raw = parts
        text, charset = self.decode(unescape(raw))
        return [
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=self._text(nick),
                channel=self.channel,
                text=text,
                raw=raw,
                charset=charset,
                message_kind="groupchat",
            )
        ]

    def _private(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        found = _PRIVATE.match(arguments)
        if found is None:
            return None
        target, sender, body = found.groups()
        parts = self._split_chat(body) if body.startswith(b"<") else None
        raw = parts[1] if parts is not None else body
        return [self._private_message(direction, ts, sender, target, raw)]

    def _mc_to(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        found = _MCTO.match(arguments)
        if found is None:
            return None
        target, sender, raw = found.groups()
        return [self._private_message(direction, ts, sender, target, raw)]

    def _private_message(
        self, direction: Direction, ts: int, sender: bytes, target: bytes, raw: bytes
    ) -> ChatMessage:
        """A private message of ``$To:`` or ``$MCTo:`` (nmdc.md)."""
        text, charset = self.decode(unescape(raw))
        return ChatMessage(
            direction=direction,
            ts=ts,
            sender=self._text(sender),
            recipients=(self._text(target),),
            channel=self.channel,
            text=text,
            raw=raw,
            charset=charset,
            message_kind="private",
        )

    # -- searches and connection requests -------------------------------------------------

    def _search(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        found = _SEARCH.match(arguments)
        if found is None:
            return None
        origin, kind, pattern = found.groups()
        who = origin[4:] if origin.startswith(b"Hub:") else origin
        # Spaces of the pattern are sent as "$"; type 9 patterns stay "TTH:<root>".
        query = self._text(pattern.replace(b"$", b" "))
        if kind == SEARCH_TYPE_TTH and not query.startswith("TTH:"):
            query = f"TTH:{query}"
        return [
            ChatNotice(direction=direction, ts=ts, name="search", who=self._text(who), detail=query)
        ]

    def _search_result(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        nick, _, rest = arguments.partition(b" ")
        path = rest.split(b"\x05", 1)[0]
        if b"\x05" not in rest:
            path = rest.rsplit(b" ", 1)[0]  # a directory: no size field
        return [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="search_result",
                who=self._text(nick),
                detail=self._text(path),
            )
        ]

    def _connect_to_me(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        found = _CONNECT.match(arguments)
        if found is None:
            return None
        target_raw, host_raw, port_raw, flags = found.groups()
        target = self._text(target_raw)
        host = host_raw.strip(b"[]").decode("latin-1")
        port = int(port_raw)
        tls = b"S" in flags
        out: list[Event] = [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="connect",
                who=target,
                detail=f"{host}:{port}" + (" tls" if tls else ""),
            )
        ]
        if tls or not 0 < port < 65536:
            return out  # a TLS connection (nmdc.md "S" suffix) is not NMDC on the wire
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return out
        listener = self.own_nick if direction is ORIG else None
        context = DcPeerContext(
            protocol="nmdc", hub=self.channel, listener=listener, connector=target
        )
        out.append(
            ExpectConnection(
                direction=direction,
                ts=ts,
                protocol="nmdc",
                server_addr=host,
                server_port=port,
                context=context,
            )
        )
        return out

    def _rev_connect(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        requester, _, target = arguments.partition(b" ")
        return [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="connect_request",
                who=self._text(requester),
                detail=self._text(target),
            )
        ]

    def _zon(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        self._start_stream_compression(direction, ts, out)
        return out

    # -- client to client -----------------------------------------------------------------

    def _adcget(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        tokens = _tokens(arguments)
        name = self._text(tokens[1]) if len(tokens) > 1 else ""
        return [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="file_request",
                who=self._nick(direction),
                detail=name,
            )
        ]

    def _adcsnd(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        tokens = _tokens(arguments)
        if len(tokens) < 4:
            return None
        kind, ident = tokens[0], self._text(tokens[1])
        start, count = _number(tokens[2]), _number(tokens[3])
        if start is None or count is None:
            return None
        out: list[Event] = []
        self._begin_file(
            direction,
            ts,
            out,
            name=ident if kind == b"file" else f"{kind.decode('latin-1')}:{ident}",
            start=start,
            count=count,
            compressed=FLAG_ZLIB in tokens[4:],
        )
        return out

    def _get(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        path, dollar, offset_raw = arguments.rpartition(b"$")
        offset = _number(offset_raw)
        if not dollar or offset is None:
            return None
        self._requests[direction] = (self._text(path), max(offset - 1, 0))  # 1-based
        return []

    def _file_length(self, direction: Direction, arguments: bytes, ts: int) -> list[Event] | None:
        self._lengths[direction] = _number(arguments.strip())
        return [] if self._lengths[direction] is not None else None

    def _send(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        """The downloader's $Send: the other side now sends the $FileLength bytes."""
        uploader = Direction(1 - direction)
        request, size = self._requests[direction], self._lengths[uploader]
        if request is None or size is None:
            return []
        self._requests[direction] = None
        self._lengths[uploader] = None
        name, start = request
        out: list[Event] = []
        count = max(size - start, 0)
        self._begin_file(uploader, ts, out, name=name, start=start, count=count, compressed=False)
        return out

    def _transfer_error(self, direction: Direction, arguments: bytes, ts: int) -> list[Event]:
        return [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="transfer_error",
                who=self._nick(direction),
                detail=self._text(arguments),
            )
        ]


def _tag_client(tag: bytes) -> str | None:
    """ "<ncdc V:1.23.1,M:P,...>" -> "ncdc 1.23.1" (name and version of the client)."""
    found = _TAG_CLIENT.match(tag)
    if found is None:
        return None
    return f"{found.group(1).decode('latin-1')} {found.group(2).decode('latin-1')}"[:128]
