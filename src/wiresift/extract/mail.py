"""Mail events (SMTP, POP3, IMAP) -> one "email" object per message.

Each message becomes one passport whose contents are the raw message exactly as the parser
delivered it (role ``message``, an .eml), its text and HTML bodies decoded to UTF-8 (roles
``text`` and ``html``), and every attachment and inline part decoded (RFC 2045 s6
transfer encodings): files inside attached messages (message/rfc822, RFC 2046 s5.2.1),
uuencoded blocks in text bodies and TNEF (winmail.dat) contents too.

Theory of operation: the raw bytes stream into the content store as they arrive; a copy of
at most ``Limits.max_stored_body`` bytes is kept and parsed once the message ends, with the
standard ``email`` package under the ``compat32`` policy. compat32 was chosen because its
parser never raises on broken input (problems become ``defects``) and it returns header
values unparsed; the header values are then decoded here (RFC 2047 encoded-words, RFC 5322
address lists) by code that cannot raise. The ``email`` parser nests one generator per MIME
container and fails past ~1000 levels (slowing down quadratically on the way), so a message
that declares more containers than ``MAX_MIME_CONTAINERS`` is parsed for its header only.

Parts are numbered like IMAP body sections (RFC 3501 s6.4.5): "1", "2", "2.1"...; parts of a
message attached inside another carry the number of that attachment as ``parent``.

IMAP can fetch a message in pieces (BODY[HEADER], BODY[TEXT], BODY[]<origin>). Pieces of one
message (same mailbox and UID, else sequence number) are held until the flow ends: a
complete HEADER piece and a complete TEXT piece become one whole message; consecutive
``<origin>`` pieces of one section starting at 0 are joined into one object that stays
marked partial (the requested size is not on the wire); every other piece is an object of
its own marked partial. A whole-message fetch (section "", no origin) is a message like any
other.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.utils
import hashlib
import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Final

from wiresift.extract.builder import Builder
from wiresift.extract.files import ContentTracker
from wiresift.extract.mimetree import parse_message
from wiresift.extract.names import safe_filename
from wiresift.extract.tnef import is_tnef, unpack_tnef
from wiresift.extract.uu import decode_uu_line, find_uuencoded
from wiresift.model import ContentItem, JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Event
from wiresift.protocols.mailevents import (
    MailLogin,
    MessageBegin,
    MessageData,
    MessageEnd,
)

_NOTHING: Final[list[ObjectRecord]] = []  # shared empty result, never mutated
# Anomalies listed on one object at most (as for HTTP objects).
MAX_OBJECT_ANOMALIES: Final = 32
# MIME containers (multipart bodies and attached messages) a message may declare and still
# be parsed whole: the email package needs one nested generator per level (~1000 at most,
# 0.4 s at 500 levels); real mail declares a handful.
MAX_MIME_CONTAINERS: Final = 256
# Characters of one header kept in the passport (a 10 MB Subject stays in the .eml only).
MAX_HEADER_TEXT: Final = 16 * 1024
# Characters of an address header parsed (email.utils.getaddresses takes ~10 µs per address).
MAX_ADDRESS_HEADER: Final = 64 * 1024
# Addresses listed per field, and ids listed in References.
MAX_ADDRESSES: Final = 1000
MAX_REFERENCES: Final = 100
# Characters of the subject used in the .eml file name.
MAX_SUBJECT_NAME: Final = 100
# The .eml is stored whole whatever its size: it streams to the store, it is never held.
_WHOLE: Final = (1 << 63) - 1

_FOLD: Final = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD: Final = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_MESSAGE_ID: Final = re.compile(r"<[^<>\s]*>")
# Words that open a MIME container, counted in the lower-cased message (bytes.count is
# ~50 times faster than a case-insensitive regex on a 20 MB message).
_CONTAINER_WORDS: Final = (b"boundary", b"message/rfc822", b"message/global")
_BASE64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64_ALPHABET: Final = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET)))
_BASE64_FILLER: Final = b"= \t\r\n"
_ENCODED_CTES: Final = frozenset({"base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue"})
_TEXT_ROLES: Final = {"text/plain": "text", "text/html": "html"}
_MESSAGE_TYPES: Final = frozenset({"message/rfc822", "message/global"})
_TNEF_TYPES: Final = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})

Address = dict[str, JsonValue]


# -- header decoding (RFC 2047, RFC 5322) ---------------------------------------------------


def _from_surrogates(value: str) -> str:
    """A header value the parser read as ASCII with surrogate escapes, as text: raw 8-bit
    headers (RFC 6532) are UTF-8, else Latin-1."""
    if value.isascii() or not _has_surrogates(value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in value)


def _decode_bytes(data: bytes, charset: str) -> tuple[str, bool]:
    """``data`` in ``charset`` (RFC 2231 s5 language suffix dropped); (text, charset ok)."""
    name = charset.split("*", 1)[0].strip().strip('"')
    try:
        return data.decode(name or "us-ascii"), True
    except LookupError:
        return data.decode("utf-8", "replace"), False
    except UnicodeDecodeError:
        return data.decode(name, "replace"), False


def _word_bytes(encoding: str, text: str) -> bytes:
    """The bytes of one encoded-word's text (RFC 2047 s4.1 B, s4.2 Q), read leniently."""
    raw = text.encode("ascii", "replace")
    if encoding in "bB":
        return _base64(raw)[0]
    return binascii.a2b_qp(raw.replace(b"_", b" "))


