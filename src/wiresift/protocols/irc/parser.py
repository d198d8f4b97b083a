"""IRC passive parser (RFC 1459, RFC 2812; IRCv3 message tags and server-time; CTCP/DCC).

Theory of operation: both directions are lines (RFC 2812 s2.3: ``[@tags] [:prefix]
command params [:trailing]`` ended by CRLF; bare LF is accepted, as servers do). The client
side registers with PASS/NICK/USER; the parser follows the flow's own nick through NICK
changes (client NICK commands, server NICK messages about the current nick, the nick of
the 001 welcome). PRIVMSG and NOTICE become ``ChatMessage``: sent by the prefix for server
lines, by the flow's own nick for client lines. CTCP (``\\x01...\\x01``) ACTION is a
message of kind "action"; DCC SEND/CHAT/RESUME/ACCEPT announce a direct connection that
the engine is told to expect (``ExpectConnection`` to ``irc-dcc``); other CTCP requests
are notices. Lines longer than ``limits.max_line`` are dropped whole
(``irc_line_too_long``) and parsing resumes at the next line, which is also how a capture
that starts mid-line or skips a gap resynchronises.

Text is UTF-8 when it decodes as such, else ``fallback_charset`` (cp1251: Cyrillic networks
are the largest non-UTF-8 population), latin-1 last; mIRC formatting codes are stripped
from ``text`` and kept in ``markup``.
"""

from __future__ import annotations

import calendar
import enum
import ipaddress
import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import (
    ChatLogin,
    ChatMessage,
    ChatNotice,
    FileBegin,
    FileData,
    FileEnd,
    FileOffer,
)
from wiresift.protocols.expect_events import ExpectConnection

# Target prefixes that name a channel (RFC 2812 s1.3: '#', '&', '+', '!').
CHANNEL_PREFIXES: Final = b"#&+!"
# Targets of a server's notices to a connection not registered yet ("*", or "AUTH" of
# older servers).
SERVER_TARGETS: Final = frozenset({b"*", b"AUTH"})
# CTCP delimiter (CTCP draft, "Low-level quoting").
CTCP_MARK: Final = 0x01
# DCC offers waiting for a RESUME/ACCEPT or a passive reply, per control flow. A client
# offers a handful of files at once; the bound keeps a flood of offers from growing state.
MAX_PENDING_DCC: Final = 64
# Largest DCC file size accepted: a 64-bit signed size (clients send sizes past 4 GiB as
# decimal text since the "DCC SEND 64-bit" extension). Larger or negative is an anomaly.
MAX_DCC_SIZE: Final = 2**63 - 1
# Commands reported as notices (RFC 2812 s3.2: channel operations; s3.1.7 QUIT).
NOTICE_COMMANDS: Final = {
    b"JOIN": "join",
    b"PART": "part",
    b"QUIT": "quit",
    b"KICK": "kick",
    b"TOPIC": "topic",
    b"INVITE": "invite",
}
# mIRC formatting codes: bold, colour with optional fg[,bg], hex colour, reset, reverse,
# italic, underline, strikethrough, monospace.
_FORMATTING: Final = re.compile(
    rb"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x16\x1d\x1f\x1e\x11]"
)
# IRCv3 server-time (https://ircv3.net/specs/extensions/server-time): ISO 8601 UTC with ms.
_SERVER_TIME: Final = re.compile(
    rb"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?"
)
# IRCv3 message-tags escapes (https://ircv3.net/specs/extensions/message-tags).
_TAG_ESCAPES: Final = {b":": b";", b"s": b" ", b"\\": b"\\", b"r": b"\r", b"n": b"\n"}
_TAG_ESCAPE: Final = re.compile(rb"\\(.?)")


