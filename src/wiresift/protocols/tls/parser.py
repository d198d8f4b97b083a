"""TLS and SSL passive parser (RFC 8446, RFC 5246, RFC 4346, RFC 2246, RFC 6101).

Theory of operation: each direction is a stream of records (RFC 8446 s5.1: type, version,
16-bit length). Handshake records are concatenated into a handshake stream whose messages
(type, 24-bit length) may span records and segments; only the messages that tell something
(ClientHello, ServerHello, Certificate) are kept, up to ``MAX_HANDSHAKE_MESSAGE`` bytes,
and the others are stepped over. Once a direction sent ChangeCipherSpec, and for every
application_data record, payloads are skipped without being copied and only counted.
The first bytes of the client may be an SSLv2-format CLIENT-HELLO (RFC 6101 E.2), which
old clients sent to reach servers of every version.

When a record header is not a TLS record the direction has lost its framing: an anomaly
says so and the rest of that direction is counted as skipped bytes.
"""

from __future__ import annotations

import enum
from typing import Final

from wiresift.config import Limits
from wiresift.protocols.base import (
    UNBOUNDED_RUN,
    Anomaly,
    Confirmed,
    Direction,
    Event,
    FlowInfo,
    Parser,
    Violation,
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

# Largest record payload: 2**14 plaintext plus 2048 of expansion (RFC 5246 s6.2.3).
MAX_RECORD_PAYLOAD: Final = 16384 + 2048
# Largest handshake message stored for parsing. Certificate chains of real servers stay
# under 64 KiB; 256 KiB leaves room for long chains and is far below the 16 MiB a 24-bit
# length can claim.
MAX_HANDSHAKE_MESSAGE: Final = 256 * 1024
# Largest SSLv2 record (a 2-byte header carries 15 bits of length, RFC 6101 E.2).
MAX_SSLV2_RECORD: Final = 0x7FFF

CONTENT_CHANGE_CIPHER_SPEC: Final = 20
CONTENT_ALERT: Final = 21
CONTENT_HANDSHAKE: Final = 22
CONTENT_APPLICATION_DATA: Final = 23
CONTENT_HEARTBEAT: Final = 24

HS_CLIENT_HELLO: Final = 1
HS_SERVER_HELLO: Final = 2
HS_CERTIFICATE: Final = 11
HS_SERVER_KEY_EXCHANGE: Final = 12
HS_SERVER_HELLO_DONE: Final = 14
_KEPT_MESSAGES: Final = frozenset({HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE})

TLS13: Final = 0x0304
_RECORD_HEADER: Final = 5
_HANDSHAKE_HEADER: Final = 4


class _Mode(enum.IntEnum):
    HEADER = enum.auto()  # reading a record header
    HANDSHAKE = enum.auto()  # clear handshake payload, into the handshake stream
    ALERT = enum.auto()  # clear alert payload
    CCS = enum.auto()  # change_cipher_spec payload
    SKIP = enum.auto()  # encrypted or uninteresting payload: counted, not kept
    SSLV2 = enum.auto()  # an SSLv2-format record, kept whole
    LOST = enum.auto()  # framing lost: everything is skipped


class _Side:
    """State of one direction."""

    __slots__ = (
        "alert",
        "enc_bytes",
        "enc_records",
        "encrypted",
        "header",
        "hs_body",
        "hs_dropping",
        "hs_head",
        "hs_left",
        "hs_type",
        "mode",
        "record_left",
        "skipped",
        "started",
        "v2",
    )

    def __init__(self) -> None:
        self.mode = _Mode.HEADER
        self.header = bytearray()
        self.record_left = 0
        self.started = False
        self.encrypted = False  # ChangeCipherSpec sent: later handshake records are opaque
        self.enc_records = 0
        self.enc_bytes = 0
        self.skipped = 0  # bytes skipped after framing was lost
        self.alert = bytearray()
        self.hs_head = bytearray()
        self.hs_type = -1  # type of the message being read, -1 while reading its header
        self.hs_left = 0
        self.hs_body = bytearray()
        self.hs_dropping = False  # this message passed the cap: its bytes are not kept
        self.v2 = bytearray()


class TlsParser(Parser):
    """Reads the clear part of a TLS connection and counts the rest."""

    name = "tls"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(), _Side())
        self._confirmed = False
        self._client: hs.ClientHelloFields | None = None
        self._version = 0  # negotiated version, 0 until the ServerHello
        self._await_ticket = False  # ticket offered, no session id echo: watch the server
        self._certificates = [0, 0]  # certificates reported per direction

    # -- Parser interface -------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        pos = 0
        size = len(data)
        while pos < size:
            mode = side.mode
            if mode is _Mode.SKIP:
                take = min(side.record_left, size - pos)
                side.record_left -= take
                side.enc_bytes += take
                pos += take
                if not side.record_left:
                    side.mode = _Mode.HEADER
            elif mode is _Mode.HEADER:
                pos = self._header(side, direction, data, pos, ts, events)
            elif mode is _Mode.LOST:
                side.skipped += size - pos
                break
            else:
                take = min(side.record_left, size - pos)
                piece = data[pos : pos + take]
                pos += take
                side.record_left -= take
                if mode is _Mode.HANDSHAKE:
                    self._handshake_bytes(side, direction, piece, ts, events)
                elif mode is _Mode.ALERT:
                    self._alert_bytes(side, direction, piece, ts, events)
                elif mode is _Mode.SSLV2:
                    side.v2 += piece
                if not side.record_left:
                    self._record_done(side, direction, ts, events)
        return events

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole inside an encrypted record only shortens it; elsewhere framing is lost."""
        side = self._sides[direction]
        if side.mode is _Mode.SKIP and size <= side.record_left:
            side.record_left -= size
            side.enc_bytes += size
            if not side.record_left:
                side.mode = _Mode.HEADER
            return []
        if side.mode is _Mode.LOST:
            return []
        self._lose(side)
        return [Anomaly(direction=direction, ts=ts, name="tls_content_gap", detail=f"{size} bytes")]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        if side.enc_records or side.enc_bytes:
            events.append(
                EncryptedData(
                    direction=direction, ts=ts, records=side.enc_records, size=side.enc_bytes
                )
            )
        if side.mode not in (_Mode.HEADER, _Mode.LOST, _Mode.SKIP) or side.header:
            events.append(Anomaly(direction=direction, ts=ts, name="tls_truncated_record"))
        self._lose(side)
        side.enc_records = side.enc_bytes = 0
        return events

    def body_run(self, direction: Direction) -> int:
        """Bytes ``feed`` would only count: short of the end of an encrypted record
        (RFC 8446 s5.2), or all of a direction whose framing was lost."""
        side = self._sides[direction]
        mode = side.mode
        if mode is _Mode.SKIP:
            return side.record_left - 1
        if mode is _Mode.LOST:
            return UNBOUNDED_RUN
        return 0

    def buffered_bytes(self) -> int:
        return sum(
            len(s.header) + len(s.hs_head) + len(s.hs_body) + len(s.v2) + len(s.alert)
            for s in self._sides
        )

    # -- records ------------------------------------------------------------------------

    def _header(
        self,
        side: _Side,
        direction: Direction,
        data: bytes,
        pos: int,
        ts: int,
        events: list[Event],
    ) -> int:
        """Read (part of) a record header at ``pos``; return the new position."""
        if not side.header and len(data) - pos >= _RECORD_HEADER:
            header = data[pos : pos + _RECORD_HEADER]
            pos += _RECORD_HEADER
        else:
            need = _RECORD_HEADER - len(side.header)
            side.header += data[pos : pos + need]
            pos += min(need, len(data) - pos)
            if side.started or side.header[0] < 0x80:
                if len(side.header) < _RECORD_HEADER:
                    return pos
            elif len(side.header) < 2:
                return pos
            header = bytes(side.header)
            side.header.clear()
        first = not side.started
        side.started = True
        content_type = header[0]
        if first and content_type & 0x80:
            length = ((content_type & 0x7F) << 8) | header[1]
            # The 5 bytes read belong to the SSLv2 record itself (2 of header, then body).
            side.v2 += header[2:]
            consumed = len(header) - 2
            if length < consumed or length > MAX_SSLV2_RECORD:
                self._violation(side, direction, ts, events, "tls_sslv2_invalid")
                return pos
            side.mode = _Mode.SSLV2
            side.record_left = length - consumed
            if not side.record_left:
                self._record_done(side, direction, ts, events)
            return pos
        length = (header[3] << 8) | header[4]
        if header[1] != 3 or header[2] > 4 or not CONTENT_CHANGE_CIPHER_SPEC <= content_type <= 24:
            self._violation(side, direction, ts, events, "tls_record_invalid")
            return pos
        if length > MAX_RECORD_PAYLOAD:
            events.append(
                Anomaly(direction=direction, ts=ts, name="tls_record_too_long", detail=str(length))
            )
        if content_type == CONTENT_APPLICATION_DATA or (
            side.encrypted and content_type != CONTENT_CHANGE_CIPHER_SPEC
        ):
            side.enc_records += 1
            mode = _Mode.SKIP
        elif content_type == CONTENT_HANDSHAKE:
            mode = _Mode.HANDSHAKE
        elif content_type == CONTENT_ALERT:
            mode = _Mode.ALERT
        elif content_type == CONTENT_CHANGE_CIPHER_SPEC:
            mode = _Mode.CCS
        else:
            mode = _Mode.SKIP  # heartbeat (RFC 6520): nothing to report
        side.record_left = length
        side.mode = mode
        if not length:
            self._record_done(side, direction, ts, events)
        return pos

    def _record_done(self, side: _Side, direction: Direction, ts: int, events: list[Event]) -> None:
        mode = side.mode
        side.mode = _Mode.HEADER
        if mode is _Mode.CCS:
            # TLS 1.3 keeps ChangeCipherSpec for middleboxes only (RFC 8446 D.4): its
            # encrypted records are application_data, and a second ClientHello after a
            # HelloRetryRequest still comes in clear after one.
            if not self._version or self._version < TLS13:
                side.encrypted = True
            if direction is Direction.RESP and self._await_ticket:
                self._await_ticket = False
                events.append(Resumed(direction=direction, ts=ts, method="ticket"))
        elif mode is _Mode.SSLV2:
            message = bytes(side.v2)
            side.v2.clear()
            if direction is Direction.ORIG:
                parsed = hs.parse_sslv2_client_hello(message)
                self._client_hello(parsed, direction, ts, events)
            else:
                # An SSLv2 server: nothing else of its stream is readable here.
                self._confirm(direction, ts, events)
                side.mode = _Mode.LOST

    def _violation(
        self, side: _Side, direction: Direction, ts: int, events: list[Event], name: str
    ) -> None:
        if not self._confirmed:
            events.append(Violation(direction=direction, ts=ts, reason=name))
        events.append(Anomaly(direction=direction, ts=ts, name=name))
        self._lose(side)

    @staticmethod
    def _lose(side: _Side) -> None:
        side.mode = _Mode.LOST
        side.header.clear()
        side.hs_head.clear()
        side.hs_body = bytearray()
        side.v2 = bytearray()
        side.alert.clear()

    def _alert_bytes(
        self, side: _Side, direction: Direction, piece: bytes, ts: int, events: list[Event]
    ) -> None:
        side.alert += piece
        while len(side.alert) >= 2:
            events.append(
                AlertSeen(
                    direction=direction, ts=ts, level=side.alert[0], description=side.alert[1]
                )
            )
            del side.alert[:2]

    # -- handshake stream ---------------------------------------------------------------

    def _handshake_bytes(
        self, side: _Side, direction: Direction, piece: bytes, ts: int, events: list[Event]
    ) -> None:
        pos = 0
        size = len(piece)
        while pos < size:
            if side.hs_type < 0:
                need = _HANDSHAKE_HEADER - len(side.hs_head)
                side.hs_head += piece[pos : pos + need]
                pos += need
                if len(side.hs_head) < _HANDSHAKE_HEADER:
                    return
                head = side.hs_head
                side.hs_type = head[0]
                side.hs_left = (head[1] << 16) | (head[2] << 8) | head[3]
                side.hs_head.clear()
                side.hs_dropping = side.hs_type not in _KEPT_MESSAGES
                if side.hs_left > MAX_HANDSHAKE_MESSAGE and not side.hs_dropping:
                    side.hs_dropping = True
                    events.append(
                        Anomaly(
                            direction=direction,
                            ts=ts,
                            name="tls_handshake_too_large",
                            detail=f"type {side.hs_type}, {side.hs_left} bytes",
                        )
                    )
                if not side.hs_left:
                    self._message(side, direction, ts, events)
                continue
            take = min(side.hs_left, size - pos)
            if not side.hs_dropping:
                side.hs_body += piece[pos : pos + take]
            pos += take
            side.hs_left -= take
            if not side.hs_left:
                self._message(side, direction, ts, events)

    def _message(self, side: _Side, direction: Direction, ts: int, events: list[Event]) -> None:
        msg_type = side.hs_type
        dropped = side.hs_dropping
        body = bytes(side.hs_body)
        side.hs_type = -1
        side.hs_body = bytearray()
        side.hs_dropping = False
        if direction is Direction.RESP and msg_type in (
            HS_CERTIFICATE,
            HS_SERVER_KEY_EXCHANGE,
            HS_SERVER_HELLO_DONE,
        ):
            self._await_ticket = False  # a full handshake
        if dropped:
            return
        if msg_type == HS_CLIENT_HELLO:
            self._client_hello(hs.parse_client_hello(body), direction, ts, events)
        elif msg_type == HS_SERVER_HELLO:
            self._server_hello(hs.parse_server_hello(body), direction, ts, events)
        elif msg_type == HS_CERTIFICATE:
            self._certificate(body, direction, ts, events)

    def _confirm(self, direction: Direction, ts: int, events: list[Event]) -> None:
        if not self._confirmed:
            self._confirmed = True
            events.append(Confirmed(direction=direction, ts=ts))

    def _client_hello(
        self,
        parsed: hs.ClientHelloFields | str,
        direction: Direction,
        ts: int,
        events: list[Event],
    ) -> None:
        if isinstance(parsed, str):
            events.append(Anomaly(direction=direction, ts=ts, name=parsed))
            return
        self._confirm(direction, ts, events)
        events.extend(Anomaly(direction=direction, ts=ts, name=name) for name in parsed.issues)
        self._client = parsed
        events.append(client_hello_event(parsed, direction, ts))

    def _server_hello(
        self,
        parsed: hs.ServerHelloFields | str,
        direction: Direction,
        ts: int,
        events: list[Event],
    ) -> None:
        if isinstance(parsed, str):
            events.append(Anomaly(direction=direction, ts=ts, name=parsed))
            return
        self._confirm(direction, ts, events)
        event = server_hello_event(parsed, direction, ts)
        self._version = event.version
        events.append(event)
        if parsed.retry_request:
            return
        method = resumption(self._client, parsed, event.version < TLS13)
        if method == "await_ticket":
            self._await_ticket = True
        elif method is not None:
            events.append(Resumed(direction=direction, ts=ts, method=method))

    def _certificate(self, body: bytes, direction: Direction, ts: int, events: list[Event]) -> None:
        tls13 = self._version >= TLS13 and self._version != 0
        chain, issue = hs.parse_certificate_list(body, tls13)
        if issue is not None:
            events.append(Anomaly(direction=direction, ts=ts, name=issue))
        for der in chain:
            index = self._certificates[direction]
            self._certificates[direction] += 1
            info = describe_certificate(der)
            if isinstance(info, str):
                events.append(
                    Anomaly(direction=direction, ts=ts, name="tls_certificate_invalid", detail=info)
                )
            events.append(
                CertificateSeen(
                    direction=direction,
                    ts=ts,
                    index=index,
                    der=der,
                    info=None if isinstance(info, str) else info,
                )
            )