def decode_words(value: str) -> tuple[str, bool]:
    """A header value with RFC 2047 encoded-words decoded; (text, every charset known).

    Adjacent encoded-words in one charset are joined before decoding (a multibyte character
    may be split across them, as iso-2022-jp encoders do) and the white space between
    encoded-words is dropped (RFC 2047 s6.2). Never raises.
    """
    value = _from_surrogates(_FOLD.sub("", value))
    if "=?" not in value:
        return value, True
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    charsets_ok = True
    position = 0

    def flush() -> None:
        nonlocal charsets_ok
        if pending:
            text, ok = _decode_bytes(b"".join(pending), pending_charset)
            charsets_ok = charsets_ok and ok
            out.append(text)
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and not (between.isspace() and pending):
            flush()
            out.append(between)
        charset = match.group(1).lower()
        if pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out), charsets_ok


def _cap(value: str) -> str:
    return value[:MAX_HEADER_TEXT]


def _addresses(values: list[str]) -> list[Address]:
    """Mailboxes of address headers (RFC 5322 s3.4), display names decoded."""
    texts = [_from_surrogates(_FOLD.sub("", v))[:MAX_ADDRESS_HEADER] for v in values]
    try:
        pairs = email.utils.getaddresses(texts)
    except Exception:  # the parser has raised on odd input in past releases
        pairs = []
    found: list[Address] = []
    for name, addr in pairs[:MAX_ADDRESSES]:
        if not name and not addr:
            continue
        found.append({"name": decode_words(name)[0] or None, "addr": addr or None})
    return found


