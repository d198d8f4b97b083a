"""BitTorrent over UDP: DHT (BEP 5), UDP tracker (BEP 15), uTP (BEP 29), LSD (BEP 14).

Theory of operation: a client sends all of these from one socket, so one UDP flow may mix
them (a DHT query, then a uTP connection to the same peer). Every datagram is therefore
classified on its own by its first bytes: a bencoded dict (DHT KRPC), the BEP 15 connect
magic or a known transaction (tracker), ``BT-SEARCH`` (LSD) or a valid uTP header. The flow
keeps the protocol detection chose; what each datagram taught is gathered in the parser,
bounded, and reported in one ``UsageInfo`` when the flow ends (plus one at its start, so
the usage object is dated from the first datagram).

uTP DATA payloads are put back in sequence order (a small reorder window) and fed to the
peer wire parser, so a handshake, its info-hash and peer ids come out as for TCP.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from wiresift.config import Limits
from wiresift.model import JsonValue
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.bittorrent.bencode import BValue, decode
from wiresift.protocols.bittorrent.clients import dht_version_client, peer_id_client
from wiresift.protocols.bittorrent.peerwire import PROTOCOL_MARKER, SIDE_NAMES, PeerWireParser
from wiresift.protocols.usage_events import UsageInfo

# BEP 15: the connect request's protocol id.
TRACKER_MAGIC: Final = (0x41727101980).to_bytes(8, "big")
TRACKER_ACTIONS: Final = ("connect", "announce", "scrape", "error")
TRACKER_EVENTS: Final = ("none", "completed", "started", "stopped")
LSD_PREFIX: Final = b"BT-SEARCH * HTTP/1.1\r\n"
# uTP (BEP 29): version 1, types 0-4, a 20-byte header and a chain of extensions.
UTP_VERSION: Final = 1
UTP_TYPES: Final = ("data", "fin", "state", "reset", "syn")
UTP_DATA: Final = 0
UTP_STATE: Final = 2
UTP_SYN: Final = 4
UTP_HEADER: Final = 20
UTP_MAX_EXTENSIONS: Final = 8
UTP_MAX_EXTENSION_TYPE: Final = 4
# Out-of-order uTP packets held per direction before giving up on order.
UTP_REORDER_PACKETS: Final = 64
# Values kept per list in the usage object (the builder caps at the same number).
MAX_VALUES: Final = 64
# Transactions remembered to pair tracker answers with their requests.
MAX_TRANSACTIONS: Final = 64

_UTP: Final = struct.Struct(">BBHIIIHH")
_U32: Final = struct.Struct(">I")
_TRACKER_HEAD: Final = struct.Struct(">QII")  # connection id, action, transaction id
_ANNOUNCE: Final = struct.Struct(">QII20s20sQQQIIIiH")
_ANNOUNCE_REPLY: Final = struct.Struct(">IIIII")
_SCRAPE_ENTRY: Final = struct.Struct(">III")
_PEER4: Final = struct.Struct(">4sH")


def utp_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(type, connection id, seq_nr, timestamp difference, payload offset) of a valid
    uTP header (BEP 29 "header format"), or None."""
    if len(data) < UTP_HEADER:
        return None
    type_ver, ext, conn_id, _ts, ts_diff, _wnd, seq, _ack = _UTP.unpack_from(data)
    kind = type_ver >> 4
    if type_ver & 0x0F != UTP_VERSION or kind > UTP_SYN or ext > UTP_MAX_EXTENSION_TYPE:
        return None
    offset = UTP_HEADER
    hops = 0
    while ext:
        hops += 1
        if hops > UTP_MAX_EXTENSIONS or offset + 2 > len(data):
            return None
        ext = data[offset]
        offset += 2 + data[offset + 1]
        if offset > len(data) or ext > UTP_MAX_EXTENSION_TYPE:
            return None
    return kind, conn_id, seq, ts_diff, offset


def _hex(value: BValue | None) -> str | None:
    return value.hex() if isinstance(value, bytes) else None


def _compact_peer(raw: bytes) -> str:
    """ "ip:port" of a 6-byte compact peer (BEP 23) or "[ip]:port" of an 18-byte one."""
    if len(raw) == 6:
        address, port = _PEER4.unpack(raw)
        return f"{ipaddress.ip_address(address)}:{port}"
    return f"[{ipaddress.ip_address(raw[:16])}]:{int.from_bytes(raw[16:18], 'big')}"


class _Counter(dict[str, int]):
    def add(self, key: str) -> None:
        self[key] = self.get(key, 0) + 1


