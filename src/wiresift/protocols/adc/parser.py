"""ADC parser (ADC 1.0.x with the common extensions): hub and client-to-client connections.

Theory of operation: a message is ``<type><CMD> params...\\n`` (ADC.txt s3). The type letter
says which positional parameters lead: B (broadcast) and F (feature broadcast) carry the
sender's SID, D and E (direct, echoed) the sender's and the target's, U (UDP) a CID; C
(client to client), H (client to hub) and I (hub to client) none. Named parameters follow as
two capital letters and a value. Escapes are ``\\s`` (space), ``\\n`` (newline) and ``\\\\``
(backslash), nothing else (ADC.txt s3.1); a lone backslash at the end of a parameter is
reported as ``adc_escape_at_end``, another escape as ``adc_bad_escape``.

SIDs are resolved to nicks with the ``NI`` field of each user's ``BINF``; ``BINF`` updates
are incremental, so a user's fields accumulate. The user list of a hub is one contact list
owned by the hub's address. ``CSND`` (and ``ZON``) use the shared file and zlib machinery
of ``nmdc/stream.py``. All ADC text is UTF-8 (ADC.txt s3.1).

Sources: dc-protocols/adc ``ADC.txt`` 1.0.4 (grammar, types, INF, MSG, SCH/RES, CTM/RCM,
QUI, GET/SND, SID/SUP/STA) and ``ADC-EXT.txt`` (ZLIF "ZON", ZLIG "ZL1", ADCS).
"""

from __future__ import annotations

import ipaddress
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

# ADC.txt s3.1: the only escapes.
_ESCAPES: Final = {b"s": b" ", b"n": b"\n", b"\\": b"\\"}
# ADC.txt s3.1: positional SIDs (or the CID) leading each message type.
_LEADING: Final = {
    ord("B"): 1,
    ord("C"): 0,
    ord("D"): 2,
    ord("E"): 2,
    ord("F"): 2,
    ord("H"): 0,
    ord("I"): 0,
    ord("U"): 1,
}
# ADC.txt s5.3.2 INF fields copied into a contact's extra (integers where the spec says so).
_INF_FIELDS: Final = {
    b"SS": ("share_size", True),
    b"SF": ("shared_files", True),
    b"DE": ("description", False),
    b"VE": ("client", False),
    b"EM": ("email", False),
    b"I4": ("ip4", False),
    b"I6": ("ip6", False),
    b"ID": ("cid", False),
    b"SU": ("features", False),
    b"CT": ("client_type", True),
}
# ADC.txt s5.3.6 MSG flags; s5.3.16 (ADC-EXT ZLIG) SND flag for a zlib body.
FLAG_ACTION: Final = b"ME1"
FLAG_ZLIB: Final = b"ZL1"
# Users remembered per hub connection; past it new SIDs are not resolved (the largest public
# hubs hold tens of thousands of users).
_MAX_USERS: Final = 100_000
# ADC-EXT ADCS: the CTM protocol of a TLS connection ("ADCS/0.10" also seen from DC++).
TLS_PREFIX: Final = b"ADCS"


def unescape(token: bytes) -> tuple[bytes, str | None]:
    """Undo ADC escaping; the second value names a problem ("escape_at_end", "bad_escape")."""
    if b"\\" not in token:
        return token, None
    out = bytearray()
    problem: str | None = None
    index = 0
    while True:
        found = token.find(b"\\", index)
        if found < 0:
            out += token[index:]
            break
        out += token[index:found]
        code = token[found + 1 : found + 2]
        if not code:
            problem = "escape_at_end"
            break
        plain = _ESCAPES.get(code)
        if plain is None:
            problem = problem or "bad_escape"
            out += code
        else:
            out += plain
        index = found + 2
    return bytes(out), problem


class _Message:
    """One parsed message: type, command, leading SIDs, positional and named params."""

    __slots__ = ("command", "kind", "named", "positional", "sids")

    def __init__(
        self,
        kind: int,
        command: bytes,
        sids: list[str],
        positional: list[bytes],
        named: dict[bytes, list[bytes]],
    ) -> None:
        self.kind = kind
        self.command = command
        self.sids = sids
        self.positional = positional
        self.named = named

    def first(self, code: bytes) -> bytes | None:
        values = self.named.get(code)
        return values[0] if values else None


