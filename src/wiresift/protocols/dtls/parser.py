"""DTLS passive parser (RFC 6347 DTLS 1.2, RFC 4347 DTLS 1.0; RFC 9147 DTLS 1.3 headers).

Theory of operation: each datagram holds whole records (RFC 6347 s4.1.1), each with a
13-byte header (type, version, epoch, 48-bit sequence number, length). Records of epoch 0
are clear; a ChangeCipherSpec moves its sender to epoch 1, and every record of a later
epoch, like every application_data record, is encrypted: counted, never kept. A DTLS 1.3
record with the unified header (RFC 9147 s4: first bits 001) is always encrypted.

Handshake messages carry a 12-byte header (type, length, message_seq, fragment_offset,
fragment_length; RFC 6347 s4.2.2) and may be cut into fragments across records and
datagrams, arrive out of order and be retransmitted (s4.2.4). Messages are tracked by
message_seq and byte ranges, within ``MAX_PENDING_MESSAGES`` and ``MAX_FRAGMENTS``; the
bytes of those worth reading (ClientHello, ServerHello, HelloVerifyRequest, Certificate)
are kept, within ``MAX_REASSEMBLY_BYTES``. A fragment bringing no new byte, or one of a
message already done, is a retransmission and only counted. After a HelloVerifyRequest
(s4.2.1) the client sends its ClientHello again with the cookie: both are reported, the
later one wins.

Message bodies go through the TLS parser's functions, and the events are the TLS events,
so a DTLS flow yields the same ``usage`` object as TLS over TCP. A ``UsageInfo`` event
precedes them to name the object's protocol ``dtls`` and, when a direction ends, carries
the DTLS counters. Each anomaly name is reported once per direction (a flood of bad
datagrams costs one event); the rest of a bad datagram is dropped, the next one is read.
"""

from __future__ import annotations

from typing import Final

from wiresift.config import Limits
from wiresift.model import JsonValue
from wiresift.protocols.base import (
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    Violation,
)
from wiresift.protocols.dtls.detect import (
    HANDSHAKE_HEADER,
    HANDSHAKE_HEADER_SIZE,
    HS_CLIENT_HELLO,
    HS_HELLO_VERIFY_REQUEST,
    HS_SERVER_HELLO,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    VERSION_MAJOR,
    VERSION_MINORS,
)
from wiresift.protocols.tls import handshake as hs
from wiresift.protocols.tls.certificates import describe_certificate
from wiresift.protocols.tls.events import (
    AlertSeen,
    CertificateSeen,
    EncryptedData,
    Resumed,
)
from wiresift.protocols.tls.hello import client_hello_event, resumption, server_hello_event
from wiresift.protocols.tls.parser import MAX_HANDSHAKE_MESSAGE, MAX_RECORD_PAYLOAD
from wiresift.protocols.usage_events import UsageInfo

# Handshake messages reassembled at the same time per direction (a flight holds < 10).
MAX_PENDING_MESSAGES: Final = 16
# Fragments taken per message: a 256 KiB message in 1200-byte fragments needs ~220.
MAX_FRAGMENTS: Final = 512
# Bytes held for messages being reassembled, per direction.
MAX_REASSEMBLY_BYTES: Final = 512 * 1024
# Handshake messages tracked per direction (a handshake shows at most 8 in clear).
MAX_TRACKED_MESSAGES: Final = 64

CONTENT_CHANGE_CIPHER_SPEC: Final = 20
CONTENT_ALERT: Final = 21
CONTENT_HANDSHAKE: Final = 22
CONTENT_APPLICATION_DATA: Final = 23
CONTENT_TLS12_CID: Final = 25  # RFC 9146: a connection id of negotiated length in the header
CONTENT_ACK: Final = 26  # RFC 9147 s7