class _UtpSide:
    __slots__ = ("conn_ids", "expected", "held", "lost", "started")

    def __init__(self) -> None:
        self.started = False  # the first in-order payload was looked at
        self.conn_ids: set[int] = set()
        self.expected: int | None = None
        self.held: dict[int, bytes] = {}
        self.lost = False


class BittorrentUdpParser(Parser):
    """Every BitTorrent datagram kind of one UDP flow; subclasses name the flow's protocol."""

    name = "bittorrent-udp"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._started = False
        self._reported = False
        self._kinds = _Counter()
        self._lists: dict[str, list[JsonValue]] = {}
        self._scalars: dict[str, JsonValue] = {}
        self._dht_queries = _Counter()
        self._tracker_actions = _Counter()
        self._utp_types = _Counter()
        self._utp_payload = [0, 0]
        self._utp = (_UtpSide(), _UtpSide())
        self._peer_wire: PeerWireParser | None = None
        self._transactions: dict[int, int] = {}  # tracker transaction id -> action
        self._dht_nodes = 0
        self._tracker_seen = False  # a connect request was seen: later requests are known

    # -- Parser interface -------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(UsageInfo(direction=direction, ts=ts, protocol=self.name, metadata={}))
        lead = data[:1]
        if lead == b"d":
            self._dht(direction, data, ts, events)
        elif data.startswith(LSD_PREFIX):
            self._lsd(data)
        elif self._is_tracker(direction, data):
            self._tracker(direction, data, ts, events)
        else:
            header = utp_header(data)
            if header is not None:
                self._utp_packet(direction, data, header, ts, events)
            else:
                self._kinds.add("other")
        return events

    def end(self, direction: Direction, ts: int) -> list[Event]:
        events: list[Event] = []
        if self._peer_wire is not None:
            events += self._peer_wire.end(direction, ts)
        if self._reported or not self._started:
            return events
        self._reported = True
        meta: dict[str, JsonValue] = {"datagrams": dict(self._kinds), **self._scalars}
        meta.update(self._lists)
        if self._dht_queries:
            meta["dht_queries"] = dict(self._dht_queries)
        if self._tracker_actions:
            meta["tracker_actions"] = dict(self._tracker_actions)
        if self._utp_types:
            meta["utp_packets"] = dict(self._utp_types)
            meta["utp_payload_bytes"] = {
                "client": self._utp_payload[0],
                "server": self._utp_payload[1],
            }
            conn_ids = sorted(self._utp[0].conn_ids | self._utp[1].conn_ids)
            meta["utp_connection_ids"] = list(conn_ids[:MAX_VALUES])
        events.append(UsageInfo(direction=direction, ts=ts, protocol=self.name, metadata=meta))
        return events

    def buffered_bytes(self) -> int:
        held = sum(len(p) for side in self._utp for p in side.held.values())
        if self._peer_wire is not None:
            held += self._peer_wire.buffered_bytes()
        return held

    # -- bookkeeping ------------------------------------------------------------------

    def _add(self, key: str, value: JsonValue) -> None:
        values = self._lists.setdefault(key, [])
        if len(values) < MAX_VALUES and value not in values:
            values.append(value)

    # -- DHT (BEP 5) ------------------------------------------------------------------

    def _dht(self, direction: Direction, data: bytes, ts: int, events: list[Event]) -> None:
        value, problem = decode(data)
        if problem:
            self._kinds.add("dht_malformed")
            events.append(Anomaly(direction=direction, ts=ts, name=f"bittorrent_bencode_{problem}"))
            return
        if not isinstance(value, dict) or value.get(b"y") not in (b"q", b"r", b"e"):
            self._kinds.add("other")
            events.append(Anomaly(direction=direction, ts=ts, name="bittorrent_dht_bad_message"))
            return
        self._kinds.add("dht")
        side = SIDE_NAMES[direction]
        version = value.get(b"v")
        if isinstance(version, bytes):
            self._scalars[f"dht_{side}_version"] = version.hex()
            client = dht_version_client(version)
            if client is not None:
                self._scalars[f"dht_{side}_software"] = client
        kind = value[b"y"]
        if kind == b"q":
            self._dht_query(side, value)
        elif kind == b"r":
            self._dht_response(side, value)
        else:
            self._dht_queries.add("error")
            error = value.get(b"e")
            if isinstance(error, list) and len(error) == 2:
                code, message = error
                self._add(
                    "dht_errors",
                    {
                        "code": code if isinstance(code, int) else None,
                        "message": message.decode("utf-8", "backslashreplace")
                        if isinstance(message, bytes)
                        else None,
                    },
                )

    def _dht_query(self, side: str, message: dict[bytes, BValue]) -> None:
        method = message.get(b"q")
        name = method.decode("ascii", "backslashreplace") if isinstance(method, bytes) else "?"
        self._dht_queries.add(name)
        args = message.get(b"a")
        if not isinstance(args, dict):
            return
        node_id = _hex(args.get(b"id"))
        if node_id is not None:
            self._scalars[f"dht_{side}_node_id"] = node_id
        info_hash = _hex(args.get(b"info_hash"))
        if info_hash is not None:
            self._add("info_hashes", info_hash)
        target = _hex(args.get(b"target"))
        if target is not None:
            self._add("dht_targets", target)
        token = _hex(args.get(b"token"))
        if token is not None:
            self._add("dht_tokens", token)
        port = args.get(b"port")
        if isinstance(port, int):
            self._scalars["dht_announce_port"] = port
        if args.get(b"implied_port") == 1:
            self._scalars["dht_implied_port"] = True

    def _dht_response(self, side: str, message: dict[bytes, BValue]) -> None:
        self._dht_queries.add("response")
        reply = message.get(b"r")
        seen_as = message.get(b"ip")  # BEP 42: the querier's address as the node sees it
        if isinstance(seen_as, bytes) and len(seen_as) in (6, 18):
            self._scalars[f"dht_{side}_sees_peer_as"] = _compact_peer(seen_as)
        if not isinstance(reply, dict):
            return
        node_id = _hex(reply.get(b"id"))
        if node_id is not None:
            self._scalars[f"dht_{side}_node_id"] = node_id
        token = _hex(reply.get(b"token"))
        if token is not None:
            self._add("dht_tokens", token)
        values = reply.get(b"values")
        if isinstance(values, list):
            for peer in values:
                if isinstance(peer, bytes) and len(peer) in (6, 18):
                    self._add("dht_peers", _compact_peer(peer))
        nodes = reply.get(b"nodes")
        if isinstance(nodes, bytes):
            self._dht_nodes += len(nodes) // 26  # compact node info (BEP 5)
            self._scalars["dht_nodes_returned"] = self._dht_nodes

    # -- UDP tracker (BEP 15) -----------------------------------------------------------

    def _is_tracker(self, direction: Direction, data: bytes) -> bool:
        if len(data) < 16:
            return False
        if direction is Direction.ORIG:
            if data[:8] == TRACKER_MAGIC and data[8:12] == b"\x00\x00\x00\x00":
                return True
            return self._tracker_seen and _U32.unpack_from(data, 8)[0] in (1, 2)
        return _U32.unpack_from(data, 4)[0] in self._transactions

    def _tracker(self, direction: Direction, data: bytes, ts: int, events: list[Event]) -> None:
        self._kinds.add("tracker")
        if direction is Direction.ORIG:
            self._tracker_seen = True
            _conn, action, transaction = _TRACKER_HEAD.unpack_from(data)
            if len(self._transactions) < MAX_TRANSACTIONS:
                self._transactions[transaction] = action
            self._tracker_actions.add(f"{TRACKER_ACTIONS[action]}_request")
            if action == 1:
                self._announce(data, ts, events)
            elif action == 2:
                for offset in range(16, len(data) - 19, 20):
                    self._add("info_hashes", data[offset : offset + 20].hex())
            return
        action, transaction = struct.unpack_from(">II", data)
        self._transactions.pop(transaction, None)
        name = TRACKER_ACTIONS[action] if action < len(TRACKER_ACTIONS) else "unknown"
        self._tracker_actions.add(f"{name}_response")
        if action == 1 and len(data) >= _ANNOUNCE_REPLY.size:
            _a, _t, interval, leechers, seeders = _ANNOUNCE_REPLY.unpack_from(data)
            self._scalars.update(
                {
                    "tracker_interval": interval,
                    "tracker_leechers": leechers,
                    "tracker_seeders": seeders,
                }
            )
            for offset in range(20, len(data) - 5, 6):
                self._add("tracker_peers", _compact_peer(data[offset : offset + 6]))
        elif action == 2:
            for offset in range(8, len(data) - 11, 12):
                seeders, completed, leechers = _SCRAPE_ENTRY.unpack_from(data, offset)
                self._add(
                    "tracker_scrape",
                    {"seeders": seeders, "completed": completed, "leechers": leechers},
                )
        elif action == 3:
            self._scalars["tracker_error"] = data[8:200].decode("utf-8", "backslashreplace")

    def _announce(self, data: bytes, ts: int, events: list[Event]) -> None:
        if len(data) < _ANNOUNCE.size:
            events.append(
                Anomaly(direction=Direction.ORIG, ts=ts, name="bittorrent_tracker_short_announce")
            )
            return
        fields = _ANNOUNCE.unpack_from(data)
        (
            _c,
            _a,
            _t,
            info_hash,
            peer_id,
            downloaded,
            left,
            uploaded,
            event,
            ip,
            _key,
            num_want,
            port,
        ) = fields
        self._add("info_hashes", info_hash.hex())
        self._scalars.update(
            {
                "info_hash": info_hash.hex(),
                "client_peer_id": peer_id.decode("latin-1"),
                "client_software": peer_id_client(peer_id),
                "tracker_event": TRACKER_EVENTS[event] if event < 4 else str(event),
                "tracker_downloaded": downloaded,
                "tracker_left": left,
                "tracker_uploaded": uploaded,
                "tracker_num_want": num_want,
                "client_listen_port": port,
            }
        )
        if ip:
            self._scalars["tracker_announced_ip"] = str(ipaddress.IPv4Address(ip))

    # -- LSD (BEP 14) -----------------------------------------------------------------

    def _lsd(self, data: bytes) -> None:
        self._kinds.add("lsd")
        for line in data[len(LSD_PREFIX) : 4096].split(b"\r\n"):
            key, sep, value = line.partition(b":")
            if not sep:
                continue
            field = key.strip().lower()
            text = value.strip().decode("ascii", "backslashreplace")
            if field == b"infohash":
                self._add("info_hashes", text.lower())
            elif field == b"port" and text.isdigit():
                self._scalars["lsd_port"] = int(text)
            elif field == b"cookie":
                self._scalars["lsd_cookie"] = text

    # -- uTP (BEP 29) -----------------------------------------------------------------

    def _utp_packet(
        self,
        direction: Direction,
        data: bytes,
        header: tuple[int, int, int, int, int],
        ts: int,
        events: list[Event],
    ) -> None:
        kind, conn_id, seq, _diff, offset = header
        self._kinds.add("utp")
        self._utp_types.add(UTP_TYPES[kind])
        side = self._utp[direction]
        if len(side.conn_ids) < MAX_VALUES:
            side.conn_ids.add(conn_id)
        if side.expected is None and kind in (UTP_SYN, UTP_STATE):
            # The initiator's first DATA follows its SYN; the responder's first DATA has
            # the sequence number of its STATE answer (BEP 29 "connection setup").
            side.expected = (seq + 1) & 0xFFFF if kind == UTP_SYN else seq
        if kind != UTP_DATA or offset == len(data):
            return
        payload = data[offset:]
        self._utp_payload[direction] += len(payload)
        if side.lost:
            return
        if side.expected is None:
            side.expected = seq  # the capture started after the connection setup
        behind = (side.expected - seq) & 0xFFFF
        if 0 < behind < 0x8000:
            return  # a retransmission of what was already fed
        if seq != side.expected:
            if len(side.held) >= UTP_REORDER_PACKETS:
                side.lost = True
                side.held.clear()
                events += self._inner().gap(direction, 1, ts)
                return
            side.held.setdefault(seq, payload)
            return
        if not side.started:
            side.started = True
            if not payload.startswith(PROTOCOL_MARKER[: len(payload)]):
                side.lost = True  # not the peer wire protocol: counted only
                side.held.clear()
                return
        inner = self._inner()
        events += inner.feed(direction, payload, ts)
        side.expected = (seq + 1) & 0xFFFF
        while side.expected in side.held:
            events += inner.feed(direction, side.held.pop(side.expected), ts)
            side.expected = (side.expected + 1) & 0xFFFF

    def _inner(self) -> PeerWireParser:
        if self._peer_wire is None:
            self._peer_wire = PeerWireParser(self.flow, self.limits)
        return self._peer_wire


class DhtParser(BittorrentUdpParser):
    """A UDP flow detected by a DHT KRPC message (BEP 5)."""

    name = "bittorrent-dht"


class UdpTrackerParser(BittorrentUdpParser):
    """A UDP flow detected by a BEP 15 connect request."""

    name = "bittorrent-tracker-udp"


class UtpParser(BittorrentUdpParser):
    """A UDP flow detected by a uTP SYN or a uTP packet carrying a handshake (BEP 29)."""

    name = "utp"


class LsdParser(BittorrentUdpParser):
    """Local Service Discovery announcements (BEP 14)."""

    name = "bittorrent-lsd"
