"""BitTorrent peer wire protocol passive parser (BEP 3; BEP 10 extensions; BEP 9 metadata).

Theory of operation: each direction opens with a 68-byte handshake (BEP 3: length 19,
"BitTorrent protocol", 8 reserved bytes, info-hash, peer id), then a stream of messages
framed by a 4-byte big-endian length (0 is a keep-alive) and a 1-byte id. Message bodies
are only counted, except the small ones that tell something: the BEP 10 extended
messages (handshake: client name, listen port, ``yourip``, metadata size; ut_metadata
pieces, BEP 9, which are reassembled into the info dict and checked against the
info-hash) and the DHT port (BEP 5). Piece payloads are counted, never stored.

A direction whose first bytes are not a handshake may be Message Stream Encryption (MSE/PE:
a Diffie-Hellman key of 96 bytes and up to 512 bytes of padding each way). Its first
``MSE_WINDOW`` bytes are searched for a clear handshake or BEP 10 handshake, which appear
when the peers chose plaintext after the key exchange; if none shows, the direction is
counted as encrypted. A lost framing (a length past ``MAX_MESSAGE``, or a gap outside a
message body) counts the rest of the direction as skipped bytes.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import struct
from typing import Final

from wiresift.config import Limits
from wiresift.model import JsonValue
from wiresift.protocols.base import Anomaly, Confirmed, Direction, Event, FlowInfo, Parser
from wiresift.protocols.bittorrent.bencode import decode, decode_prefix
from wiresift.protocols.bittorrent.clients import peer_id_client
from wiresift.protocols.bittorrent.metadata import (
    MAX_METADATA_SIZE,
    MetadataAssembler,
    describe_info,
    verify,
)
from wiresift.protocols.usage_events import UsageInfo

PROTOCOL_MARKER: Final = b"\x13BitTorrent protocol"
HANDSHAKE_SIZE: Final = 68
# Longest message accepted as framed: a 16 KiB block is the norm, 128 KiB the most any
# client requests; a bitfield of a million pieces is 128 KiB. Anything longer means the
# framing is lost (or the stream is encrypted).
MAX_MESSAGE: Final = 1024 * 1024 + 13
# Largest extended message kept for decoding (a ut_metadata piece is 16 KiB plus its dict).
MAX_EXTENDED_MESSAGE: Final = 64 * 1024
# MSE: 96-byte key plus up to 512 bytes of padding each way, then (responder) VC,
# crypto_select and up to 512 bytes more, or (initiator) two hashes, VC, crypto_provide,
# padding and the initial payload; 2 KiB covers both.
MSE_WINDOW: Final = 2048
MSE_KEY_SIZE: Final = 96
# Distinct byte values among the first MSE_KEY_SIZE bytes: random data has about 80,
# text and binary headers far fewer.
MSE_MIN_DISTINCT: Final = 56

# Message ids: BEP 3, BEP 5 (port), BEP 6 (fast), BEP 10 (extended), BEP 52 (hashes).
MESSAGE_NAMES: Final[dict[int, str]] = {
    0: "choke",
    1: "unchoke",
    2: "interested",
    3: "not_interested",
    4: "have",
    5: "bitfield",
    6: "request",
    7: "piece",
    8: "cancel",
    9: "port",
    13: "suggest_piece",
    14: "have_all",
    15: "have_none",
    16: "reject_request",
    17: "allowed_fast",
    20: "extended",
    21: "hash_request",
    22: "hashes",
    23: "hash_reject",
}
MSG_PIECE: Final = 7
MSG_PORT: Final = 9
MSG_EXTENDED: Final = 20
EXT_HANDSHAKE: Final = 0
# Reserved bits (BEP 3 reserved field; BEP 10 s"Extension header", BEP 5, BEP 6).
RESERVED_BITS: Final = (
    (5, 0x10, "extension_protocol"),
    (7, 0x01, "dht"),
    (7, 0x04, "fast"),
    (7, 0x10, "nat_traversal"),
    (0, 0x80, "azureus_messaging"),
    (7, 0x02, "xbt_peer_exchange"),
)
UT_METADATA_DATA: Final = 1
SIDE_NAMES: Final = ("client", "server")

_U32: Final = struct.Struct(">I")
_U16: Final = struct.Struct(">H")
_RESYNC: Final = re.compile(
    rb"\x13BitTorrent protocol|\x00\x00[\x00-\x01][\x00-\xff]\x14\x00d", re.DOTALL
)
_RESYNC_SPAN: Final = 20  # bytes a resync match needs to be decided


class _Mode(enum.Enum):
    HANDSHAKE = enum.auto()  # reading the 68-byte handshake
    SCAN = enum.auto()  # not a handshake: searching the MSE window for clear text
    LENGTH = enum.auto()  # reading a 4-byte message length
    MSG_ID = enum.auto()  # reading the id byte of a message
    BODY = enum.auto()  # storing the body of a message kept for decoding
    SKIP = enum.auto()  # counting the body of a message not kept
    LOST = enum.auto()  # framing lost or encrypted: bytes counted only


class _Side:
    """State of one direction."""

    __slots__ = (
        "buf",
        "counts",
        "encryption",
        "ext_counts",
        "ext_names",
        "left",
        "lost_bytes",
        "metadata",
        "mode",
        "msg_id",
        "piece_bytes",
        "scan_from",
    )

    def __init__(self) -> None:
        self.mode = _Mode.HANDSHAKE
        self.buf = bytearray()
        self.left = 0  # body bytes still to come
        self.msg_id = -1
        self.counts: dict[str, int] = {}
        self.ext_counts: dict[str, int] = {}
        self.ext_names: dict[int, str] = {}  # ids this side receives (its "m" dict)
        self.piece_bytes = 0
        self.lost_bytes = 0
        self.scan_from = 0
        self.encryption = "none"
        self.metadata: MetadataAssembler | None = None


class PeerWireParser(Parser):
    """Reads handshakes, extension handshakes and ut_metadata; counts the other messages."""

    name = "bittorrent"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(), _Side())
        self._confirmed = False
        self._info_hash: bytes | None = None
        self._torrent_done = False
        # The protocol named in UsageInfo (a uTP flow reuses this parser for its payload).
        self.usage_protocol = "bittorrent"

    # -- Parser interface -------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        pos = 0
        size = len(data)
        while pos < size:
            mode = side.mode
            if mode is _Mode.SKIP:
                take = min(side.left, size - pos)
                side.left -= take
                pos += take
                if side.left == 0:
                    side.mode = _Mode.LENGTH
            elif mode is _Mode.LENGTH:
                take = min(4 - len(side.buf), size - pos)
                side.buf += data[pos : pos + take]
                pos += take
                if len(side.buf) == 4:
                    self._length(direction, side, ts, events)
            elif mode is _Mode.MSG_ID:
                self._message_id(direction, side, data[pos], ts, events)
                pos += 1
            elif mode is _Mode.BODY:
                take = min(side.left, size - pos)
                side.buf += data[pos : pos + take]
                side.left -= take
                pos += take
                if side.left == 0:
                    body = bytes(side.buf)
                    side.buf.clear()
                    side.mode = _Mode.LENGTH
                    self._body(direction, side, body, ts, events)
            elif mode is _Mode.HANDSHAKE:
                take = min(HANDSHAKE_SIZE - len(side.buf), size - pos)
                side.buf += data[pos : pos + take]
                pos += take
                have = min(len(side.buf), len(PROTOCOL_MARKER))
                if side.buf[:have] != PROTOCOL_MARKER[:have]:
                    side.mode = _Mode.SCAN
                    side.encryption = "mse"
                    held = bytes(side.buf)
                    side.buf.clear()
                    data, pos, size = held + data[pos:], 0, len(held) + size - pos
                elif len(side.buf) == HANDSHAKE_SIZE:
                    self._handshake(direction, side, ts, events)
            elif mode is _Mode.SCAN:
                take = min(MSE_WINDOW - len(side.buf), size - pos)
                side.buf += data[pos : pos + take]
                pos += take
                found = self._scan(direction, side, ts, events)
                if found is not None:
                    data, pos, size = found + data[pos:], 0, len(found) + size - pos
            else:
                side.lost_bytes += size - pos
                pos = size
        return events

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        if side.mode is _Mode.SKIP and size <= side.left:
            side.left -= size  # inside a counted body: the framing survives
            if side.left == 0:
                side.mode = _Mode.LENGTH
            return []
        if side.mode is _Mode.LOST:
            side.lost_bytes += size
            return []
        side.mode = _Mode.LOST
        side.buf.clear()
        side.lost_bytes += size
        return super().gap(direction, size, ts)

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        events: list[Event] = []
        if side.mode is _Mode.SCAN:
            self._give_up_scan(direction, side, ts, events)
        elif side.mode is _Mode.HANDSHAKE and side.buf:
            events.append(
                Anomaly(direction=direction, ts=ts, name="bittorrent_truncated_handshake")
            )
        side.buf = bytearray()
        side.metadata = None
        if self._confirmed or side.encryption != "none":
            name = SIDE_NAMES[direction]
            meta: dict[str, JsonValue] = {
                f"{name}_messages": dict(side.counts),
                f"{name}_extended_messages": dict(side.ext_counts),
                f"{name}_piece_bytes": side.piece_bytes,
                f"{name}_encryption": side.encryption,
            }
            if side.lost_bytes:
                meta[f"{name}_unparsed_bytes"] = side.lost_bytes
            events.append(self._usage(direction, ts, meta))
        return events

    def buffered_bytes(self) -> int:
        total = 0
        for side in self._sides:
            total += len(side.buf)
            if side.metadata is not None:
                total += side.metadata.stored
        return total

    # -- framing ----------------------------------------------------------------------

    def _usage(self, direction: Direction, ts: int, meta: dict[str, JsonValue]) -> UsageInfo:
        return UsageInfo(direction=direction, ts=ts, protocol=self.usage_protocol, metadata=meta)

    def _handshake(self, direction: Direction, side: _Side, ts: int, events: list[Event]) -> None:
        """BEP 3 handshake: reserved bits, info-hash and peer id of this side."""
        raw = bytes(side.buf)
        side.buf.clear()
        side.mode = _Mode.LENGTH
        reserved = raw[20:28]
        info_hash = raw[28:48]
        peer_id = raw[48:68]
        if not self._confirmed:
            self._confirmed = True
            events.append(Confirmed(direction=direction, ts=ts))
        if self._info_hash is None:
            self._info_hash = info_hash
        elif info_hash != self._info_hash:
            events.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="bittorrent_info_hash_mismatch",
                    detail=f"{self._info_hash.hex()} then {info_hash.hex()}",
                )
            )
        name = SIDE_NAMES[direction]
        features: list[JsonValue] = [
            label for index, bit, label in RESERVED_BITS if reserved[index] & bit
        ]
        meta: dict[str, JsonValue] = {
            "info_hash": info_hash.hex(),
            f"{name}_peer_id": peer_id.decode("latin-1"),
            f"{name}_software": peer_id_client(peer_id),
            f"{name}_reserved": reserved.hex(),
            f"{name}_features": features,
        }
        events.append(self._usage(direction, ts, meta))

    def _scan(
        self, direction: Direction, side: _Side, ts: int, events: list[Event]
    ) -> bytes | None:
        """Search the MSE window for a clear handshake; return the bytes from it on."""
        buf = side.buf
        limit = len(buf) - _RESYNC_SPAN
        if side.scan_from <= limit:
            # Only positions whose whole pattern span has arrived: the answer does not
            # depend on how the stream was cut.
            match = _RESYNC.search(buf, side.scan_from, len(buf))
            if match is not None and match.start() > limit:
                match = None
            if match is not None:
                start = match.start()
                side.mode = _Mode.HANDSHAKE if buf[start] == 0x13 else _Mode.LENGTH
                side.encryption = "mse-plaintext" if start >= MSE_KEY_SIZE else "none"
                if start < MSE_KEY_SIZE:
                    events.append(
                        Anomaly(
                            direction=direction,
                            ts=ts,
                            name="bittorrent_resynchronised",
                            detail=f"{start} bytes skipped",
                        )
                    )
                rest = bytes(buf[start:])
                side.lost_bytes += start
                side.buf = bytearray()
                return rest
            side.scan_from = limit + 1
        if len(buf) >= MSE_WINDOW:
            self._give_up_scan(direction, side, ts, events)
        return None

    def _give_up_scan(
        self, direction: Direction, side: _Side, ts: int, events: list[Event]
    ) -> None:
        """No clear text in the window: MSE if the start looks random, else not BitTorrent."""
        head = bytes(side.buf[:MSE_KEY_SIZE])
        side.lost_bytes += len(side.buf)
        side.buf = bytearray()
        side.mode = _Mode.LOST
        if len(head) == MSE_KEY_SIZE and len(set(head)) >= MSE_MIN_DISTINCT:
            side.encryption = "mse"
            return
        side.encryption = "none"
        if head:
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_bad_handshake"))

    def _length(self, direction: Direction, side: _Side, ts: int, events: list[Event]) -> None:
        length = _U32.unpack(side.buf)[0]
        side.buf.clear()
        if length == 0:
            side.counts["keep_alive"] = side.counts.get("keep_alive", 0) + 1
            return
        if length > MAX_MESSAGE:
            side.mode = _Mode.LOST
            events.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="bittorrent_message_too_long",
                    detail=f"{length} bytes",
                )
            )
            return
        side.left = length
        side.mode = _Mode.MSG_ID

    def _message_id(
        self, direction: Direction, side: _Side, msg_id: int, ts: int, events: list[Event]
    ) -> None:
        side.left -= 1
        side.msg_id = msg_id
        name = MESSAGE_NAMES.get(msg_id, "unknown")
        side.counts[name] = side.counts.get(name, 0) + 1
        keep = (msg_id == MSG_EXTENDED and side.left <= MAX_EXTENDED_MESSAGE) or (
            msg_id == MSG_PORT and side.left == 2
        )
        if msg_id == MSG_PIECE and side.left >= 8:
            side.piece_bytes += side.left - 8  # index and begin, then the block (BEP 3)
        if msg_id == MSG_EXTENDED and not keep:
            events.append(
                Anomaly(
                    direction=direction,
                    ts=ts,
                    name="bittorrent_extended_too_long",
                    detail=f"{side.left} bytes",
                )
            )
        if side.left == 0:
            side.mode = _Mode.LENGTH
        else:
            side.mode = _Mode.BODY if keep else _Mode.SKIP

    # -- message bodies ---------------------------------------------------------------

    def _body(
        self, direction: Direction, side: _Side, body: bytes, ts: int, events: list[Event]
    ) -> None:
        name = SIDE_NAMES[direction]
        if side.msg_id == MSG_PORT:
            port = _U16.unpack(body)[0]
            events.append(self._usage(direction, ts, {f"{name}_dht_port": port}))
            return
        ext_id = body[0]
        payload = body[1:]
        if ext_id == EXT_HANDSHAKE:
            side.ext_counts["handshake"] = side.ext_counts.get("handshake", 0) + 1
            self._extension_handshake(direction, side, payload, ts, events)
            return
        receiver = self._sides[1 - direction]
        ext_name = receiver.ext_names.get(ext_id, f"id_{ext_id}")
        side.ext_counts[ext_name] = side.ext_counts.get(ext_name, 0) + 1
        if ext_name == "ut_metadata":
            self._ut_metadata(direction, side, payload, ts, events)

    def _extension_handshake(
        self, direction: Direction, side: _Side, payload: bytes, ts: int, events: list[Event]
    ) -> None:
        """BEP 10 handshake: the dict of extension ids, client name, port, yourip."""
        value, problem = decode(payload)
        if problem:
            events.append(Anomaly(direction=direction, ts=ts, name=f"bittorrent_bencode_{problem}"))
            return
        if not isinstance(value, dict):
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_bad_extension"))
            return
        name = SIDE_NAMES[direction]
        meta: dict[str, JsonValue] = {}
        supported = value.get(b"m")
        if isinstance(supported, dict):
            names = {k: v for k, v in supported.items() if isinstance(v, int) and v > 0}
            side.ext_names = {v: k.decode("latin-1") for k, v in names.items()}
            extensions: list[JsonValue] = [k.decode("latin-1") for k in sorted(names)]
            meta[f"{name}_extensions"] = extensions
        client = value.get(b"v")
        if isinstance(client, bytes):
            meta[f"{name}_client_name"] = client.decode("utf-8", "backslashreplace")
        port = value.get(b"p")
        if isinstance(port, int):
            meta[f"{name}_listen_port"] = port
        yourip = value.get(b"yourip")
        if isinstance(yourip, bytes) and len(yourip) in (4, 16):
            meta[f"{name}_sees_peer_as"] = _address(yourip)
        size = value.get(b"metadata_size")
        if isinstance(size, int):
            meta[f"{name}_metadata_size"] = size
            if 0 < size <= MAX_METADATA_SIZE and side.metadata is None:
                side.metadata = MetadataAssembler(size)
        reqq = value.get(b"reqq")
        if isinstance(reqq, int):
            meta[f"{name}_request_queue"] = reqq
        events.append(self._usage(direction, ts, meta))

    def _ut_metadata(
        self, direction: Direction, side: _Side, payload: bytes, ts: int, events: list[Event]
    ) -> None:
        """BEP 9: a data message carries one piece of the info dict after its dict."""
        value, end, problem = decode_prefix(payload)
        if problem:
            events.append(Anomaly(direction=direction, ts=ts, name=f"bittorrent_bencode_{problem}"))
            return
        if not isinstance(value, dict):
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_bad_metadata"))
            return
        if value.get(b"msg_type") != UT_METADATA_DATA or self._torrent_done:
            return
        index = value.get(b"piece")
        total = value.get(b"total_size")
        if side.metadata is None and isinstance(total, int) and 0 < total <= MAX_METADATA_SIZE:
            side.metadata = MetadataAssembler(total)
        assembler = side.metadata
        if assembler is None or not isinstance(index, int):
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_bad_metadata"))
            return
        if assembler.add(index, payload[end:]):
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_bad_metadata"))
            return
        info = assembler.complete()
        if info is None:
            return
        side.metadata = None
        self._torrent_done = True
        summary, problem = describe_info(info)
        if problem:
            events.append(Anomaly(direction=direction, ts=ts, name=f"bittorrent_bencode_{problem}"))
        info_hash = self._info_hash
        method = verify(info, info_hash) if info_hash is not None else None
        if info_hash is not None and method is None:
            events.append(
                Anomaly(direction=direction, ts=ts, name="bittorrent_metadata_hash_mismatch")
            )
        summary["torrent_verified"] = method is not None
        summary["torrent_size"] = len(info)
        events.append(self._usage(direction, ts, summary))


def _address(raw: bytes) -> str:
    """The text form of 4 or 16 address bytes."""
    return str(ipaddress.ip_address(raw))