HS_CERTIFICATE: Final = 11
HS_SERVER_KEY_EXCHANGE: Final = 12
HS_SERVER_HELLO_DONE: Final = 14
_KEPT_MESSAGES: Final = frozenset(
    {HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_HELLO_VERIFY_REQUEST, HS_CERTIFICATE}
)
_FULL_HANDSHAKE_MESSAGES: Final = frozenset(
    {HS_CERTIFICATE, HS_SERVER_KEY_EXCHANGE, HS_SERVER_HELLO_DONE}
)
# Versions whose handshake works the TLS 1.2 way (session ids, tickets, clear certificates).
_PRE_13: Final = frozenset({0xFEFF, 0xFEFD})

# RFC 9147 s4 unified header: 001CSLEE (connection id, 16-bit sequence, length present).
_UNIFIED_MASK: Final = 0xE0
_UNIFIED_BITS: Final = 0x20
_UNIFIED_CID: Final = 0x10
_UNIFIED_SEQ16: Final = 0x08
_UNIFIED_LENGTH: Final = 0x04

_SIDE_NAMES: Final = ("client", "server")


def _dtls_name(tls_anomaly: str) -> str:
    """The DTLS name of an anomaly the shared TLS body parsers report (``tls_x`` -> ``dtls_x``)."""
    return "d" + tls_anomaly


class _Message:
    """A handshake message being reassembled: the ranges already received and, for a
    message worth reading, its bytes."""

    __slots__ = ("body", "covered", "fragments", "kept", "length", "msg_type", "ranges")

    def __init__(self, msg_type: int, length: int, kept: bool) -> None:
        self.msg_type = msg_type
        self.length = length
        self.kept = kept
        self.body = bytearray(length if kept else 0)
        self.ranges: list[tuple[int, int]] = []  # sorted, disjoint, not touching
        self.covered = 0
        self.fragments = 0

    def add(self, offset: int, piece: bytes) -> int:
        """Copy a fragment in; return how many of its bytes were new."""
        start, end = offset, offset + len(piece)
        merged: list[tuple[int, int]] = []
        placed = False
        for low, high in self.ranges:
            if high < start:
                merged.append((low, high))
            elif end < low:
                if not placed:
                    merged.append((start, end))
                    placed = True
                merged.append((low, high))
            else:
                start, end = min(start, low), max(end, high)
        if not placed:
            merged.append((start, end))
        covered = sum(high - low for low, high in merged)
        gained = covered - self.covered
        if gained and self.kept:
            self.body[offset : offset + len(piece)] = piece
        self.ranges = merged
        self.covered = covered
        return gained

    def complete(self) -> bool:
        return self.covered == self.length


class _Side:
    """State of one direction."""

    __slots__ = (
        "done",
        "enc_bytes",
        "enc_records",
        "hellos",
        "max_epoch",
        "pending",
        "pending_bytes",
        "reported",
        "retransmissions",
        "verify_requests",
    )

    def __init__(self) -> None:
        self.pending: dict[int, _Message] = {}  # by message_seq
        self.pending_bytes = 0
        self.done: set[int] = set()  # message_seq of messages finished or given up
        self.retransmissions = 0  # handshake fragments that brought nothing new
        self.hellos = 0  # ClientHello or ServerHello messages read
        self.verify_requests = 0
        self.max_epoch = 0
        self.enc_records = 0
        self.enc_bytes = 0
        self.reported: set[str] = set()  # anomaly names already reported


