"""Passive SOCKS 4, 4a and 5 parser (RFC 1928, RFC 1929; SOCKS 4 and 4a protocol notes).

Theory of operation: the client speaks first. Its first byte gives the version. SOCKS 4
sends one request (VN CD DSTPORT DSTIP USERID NUL, plus DOMAIN NUL for 4a) and the server
answers with 8 bytes (VN=0, CD 90-93). SOCKS 5 runs a method negotiation (s3), an optional
RFC 1929 username/password exchange, then a request (s4) and a reply (s6); BIND is
answered by two replies. Client messages are told apart by their first byte (``01``
sub-negotiation, ``05`` request), so a client that sends them before the server answers
is followed too. After a successful CONNECT (or the second BIND reply) the stream carries
the tunnelled connection: the parser emits ``SwitchProtocol(to=None)`` with the target as
``tunnel`` and the bytes after the reply as leftovers, and detection runs again.
"""

from __future__ import annotations

import enum
import ipaddress
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
    Violation,
)
from wiresift.protocols.socks.events import (
    SocksAuth,
    SocksAuthResult,
    SocksGreeting,
    SocksMethod,
    SocksReply,
    SocksRequest,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP
METHOD_USERPASS: Final = 0x02  # RFC 1928 s3, RFC 1929
METHOD_NONE_ACCEPTABLE: Final = 0xFF
COMMANDS: Final = {1: "connect", 2: "bind", 3: "udp_associate"}
# RFC 1928 s6 reply field.
REPLY5: Final = {
    0: "succeeded",
    1: "general_failure",
    2: "not_allowed",
    3: "network_unreachable",
    4: "host_unreachable",
    5: "connection_refused",
    6: "ttl_expired",
    7: "command_not_supported",
    8: "address_type_not_supported",
}
# SOCKS 4 CD of a reply.
REPLY4: Final = {
    90: "succeeded",
    91: "rejected",
    92: "identd_unreachable",
    93: "identd_mismatch",
}
# Address types (RFC 1928 s5): fixed length, or 0 for a length-prefixed domain name.
ATYP_IPV4: Final = 1
ATYP_DOMAIN: Final = 3
ATYP_IPV6: Final = 4


class _State(enum.IntEnum):
    START = enum.auto()  # client: version byte decides
    V4_REQUEST = enum.auto()
    V5_MESSAGE = enum.auto()  # client: a greeting already seen; 01 auth or 05 request next
    V5_GREETING = enum.auto()
    WAIT = enum.auto()  # client after its request: bytes held for the tunnel
    V4_REPLY = enum.auto()
    V5_METHOD = enum.auto()
    V5_AFTER_METHOD = enum.auto()  # server: auth status or reply, by version byte
    V5_REPLY = enum.auto()
    DONE = enum.auto()


class _NeedMoreError(Exception):
    """More bytes are needed to read the next message (internal control flow only)."""


def _address(data: bytes, pos: int) -> tuple[str, str, int] | None:
    """(address type name, text, end offset) of an RFC 1928 s5 address at ``pos``; None
    for an unknown type. Raises _NeedMoreError while bytes are missing."""
    if len(data) <= pos:
        raise _NeedMoreError
    atyp = data[pos]
    if atyp == ATYP_IPV4:
        end = pos + 5
        if len(data) < end:
            raise _NeedMoreError
        return "ipv4", str(ipaddress.IPv4Address(data[pos + 1 : end])), end
    if atyp == ATYP_IPV6:
        end = pos + 17
        if len(data) < end:
            raise _NeedMoreError
        return "ipv6", str(ipaddress.IPv6Address(data[pos + 1 : end])), end
    if atyp == ATYP_DOMAIN:
        if len(data) < pos + 2:
            raise _NeedMoreError
        end = pos + 2 + data[pos + 1]
        if len(data) < end:
            raise _NeedMoreError
        return "domain", data[pos + 2 : end].decode("latin-1"), end
    return None


class SocksParser(Parser):
    """Both directions of one SOCKS connection, up to the start of the tunnel."""

    name = "socks"
    # Record RFC 1929 passwords (the engine sets this when secrets are kept).
    keep_secrets = False

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._bufs = (ByteBuffer(), ByteBuffer())
        self._states = [_State.START, _State.V4_REPLY]
        self._version = 0
        self._method = -1
        self._command = ""
        self._target: tuple[str, int] | None = None
        self._bind_replies = 0
        self._confirmed = False
        self._max_field = limits.max_line
        self._max_held = limits.detect_buffer_bytes

    # -- the Parser interface ------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""
        out: list[Event] = []
        state = self._states[direction]
        if state is _State.DONE or not data:
            return out
        buf = self._bufs[direction]
        buf.push(data)
        while self._states[direction] is not _State.DONE:
            if self._states[direction] is _State.WAIT:
                if len(buf) > self._max_held:
                    out.append(
                        Anomaly(
                            direction=direction,
                            ts=ts,
                            name="socks_early_data_too_long",
                            detail=f"{len(buf)} bytes before the reply",
                        )
                    )
                    self._stop(ts, out)
                break
            head = buf.peek(len(buf))
            try:
                used = self._step(direction, head, ts, out)
            except _NeedMoreError:
                if len(buf) > self._max_field + 512:
                    out.append(
                        Anomaly(
                            direction=direction,
                            ts=ts,
                            name="socks_message_too_long",
                            detail=f"{len(buf)} bytes",
                        )
                    )
                    self._stop(ts, out)
                break
            if used < 0:  # the message switched the stream; the buffers are handed over
                break
            buf.skip(used)
            if not buf:
                break
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole in the negotiation: the message boundaries are lost; parsing stops."""
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="socks_content_gap", detail=f"{size} bytes")
        ]
        if self._states[direction] is not _State.DONE:
            self._stop(ts, out)
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """A side closed; nothing to flush (SOCKS messages are emitted whole)."""
        return []

    def buffered_bytes(self) -> int:
        """Bytes held in both directions."""
        return len(self._bufs[0]) + len(self._bufs[1])

    # -- messages ---------------------------------------------------------------------------

    def _step(self, direction: Direction, data: bytes, ts: int, out: list[Event]) -> int:
        """Read one message at the front of ``data``; return the bytes it used."""
        state = self._states[direction]
        if state is _State.START:
            if data[0] == 4:
                self._version = 4
                self._states[ORIG] = _State.V4_REQUEST
                self._states[RESP] = _State.V4_REPLY
            elif data[0] == 5:
                self._version = 5
                self._states[ORIG] = _State.V5_GREETING
                self._states[RESP] = _State.V5_METHOD
            else:
                self._violate(direction, ts, out, f"version byte {data[0]:#04x}")
                return len(data)
            return 0
        if state is _State.V4_REQUEST:
            return self._v4_request(data, ts, out)
        if state is _State.V5_GREETING:
            return self._v5_greeting(data, ts, out)
        if state is _State.V5_MESSAGE:
            if data[0] == 1:
                return self._v5_auth(data, ts, out)
            if data[0] == 5:
                return self._v5_request(data, ts, out)
            return self._bad(ORIG, ts, out, "socks_bad_message", f"first byte {data[0]:#04x}")
        if state is _State.V4_REPLY:
            return self._v4_reply(data, ts, out)
        if state is _State.V5_METHOD:
            return self._v5_method(data, ts, out)
        if state is _State.V5_AFTER_METHOD:
            if data[0] == 1 and self._method == METHOD_USERPASS:
                if len(data) < 2:
                    raise _NeedMoreError
                out.append(SocksAuthResult(direction=RESP, ts=ts, status=data[1]))
                if data[1] != 0:
                    self._stop(ts, out)
                return 2
            return self._v5_reply(data, ts, out)
        if state is _State.V5_REPLY:
            return self._v5_reply(data, ts, out)
        return len(data)

    def _v4_request(self, data: bytes, ts: int, out: list[Event]) -> int:
        if len(data) < 9:
            raise _NeedMoreError
        end = data.find(b"\x00", 8)
        if end < 0:
            if len(data) > self._max_field:
                return self._bad(ORIG, ts, out, "socks_user_id_too_long", f"{len(data)} bytes")
            raise _NeedMoreError
        command = COMMANDS.get(data[1], "unknown") if data[1] in (1, 2) else "unknown"
        port = int.from_bytes(data[2:4], "big")
        host = str(ipaddress.IPv4Address(data[4:8]))
        address_type = "ipv4"
        user_id = data[8:end]
        used = end + 1
        if data[4:7] == b"\x00\x00\x00" and data[7] != 0:  # SOCKS 4a: the name follows
            name_end = data.find(b"\x00", used)
            if name_end < 0:
                if len(data) - used > self._max_field:
                    return self._bad(ORIG, ts, out, "socks_domain_too_long", "")
                raise _NeedMoreError
            host = data[used:name_end].decode("latin-1")
            address_type = "domain"
            used = name_end + 1
        if command == "unknown":
            out.append(
                Anomaly(direction=ORIG, ts=ts, name="socks_bad_command", detail=f"{data[1]}")
            )
        self._request(ORIG, ts, out, 4, command, address_type, host, port, user_id)
        return used

    def _v5_greeting(self, data: bytes, ts: int, out: list[Event]) -> int:
        if len(data) < 2 or len(data) < 2 + data[1]:
            raise _NeedMoreError
        count = data[1]
        out.append(SocksGreeting(direction=ORIG, ts=ts, methods=tuple(data[2 : 2 + count])))
        self._states[ORIG] = _State.V5_MESSAGE
        return 2 + count

    def _v5_auth(self, data: bytes, ts: int, out: list[Event]) -> int:
        """RFC 1929 s2: VER=1 ULEN UNAME PLEN PASSWD."""
        if len(data) < 2 or len(data) < 3 + data[1]:
            raise _NeedMoreError
        ulen = data[1]
        plen = data[2 + ulen]
        end = 3 + ulen + plen
        if len(data) < end:
            raise _NeedMoreError
        password = data[3 + ulen : end] if self.keep_secrets else None
        out.append(SocksAuth(direction=ORIG, ts=ts, username=data[2 : 2 + ulen], password=password))
        return end

    def _v5_request(self, data: bytes, ts: int, out: list[Event]) -> int:
        """RFC 1928 s4: VER CMD RSV ATYP DST.ADDR DST.PORT."""
        if len(data) < 4:
            raise _NeedMoreError
        found = _address(data, 3)
        if found is None:
            return self._bad(ORIG, ts, out, "socks_bad_address_type", f"{data[3]}")
        address_type, host, end = found
        if len(data) < end + 2:
            raise _NeedMoreError
        port = int.from_bytes(data[end : end + 2], "big")
        command = COMMANDS.get(data[1], "unknown")
        if command == "unknown":
            out.append(
                Anomaly(direction=ORIG, ts=ts, name="socks_bad_command", detail=f"{data[1]}")
            )
        self._request(ORIG, ts, out, 5, command, address_type, host, port, b"")
        return end + 2

    def _request(
        self,
        direction: Direction,
        ts: int,
        out: list[Event],
        version: int,
        command: str,
        address_type: str,
        host: str,
        port: int,
        user_id: bytes,
    ) -> None:
        out.append(
            SocksRequest(
                direction=direction,
                ts=ts,
                version=version,
                command=command,
                address_type=address_type,
                host=host,
                port=port,
                user_id=user_id,
            )
        )
        self._command = command
        self._target = (host, port)
        self._states[ORIG] = _State.WAIT

    def _v4_reply(self, data: bytes, ts: int, out: list[Event]) -> int:
        if len(data) < 8:
            raise _NeedMoreError
        code = data[1]
        if data[0] not in (0, 4) or code not in REPLY4:
            return self._bad(RESP, ts, out, "socks_bad_reply", data[:8].hex())
        self._confirm(ts, out)
        host = str(ipaddress.IPv4Address(data[4:8]))
        return self._reply(
            ts, out, 4, code, REPLY4[code], code == 90, host, int.from_bytes(data[2:4], "big"), 8
        )

    def _v5_method(self, data: bytes, ts: int, out: list[Event]) -> int:
        if len(data) < 2:
            raise _NeedMoreError
        if data[0] != 5:
            return self._bad(RESP, ts, out, "socks_bad_reply", data[:2].hex())
        self._confirm(ts, out)
        self._method = data[1]
        out.append(SocksMethod(direction=RESP, ts=ts, method=data[1]))
        if data[1] == METHOD_NONE_ACCEPTABLE:
            self._stop(ts, out)
        elif data[1] not in (0, METHOD_USERPASS):
            # GSS-API and private methods may encapsulate what follows (RFC 1928 s3).
            self._stop(ts, out)
        else:
            self._states[RESP] = _State.V5_AFTER_METHOD
        return 2

    def _v5_reply(self, data: bytes, ts: int, out: list[Event]) -> int:
        """RFC 1928 s6: VER REP RSV ATYP BND.ADDR BND.PORT."""
        if len(data) < 4:
            raise _NeedMoreError
        if data[0] != 5:
            return self._bad(RESP, ts, out, "socks_bad_reply", data[:4].hex())
        found = _address(data, 3)
        if found is None:
            return self._bad(RESP, ts, out, "socks_bad_address_type", f"{data[3]}")
        _, host, end = found
        if len(data) < end + 2:
            raise _NeedMoreError
        code = data[1]
        status = REPLY5.get(code, "unassigned")
        port = int.from_bytes(data[end : end + 2], "big")
        return self._reply(ts, out, 5, code, status, code == 0, host, port, end + 2)

    def _reply(
        self,
        ts: int,
        out: list[Event],
        version: int,
        code: int,
        status: str,
        succeeded: bool,
        host: str,
        port: int,
        used: int,
    ) -> int:
        out.append(
            SocksReply(
                direction=RESP,
                ts=ts,
                version=version,
                code=code,
                status=status,
                succeeded=succeeded,
                bound_host=host,
                bound_port=port,
            )
        )
        if not succeeded:
            self._stop(ts, out)
            return used
        if self._command == "bind" and self._bind_replies == 0:
            self._bind_replies = 1  # the second reply comes when the peer connects
            self._states[RESP] = _State.V5_REPLY if version == 5 else _State.V4_REPLY
            return used
        if self._command not in ("connect", "bind") or self._target is None:
            # UDP ASSOCIATE: the TCP connection only keeps the association alive.
            self._stop(ts, out)
            return used
        self._bufs[RESP].skip(used)
        host_name, target_port = self._target
        out.append(
            SwitchProtocol(
                direction=RESP,
                ts=ts,
                to=None,
                leftover=self._bufs[RESP].take_all(),
                leftover_other=self._bufs[ORIG].take_all(),
                tunnel=("socks", host_name, target_port),
            )
        )
        self._states[ORIG] = self._states[RESP] = _State.DONE
        return -1

    # -- outcomes ----------------------------------------------------------------------------

    def _confirm(self, ts: int, out: list[Event]) -> None:
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=RESP, ts=ts))

    def _bad(self, direction: Direction, ts: int, out: list[Event], name: str, detail: str) -> int:
        out.append(Anomaly(direction=direction, ts=ts, name=name, detail=detail))
        if not self._confirmed:
            out.append(Violation(direction=direction, ts=ts, reason=name))
        self._stop(ts, out)
        return 0

    def _violate(self, direction: Direction, ts: int, out: list[Event], reason: str) -> None:
        out.append(Violation(direction=direction, ts=ts, reason=reason))
        self._stop(ts, out)

    def _stop(self, ts: int, out: list[Event]) -> None:
        """Nothing more is parsed on this connection."""
        self._states[ORIG] = self._states[RESP] = _State.DONE
        self._bufs[ORIG].clear()
        self._bufs[RESP].clear()
