"""MSN Messenger (MSNP2 to MSNP18, best effort later): notification server and switchboard.

Theory of operation (libpurple ``msn/command.c``, ``notification.c``, ``switchboard.c``,
``msg.c``; hypothetic.org MSN docs v2.0): each direction is a stream of lines ``CMD
<params>\\r\\n``, a three-letter command (or a three-digit error) usually followed by a
transaction id. A fixed set of commands is followed by a payload whose byte length is the
last parameter; it is read exactly and is not followed by CRLF. MSG payloads are MIME-like
(headers, blank line, body): text/plain is a message, text/x-msmsgscontrol typing,
text/x-msmsgsinvite an invitation (MSNFTP file offers), application/x-msnmsgrp2p a P2P
chunk (``p2p.py``). The switchboard's participants come from IRO/JOI/BYE; the account
from USR/ANS. A line that is not a command, a gap, or a claimed length past the cap puts
the direction in resync: lines are dropped until one parses as a command.
"""

from __future__ import annotations

import codecs
import enum
import re
from typing import Final
from urllib.parse import unquote

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
from wiresift.protocols.msn.msnftp import MsnFtpContext
from wiresift.protocols.msn.p2p import P2P_FOOTER_LEN, P2pAssembler

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

# Commands followed by a payload whose length is the last parameter (libpurple
# msn/notification.c and msn/switchboard.c payload handlers; MSNP18/21: SDG, NFY, PUT, DEL).
PAYLOAD_COMMANDS: Final = frozenset(
    {
        "MSG",
        "UUM",
        "UBM",
        "UBX",
        "UUX",
        "ADL",
        "RML",
        "FQY",
        "NOT",
        "GCF",
        "IPG",
        "UBN",
        "UUN",
        "QRY",
        "SDG",
        "NFY",
        "PUT",
        "DEL",
    }
)
# Payload commands whose length may be the only parameter (server NOT and IPG).
LENGTH_ONLY: Final = frozenset({"NOT", "IPG"})
# Largest payload read: MSG bodies are at most 1664 bytes (libpurple MSN_MAX_MESSAGE_LENGTH
# region), ADL lists of thousands of contacts reach a few tens of KiB; a claim past this cap
# is an anomaly and the stream is resynchronised instead of waiting for it.
MAX_PAYLOAD_BYTES: Final = 512 * 1024
# Switchboard participants tracked (MSN conversations allowed up to 20 people).
MAX_PARTICIPANTS: Final = 64
# Invitations remembered per switchboard (Invitation-Cookie -> offer).
MAX_INVITATIONS: Final = 64
# Contacts read from one ADL/RML/FQY payload.
MAX_XML_CONTACTS: Final = 10_000
# Application-GUID of an MSNFTP file transfer invitation (libpurple msn/msn.h MSN_FT_GUID).
FILE_TRANSFER_GUID: Final = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
# List bits of LST/ADL (libpurple msn/userlist.h MsnListOp): forward, allow, block,
# reverse, pending.
LIST_BITS: Final = (("FL", 1), ("AL", 2), ("BL", 4), ("RL", 8), ("PL", 16))
LIST_NAMES: Final = frozenset(name for name, _bit in LIST_BITS)
_COMMAND: Final = re.compile(rb"(?:[A-Z]{3}|[0-9]{3})(?: |$)")
# Where a command resumes inside a line that starts with the tail of a lost payload.
_EMBEDDED: Final = re.compile(
    rb"(?:MSG|UUM|UBM|UBX|UUX|ADL|RML|FQY|NOT|USR|ANS|IRO|JOI|BYE|CAL|NLN|ILN|FLN|CHG|XFR|RNG)"
    rb" [^ \r\n]{1,256}(?: [^ \r\n]{1,1024}){0,8}$"
)
_XML_DOMAIN: Final = re.compile(rb"<d\s+n=\"([^\"]*)\"\s*>(.*?)</d>", re.DOTALL)
_XML_CONTACT: Final = re.compile(rb"<c\s([^>]*?)/?>")
_XML_ATTR: Final = re.compile(rb"(\w+)=\"([^\"]*)\"")
_PSM: Final = re.compile(rb"<PSM>(.*?)</PSM>", re.DOTALL)
_DETAIL_LEN: Final = 60