def _is_named(token: bytes) -> bool:
    return (
        len(token) >= 2
        and 0x41 <= token[0] <= 0x5A
        and (0x41 <= token[1] <= 0x5A or 0x30 <= token[1] <= 0x39)
    )


class AdcParser(DcStreamParser):
    """ADC hub and client-to-client connections (ADC.txt)."""

    name = "adc"
    terminator = b"\n"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._confirmed = False
        self.hub_address = f"{flow.resp_addr}:{flow.resp_port}"
        self.hub_name: str | None = None
        self.own_sid: str | None = None
        self.token: str | None = None
        # SID -> (nick, fields): ADC.txt s5.3.2 INF updates are incremental.
        self.users: dict[str, tuple[str | None, dict[bytes, bytes]]] = {}
        context = flow.context
        if isinstance(context, DcPeerContext):
            self.hub_name = context.hub
            self.token = context.token
            if context.connector:
                self._set_nick(ORIG, context.connector)
            if context.listener:
                self._set_nick(RESP, context.listener)
        self._handlers: dict[bytes, Callable[[Direction, _Message, int], list[Event] | None]] = {
            b"SUP": self._sup,
            b"SID": self._sid,
            b"INF": self._inf,
            b"QUI": self._quit,
            b"MSG": self._message,
            b"SCH": self._search,
            b"RES": self._result,
            b"CTM": self._connect,
            b"RCM": self._reverse_connect,
            b"STA": self._status,
            b"GET": self._get,
            b"SND": self._snd,
            b"ZON": self._zon,
        }

    @property
    def channel(self) -> str:
        """The hub's name when announced (IINF NI), else its address."""
        return self.hub_name or self.hub_address

    def nick(self, sid: str) -> str:
        """The nick a SID stands for (the SID itself while unknown)."""
        user = self.users.get(sid)
        return user[0] if user is not None and user[0] is not None else sid

    # -- parsing ------------------------------------------------------------------------

    def _command(self, direction: Direction, command: bytes, ts: int) -> list[Event] | None:
        if command.endswith(b"\r"):
            command = command[:-1]
        if not command:
            return []  # keep-alive (ADC.txt s3: an empty line is ignored)
        if len(command) < 4 or command[0] not in _LEADING or not command[1:4].isupper():
            return None
        tokens = command.split(b" ")
        head = tokens[0]
        leading = _LEADING[command[0]]
        if len(head) != 4 or len(tokens) <= leading:
            return None
        problems: set[str] = set()
        sids = [t.decode("latin-1") for t in tokens[1 : 1 + leading]]
        positional: list[bytes] = []
        named: dict[bytes, list[bytes]] = {}
        for token in tokens[1 + leading :]:
            value, problem = unescape(token)
            if problem is not None:
                problems.add(problem)
            if _is_named(token) and (named or not self._positional_first(head[1:], positional)):
                named.setdefault(value[:2], []).append(value[2:])
            else:
                positional.append(value)
        out: list[Event] = [self._anomaly(direction, ts, p) for p in sorted(problems)]
        handler = self._handlers.get(head[1:])
        if handler is None:
            return out
        events = handler(direction, _Message(command[0], head[1:], sids, positional, named), ts)
        if events is None:
            return None
        return out + events

    @staticmethod
    def _positional_first(command: bytes, positional: list[bytes]) -> bool:
        """Whether the next token is still positional (ADC.txt s5.3: counts per command)."""
        wanted = {
            b"MSG": 1,
            b"CTM": 3,
            b"RCM": 2,
            b"GET": 4,
            b"SND": 4,
            b"STA": 2,
            b"SID": 1,
            b"QUI": 1,
        }
        return len(positional) < wanted.get(command, 0)

    def _leftover(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out = super()._leftover(direction, data, ts)
        if unescape(data.rsplit(b" ", 1)[-1])[1] == "escape_at_end":
            out.append(self._anomaly(direction, ts, "escape_at_end"))
        return out

    def _confirm(self, direction: Direction, ts: int) -> list[Event]:
        if self._confirmed:
            return []
        self._confirmed = True
        return [Confirmed(direction=direction, ts=ts)]

    @staticmethod
    def _text(raw: bytes) -> str:
        return raw.decode("utf-8", "replace")

    # -- session ------------------------------------------------------------------------

    def _sup(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        return self._confirm(direction, ts)

    def _sid(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if not message.positional:
            return None
        self.own_sid = message.positional[0].decode("latin-1")
        return []

    def _zon(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        out: list[Event] = []
        self._start_stream_compression(direction, ts, out)
        return out

    def _status(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        detail = b" ".join(message.positional[:2])
        who = self.nick(message.sids[0]) if message.sids else None
        return [
            ChatNotice(
                direction=direction, ts=ts, name="status", who=who, detail=self._text(detail)
            )
        ]

    # -- users --------------------------------------------------------------------------

    def _inf(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if message.kind == ord("I"):
            name = message.first(b"NI")
            if name is not None:
                self.hub_name = self._text(name)
            return []
        if message.kind == ord("C"):
            token = message.first(b"TO")
            if token is not None:
                self.token = self._text(token)
            return []
        if message.kind != ord("B") or not message.sids:
            return []
        sid = message.sids[0]
        old_nick, fields = self.users.get(sid, (None, {}))
        if sid not in self.users and len(self.users) >= _MAX_USERS:
            return [self._anomaly(direction, ts, "too_many_users")]
        for code, values in message.named.items():
            fields[code] = values[-1]
        nick_raw = message.first(b"NI")
        nick = self._text(nick_raw) if nick_raw is not None else old_nick
        self.users[sid] = (nick, fields)
        out: list[Event] = []
        if nick is None:
            return out
        if direction is ORIG or sid == self.own_sid:
            self.own_sid = sid
            self._set_nick(ORIG, nick)
            if nick_raw is not None:
                client = fields.get(b"VE")
                out.append(
                    ChatLogin(
                        direction=direction,
                        ts=ts,
                        account=nick,
                        client=self._text(client) if client is not None else None,
                    )
                )
        if old_nick is not None and old_nick != nick:
            out.append(self._list(direction, ts, "remove", ContactEntry(contact=old_nick)))
        extra: dict[str, object] = {"sid": sid}
        for code, value in fields.items():
            known = _INF_FIELDS.get(code)
            if known is None:
                continue
            key, numeric = known
            if numeric:
                if value.isdigit() and len(value) <= 19:
                    extra[key] = int(value)
            else:
                extra[key] = self._text(value)
        out.append(self._list(direction, ts, "modify", ContactEntry(contact=nick, extra=extra)))
        return out

    def _list(
        self, direction: Direction, ts: int, operation: str, entry: ContactEntry
    ) -> ContactListUpdate:
        return ContactListUpdate(
            direction=direction,
            ts=ts,
            owner=self.hub_address,
            operation=operation,
            entries=(entry,),
        )

    def _quit(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if not message.positional:
            return None
        sid = message.positional[0].decode("latin-1")
        user = self.users.pop(sid, None)
        if user is None or user[0] is None:
            return []
        return [self._list(direction, ts, "remove", ContactEntry(contact=user[0]))]

    # -- chat ---------------------------------------------------------------------------

    def _message(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if not message.positional:
            return None
        raw = message.positional[0]
        kind = message.kind
        recipients: tuple[str, ...] = ()
        extra: dict[str, object] = {}
        if kind == ord("I"):
            sender, message_kind = self.channel, "notice"
        elif kind in (ord("D"), ord("E")):
            sender, message_kind = self.nick(message.sids[0]), "private"
            recipients = (self.nick(message.sids[1]),)
            group = message.first(b"PM")
            if group is not None:
                extra["reply_to"] = self.nick(group.decode("latin-1"))
        elif kind == ord("B") or kind == ord("F"):
            sender, message_kind = self.nick(message.sids[0]), "groupchat"
        else:
            own = self._nick(direction)
            sender, message_kind = own if own is not None else "", "chat"
        if message.first(FLAG_ACTION[:2]) == FLAG_ACTION[2:]:
            message_kind = "action"
        return [
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=recipients,
                channel=self.channel,
                text=self._text(raw),
                raw=raw,
                charset="utf-8",
                message_kind=message_kind,
                extra=extra,
            )
        ]

    def _search(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        terms = [self._text(t) for t in message.named.get(b"AN", [])]
        terms += [f"-{self._text(t)}" for t in message.named.get(b"NO", [])]
        terms += [f"TTH:{self._text(t)}" for t in message.named.get(b"TR", [])]
        terms += [f"*.{self._text(t)}" for t in message.named.get(b"EX", [])]
        who = self.nick(message.sids[0]) if message.sids else self._nick(direction)
        return [
            ChatNotice(direction=direction, ts=ts, name="search", who=who, detail=" ".join(terms))
        ]

    def _result(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        path = message.first(b"FN")
        who = self.nick(message.sids[0]) if message.sids else None
        detail = self._text(path) if path is not None else ""
        return [
            ChatNotice(direction=direction, ts=ts, name="search_result", who=who, detail=detail)
        ]

    def _connect(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if len(message.sids) < 2 or len(message.positional) < 3:
            return None
        protocol, port_raw, token_raw = message.positional[:3]
        listener_sid, connector_sid = message.sids
        listener, connector = self.nick(listener_sid), self.nick(connector_sid)
        token = self._text(token_raw)
        tls = protocol.startswith(TLS_PREFIX)
        out: list[Event] = [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="connect",
                who=connector,
                detail=f"{listener} port {self._text(port_raw)}" + (" tls" if tls else ""),
            )
        ]
        port = int(port_raw) if port_raw.isdigit() and len(port_raw) <= 5 else 0
        address = self._address(direction, listener_sid)
        if tls or address is None or not 0 < port < 65536:
            return out
        context = DcPeerContext(
            protocol="adc", hub=self.channel, listener=listener, connector=connector, token=token
        )
        out.append(
            ExpectConnection(
                direction=direction,
                ts=ts,
                protocol="adc",
                server_addr=address,
                server_port=port,
                context=context,
            )
        )
        return out

    def _address(self, direction: Direction, sid: str) -> str | None:
        """The listening user's address: its INF I4/I6, or this flow's client for our own."""
        user = self.users.get(sid)
        for code in (b"I4", b"I6"):
            value = user[1].get(code) if user is not None else None
            if value is None:
                continue
            try:
                address = ipaddress.ip_address(value.decode("latin-1"))
            except ValueError:
                continue
            if not address.is_unspecified:
                return str(address)
        if sid == self.own_sid:
            return self.flow.orig_addr
        return None

    def _reverse_connect(self, direction: Direction, message: _Message, ts: int) -> list[Event]:
        who = self.nick(message.sids[0]) if message.sids else None
        target = self.nick(message.sids[1]) if len(message.sids) > 1 else ""
        return [
            ChatNotice(direction=direction, ts=ts, name="connect_request", who=who, detail=target)
        ]

    # -- client to client ---------------------------------------------------------------

    def _get(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if len(message.positional) < 2:
            return None
        name = self._text(message.positional[1])
        return [
            ChatNotice(
                direction=direction,
                ts=ts,
                name="file_request",
                who=self._nick(direction),
                detail=name,
            )
        ]

    def _snd(self, direction: Direction, message: _Message, ts: int) -> list[Event] | None:
        if len(message.positional) < 4:
            return None
        kind, ident, start_raw, count_raw = message.positional[:4]
        if not (start_raw.isdigit() and count_raw.isdigit()):
            return None
        if len(start_raw) > 19 or len(count_raw) > 19:
            return None
        name = self._text(ident)
        out: list[Event] = []
        self._begin_file(
            direction,
            ts,
            out,
            name=name if kind == b"file" else f"{self._text(kind)}:{name}",
            start=int(start_raw),
            count=int(count_raw),
            compressed=message.first(FLAG_ZLIB[:2]) == FLAG_ZLIB[2:],
            transfer_id=self.token,
        )
        return out