def decode_text(data: bytes, fallback: str) -> tuple[str, str]:
    """``data`` as text and the charset used: UTF-8, else ``fallback``, else latin-1."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(fallback), fallback
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1"), "latin-1"


def server_time_ns(value: bytes) -> int | None:
    """Nanoseconds since the epoch of an IRCv3 ``time`` tag, or None when malformed."""
    match = _SERVER_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = match.group(7) or b""
    return seconds * 1_000_000_000 + int(fraction.ljust(9, b"0") or b"0")


class Message(NamedTuple):
    """One IRC line split into its parts (RFC 2812 s2.3.1)."""

    tags: dict[bytes, bytes]
    prefix: bytes
    command: bytes  # upper-cased
    params: list[bytes]


def split_message(line: bytes) -> Message | None:
    """Split ``line``; None when it holds no command. Runs of spaces count as one."""
    tags: dict[bytes, bytes] = {}
    rest = line.lstrip(b" ")
    if rest.startswith(b"@"):
        raw_tags, _, rest = rest[1:].partition(b" ")
        for item in raw_tags.split(b";"):
            key, _, value = item.partition(b"=")
            if key:
                tags[key] = _TAG_ESCAPE.sub(
                    lambda m: _TAG_ESCAPES.get(m.group(1), m.group(1)), value
                )
        rest = rest.lstrip(b" ")
    prefix = b""
    if rest.startswith(b":"):
        prefix, _, rest = rest[1:].partition(b" ")
        rest = rest.lstrip(b" ")
    trailing: bytes | None = None
    head, sep, tail = rest.partition(b" :")
    if sep:
        trailing = tail
    elif head.startswith(b":"):
        head, trailing = b"", head[1:]
    words = head.split()
    if not words:
        return None
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(tags, prefix, words[0].upper(), params)


def nick_of(prefix: bytes) -> bytes:
    """The nick part of ``nick!user@host``."""
    return prefix.partition(b"!")[0].partition(b"@")[0]


class LineReader:
    """One direction's lines under ``max_line``; an overlong line is skipped to its end."""

    __slots__ = ("_buf", "_max_line", "_skipping")

    def __init__(self, max_line: int) -> None:
        self._buf = ByteBuffer()
        self._max_line = max_line
        self._skipping = False  # inside an overlong line: drop bytes up to the next LF

    def __len__(self) -> int:
        return len(self._buf)

    def push(self, data: bytes) -> None:
        """Append ``data`` (or drop it while an overlong line is being skipped)."""
        if self._skipping:
            index = data.find(b"\n")
            if index < 0:
                return
            self._skipping = False
            data = data[index + 1 :]
        self._buf.push(data)

    def lines(self) -> list[bytes | None]:
        """Complete lines now available in order; None stands for a dropped overlong line."""
        out: list[bytes | None] = []
        buf = self._buf
        limit = self._max_line
        while True:
            line = buf.take_line(limit)
            if line is not None:
                out.append(line)
                continue
            if len(buf) >= limit:
                out.append(None)
                rest = buf.take_all()
                index = rest.find(b"\n", limit)
                if index < 0:
                    self._skipping = True
                else:
                    buf.push(rest[index + 1 :])
                    continue
            return out

    def resync(self) -> None:
        """A hole: drop the partial line and the next bytes up to the next LF."""
        self._buf.clear()
        self._skipping = True

    def flush(self) -> bytes:
        """The unterminated last line, if any (at the end of the stream)."""
        if self._skipping:
            self._buf.clear()
            return b""
        return self._buf.take_all()


@dataclass(frozen=True, slots=True, kw_only=True)
class DccContext:
    """What a DCC data connection needs from the offer (``FlowInfo.context``).

    ``kind`` is "send" or "chat". For "send", ``sender_is_server`` says whether the file
    travels from the listening side (the usual case) or from the connecting side (passive
    or reverse DCC, where the receiver listens). For "chat", ``server_nick`` is the
    listening side's nick, ``client_nick`` the connecting side's.
    """

    kind: str
    name: str = ""
    size: int | None = None
    offset: int = 0
    server_nick: str = ""
    client_nick: str = ""
    sender_is_server: bool = True
    token: str | None = None


class _Offer(NamedTuple):
    name: str
    size: int | None
    sender: str
    recipient: str
    addr: str
    port: int
    token: str | None


