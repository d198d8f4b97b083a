"""MSN P2P direct connection (MSNDC, the TCPv1 bridge of MSNSLP).

Theory of operation (libpurple ``msn/directconn.c``): every packet is a 32-bit
little-endian length and that many bytes. The connecting side first sends ``foo\\0``, then
both exchange a 48-byte P2P header with the handshake flag (0x100) carrying the nonce;
after that each packet is a P2Pv1 chunk (48-byte header and payload, no footer), handed
to the same assembler as switchboard chunks. The file names come from the MSNSLP INVITE
seen on the switchboard, passed as ``FlowInfo.context`` (session id -> ``FileSession``).
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.msn.p2p import FileSession, P2pAssembler

# Packet length prefix: 32-bit little-endian (libpurple msn/directconn.c).
LENGTH: Final = struct.Struct("<I")
# The first packet of the connecting side (libpurple msn/directconn.c "foo").
FOO: Final = b"foo\x00"
# Largest packet read: libpurple sends chunks of at most 1352 bytes of payload over a direct
# connection; later clients use larger ones. A bigger claim means the stream is lost.
MAX_DC_PACKET: Final = 1024 * 1024


class MsnDirectParser(Parser):
    """A direct P2P connection: file chunks reassembled like the switchboard's."""

    name = "msnp2p"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._buf = (ByteBuffer(), ByteBuffer())
        self._lost = [False, False]
        self._confirmed = False
        self._p2p = P2pAssembler("msnp2p", limits.max_stored_body)
        context = flow.context
        if isinstance(context, dict):
            for key, value in context.items():
                if isinstance(key, int) and isinstance(value, FileSession):
                    self._p2p.sessions[key] = FileSession(
                        key, value.name, value.size, value.sender, value.recipient
                    )

    def buffered_bytes(self) -> int:
        return len(self._buf[0]) + len(self._buf[1])

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        if self._lost[direction]:
            return []
        out: list[Event] = []
        buf = self._buf[direction]
        buf.push(data)
        while len(buf) >= LENGTH.size:
            (length,) = LENGTH.unpack(buf.peek(LENGTH.size))
            if length > MAX_DC_PACKET:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="msnp2p_packet_too_long",
                        detail=str(length),
                    )
                )
                self._lost[direction] = True
                buf.clear()
                break
            if len(buf) < LENGTH.size + length:
                break
            buf.skip(LENGTH.size)
            packet = buf.take_exact(length) or b""
            if packet == FOO:
                if not self._confirmed:
                    self._confirmed = True
                    out.append(Confirmed(direction=direction, ts=ts))
                continue
            self._p2p.chunk(direction, packet, ts, False, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        # No magic to resynchronise on: the rest of this direction is lost.
        self._lost[direction] = True
        self._buf[direction].clear()
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="msnp2p_content_gap", detail=f"{size} bytes")
        ]
        return out + self._p2p.close(direction, ts)

    def end(self, direction: Direction, ts: int) -> list[Event]:
        return self._p2p.close(direction, ts)