def _date(value: str) -> str | None:
    """A Date header (RFC 5322 s3.3) as RFC 3339 UTC, or None when it cannot be read."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)  # "-0000": UTC, origin unknown
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# -- transfer decoding (RFC 2045 s6) ---------------------------------------------------------


def _base64(data: bytes) -> tuple[bytes, bool]:
    """Base64 decoded leniently: (bytes, clean). Characters outside the alphabet are dropped
    and a short last group is completed, so whatever can be decoded is."""
    padding = data.find(b"=")
    clean = not data.translate(None, _BASE64_ALPHABET + _BASE64_FILLER) and (
        padding < 0 or not data[padding:].translate(None, _BASE64_FILLER)
    )
    letters = data.translate(None, _NOT_BASE64_ALPHABET)
    tail = len(letters) % 4
    if tail == 1:
        letters = letters[:-1]
        clean = False
    elif tail:
        letters += b"=" * (4 - tail)
    return binascii.a2b_base64(letters), clean


def _uudecode_body(data: bytes) -> tuple[bytes, bool]:
    """A body with Content-Transfer-Encoding x-uuencode: (bytes, clean)."""
    files = find_uuencoded(data, max_bytes=len(data))
    if files:
        return files[0].data, files[0].bad_lines == 0
    chunks = [decode_uu_line(line.rstrip(b"\r")) for line in data.split(b"\n")]
    return b"".join(c for c in chunks if c), all(c is not None for c in chunks)


# -- building --------------------------------------------------------------------------------


class _Message:
    """One message (or one IMAP piece) from its MessageBegin to its MessageEnd."""

    __slots__ = (
        "accepted",
        "anomalies",
        "begin",
        "buffer",
        "complete",
        "first_frame",
        "last_frame",
        "raw",
        "reason",
        "size",
        "ts_first",
        "ts_last",
    )

    def __init__(self, begin: MessageBegin, frame: int, raw: ContentTracker | None) -> None:
        self.begin = begin
        self.raw = raw
        self.buffer = bytearray()
        self.size = 0
        self.complete = False
        self.accepted: bool | None = None
        self.reason: str | None = None
        self.ts_first = self.ts_last = begin.ts
        self.first_frame = self.last_frame = frame
        self.anomalies: list[str] = []


def _piece_key(begin: MessageBegin) -> tuple[str, int] | None:
    """The message an IMAP piece belongs to, or None when it is a whole message."""
    if begin.protocol != "imap" or (not begin.section and begin.origin is None):
        return None
    if begin.uid is not None:
        return (f"{begin.mailbox or ''}\x00uid", begin.uid)
    if begin.number is not None:
        return (f"{begin.mailbox or ''}\x00seq", begin.number)
    return None


class MailBuilder(Builder):
    """Turns one flow's mail events into "email" objects."""

    def _start(self) -> None:
        self._open: dict[int, _Message] = {}
        self._current: _Message | None = None  # where extraction anomalies go
        self._account: str | None = None
        self._account_accepted: str | None = None
        # IMAP pieces waiting for the rest of their message, by message; insertion order
        # is arrival order, so the oldest are given up first.
        self._pieces: dict[tuple[str, int], list[_Message]] = {}
        self._pieces_bytes = 0
        self._part_count = 0
        self._items: list[ContentItem] = []
        self._counts = {"parts": 0, "attachments": 0}
        self._parts_complete = True

    # -- events -------------------------------------------------------------------------

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if type(event) is MessageData:  # the common case first
            message = self._open.get(event.message)
            if message is not None:
                self._data(message, event.data)
                message.ts_last = event.ts
                message.last_frame = frame
            return _NOTHING
        if isinstance(event, MessageBegin):
            return self._begin(event, frame)
        if isinstance(event, MessageEnd):
            return self._end(event, frame)
        if isinstance(event, MailLogin):
            self._account = event.account
            if event.accepted:
                self._account_accepted = event.account
            return _NOTHING
        if isinstance(event, Anomaly) and self._current is not None:
            self._note(self._current, event.name)
        # MailCommand (DELE, RSET, SELECT...) describes the session, not a message.
        return _NOTHING

    def anomaly(self, name: str, detail: str) -> None:
        """An anomaly found while extracting content (charsets, encodings, limits)."""
        if self._current is not None:
            self._note(self._current, name)

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended: open messages become objects marked incomplete, then every
        IMAP piece still waiting."""
        records: list[ObjectRecord] = []
        for message in list(self._open.values()):
            records.extend(self._unfinished(message, "closed"))
        self._open.clear()
        for key in list(self._pieces):
            records.extend(self._flush_pieces(key))
        return records

    # -- internals ----------------------------------------------------------------------

    @staticmethod
    def _note(message: _Message, name: str) -> None:
        if name not in message.anomalies and len(message.anomalies) < MAX_OBJECT_ANOMALIES:
            message.anomalies.append(name)

    def _begin(self, event: MessageBegin, frame: int) -> list[ObjectRecord]:
        records: list[ObjectRecord] = []
        previous = self._open.pop(event.message, None)
        if previous is not None:  # the same number again: the parser lost the end
            records.extend(self._unfinished(previous, "restarted"))
        raw = None
        if _piece_key(event) is None:
            raw = self._tracker("message", None, "message/rfc822", _WHOLE)
        message = self._open[event.message] = _Message(event, frame, raw)
        self._current = message
        return records

    def _unfinished(self, message: _Message, reason: str) -> list[ObjectRecord]:
        """A message whose end never came: an object marked incomplete."""
        message.reason = message.reason or reason
        if message.raw is None:  # an IMAP piece: on its own, partial
            return self._joined([message], partial=message.begin.partial or "imap_section")
        return self._finish(message, partial=message.begin.partial)

    def _data(self, message: _Message, data: bytes) -> None:
        message.size += len(data)
        if message.raw is not None:
            message.raw.write(data)
        room = self.config.limits.max_stored_body - len(message.buffer)
        if room > 0:
            message.buffer += data[:room]
        if len(data) > room:
            self._note(message, "mail_truncated")

    def _end(self, event: MessageEnd, frame: int) -> list[ObjectRecord]:
        message = self._open.pop(event.message, None)
        if message is None:
            return _NOTHING
        message.ts_last = max(message.ts_last, event.ts)
        message.last_frame = frame
        message.complete = event.complete
        message.accepted = event.accepted
        message.reason = event.reason
        key = _piece_key(message.begin)
        if key is None:
            return self._finish(message, partial=message.begin.partial)
        return self._add_piece(key, message)

    def _tracker(
        self, role: str, name: str | None, declared: str | None, limit: int
    ) -> ContentTracker:
        return ContentTracker(
            self.store.open(), role=role, name=name, declared_type=declared, limit=limit
        )

    # -- IMAP pieces ----------------------------------------------------------------------

    def _add_piece(self, key: tuple[str, int], message: _Message) -> list[ObjectRecord]:
        pieces = self._pieces.setdefault(key, [])
        pieces.append(message)
        self._pieces_bytes += len(message.buffer)
        sections = {
            (p.begin.section or "").upper(): p
            for p in pieces
            if p.begin.origin is None and p.complete and p.size == len(p.buffer)
        }
        records: list[ObjectRecord] = []
        if "HEADER" in sections and "TEXT" in sections:
            head, text = sections["HEADER"], sections["TEXT"]
            pieces.remove(head)
            pieces.remove(text)
            records.extend(self._joined([head, text], partial=None))
            if not pieces:
                del self._pieces[key]
        # Pieces wait in memory: past the cap the oldest messages are given up as they are.
        while self._pieces_bytes > self.config.limits.max_stored_body and self._pieces:
            records.extend(self._flush_pieces(next(iter(self._pieces))))
        return records

    def _flush_pieces(self, key: tuple[str, int]) -> list[ObjectRecord]:
        """Every piece of one message that did not make a whole: joined origin runs and
        single pieces, each marked partial."""
        pieces = self._pieces.pop(key, [])
        records: list[ObjectRecord] = []
        by_section: dict[str, list[_Message]] = {}
        for piece in pieces:
            if piece.begin.origin is None:
                records.extend(self._joined([piece], partial=piece.begin.partial))
            else:
                by_section.setdefault((piece.begin.section or "").upper(), []).append(piece)
        for run_pieces in by_section.values():
            run_pieces.sort(key=lambda p: p.begin.origin or 0)
            run: list[_Message] = []
            for piece in run_pieces:
                if run and (run[0].begin.origin or 0) + sum(p.size for p in run) != (
                    piece.begin.origin or 0
                ):
                    records.extend(self._joined(run, partial="imap_partial"))
                    run = []
                run.append(piece)
            if run:
                records.extend(self._joined(run, partial="imap_partial"))
        return records

    def _joined(self, pieces: list[_Message], *, partial: str | None) -> list[ObjectRecord]:
        """One message made of pieces, written to the store in order."""
        first = pieces[0]
        raw = self._tracker("message", None, "message/rfc822", _WHOLE)
        for piece in pieces:
            self._pieces_bytes -= len(piece.buffer)
            raw.write(bytes(piece.buffer))
        joined = _Message(first.begin, first.first_frame, raw)
        joined.buffer = bytearray(b"".join(p.buffer for p in pieces))
        joined.size = sum(p.size for p in pieces)
        joined.complete = all(p.complete for p in pieces)
        joined.reason = next((p.reason for p in pieces if p.reason), None)
        joined.ts_first = min(p.ts_first for p in pieces)
        joined.ts_last = max(p.ts_last for p in pieces)
        joined.first_frame = min(p.first_frame for p in pieces)
        joined.last_frame = max(p.last_frame for p in pieces)
        for piece in pieces:
            for name in piece.anomalies:
                self._note(joined, name)
        sections = [p.begin.section or "" for p in pieces]
        origins = [p.begin.origin for p in pieces]
        return self._finish(
            joined,
            partial=partial,
            extra={
                "sections": list[JsonValue](sections),
                "origins": list[JsonValue](origins),
            },
        )

    # -- the object ---------------------------------------------------------------------

    def _finish(
        self,
        message: _Message,
        *,
        partial: str | None,
        extra: dict[str, JsonValue] | None = None,
    ) -> list[ObjectRecord]:
        self._current = message
        self._items = []
        self._part_count = 0
        self._counts = {"parts": 0, "attachments": 0}
        begin = message.begin
        object_id = self._next_id()
        parsed = self._parse(message)
        headers = _HeaderView(parsed)
        subject_raw = headers.first("subject")
        subject = None
        if subject_raw is not None:
            subject, ok = decode_words(subject_raw[:MAX_HEADER_TEXT])
            if not ok:
                self._note(message, "mail_bad_charset")
        truncated = message.size > len(message.buffer)
        self._parts_complete = message.complete and not truncated
        if parsed is not None:
            self._entity(parsed, "", 1, None)
        raw = message.raw
        assert raw is not None
        raw.name = safe_filename(f"{(subject or '').strip()[:MAX_SUBJECT_NAME] or object_id}.eml")
        items = [raw.finish(complete=message.complete), *self._items]
        if extra is None:
            extra = {"sections": [begin.section], "origins": [begin.origin]}
        meta = self._meta(message, headers, subject, partial, truncated)
        if begin.protocol == "imap":
            meta["pieces"] = extra
        complete = (
            message.complete
            and partial is None
            and not truncated
            and all(i.complete for i in items)
        )
        sender = _first_addr(meta.get("from")) or begin.mail_from
        recipients: list[JsonValue] = list(begin.rcpt_to)
        if not recipients:
            for field in ("to", "cc", "bcc"):
                recipients.extend(_addrs(meta.get(field)))
        record = ObjectRecord(
            id=object_id,
            kind="email",
            protocol=begin.protocol,
            ts_first=message.ts_first,
            ts_last=message.ts_last,
            source=self._source(message.first_frame, message.last_frame),
            flow=self.flow,
            direction="upload" if begin.flow == "outgoing" else "download",
            complete=complete,
            meta=meta,
            contents=tuple(items),
            parties={
                "sender": sender,
                "recipients": recipients,
                "account": self._account_accepted or self._account,
            },
            anomalies=tuple(message.anomalies),
        )
        self._items = []
        self._current = next(reversed(self._open.values()), None)
        return [record]

    def _parse(self, message: _Message) -> Message | None:
        """The MIME tree of the kept bytes; header only when too many containers."""
        data = bytes(message.buffer)
        if not data:
            return None
        lowered = data.lower()
        containers = sum(lowered.count(word) for word in _CONTAINER_WORDS)
        del lowered
        try:
            if containers > MAX_MIME_CONTAINERS:
                self._note(message, "mail_too_many_parts")
                return BytesHeaderParser(policy=compat32).parsebytes(data)
            parsed = parse_message(data)
        except Exception:  # compat32 records defects; this is a last resort
            self._note(message, "mail_mime_error")
            return None
        if parsed.defects:
            self._note(message, "mail_mime_defect")
        return parsed

    def _meta(
        self,
        message: _Message,
        headers: _HeaderView,
        subject: str | None,
        partial: str | None,
        truncated: bool,
    ) -> dict[str, JsonValue]:
        begin = message.begin
        to = _addresses(headers.all("to"))
        cc = _addresses(headers.all("cc"))
        bcc = _addresses(headers.all("bcc"))
        listed = {str(a["addr"]).lower() for a in (*to, *cc, *bcc) if a["addr"]}
        # Envelope recipients that no header names were sent a blind copy (RFC 5321 s7.2).
        for rcpt in begin.rcpt_to:
            if rcpt.lower() not in listed:
                bcc.append({"name": None, "addr": rcpt, "envelope": True})
        date = headers.first("date")
        references = headers.first("references") or ""
        return {
            "flow": begin.flow,
            "command": begin.command,
            "mail_from": begin.mail_from,
            "rcpt_to": list(begin.rcpt_to),
            "rcpt_rejected": list(begin.rcpt_rejected),
            "helo": begin.helo,
            "account": self._account_accepted or self._account,
            "mailbox": begin.mailbox,
            "number": begin.number,
            "uid": begin.uid,
            "section": begin.section,
            "partial": partial,
            "accepted": message.accepted,
            "complete": message.complete,
            "end_reason": message.reason,
            "truncated": truncated,
            "from": list[JsonValue](_addresses(headers.all("from"))),
            "to": list[JsonValue](to),
            "cc": list[JsonValue](cc),
            "bcc": list[JsonValue](bcc),
            "reply_to": list[JsonValue](_addresses(headers.all("reply-to"))),
            "sender": list[JsonValue](_addresses(headers.all("sender"))),
            "subject": _cap(subject) if subject is not None else None,
            "date": _cap(headers.text("date") or "") or None,
            "date_utc": _date(date) if date is not None else None,
            "message_id": headers.text("message-id"),
            "in_reply_to": headers.text("in-reply-to"),
            "references": list[JsonValue](_MESSAGE_ID.findall(references)[:MAX_REFERENCES]),
            "headers_count": headers.count,
            "size": message.size,
            "parts": self._counts["parts"],
            "attachments": self._counts["attachments"],
        }

    # -- MIME tree ------------------------------------------------------------------------

    def _entity(self, entity: Message, prefix: str, depth: int, parent: str | None) -> None:
        """A message's body: its parts if multipart, else its single part "<prefix>1"."""
        if entity.get_content_maintype() == "multipart" and entity.is_multipart():
            self._children(entity, prefix, depth, parent)
        else:
            self._part(entity, f"{prefix}1", depth, parent)

    def _children(self, multipart: Message, prefix: str, depth: int, parent: str | None) -> None:
        if depth > self.config.limits.max_mime_depth:
            self.anomaly("mail_mime_too_deep", f"part {prefix or 'root'}")
            return
        payload = multipart.get_payload()
        assert isinstance(payload, list)
        for index, child in enumerate(payload, 1):
            if isinstance(child, Message):
                self._part(child, f"{prefix}{index}", depth, parent)

    def _part(self, part: Message, path: str, depth: int, parent: str | None) -> None:
        if self._part_count >= self.config.limits.max_multipart_parts:
            self.anomaly("mail_too_many_parts", f"part {path}")
            return
        self._part_count += 1
        content_type = part.get_content_type()
        if part.is_multipart():
            payload = part.get_payload()
            assert isinstance(payload, list)
            if part.get_content_maintype() == "multipart":
                self._children(part, f"{path}.", depth + 1, parent)
                return
            inner = next((p for p in payload if isinstance(p, Message)), None)
            if inner is not None:
                self._attached_message(part, inner, path, depth, parent)
            return
        self._counts["parts"] += 1
        cte = (_HeaderView(part).text("content-transfer-encoding") or "").lower()
        data = _raw_payload(part)
        if cte in _ENCODED_CTES:
            data = self._transfer_decode(data, cte)
        filename = self._filename(part)
        try:
            disposition = part.get_content_disposition()
        except Exception:  # header parsing of hostile values
            disposition = None
        body_role = _TEXT_ROLES.get(content_type)
        if body_role is not None and filename is None and disposition != "attachment":
            self._body(part, body_role, data, path, parent)
            return
        role = "inline" if disposition == "inline" else "attachment"
        self._attachment(role, filename, content_type, data, path, parent)
        if content_type in _TNEF_TYPES or is_tnef(data):
            self._tnef(data, path, parent)

    def _attached_message(
        self, part: Message, inner: Message, path: str, depth: int, parent: str | None
    ) -> None:
        """A message/rfc822 part (RFC 2046 s5.2.1): stored as .eml, then expanded."""
        self._counts["parts"] += 1
        try:
            data = inner.as_bytes(policy=compat32.clone(linesep="\r\n", max_line_length=0))
        except Exception:  # re-serialising a broken tree
            self.anomaly("mail_mime_error", f"part {path}")
            data = b""
        subject = _HeaderView(inner).first("subject")
        name = self._filename(part)
        if name is None:
            subject_text = decode_words(subject)[0].strip() if subject else ""
            name = f"{subject_text[:MAX_SUBJECT_NAME] or 'message-' + path}.eml"
        self._attachment("attachment", name, part.get_content_type(), data, path, parent)
        if depth + 1 > self.config.limits.max_mime_depth:
            self.anomaly("mail_mime_too_deep", f"part {path}")
            return
        self._entity(inner, f"{path}.", depth + 1, path)

    def _filename(self, part: Message) -> str | None:
        """The part's file name: Content-Disposition filename or Content-Type name, RFC
        2231 parameters collapsed, RFC 2047 encoded-words decoded (common though
        non-standard, RFC 2047 s5)."""
        try:
            name = part.get_filename()
        except Exception:  # header parsing of hostile values
            self.anomaly("mail_mime_error", "filename")
            return None
        if name is None:
            return None
        text, ok = decode_words(str(name))
        if not ok:
            self.anomaly("mail_bad_charset", "filename")
        return text

    def _transfer_decode(self, data: bytes, encoding: str | None) -> bytes:
        """A part body without its Content-Transfer-Encoding (RFC 2045 s6)."""
        cte = (encoding or "").strip().lower()
        if cte == "base64":
            decoded, clean = _base64(data)
            if not clean:
                self.anomaly("mail_bad_base64", "")
            return decoded
        if cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if cte in ("x-uuencode", "uuencode", "x-uue"):
            decoded, clean = _uudecode_body(data)
            if not clean:
                self.anomaly("mail_bad_uuencode", "")
            return decoded
        return data  # 7bit, 8bit, binary and unknown tokens: as sent

    def _body(self, part: Message, role: str, data: bytes, path: str, parent: str | None) -> None:
        """A text or HTML body, converted to UTF-8."""
        charset = part.get_content_charset()
        if charset is None:
            try:
                text = data.decode("utf-8")  # undeclared 8-bit text is usually UTF-8
            except UnicodeDecodeError:
                text = data.decode("latin-1")
        else:
            text, ok = _decode_bytes(data, charset)
            if not ok:
                self.anomaly("mail_bad_charset", charset[:64])
        extra: dict[str, JsonValue] = {"part": path, "charset": charset}
        utf8 = text.encode("utf-8")
        if utf8 != data:
            # The part as sent (transfer encoding removed, charset kept): what other tools
            # hash, so the object can be matched with their records.
            extra["sent_size"] = len(data)
            extra["sent_sha256"] = hashlib.sha256(data).hexdigest()
            extra["sent_md5"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self._store(role, None, part.get_content_type(), utf8, extra, parent)
        if role == "text" and b"begin " in data:
            for found in find_uuencoded(data, max_bytes=self.config.limits.max_stored_body):
                if found.bad_lines or not found.ended:
                    self.anomaly("mail_bad_uuencode", "")
                self._counts["attachments"] += 1
                wire = found.name.decode("utf-8", "replace")
                self._store(
                    "attachment",
                    safe_filename(found.name),
                    None,
                    found.data,
                    {"part": path, "wire_name": wire, "unpacked_from": "uuencode"},
                    parent,
                )

    def _attachment(
        self,
        role: str,
        filename: str | None,
        content_type: str,
        data: bytes,
        path: str,
        parent: str | None,
    ) -> None:
        self._counts["attachments"] += 1
        name = safe_filename(filename) if filename is not None else None
        extra: dict[str, JsonValue] = {"part": path, "wire_name": filename}
        self._store(role, name, content_type, data, extra, parent)

    def _tnef(self, data: bytes, path: str, parent: str | None) -> None:
        """The files inside a TNEF attachment ([MS-OXTNEF]); winmail.dat itself stays."""
        result = unpack_tnef(data)
        if result.error is not None:
            self.anomaly("mail_bad_tnef", result.error)
        for found in result.files:
            self._counts["attachments"] += 1
            extra: dict[str, JsonValue] = {
                "part": path,
                "wire_name": found.name,
                "unpacked_from": "tnef",
            }
            name = safe_filename(found.name) if found.name else None
            self._store("attachment", name, None, found.data, extra, parent)

    def _store(
        self,
        role: str,
        name: str | None,
        declared: str | None,
        data: bytes,
        extra: dict[str, JsonValue],
        parent: str | None,
    ) -> None:
        tracker = self._tracker(role, name, declared, self.config.limits.max_stored_body)
        tracker.write(data)
        if parent is not None:
            extra["parent"] = parent
        tracker.extra = extra
        self._items.append(tracker.finish(complete=self._parts_complete))


class _HeaderView:
    """Header values of a parsed entity, read from its raw items (compat32 keeps the text as
    sent; ``Message.__getitem__`` would wrap 8-bit values in ``Header`` objects)."""

    __slots__ = ("_values", "count")

    def __init__(self, entity: Message | None) -> None:
        self._values: dict[str, list[str]] = {}
        self.count = 0
        if entity is None:
            return
        for name, value in entity.raw_items():
            self.count += 1
            self._values.setdefault(name.lower(), []).append(str(value))

    def all(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def first(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        """The first value, unfolded, as text, trimmed and capped; None when absent."""
        value = self.first(name)
        if value is None:
            return None
        return _cap(_from_surrogates(_FOLD.sub("", value)).strip())


def _raw_payload(part: Message) -> bytes:
    """A leaf part's body bytes as sent. Read from the stored payload: ``get_payload()``
    recodes 8-bit text by the declared charset, and raises TypeError when that charset is
    an RFC 2231 value (CPython 3.11 email.message)."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return payload if isinstance(payload, bytes) else b""


def _addrs(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        return []
    return [entry["addr"] for entry in value if isinstance(entry, dict) and entry.get("addr")]


def _first_addr(value: JsonValue) -> str | None:
    found = _addrs(value)
    return str(found[0]) if found else None


__all__ = ["MAX_MIME_CONTAINERS", "MailBuilder", "decode_words"]