class DtlsParser(Parser):
    """Reads the clear handshake of a DTLS association, one datagram per ``feed``."""

    name = "dtls"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(), _Side())
        self._confirmed = False
        self._announced = False
        self._client: hs.ClientHelloFields | None = None
        self._version = 0  # negotiated version, 0 until the ServerHello
        self._await_ticket = False  # ticket offered, no session id echo: watch the server
        self._certificates = [0, 0]

    # -- Parser interface -------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        pos = 0
        size = len(data)
        while pos < size:
            if data[pos] & _UNIFIED_MASK == _UNIFIED_BITS:
                pos = self._unified_record(side, direction, data, pos, ts, events)
                continue
            if size - pos < RECORD_HEADER_SIZE:
                self._anomaly(side, direction, ts, events, "dtls_record_truncated")
                break
            content_type, major, minor, epoch, _, _, length = RECORD_HEADER.unpack_from(data, pos)
            if (
                major != VERSION_MAJOR
                or minor not in VERSION_MINORS
                or not CONTENT_CHANGE_CIPHER_SPEC <= content_type <= CONTENT_ACK
            ):
                if not self._confirmed:
                    events.append(
                        Violation(direction=direction, ts=ts, reason="dtls_record_invalid")
                    )
                self._anomaly(side, direction, ts, events, "dtls_record_invalid")
                break
            start = pos + RECORD_HEADER_SIZE
            if content_type == CONTENT_TLS12_CID:
                # The connection id's length was negotiated: the rest is one opaque record.
                side.enc_records += 1
                side.enc_bytes += size - start
                side.max_epoch = max(side.max_epoch, epoch)
                break
            end = start + length
            if end > size:
                self._anomaly(side, direction, ts, events, "dtls_record_truncated", str(length))
                break
            if length > MAX_RECORD_PAYLOAD:
                self._anomaly(side, direction, ts, events, "dtls_record_too_long", str(length))
            pos = end
            if epoch or content_type == CONTENT_APPLICATION_DATA:
                side.max_epoch = max(side.max_epoch, epoch)
                side.enc_records += 1
                side.enc_bytes += length
            elif content_type == CONTENT_HANDSHAKE:
                self._handshake_record(side, direction, data, start, end, ts, events)
            elif content_type == CONTENT_ALERT:
                self._alert_record(direction, data, start, end, ts, events)
            elif content_type == CONTENT_CHANGE_CIPHER_SPEC:
                self._change_cipher_spec(direction, ts, events)
            # heartbeat (RFC 6520) and clear ACKs (RFC 9147 s7) tell nothing to report
        return events

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        who = _SIDE_NAMES[direction]
        summary: dict[str, JsonValue] = {
            f"handshake_retransmissions_{who}": side.retransmissions,
            f"max_epoch_{who}": side.max_epoch,
        }
        if direction is Direction.ORIG:
            summary["client_hellos"] = side.hellos
        else:
            summary["hello_verify_requests"] = side.verify_requests
        self._announced = True
        events.append(UsageInfo(direction=direction, ts=ts, protocol="dtls", metadata=summary))
        if side.enc_records:
            events.append(
                EncryptedData(
                    direction=direction, ts=ts, records=side.enc_records, size=side.enc_bytes
                )
            )
        if side.pending:
            self._anomaly(
                side, direction, ts, events, "dtls_handshake_incomplete", f"{len(side.pending)}"
            )
        side.pending.clear()
        side.pending_bytes = 0
        side.enc_records = side.enc_bytes = side.retransmissions = 0
        return events

    def buffered_bytes(self) -> int:
        return sum(s.pending_bytes for s in self._sides)

    # -- records ------------------------------------------------------------------------

    def _unified_record(
        self, side: _Side, direction: Direction, data: bytes, pos: int, ts: int, events: list[Event]
    ) -> int:
        """Count one DTLS 1.3 ciphertext record (RFC 9147 s4); return the next position."""
        first = data[pos]
        size = len(data)
        if first & _UNIFIED_CID:
            # The connection id's length was negotiated: the rest is one opaque record.
            side.enc_records += 1
            side.enc_bytes += size - pos - 1
            return size
        header = 1 + (2 if first & _UNIFIED_SEQ16 else 1)
        if first & _UNIFIED_LENGTH:
            if pos + header + 2 > size:
                self._anomaly(side, direction, ts, events, "dtls_record_truncated")
                return size
            length = (data[pos + header] << 8) | data[pos + header + 1]
            header += 2
            if pos + header + length > size:
                self._anomaly(side, direction, ts, events, "dtls_record_truncated", str(length))
                return size
        else:
            length = max(size - pos - header, 0)  # no length: the record fills the datagram
        side.enc_records += 1
        side.enc_bytes += length
        return pos + header + length

    def _alert_record(
        self, direction: Direction, data: bytes, start: int, end: int, ts: int, events: list[Event]
    ) -> None:
        self._announce(direction, ts, events)
        events.extend(
            AlertSeen(direction=direction, ts=ts, level=data[at], description=data[at + 1])
            for at in range(start, end - 1, 2)
        )

    def _change_cipher_spec(self, direction: Direction, ts: int, events: list[Event]) -> None:
        if direction is Direction.RESP and self._await_ticket:
            self._await_ticket = False
            self._announce(direction, ts, events)
            events.append(Resumed(direction=direction, ts=ts, method="ticket"))

    def _anomaly(
        self,
        side: _Side,
        direction: Direction,
        ts: int,
        events: list[Event],
        name: str,
        detail: str = "",
    ) -> None:
        if name not in side.reported:
            side.reported.add(name)
            events.append(Anomaly(direction=direction, ts=ts, name=name, detail=detail))

    # -- handshake fragments ------------------------------------------------------------

    def _handshake_record(
        self,
        side: _Side,
        direction: Direction,
        data: bytes,
        pos: int,
        end: int,
        ts: int,
        events: list[Event],
    ) -> None:
        while pos < end:
            if end - pos < HANDSHAKE_HEADER_SIZE:
                self._anomaly(side, direction, ts, events, "dtls_handshake_truncated")
                return
            msg_type, len_hi, len_lo, seq, off_hi, off_lo, frag_hi, frag_lo = (
                HANDSHAKE_HEADER.unpack_from(data, pos)
            )
            pos += HANDSHAKE_HEADER_SIZE
            fragment_length = (frag_hi << 16) | frag_lo
            if pos + fragment_length > end:
                self._anomaly(side, direction, ts, events, "dtls_handshake_truncated")
                return
            self._fragment(
                side,
                direction,
                msg_type,
                (len_hi << 16) | len_lo,
                seq,
                (off_hi << 16) | off_lo,
                data[pos : pos + fragment_length],
                ts,
                events,
            )
            pos += fragment_length

    def _fragment(
        self,
        side: _Side,
        direction: Direction,
        msg_type: int,
        length: int,
        seq: int,
        offset: int,
        piece: bytes,
        ts: int,
        events: list[Event],
    ) -> None:
        if offset + len(piece) > length:
            self._anomaly(
                side,
                direction,
                ts,
                events,
                "dtls_fragment_out_of_range",
                f"type {msg_type}, {offset}+{len(piece)} > {length}",
            )
            return
        if direction is Direction.RESP and msg_type in _FULL_HANDSHAKE_MESSAGES:
            self._await_ticket = False  # a full handshake, not a resumption
        if seq in side.done:
            side.retransmissions += 1
            return
        message = side.pending.get(seq)
        if message is None:
            message = self._open_message(side, direction, msg_type, length, seq, ts, events)
            if message is None:
                return
        elif message.msg_type != msg_type or message.length != length:
            self._anomaly(
                side, direction, ts, events, "dtls_fragment_mismatch", f"message_seq {seq}"
            )
            return
        message.fragments += 1
        if message.fragments > MAX_FRAGMENTS:
            self._anomaly(
                side, direction, ts, events, "dtls_too_many_fragments", f"message_seq {seq}"
            )
            self._close_message(side, seq)
            return
        if not message.add(offset, piece) and message.length:
            side.retransmissions += 1
        if message.complete():
            self._close_message(side, seq)
            if message.kept:
                self._message(side, direction, msg_type, bytes(message.body), ts, events)

    def _open_message(
        self,
        side: _Side,
        direction: Direction,
        msg_type: int,
        length: int,
        seq: int,
        ts: int,
        events: list[Event],
    ) -> _Message | None:
        """A new message to reassemble, or None (and an anomaly) past a limit."""
        if len(side.done) >= MAX_TRACKED_MESSAGES:
            self._anomaly(side, direction, ts, events, "dtls_too_many_messages")
            return None
        kept = msg_type in _KEPT_MESSAGES
        if kept and length > MAX_HANDSHAKE_MESSAGE:
            self._anomaly(
                side,
                direction,
                ts,
                events,
                "dtls_handshake_too_large",
                f"type {msg_type}, {length} bytes",
            )
            side.done.add(seq)
            return None
        if len(side.pending) >= MAX_PENDING_MESSAGES or (
            kept and side.pending_bytes + length > MAX_REASSEMBLY_BYTES
        ):
            self._anomaly(side, direction, ts, events, "dtls_reassembly_limit")
            return None
        message = side.pending[seq] = _Message(msg_type, length, kept)
        side.pending_bytes += len(message.body)
        return message

    @staticmethod
    def _close_message(side: _Side, seq: int) -> None:
        message = side.pending.pop(seq)
        side.pending_bytes -= len(message.body)
        side.done.add(seq)

    def _message(
        self,
        side: _Side,
        direction: Direction,
        msg_type: int,
        body: bytes,
        ts: int,
        events: list[Event],
    ) -> None:
        if msg_type == HS_CLIENT_HELLO:
            self._client_hello(side, direction, body, ts, events)
        elif msg_type == HS_SERVER_HELLO:
            self._server_hello(side, direction, body, ts, events)
        elif msg_type == HS_HELLO_VERIFY_REQUEST:
            # server_version, then cookie<0..2^8-1> (RFC 6347 s4.2.1)
            if len(body) < 3 or len(body) < 3 + body[2]:
                self._anomaly(side, direction, ts, events, "dtls_hello_verify_request_truncated")
                return
            side.verify_requests += 1
            self._confirm(direction, ts, events)
        elif msg_type == HS_CERTIFICATE:
            self._certificate(side, direction, body, ts, events)

    def _confirm(self, direction: Direction, ts: int, events: list[Event]) -> None:
        if not self._confirmed:
            self._confirmed = True
            events.append(Confirmed(direction=direction, ts=ts))
        self._announce(direction, ts, events)

    def _announce(self, direction: Direction, ts: int, events: list[Event]) -> None:
        """Name the flow's usage object ``dtls`` before the first TLS event reaches it."""
        if not self._announced:
            self._announced = True
            events.append(UsageInfo(direction=direction, ts=ts, protocol="dtls", metadata={}))

    def _client_hello(
        self, side: _Side, direction: Direction, body: bytes, ts: int, events: list[Event]
    ) -> None:
        parsed = hs.parse_client_hello(body, dtls=True)
        if isinstance(parsed, str):
            self._anomaly(side, direction, ts, events, _dtls_name(parsed))
            return
        side.hellos += 1
        self._confirm(direction, ts, events)
        for issue in parsed.issues:
            self._anomaly(side, direction, ts, events, _dtls_name(issue))
        self._client = parsed
        events.append(client_hello_event(parsed, direction, ts, "dtls"))

    def _server_hello(
        self, side: _Side, direction: Direction, body: bytes, ts: int, events: list[Event]
    ) -> None:
        parsed = hs.parse_server_hello(body)
        if isinstance(parsed, str):
            self._anomaly(side, direction, ts, events, _dtls_name(parsed))
            return
        side.hellos += 1
        self._confirm(direction, ts, events)
        event = server_hello_event(parsed, direction, ts)
        self._version = event.version
        events.append(event)
        if parsed.retry_request:
            return
        method = resumption(self._client, parsed, event.version in _PRE_13)
        if method == "await_ticket":
            self._await_ticket = True
        elif method is not None:
            events.append(Resumed(direction=direction, ts=ts, method=method))

    def _certificate(
        self, side: _Side, direction: Direction, body: bytes, ts: int, events: list[Event]
    ) -> None:
        # DTLS 1.3 sends its Certificate encrypted (epoch 2): a clear one is the 1.2 form.
        chain, issue = hs.parse_certificate_list(body, tls13=False)
        self._announce(direction, ts, events)
        if issue is not None:
            self._anomaly(side, direction, ts, events, _dtls_name(issue))
        for der in chain:
            index = self._certificates[direction]
            self._certificates[direction] += 1
            info = describe_certificate(der)
            if isinstance(info, str):
                self._anomaly(side, direction, ts, events, "dtls_certificate_invalid", info)
            events.append(
                CertificateSeen(
                    direction=direction,
                    ts=ts,
                    index=index,
                    der=der,
                    info=None if isinstance(info, str) else info,
                )
            )