class _State(enum.Enum):
    LINE = enum.auto()  # waiting for a command line
    PAYLOAD = enum.auto()  # reading the payload of the last payload command
    RESYNC = enum.auto()  # dropping lines until one parses as a command


class MsnParser(Parser):
    """Notification server or switchboard connection; ``keep_secrets`` set by the engine."""

    name = "msn"
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._buf = (ByteBuffer(), ByteBuffer())
        start = _State.RESYNC if flow.mid_stream else _State.LINE
        self._state = [start, start]
        self._pending: list[tuple[str, list[str], int]] = [("", [], 0), ("", [], 0)]
        self._skipped = [0, 0]
        self._confirmed = False
        self.account: str | None = None
        self.client: str | None = None
        self.versions: tuple[str, ...] = ()
        self.participants: dict[str, str] = {}  # e-mail -> display name
        self._groups: dict[str, str] = {}  # group id -> name
        self._invitations: dict[str, MsnFtpContext] = {}
        self._p2p = P2pAssembler("msn", limits.max_stored_body)

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])

    # -- framing ----------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        out: list[Event] = []
        buf = self._buf[direction]
        buf.push(data)
        max_line = self.limits.max_line
        while True:
            state = self._state[direction]
            if state is _State.PAYLOAD:
                verb, params, length = self._pending[direction]
                payload = buf.take_exact(length)
                if payload is None:
                    break
                self._state[direction] = _State.LINE
                self._payload(direction, verb, params, payload, ts, out)
                continue
            line = buf.take_line(max_line + 2)
            if line is None:
                if len(buf) > max_line:
                    if state is _State.LINE:
                        out.append(self._anomaly(direction, ts, "msn_line_too_long"))
                    self._skipped[direction] += len(buf)
                    buf.clear()
                    self._state[direction] = _State.RESYNC
                break
            if not _COMMAND.match(line):
                # A payload cut by the capture runs into the next command line (payloads end
                # without CRLF): a known command inside the line is where the stream resumes.
                embedded = _EMBEDDED.search(line, 1)
                if embedded is not None:
                    self._skipped[direction] += embedded.start()
                    line = line[embedded.start() :]
                    state = _State.RESYNC
            if not _COMMAND.match(line):
                self._skipped[direction] += len(line) + 2
                if state is _State.LINE:
                    out.append(self._anomaly(direction, ts, "msn_bad_command", _show(line)))
                    self._state[direction] = _State.RESYNC
                continue
            if state is _State.RESYNC:
                self._state[direction] = _State.LINE
                if self._skipped[direction]:
                    out.append(
                        self._anomaly(
                            direction, ts, "msn_resync", f"{self._skipped[direction]} bytes skipped"
                        )
                    )
            self._skipped[direction] = 0
            self._command(direction, line, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        self._buf[direction].clear()
        self._state[direction] = _State.RESYNC
        self._skipped[direction] = 0
        return [self._anomaly(direction, ts, "msn_content_gap", f"{size} bytes")]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        return self._p2p.close(direction, ts)

    def _command(self, direction: Direction, line: bytes, ts: int, out: list[Event]) -> None:
        text = line.decode("utf-8", "replace")
        verb, *params = text.split(" ")
        params = [p for p in params if p]
        if verb in PAYLOAD_COMMANDS and params and (len(params) >= 2 or verb in LENGTH_ONLY):
            size = params[-1]
            if size.isdigit():
                length = int(size)
                if length > MAX_PAYLOAD_BYTES:
                    out.append(self._anomaly(direction, ts, "msn_payload_too_long", size[:20]))
                    self._state[direction] = _State.RESYNC
                    return
                self._pending[direction] = (verb, params, length)
                self._state[direction] = _State.PAYLOAD
                return
        if not self._confirmed and verb in ("VER", "USR", "ANS"):
            self._confirmed = True
            out.append(Confirmed(direction=direction, ts=ts))
        handler = _HANDLERS.get(verb)
        if handler is not None:
            handler(self, direction, params, ts, out)

    # -- login and session ------------------------------------------------------------

    def _ver(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        self.versions = tuple(p for p in params[1:] if p.startswith("MSNP"))

    def _cvr(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # CVR trid locale os-type os-version arch client-name client-version ... (client)
        if direction is ORIG and len(params) >= 7:
            self.client = f"{params[5]} {params[6]}"

    def _usr(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if len(params) < 3:
            return
        if direction is RESP:
            if params[1] == "OK":  # USR trid OK email [name|verified] ...
                self.account = params[2]
                out.append(
                    ChatLogin(
                        direction=RESP, ts=ts, account=params[2], client=self.client, accepted=True
                    )
                )
            return
        mechanism, stage = params[1], params[2]
        if stage == "I" and len(params) >= 4:  # USR trid TWN|MD5|SSO I email
            self.account = params[3]
            out.append(
                ChatLogin(
                    direction=ORIG,
                    ts=ts,
                    account=params[3],
                    client=self.client,
                    mechanism=mechanism,
                )
            )
        elif stage == "S":  # USR trid TWN|MD5|SSO S ticket-or-hash ...
            if self.keep_secrets and self.account is not None:
                out.append(
                    ChatLogin(
                        direction=ORIG,
                        ts=ts,
                        account=self.account,
                        client=self.client,
                        mechanism=mechanism,
                        secret=" ".join(params[3:]),
                    )
                )
        elif "@" in mechanism:  # switchboard: USR trid email cookie
            self.account = mechanism
            out.append(
                ChatLogin(
                    direction=ORIG,
                    ts=ts,
                    account=mechanism,
                    client=self.client,
                    mechanism="switchboard",
                    secret=stage if self.keep_secrets else None,
                )
            )

    def _ans(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # ANS trid email cookie session-id (the invited side joins a switchboard)
        if direction is ORIG and len(params) >= 3:
            self.account = params[1]
            out.append(
                ChatLogin(
                    direction=ORIG,
                    ts=ts,
                    account=params[1],
                    client=self.client,
                    mechanism="switchboard",
                    secret=params[2] if self.keep_secrets else None,
                )
            )

    def _xfr(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # XFR trid SB ip:port CKI cookie (a switchboard granted) or NS (redirection)
        if direction is RESP and len(params) >= 3:
            out.append(
                ChatNotice(direction=RESP, ts=ts, name="transfer", detail=" ".join(params[1:3]))
            )

    def _rng(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # RNG session ip:port CKI cookie email name: an invitation to a switchboard
        if len(params) >= 5:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="ring", who=params[4], detail=params[1])
            )

    def _cal(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if direction is ORIG and len(params) >= 2:
            out.append(ChatNotice(direction=ORIG, ts=ts, name="call", who=params[1]))

    def _join(self, email: str, name: str) -> None:
        email = _passport(email)
        if email and (email in self.participants or len(self.participants) < MAX_PARTICIPANTS):
            self.participants[email] = name

    def _iro(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # IRO trid index total email name [capabilities]
        if len(params) >= 4:
            name = unquote(params[4]) if len(params) >= 5 else ""
            self._join(params[3], name)
            out.append(
                ChatNotice(direction=direction, ts=ts, name="join", who=_passport(params[3]))
            )

    def _joi(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # JOI email name [capabilities]
        if params:
            self._join(params[0], unquote(params[1]) if len(params) >= 2 else "")
            out.append(
                ChatNotice(direction=direction, ts=ts, name="join", who=_passport(params[0]))
            )

    def _bye(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # BYE email [1 = idle timeout] (server); BYE alone never comes from the client
        if direction is RESP and params:
            who = _passport(params[0])
            self.participants.pop(who, None)
            out.append(ChatNotice(direction=RESP, ts=ts, name="part", who=who))

    # -- presence ---------------------------------------------------------------------

    def _chg(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if direction is ORIG and len(params) >= 2:
            out.append(
                ChatNotice(
                    direction=ORIG, ts=ts, name="presence", who=self.account, detail=params[1]
                )
            )

    def _iln(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # ILN trid status email [network] name ... (initial presence)
        self._presence(direction, params[1:], ts, out)

    def _nln(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # NLN status email [network] name clientid [msnobject]
        self._presence(direction, params, ts, out)

    def _presence(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if len(params) < 2:
            return
        rest = params[2:]
        if rest and rest[0].isdigit() and len(rest) >= 2 and not rest[1].isdigit():
            rest = rest[1:]  # MSNP14+ network id before the name
        name = unquote(rest[0]) if rest else ""
        out.append(
            ChatNotice(
                direction=direction,
                ts=ts,
                name="presence",
                who=params[1],
                detail=f"{params[0]} {name}",
            )
        )

    def _fln(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if params:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="presence", who=params[0], detail="FLN")
            )

    # -- contact lists ----------------------------------------------------------------

    def _syn(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # SYN trid version [contacts groups]: the whole list follows (MSNP8-12)
        if direction is RESP and len(params) >= 3:
            out.append(
                ContactListUpdate(direction=RESP, ts=ts, owner=self.account, operation="replace")
            )

    def _lsg(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        if len(params) >= 7:  # MSNP2-7: LSG trid version index total id name 0
            gid, name = params[4], params[5]
        elif len(params) >= 2 and params[0].isdigit():  # MSNP8-9: LSG id name 0
            gid, name = params[0], params[1]
        elif len(params) >= 2:  # MSNP10+: LSG name guid
            name, gid = params[0], params[1]
        else:
            return
        name = unquote(name)
        self._groups[gid] = name
        out.append(
            ContactListUpdate(
                direction=direction, ts=ts, owner=self.account, operation="add", groups=(name,)
            )
        )

    def _lst(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        entry = self._list_entry(params)
        if entry is not None:
            out.append(
                ContactListUpdate(
                    direction=direction,
                    ts=ts,
                    owner=self.account,
                    operation="add",
                    entries=(entry,),
                )
            )

    def _list_entry(self, params: list[str]) -> ContactEntry | None:
        if len(params) >= 6 and params[1] in LIST_NAMES:
            # MSNP2-7: LST trid list version index total email name [group]
            groups = self._group_names(params[7]) if len(params) >= 8 else ()
            return ContactEntry(
                contact=params[5],
                name=unquote(params[6]) if len(params) >= 7 else None,
                groups=groups,
                extra={"lists": [params[1]]},
            )
        tagged = {p[:2]: p[2:] for p in params if p[1:2] == "=" and p[:1] in "NFC"}
        plain = [p for p in params if not (p[1:2] == "=" and p[:1] in "NFC")]
        if "N=" in tagged:  # MSNP10+: LST N=email F=name C=guid lists [groups]
            email, name = tagged["N="], tagged.get("F=")
            bits = plain[0] if plain else ""
            group_ids = plain[1] if len(plain) >= 2 else ""
        elif len(params) >= 3:  # MSNP8-9: LST email name lists [groups]
            email, name, bits = params[0], params[1], params[2]
            group_ids = params[3] if len(params) >= 4 else ""
        else:
            return None
        extra: dict[str, object] = {}
        if bits.isdigit():
            extra["lists"] = [label for label, bit in LIST_BITS if int(bits) & bit]
        if "C=" in tagged:
            extra["guid"] = tagged["C="]
        return ContactEntry(
            contact=email,
            name=unquote(name) if name is not None else None,
            groups=self._group_names(group_ids),
            extra=extra,
        )

    def _group_names(self, ids: str) -> tuple[str, ...]:
        return tuple(self._groups.get(g, g) for g in ids.split(",") if g)

    def _add(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # ADD trid list [version] email name [group] (<=MSNP9); ADC trid list N=.. F=.. (10+)
        if len(params) < 3 or params[1] != "FL":
            return
        rest = params[2:]
        if rest and rest[0].isdigit() and len(rest) >= 2:
            rest = rest[1:]  # the server's list version
        tagged = {p[:2]: p[2:] for p in rest if p[1:2] == "="}
        plain = [p for p in rest if p[1:2] != "="]
        if "N=" in tagged:
            email, name = tagged["N="], tagged.get("F=")
        elif "C=" in tagged:
            email = tagged["C="]  # a known contact (by guid) put in a group
            name = None
        elif plain:
            email, name = plain[0], plain[1] if len(plain) >= 2 else None
            plain = plain[2:]
        else:
            return
        groups = self._group_names(plain[-1]) if plain and "@" not in plain[-1] else ()
        entry = ContactEntry(contact=email, name=unquote(name) if name else None, groups=groups)
        out.append(
            ContactListUpdate(
                direction=direction, ts=ts, owner=self.account, operation="add", entries=(entry,)
            )
        )

    def _rem(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # REM trid list [version] email-or-guid [group]
        if len(params) < 3 or params[1] != "FL":
            return
        rest = params[2:]
        if rest[0].isdigit() and len(rest) >= 2:
            rest = rest[1:]
        if len(rest) >= 2:  # removed from one group only
            entry = ContactEntry(contact=rest[0], groups=())
            op = "modify"
        else:
            entry = ContactEntry(contact=rest[0])
            op = "remove"
        out.append(
            ContactListUpdate(
                direction=direction, ts=ts, owner=self.account, operation=op, entries=(entry,)
            )
        )

    def _adg(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # ADG trid name (client, MSNP10+); ADG trid [version] name id (server)
        rest = params[1:]
        if rest and rest[0].isdigit() and len(rest) >= 2:
            rest = rest[1:]
        if not rest:
            return
        name = unquote(rest[0])
        if len(rest) >= 2:
            self._groups[rest[1]] = name
        out.append(
            ContactListUpdate(
                direction=direction, ts=ts, owner=self.account, operation="add", groups=(name,)
            )
        )

    def _rmg(self, direction: Direction, params: list[str], ts: int, out: list[Event]) -> None:
        # RMG trid [version] id: a group removed
        if len(params) >= 2:
            name = self._groups.pop(params[-1], params[-1])
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="group_removed", who=self.account, detail=name
                )
            )

    # -- payloads ---------------------------------------------------------------------

    def _payload(
        self,
        direction: Direction,
        verb: str,
        params: list[str],
        payload: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        if verb == "MSG":
            self._msg(direction, params, payload, ts, out)
        elif verb in ("UUM", "UBM"):
            self._msg(direction, params, payload, ts, out, interop=verb)
        elif verb in ("ADL", "RML", "FQY"):
            self._xml_list(direction, verb, payload, ts, out)
        elif verb in ("UBX", "UUX"):
            found = _PSM.search(payload)
            who = params[0] if verb == "UBX" else self.account
            if found is not None:
                out.append(
                    ChatNotice(
                        direction=direction,
                        ts=ts,
                        name="personal_message",
                        who=who,
                        detail=_xml_text(found.group(1)),
                    )
                )

    def _xml_list(
        self, direction: Direction, verb: str, payload: bytes, ts: int, out: list[Event]
    ) -> None:
        """ADL/RML/FQY ``<ml><d n="domain"><c n="local" l="bits" t="network"/></d></ml>``."""
        entries: list[ContactEntry] = []
        for domain in _XML_DOMAIN.finditer(payload):
            for contact in _XML_CONTACT.finditer(domain.group(2)):
                if len(entries) >= MAX_XML_CONTACTS:
                    out.append(self._anomaly(direction, ts, "msn_contact_list_too_long"))
                    break
                attrs = {k.decode(): _xml_text(v) for k, v in _XML_ATTR.findall(contact.group(1))}
                extra: dict[str, object] = {}
                if attrs.get("l", "").isdigit():
                    extra["lists"] = [label for label, bit in LIST_BITS if int(attrs["l"]) & bit]
                if attrs.get("t", "").isdigit():
                    extra["network"] = int(attrs["t"])
                email = f"{attrs.get('n', '')}@{_xml_text(domain.group(1))}"
                entries.append(ContactEntry(contact=email, extra=extra))
        if entries:
            operation = {"ADL": "add", "RML": "remove"}.get(verb, "modify")
            out.append(
                ContactListUpdate(
                    direction=direction,
                    ts=ts,
                    owner=self.account,
                    operation=operation,
                    entries=tuple(entries),
                )
            )

    def _msg(
        self,
        direction: Direction,
        params: list[str],
        payload: bytes,
        ts: int,
        out: list[Event],
        interop: str | None = None,
    ) -> None:
        head, _, body = payload.partition(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode(
                    "utf-8", "replace"
                )
        ctype, _, ctype_params = headers.get("content-type", "").partition(";")
        ctype = ctype.strip().lower()
        if interop == "UUM":  # UUM trid recipient network type len
            sender, recipients = self.account or "", tuple(params[1:2])
        elif interop == "UBM":  # UBM sender network ... len
            sender, recipients = params[0], tuple(p for p in (self.account,) if p)
        elif params and params[0].isdigit():  # client: MSG trid ack len
            sender = self.account or ""
            recipients = tuple(p for p in self.participants if p != sender)
        else:  # server: MSG email[;{machine-guid}] name len
            sender = _passport(params[0]) if params else ""
            others = [p for p in self.participants if p != sender]
            if self.account and self.account != sender and self.account not in others:
                others.append(self.account)
            recipients = tuple(others)
        if ctype == "text/plain":
            self._text(
                direction, params, headers, ctype_params, body, sender, recipients, ts, out, interop
            )
        elif ctype == "text/x-msmsgscontrol":
            who = headers.get("typinguser", sender)
            out.append(ChatNotice(direction=direction, ts=ts, name="typing", who=who))
        elif ctype == "text/x-msmsgsinvite":
            self._invite(direction, body, sender, recipients, ts, out)
        elif ctype == "application/x-msnmsgrp2p":
            if len(body) >= P2P_FOOTER_LEN:
                self._p2p.chunk(direction, body[:-P2P_FOOTER_LEN], ts, True, out)
        elif ctype == "text/x-msnmsgr-datacast":
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="datacast", who=sender, detail=_show(body)
                )
            )
        elif ctype in ("text/x-msmsgsemailnotification", "text/x-msmsgsinitialemailnotification"):
            out.append(
                ChatNotice(
                    direction=direction,
                    ts=ts,
                    name="mail_notification",
                    who=self.account,
                    detail=ctype,
                )
            )
        else:
            out.append(
                ChatNotice(direction=direction, ts=ts, name="control", who=sender, detail=ctype)
            )

    def _text(
        self,
        direction: Direction,
        params: list[str],
        headers: dict[str, str],
        ctype_params: str,
        body: bytes,
        sender: str,
        recipients: tuple[str, ...],
        ts: int,
        out: list[Event],
        interop: str | None,
    ) -> None:
        charset = "utf-8"
        for param in ctype_params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"').lower()
        try:
            codecs.lookup(charset)
        except LookupError:
            out.append(self._anomaly(direction, ts, "msn_unknown_charset", charset[:40]))
            charset = "utf-8"
        extra: dict[str, object] = {}
        fmt = headers.get("x-mms-im-format")
        if fmt is not None:
            fields = {
                k.strip(): unquote(v.strip())
                for k, _, v in (f.partition("=") for f in fmt.split(";"))
                if k.strip()
            }
            extra["format"] = fields
            if "FN" in fields:
                extra["font"] = fields["FN"]
            if "CS" in fields:
                extra["font_charset"] = fields["CS"]
        if params and params[0].isdigit() and interop is None:
            extra["trid"] = int(params[0])
        if interop is not None:  # UUM trid email network type len; UBM email network type len
            extra["command"] = interop
            network = params[2 if interop == "UUM" else 1] if len(params) >= 3 else ""
            if network.isdigit() and len(network) <= 9:
                extra["network"] = int(network)
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=sender,
                recipients=recipients,
                text=body.decode(charset, "replace"),
                raw=body,
                charset=charset,
                extra=extra,
            )
        )

    def _invite(
        self,
        direction: Direction,
        body: bytes,
        sender: str,
        recipients: tuple[str, ...],
        ts: int,
        out: list[Event],
    ) -> None:
        """text/x-msmsgsinvite: MSNFTP offers (INVITE), their ACCEPT with the address."""
        fields: dict[str, str] = {}
        for line in body.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        command = fields.get("invitation-command", "").upper()
        cookie = fields.get("invitation-cookie", "")
        if command == "INVITE":
            if fields.get("application-guid", "").upper() != FILE_TRANSFER_GUID:
                out.append(
                    ChatNotice(
                        direction=direction,
                        ts=ts,
                        name="invitation",
                        who=sender,
                        detail=fields.get("application-name", ""),
                    )
                )
                return
            size_text = fields.get("application-filesize", "")
            size = int(size_text) if size_text.isdigit() and len(size_text) <= 18 else None
            offer = MsnFtpContext(
                name=fields.get("application-file", ""),
                size=size,
                sender=sender or None,
                recipient=recipients[0] if len(recipients) == 1 else None,
                cookie=cookie,
            )
            if len(self._invitations) >= MAX_INVITATIONS:
                del self._invitations[next(iter(self._invitations))]
            self._invitations[cookie] = offer
            out.append(
                FileOffer(
                    direction=direction,
                    ts=ts,
                    name=offer.name,
                    size=size,
                    sender=offer.sender,
                    recipient=offer.recipient,
                    transfer_id=cookie,
                )
            )
            return
        known = self._invitations.get(cookie)
        if known is None:
            return
        if command == "CANCEL":
            out.append(
                FileOffer(
                    direction=direction,
                    ts=ts,
                    name=known.name,
                    size=known.size,
                    sender=known.sender,
                    recipient=known.recipient,
                    transfer_id=cookie,
                    accepted=False,
                )
            )
            return
        if command != "ACCEPT" or "ip-address" not in fields:
            return
        port_text = fields.get("port", "")
        port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else 0
        context = MsnFtpContext(
            name=known.name,
            size=known.size,
            sender=known.sender,
            recipient=known.recipient,
            cookie=cookie,
            auth_cookie=fields.get("authcookie"),
        )
        endpoint = (fields["ip-address"], port) if 0 < port < 65536 else None
        out.append(
            FileOffer(
                direction=direction,
                ts=ts,
                name=known.name,
                size=known.size,
                sender=known.sender,
                recipient=known.recipient,
                transfer_id=cookie,
                endpoint=endpoint,
                accepted=True,
            )
        )
        if endpoint is not None:
            out.append(
                ExpectConnection(
                    direction=direction,
                    ts=ts,
                    protocol="msnftp",
                    server_addr=endpoint[0],
                    server_port=endpoint[1],
                    context=context,
                )
            )

    @staticmethod
    def _anomaly(direction: Direction, ts: int, name: str, detail: str = "") -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=name, detail=detail)


def _passport(email: str) -> str:
    """The account without the ``;{machine-guid}`` MSNP16+ appends (libpurple switchboard.c)."""
    return email.split(";", 1)[0]


def _show(data: bytes) -> str:
    return repr(data[:_DETAIL_LEN])


def _xml_text(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ):
        text = text.replace(entity, char)
    return text


_HANDLERS: Final = {
    "VER": MsnParser._ver,
    "CVR": MsnParser._cvr,
    "USR": MsnParser._usr,
    "ANS": MsnParser._ans,
    "XFR": MsnParser._xfr,
    "RNG": MsnParser._rng,
    "CAL": MsnParser._cal,
    "IRO": MsnParser._iro,
    "JOI": MsnParser._joi,
    "BYE": MsnParser._bye,
    "CHG": MsnParser._chg,
    "ILN": MsnParser._iln,
    "NLN": MsnParser._nln,
    "FLN": MsnParser._fln,
    "SYN": MsnParser._syn,
    "LSG": MsnParser._lsg,
    "LST": MsnParser._lst,
    "ADD": MsnParser._add,
    "ADC": MsnParser._add,
    "REM": MsnParser._rem,
    "ADG": MsnParser._adg,
    "RMG": MsnParser._rmg,
}