class _DccArgs(NamedTuple):
    verb: bytes
    name: bytes
    numbers: list[bytes]


_DCC_QUOTED: Final = re.compile(rb'"([^"]*)"\s*(.*)')


def parse_dcc(body: bytes) -> _DccArgs | None:
    """Split a CTCP DCC body: verb, file name (possibly quoted) and the numbers after it."""
    verb, _, rest = body.strip().partition(b" ")
    rest = rest.strip()
    if not verb:
        return None
    quoted = _DCC_QUOTED.fullmatch(rest)
    if quoted is not None:
        return _DccArgs(verb.upper(), quoted.group(1), quoted.group(2).split())
    words = rest.split()
    if not words:
        return _DccArgs(verb.upper(), b"", [])
    # Unquoted names may hold spaces: the arguments are the last three words (address,
    # port, size), or four for a passive offer (port 0 and a token).
    count = len(words)
    split = count - 4 if count >= 5 and words[-3] == b"0" else count - 3
    split = max(1, split)
    return _DccArgs(verb.upper(), b" ".join(words[:split]), words[split:])


def dcc_address(text: bytes) -> str | None:
    """The DCC address as text: a 32-bit integer (CTCP DCC), IPv6 or dotted IPv4 text."""
    try:
        if text.isdigit():
            value = int(text)
            if value > 0xFFFFFFFF:
                return None
            return str(ipaddress.IPv4Address(value))
        return str(ipaddress.ip_address(text.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return None


class IrcParser(Parser):
    """One IRC client-server connection."""

    name = "irc"
    keep_secrets = False
    fallback_charset = "cp1251"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._readers = (LineReader(limits.max_line), LineReader(limits.max_line))
        self._nick: str | None = None
        self._user: str | None = None
        self._password: str | None = None
        self._registered = False  # ChatLogin sent
        self._offers: dict[tuple[str, int], _Offer] = {}  # by (recipient or sender, port)
        self._passive: dict[str, _Offer] = {}  # passive offers by token

    # -- Parser -------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        reader = self._readers[direction]
        reader.push(data)
        out: list[Event] = []
        for line in reader.lines():
            if line is None:
                out.append(self._too_long(direction, ts))
            else:
                self._line(direction, line, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        self._readers[direction].resync()
        return [Anomaly(direction=direction, ts=ts, name="irc_content_gap", detail=f"{size} bytes")]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        line = self._readers[direction].flush()
        out: list[Event] = []
        if line.strip():
            self._line(direction, line, ts, out)
        return out

    def buffered_bytes(self) -> int:
        return len(self._readers[0]) + len(self._readers[1])

    # -- lines ------------------------------------------------------------------------

    def _too_long(self, direction: Direction, ts: int) -> Anomaly:
        return Anomaly(
            direction=direction,
            ts=ts,
            name="irc_line_too_long",
            detail=f"over {self.limits.max_line} bytes",
        )

    def _line(self, direction: Direction, line: bytes, ts: int, out: list[Event]) -> None:
        message = split_message(line)
        if message is None:
            return
        if direction is Direction.ORIG:
            self._client(message, line, ts, out)
        else:
            self._server(message, line, ts, out)

    def _text(self, data: bytes) -> tuple[str, str]:
        return decode_text(data, self.fallback_charset)

    def _client(self, message: Message, line: bytes, ts: int, out: list[Event]) -> None:
        command, params = message.command, message.params
        orig = Direction.ORIG
        if command == b"PASS" and params:
            self._password = self._text(params[0])[0] if self.keep_secrets else ""
        elif command == b"NICK" and params:
            nick = self._text(params[0])[0]
            if self._registered and self._nick is not None and nick != self._nick:
                out.append(
                    ChatNotice(direction=orig, ts=ts, name="nick", who=self._nick, detail=nick)
                )
            self._nick = nick
            self._login(ts, out)
        elif command == b"USER" and params:
            self._user = self._text(params[0])[0]
            self._login(ts, out)
        elif command in (b"PRIVMSG", b"NOTICE") and len(params) >= 2:
            self._message(orig, self._nick or "", message, ts, out)
        elif command in NOTICE_COMMANDS:
            who = self._nick
            out.append(self._notice(orig, ts, NOTICE_COMMANDS[command], who, params))

    def _server(self, message: Message, line: bytes, ts: int, out: list[Event]) -> None:
        command, params = message.command, message.params
        resp = Direction.RESP
        prefix_nick = self._text(nick_of(message.prefix))[0] if message.prefix else None
        if command == b"001" and params:
            self._nick = self._text(params[0])[0]
        elif command == b"NICK" and params:
            nick = self._text(params[-1])[0]
            if prefix_nick is not None and prefix_nick == self._nick:
                self._nick = nick
            out.append(ChatNotice(direction=resp, ts=ts, name="nick", who=prefix_nick, detail=nick))
        elif command == b"NOTICE" and b"!" not in message.prefix and params[0] in SERVER_TARGETS:
            # A server's own notice before registration (RFC 2812 s3.3.2), not a chat.
            text = self._text(params[-1])[0]
            out.append(
                ChatNotice(
                    direction=resp, ts=ts, name="server_notice", who=prefix_nick, detail=text
                )
            )
        elif command in (b"PRIVMSG", b"NOTICE") and len(params) >= 2:
            sender = self._text(message.prefix)[0]
            self._message(resp, sender, message, ts, out)
        elif command in NOTICE_COMMANDS:
            out.append(self._notice(resp, ts, NOTICE_COMMANDS[command], prefix_nick, params))

    def _notice(
        self, direction: Direction, ts: int, name: str, who: str | None, params: list[bytes]
    ) -> ChatNotice:
        detail = " ".join(self._text(p)[0] for p in params)
        return ChatNotice(direction=direction, ts=ts, name=name, who=who, detail=detail)

    def _login(self, ts: int, out: list[Event]) -> None:
        if self._registered or self._nick is None or self._user is None:
            return
        self._registered = True
        out.append(
            ChatLogin(
                direction=Direction.ORIG,
                ts=ts,
                account=self._nick,
                mechanism="PASS" if self._password is not None else None,
                secret=self._password if self.keep_secrets else None,
            )
        )

    # -- messages -----------------------------------------------------------------------

    def _message(
        self, direction: Direction, sender: str, message: Message, ts: int, out: list[Event]
    ) -> None:
        targets = [t for t in message.params[0].split(b",") if t]
        raw = message.params[-1] if len(message.params) >= 2 else b""
        recipients = tuple(self._text(t)[0] for t in targets)
        channel = next(
            (self._text(t)[0] for t in targets if t[:1] and t[0] in CHANNEL_PREFIXES), None
        )
        notice = message.command == b"NOTICE"
        kind = "notice" if notice else "groupchat" if channel is not None else "private"
        sent_at = None
        extra: dict[str, object] = {}
        stamp = message.tags.get(b"time")
        if stamp is not None:
            sent_at = server_time_ns(stamp)
            if sent_at is None:
                out.append(
                    Anomaly(
                        direction=direction, ts=ts, name="irc_bad_server_time", detail=repr(stamp)
                    )
                )
        msgid = message.tags.get(b"msgid")
        if msgid is not None:
            extra["msgid"] = self._text(msgid)[0]
        body = raw
        if raw[:1] == b"\x01":
            ctcp = raw[1:-1] if raw.endswith(b"\x01") and len(raw) > 1 else raw[1:]
            verb, _, rest = ctcp.partition(b" ")
            verb = verb.upper()
            if verb == b"ACTION":
                kind, body = "action", rest
            elif verb == b"DCC" and not notice:
                self._dcc(direction, sender, recipients, rest, ts, out)
                return
            else:
                who = nick_of(sender.encode("utf-8", "surrogateescape")).decode(
                    "utf-8", "surrogateescape"
                )
                detail = self._text(ctcp)[0]
                name = "ctcp_reply" if notice else "ctcp"
                out.append(
                    ChatNotice(direction=direction, ts=ts, name=name, who=who, detail=detail)
                )
                return
        plain = _FORMATTING.sub(b"", body)
        text, charset = self._text(plain)
        markup = self._text(body)[0] if plain != body else None
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=recipients,
                channel=channel,
                text=text,
                raw=body,
                charset=charset,
                markup=markup,
                message_kind=kind,
                sent_at=sent_at,
                extra=extra,
            )
        )

    # -- DCC (CTCP DCC; "DCC SEND 64-bit", passive/reverse DCC, RESUME/ACCEPT) -------------

    def _dcc(
        self,
        direction: Direction,
        sender: str,
        recipients: tuple[str, ...],
        body: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        args = parse_dcc(body)
        sender_nick = sender.partition("!")[0]
        recipient = recipients[0] if recipients else ""
        if args is None:
            out.append(Anomaly(direction=direction, ts=ts, name="irc_dcc_malformed", detail=""))
            return
        name = self._text(args.name)[0]
        numbers = args.numbers
        if args.verb in (b"SEND", b"TSEND"):
            self._dcc_send(direction, sender_nick, recipient, name, numbers, ts, out)
        elif args.verb == b"CHAT":
            self._dcc_chat(direction, sender_nick, recipient, numbers, ts, out)
        elif args.verb in (b"RESUME", b"ACCEPT"):
            self._dcc_resume(direction, sender_nick, recipient, args.verb, name, numbers, ts, out)
        else:
            detail = self._text(body)[0]
            out.append(
                ChatNotice(direction=direction, ts=ts, name="dcc", who=sender_nick, detail=detail)
            )

    def _bad(self, direction: Direction, ts: int, name: str, detail: str, out: list[Event]) -> None:
        out.append(Anomaly(direction=direction, ts=ts, name=name, detail=detail[:200]))

    def _endpoint(
        self, direction: Direction, numbers: list[bytes], ts: int, out: list[Event]
    ) -> tuple[str, int] | None:
        if len(numbers) < 2:
            self._bad(direction, ts, "irc_dcc_malformed", "missing address or port", out)
            return None
        addr = dcc_address(numbers[0])
        port = int(numbers[1]) if numbers[1].isdigit() and len(numbers[1]) <= 5 else -1
        if addr is None or not 0 <= port <= 0xFFFF:
            self._bad(direction, ts, "irc_dcc_bad_address", repr(numbers[:2]), out)
            return None
        return addr, port

    def _dcc_send(
        self,
        direction: Direction,
        sender: str,
        recipient: str,
        name: str,
        numbers: list[bytes],
        ts: int,
        out: list[Event],
    ) -> None:
        endpoint = self._endpoint(direction, numbers, ts, out)
        if endpoint is None:
            return
        addr, port = endpoint
        size: int | None = None
        if len(numbers) >= 3:
            text = numbers[2]
            value = int(text) if text.isdigit() and len(text) <= 20 else -1
            if text.lstrip(b"-").isdigit() and 0 <= value <= MAX_DCC_SIZE:
                size = value
            else:
                self._bad(direction, ts, "irc_dcc_bad_size", text.decode("latin-1"), out)
        token = numbers[3].decode("latin-1") if len(numbers) >= 4 else None
        offer = _Offer(name, size, sender, recipient, addr, port, token)
        passive = self._passive.pop(token, None) if token is not None and port else None
        if port == 0 and token is not None:
            # Passive DCC: the receiver will answer with its own address and this token.
            self._remember_passive(token, offer)
        out.append(
            FileOffer(
                direction=direction,
                ts=ts,
                name=name,
                size=size,
                sender=passive.sender if passive else sender,
                recipient=passive.recipient if passive else recipient,
                transfer_id=token,
                endpoint=(addr, port),
                accepted=True if passive else None,
            )
        )
        if port == 0:
            return
        if passive is not None:
            # The receiver listens; the original offerer connects and sends the file.
            context = DccContext(
                kind="send",
                name=passive.name,
                size=passive.size if passive.size is not None else size,
                server_nick=passive.recipient,
                client_nick=passive.sender,
                sender_is_server=False,
                token=token,
            )
        else:
            context = DccContext(
                kind="send",
                name=name,
                size=size,
                server_nick=sender,
                client_nick=recipient,
                token=token,
            )
            self._remember_offer(offer)
        out.append(self._expect(direction, ts, addr, port, context))

    def _dcc_chat(
        self,
        direction: Direction,
        sender: str,
        recipient: str,
        numbers: list[bytes],
        ts: int,
        out: list[Event],
    ) -> None:
        endpoint = self._endpoint(direction, numbers, ts, out)
        if endpoint is None:
            return
        addr, port = endpoint
        out.append(
            ChatNotice(
                direction=direction, ts=ts, name="dcc_chat", who=sender, detail=f"{addr} {port}"
            )
        )
        if port:
            context = DccContext(kind="chat", server_nick=sender, client_nick=recipient)
            out.append(self._expect(direction, ts, addr, port, context))

    def _dcc_resume(
        self,
        direction: Direction,
        sender: str,
        recipient: str,
        verb: bytes,
        name: str,
        numbers: list[bytes],
        ts: int,
        out: list[Event],
    ) -> None:
        # DCC RESUME file port position / DCC ACCEPT file port position (mIRC resume).
        if len(numbers) < 2 or not numbers[0].isdigit() or not numbers[-1].isdigit():
            self._bad(direction, ts, "irc_dcc_malformed", verb.decode("latin-1"), out)
            return
        port, position = int(numbers[0]), int(numbers[1])
        out.append(
            ChatNotice(
                direction=direction,
                ts=ts,
                name="dcc_" + verb.decode("ascii").lower(),
                who=sender,
                detail=f"{name} {port} {position}",
            )
        )
        if verb != b"ACCEPT":
            return
        # The offer is found by port; the ACCEPT comes from the original sender.
        offer = next((o for o in self._offers.values() if o.port == port), None)
        if offer is None:
            return
        if offer.size is not None and position > offer.size:
            self._bad(direction, ts, "irc_dcc_bad_resume", f"{position} > {offer.size}", out)
            return
        context = DccContext(
            kind="send",
            name=offer.name,
            size=offer.size,
            offset=position,
            server_nick=offer.sender,
            client_nick=offer.recipient,
            token=offer.token,
        )
        out.append(self._expect(direction, ts, offer.addr, offer.port, context))

    def _expect(
        self, direction: Direction, ts: int, addr: str, port: int, context: DccContext
    ) -> ExpectConnection:
        return ExpectConnection(
            direction=direction,
            ts=ts,
            protocol="irc-dcc",
            server_addr=addr,
            server_port=port,
            context=context,
        )

    def _remember_offer(self, offer: _Offer) -> None:
        if len(self._offers) >= MAX_PENDING_DCC:
            del self._offers[next(iter(self._offers))]
        self._offers[(offer.recipient, offer.port)] = offer

    def _remember_passive(self, token: str, offer: _Offer) -> None:
        if len(self._passive) >= MAX_PENDING_DCC:
            del self._passive[next(iter(self._passive))]
        self._passive[token] = offer


class _DccState(enum.Enum):
    FILE = enum.auto()  # bytes of the file flow
    DONE = enum.auto()  # the file ended (size reached, gap, or no usable context)


class IrcDccParser(Parser):
    """A DCC connection announced on an IRC flow: a file (SEND) or a chat (CHAT).

    SEND: the sending side's bytes are the file (from ``offset`` on a resumed transfer);
    the receiver's 4-byte acknowledgements (CTCP DCC: network-order count of bytes
    received) are ignored. CHAT: each line is a private message between the two nicks.
    """

    name = "irc-dcc"
    fallback_charset = "cp1251"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        context = flow.context
        self._context = context if isinstance(context, DccContext) else None
        self._state = _DccState.FILE if self._context is not None else _DccState.DONE
        self._started = False
        self._received = 0
        self._warned = False
        self._readers = (LineReader(limits.max_line), LineReader(limits.max_line))
        sender_is_server = self._context is None or self._context.sender_is_server
        self._file_direction = Direction.RESP if sender_is_server else Direction.ORIG

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        context = self._context
        if context is None:
            if not self._warned:
                self._warned = True
                return [Anomaly(direction=direction, ts=ts, name="irc_dcc_no_context")]
            return []
        if context.kind == "chat":
            return self._chat(direction, data, ts, context)
        if direction is not self._file_direction or self._state is _DccState.DONE:
            return []
        return self._file(data, ts, context)

    def _file(self, data: bytes, ts: int, context: DccContext) -> list[Event]:
        out: list[Event] = []
        direction = self._file_direction
        if not self._started:
            self._started = True
            out.append(
                FileBegin(
                    direction=direction,
                    ts=ts,
                    file=0,
                    name=context.name,
                    size=context.size,
                    offset=context.offset,
                    sender=context.server_nick if context.sender_is_server else context.client_nick,
                    recipient=(
                        context.client_nick if context.sender_is_server else context.server_nick
                    ),
                    transfer_id=context.token,
                    upload=direction is Direction.ORIG,
                )
            )
        remaining = None if context.size is None else context.size - context.offset - self._received
        if remaining is not None and len(data) >= remaining:
            extra = len(data) - remaining
            data = data[:remaining]
            if data:
                out.append(FileData(direction=direction, ts=ts, file=0, data=data))
            self._received += len(data)
            out.append(FileEnd(direction=direction, ts=ts, file=0, complete=True))
            self._state = _DccState.DONE
            if extra:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="irc_dcc_excess_data",
                        detail=f"{extra} bytes",
                    )
                )
            return out
        self._received += len(data)
        out.append(FileData(direction=direction, ts=ts, file=0, data=data))
        return out

    def _chat(self, direction: Direction, data: bytes, ts: int, context: DccContext) -> list[Event]:
        reader = self._readers[direction]
        reader.push(data)
        out: list[Event] = []
        for line in reader.lines():
            if line is None:
                out.append(Anomaly(direction=direction, ts=ts, name="irc_line_too_long"))
            else:
                self._chat_line(direction, line, ts, context, out)
        return out

    def _chat_line(
        self, direction: Direction, line: bytes, ts: int, context: DccContext, out: list[Event]
    ) -> None:
        sender, recipient = (
            (context.client_nick, context.server_nick)
            if direction is Direction.ORIG
            else (context.server_nick, context.client_nick)
        )
        kind = "private"
        body = line
        if body[:8].upper() == b"\x01ACTION ":
            kind, body = "action", body[8:].rstrip(b"\x01")
        plain = _FORMATTING.sub(b"", body)
        text, charset = decode_text(plain, self.fallback_charset)
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=(recipient,) if recipient else (),
                text=text,
                raw=body,
                charset=charset,
                markup=decode_text(body, self.fallback_charset)[0] if plain != body else None,
                message_kind=kind,
                extra={"dcc": True},
            )
        )

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="irc_dcc_content_gap", detail=f"{size} bytes")
        ]
        context = self._context
        if context is None:
            return out
        if context.kind == "chat":
            self._readers[direction].resync()
        elif direction is self._file_direction and self._state is _DccState.FILE:
            self._state = _DccState.DONE
            if self._started:
                out.append(
                    FileEnd(direction=direction, ts=ts, file=0, complete=False, reason="gap")
                )
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        context = self._context
        if context is None:
            return []
        out: list[Event] = []
        if context.kind == "chat":
            line = self._readers[direction].flush()
            if line:
                self._chat_line(direction, line, ts, context, out)
            return out
        if direction is self._file_direction and self._state is _DccState.FILE and self._started:
            self._state = _DccState.DONE
            complete = context.size is None
            out.append(
                FileEnd(
                    direction=direction,
                    ts=ts,
                    file=0,
                    complete=complete,
                    reason=None if complete else "closed",
                )
            )
        return out

    def buffered_bytes(self) -> int:
        return len(self._readers[0]) + len(self._readers[1])
