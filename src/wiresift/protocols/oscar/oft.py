"""OSCAR peer connections: OFT2 file transfer and Direct IM (ODC2) frames.

Theory of operation (protocols.md s1.5, from libpurple ``oft.c``/``peer.h``/``odc.c``): the
side that sends a file writes an OFT2 "prompt" header (type 0x0101) naming the file, its size
and checksum; once the receiver acknowledges (0x0202) in the other direction, the sender's
stream carries exactly ``size`` raw bytes, and the receiver confirms with 0x0204 "done". A
resumed transfer has the sender answer a resume request with 0x0106 naming the offset
before the bytes follow. Connections through AOL's rendezvous proxy start with proxy frames
(length, version 0x044A) that are skipped. Direct IM frames are ``ODC2`` headers followed by
an HTML payload. ``FlowInfo.context`` (an ``OftOffer`` from the rendezvous on the control
connection) names sender and recipient.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.config import Limits
from wiresift.protocols._buffer import ByteBuffer
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import (
    ChatMessage,
    ChatNotice,
    FileBegin,
    FileData,
    FileEnd,
)
from wiresift.protocols.oscar.events import OftOffer
from wiresift.protocols.oscar.wire import (
    CHARSET_UNICODE,
    U16,
    U32,
    OftChecksum,
    decode_icbm_text,
    strip_html,
)

ORIG: Final = Direction.ORIG
RESP: Final = Direction.RESP

OFT_MAGICS: Final = (b"OFT2", b"OFT3")  # protocols.md s1.5
ODC_MAGIC: Final = b"ODC2"  # protocols.md s1.5, Direct IM
# OFT2 header fields (protocols.md s1.5 table).
OFT_FIXED: Final = struct.Struct(">4sHH8sHHHHHHIIII")  # magic .. checksum (offset 0-43)
OFT_BYTES_RECEIVED_AT: Final = 60
OFT_NAME_ENCODING_AT: Final = 188
OFT_NAME_AT: Final = 192
OFT_MIN_HEADER: Final = 192  # everything before the name (protocols.md s1.5)
# Longest OFT2 header kept: 256 is normal, long names grow it (libpurple reads up to 64 KiB
# but sends names under 1 KiB).
MAX_OFT_HEADER: Final = 8192
OFT_PROMPT: Final = 0x0101  # sender offers (protocols.md s1.5)
OFT_ACK: Final = 0x0202  # receiver accepts
OFT_DONE: Final = 0x0204  # receiver confirms
OFT_RESUME_ACCEPT: Final = 0x0106  # sender resumes at the offset in bytes-received
# Proxy framing: length(2), version 0x044A (protocols.md s1.5, libpurple peer_proxy.c).
PROXY_VERSION: Final = b"\x04\x4a"
# ODC2 header fields (protocols.md s1.5 [S][?]; libpurple peer.h OdcFrame offsets).
ODC_PAYLOAD_LENGTH_AT: Final = 28
ODC_ENCODING_AT: Final = 32
ODC_FLAGS_AT: Final = 38
ODC_SCREEN_NAME_AT: Final = 44
ODC_SCREEN_NAME_SIZE: Final = 32
ODC_MIN_HEADER: Final = ODC_SCREEN_NAME_AT + ODC_SCREEN_NAME_SIZE
# Direct IM text kept per message; images inline in the payload can be large (libpurple
# caps a Direct IM payload at 1 MiB by default).
MAX_ODC_PAYLOAD: Final = 1024 * 1024
MAGIC_LENGTH: Final = 4


class _Side:
    __slots__ = ("buffer", "checksum", "file", "header", "remaining", "skip", "synced")

    def __init__(self) -> None:
        self.buffer = ByteBuffer()
        self.remaining = 0  # file bytes still to come in this direction
        self.file = -1  # the open file's number, -1 when none
        self.header: tuple[str | None, int, int, bytes] | None = None  # prompted file
        self.checksum: OftChecksum | None = None
        self.skip = 0  # payload bytes to drop (an oversized Direct IM frame)
        self.synced = True


class OftParser(Parser):
    """One OFT2 file-transfer or Direct IM peer connection."""

    name = "oscar-oft"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(), _Side())
        self._files = 0
        self._confirmed = False
        context = flow.context
        self._offer = context if isinstance(context, OftOffer) else None
        self._expected_checksum: dict[int, int] = {}

    def buffered_bytes(self) -> int:
        return sum(len(side.buffer) for side in self._sides)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        if side.remaining or side.skip:
            data = self._stream(direction, side, data, ts, out)
        if data:
            side.buffer.push(data)
            self._drain(direction, side, ts, out, at_end=False)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = [
            Anomaly(direction=direction, ts=ts, name="oscar_oft_content_gap", detail=f"{size}")
        ]
        if side.remaining:
            if size < side.remaining:
                side.remaining -= size
                side.checksum = None  # the bytes are gone: no checksum check
                return out
            side.remaining = 0
            out.append(
                FileEnd(direction=direction, ts=ts, file=side.file, complete=False, reason="gap")
            )
            side.file = -1
        side.buffer.clear()
        side.skip = 0
        side.synced = False
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        if side.header is not None:
            self._begin(direction, side, 0, ts, out)
            if side.remaining and side.buffer:
                self._stream(direction, side, side.buffer.take_all(), ts, out)
        if side.file >= 0:
            out.append(
                FileEnd(direction=direction, ts=ts, file=side.file, complete=False, reason="closed")
            )
            side.file = -1
            side.remaining = 0
        if side.buffer:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_oft_truncated_header",
                    detail=f"{len(side.buffer)} bytes",
                )
            )
            side.buffer.clear()
        return out

    # -- file bytes -----------------------------------------------------------------

    def _stream(
        self, direction: Direction, side: _Side, data: bytes, ts: int, out: list[Event]
    ) -> bytes:
        """Pass file bytes (or drop skipped payload); return what follows them."""
        if side.skip:
            taken = min(side.skip, len(data))
            side.skip -= taken
            return data[taken:]
        taken = min(side.remaining, len(data))
        chunk = data[:taken]
        side.remaining -= taken
        if side.checksum is not None:
            side.checksum.update(chunk)
        out.append(FileData(direction=direction, ts=ts, file=side.file, data=chunk))
        if not side.remaining:
            expected = self._expected_checksum.pop(side.file, None)
            if (
                side.checksum is not None
                and expected is not None
                and not side.checksum.matches(expected)
            ):
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="oscar_oft_checksum_mismatch",
                        detail=f"{expected:#010x}",
                    )
                )
            out.append(FileEnd(direction=direction, ts=ts, file=side.file, complete=True))
            side.file = -1
            side.checksum = None
        return data[taken:]

    def _begin(
        self, direction: Direction, side: _Side, offset: int, ts: int, out: list[Event]
    ) -> None:
        assert side.header is not None
        name, size, checksum, cookie = side.header
        side.header = None
        number = self._files
        self._files += 1
        offer = self._offer
        out.append(
            FileBegin(
                direction=direction,
                ts=ts,
                file=number,
                name=name,
                size=size,
                offset=offset,
                sender=offer.sender if offer else None,
                recipient=offer.recipient if offer else None,
                transfer_id=cookie.hex(),
                upload=direction is ORIG,
            )
        )
        side.file = number
        side.remaining = max(0, size - offset)
        side.checksum = OftChecksum() if offset == 0 else None
        self._expected_checksum[number] = checksum
        if not side.remaining:
            self._expected_checksum.pop(number, None)
            out.append(FileEnd(direction=direction, ts=ts, file=number, complete=True))
            side.file = -1

    # -- headers --------------------------------------------------------------------

    def _drain(
        self, direction: Direction, side: _Side, ts: int, out: list[Event], at_end: bool
    ) -> None:
        buffer = side.buffer
        while buffer and not side.remaining and not side.skip:
            head = buffer.peek(6)
            if len(head) < MAGIC_LENGTH and not at_end:
                return
            magic = head[:MAGIC_LENGTH]
            if side.header is not None and magic not in OFT_MAGICS:
                # The prompted file's bytes start here.
                self._begin(direction, side, 0, ts, out)
                rest = self._stream(direction, side, buffer.take_all(), ts, out)
                buffer.push(rest)
                continue
            if not side.synced or (magic not in OFT_MAGICS and magic != ODC_MAGIC):
                if head[2:4] == PROXY_VERSION and side.synced:
                    (length,) = U16.unpack_from(head)
                    if buffer.take_exact(2 + length) is None:
                        return
                    out.append(ChatNotice(direction=direction, ts=ts, name="rendezvous_proxy"))
                    continue
                if not self._resync(direction, side, ts, out):
                    return
                continue
            if len(head) < 6:
                return
            (length,) = U16.unpack_from(head, 4)
            if magic == ODC_MAGIC:
                if not self._odc(direction, side, length, ts, out):
                    return
                continue
            if length < OFT_MIN_HEADER or length > MAX_OFT_HEADER:
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="oscar_oft_bad_header",
                        detail=f"length {length}",
                    )
                )
                side.synced = False
                buffer.skip(1)
                continue
            header = buffer.take_exact(length)
            if header is None:
                return
            self._oft_header(direction, side, header, ts, out)

    def _resync(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> bool:
        """Drop bytes up to the next OFT2/OFT3/ODC2 magic."""
        data = side.buffer.peek(len(side.buffer))
        found = [i for i in (data.find(m, 0) for m in (*OFT_MAGICS, ODC_MAGIC)) if i >= 0]
        if found:
            position = min(found)
            side.synced = True
        else:
            position = max(0, len(data) - (MAGIC_LENGTH - 1))
        if position:
            side.buffer.skip(position)
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_oft_resync",
                    detail=f"skipped {position}",
                )
            )
        return bool(found)

    def _oft_header(
        self, direction: Direction, side: _Side, header: bytes, ts: int, out: list[Event]
    ) -> None:
        fields = OFT_FIXED.unpack_from(header)
        kind, cookie = fields[2], fields[3]
        size, checksum = fields[11], fields[13]
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=direction, ts=ts))
        if kind == OFT_PROMPT:
            if side.header is not None:
                self._begin(direction, side, 0, ts, out)  # an empty file before this one
            name = _oft_name(header)
            if name is not None and ("/" in name or "\\" in name or name.startswith("..")):
                out.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="oscar_oft_file_name_path",
                        detail=name[:200],
                    )
                )
            side.header = (name, size, checksum, cookie)
        elif kind == OFT_RESUME_ACCEPT and side.header is not None:
            (received,) = U32.unpack_from(header, OFT_BYTES_RECEIVED_AT)
            self._begin(direction, side, min(received, side.header[1]), ts, out)
        else:
            label = {OFT_ACK: "oft_ack", OFT_DONE: "oft_done"}.get(kind, f"oft_{kind:#06x}")
            out.append(ChatNotice(direction=direction, ts=ts, name=label, detail=cookie.hex()))

    def _odc(
        self, direction: Direction, side: _Side, length: int, ts: int, out: list[Event]
    ) -> bool:
        """A Direct IM frame: header, then its payload (HTML text)."""
        buffer = side.buffer
        if length < ODC_MIN_HEADER or length > MAX_OFT_HEADER:
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_odc_bad_header",
                    detail=f"length {length}",
                )
            )
            side.synced = False
            buffer.skip(1)
            return True
        head = buffer.peek(length)
        if len(head) < length:
            return False
        (payload_length,) = U32.unpack_from(head, ODC_PAYLOAD_LENGTH_AT)
        kept = min(payload_length, MAX_ODC_PAYLOAD)
        if len(buffer) < length + kept:
            return False
        buffer.skip(length)
        payload = buffer.take_exact(kept) or b""
        if payload_length > kept:
            side.skip = payload_length - kept
            out.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="oscar_odc_payload_too_long",
                    detail=str(payload_length),
                )
            )
        if not self._confirmed:
            self._confirmed = True
            out.append(Confirmed(direction=direction, ts=ts))
        (encoding,) = U16.unpack_from(head, ODC_ENCODING_AT)
        sender = head[ODC_SCREEN_NAME_AT : ODC_SCREEN_NAME_AT + ODC_SCREEN_NAME_SIZE]
        who = sender.split(b"\x00", 1)[0].decode("utf-8", "replace")
        if not payload:
            (flags,) = U16.unpack_from(head, ODC_FLAGS_AT)
            out.append(
                ChatNotice(
                    direction=direction, ts=ts, name="typing", who=who, detail=f"flags={flags:#06x}"
                )
            )
            return True
        offer = self._offer
        recipient = None
        if offer is not None:
            recipient = offer.recipient if who == offer.sender else offer.sender
        text_part = payload.split(b"<BINARY>", 1)[0]
        text, charset = decode_icbm_text(text_part, encoding)
        plain, markup = strip_html(text)
        out.append(
            ChatMessage(
                direction=direction,
                ts=ts,
                sender=who,
                recipients=(recipient,) if recipient else (),
                text=plain,
                raw=payload,
                charset=charset,
                markup=markup,
                message_kind="direct",
            )
        )
        return True


def _oft_name(header: bytes) -> str | None:
    """File name after offset 192, NUL-padded, in the header's encoding (protocols.md s1.5)."""
    (encoding,) = U16.unpack_from(header, OFT_NAME_ENCODING_AT)
    raw = header[OFT_NAME_AT:]
    if encoding == CHARSET_UNICODE:
        raw = raw[: len(raw) & ~1]
        text = raw.decode("utf-16-be", "replace").split("\x00", 1)[0]
    else:
        text, _ = decode_icbm_text(raw.split(b"\x00", 1)[0], encoding)
    return text or None
