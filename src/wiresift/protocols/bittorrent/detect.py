"""How BitTorrent is recognised by content, on any port.

- Peer wire (BEP 3): either side opens with ``\\x13BitTorrent protocol``. A direction that
  opens with Message Stream Encryption instead (96 random-looking bytes of key and
  padding) matches when a clear handshake appears within the MSE window, which happens
  when the peers chose plaintext after the key exchange.
- DHT (BEP 5): a bencoded dict whose ``y`` key is ``q``, ``r`` or ``e``. Keys are sorted
  (BEP 3), so ``1:y1:`` sits near the end; the probe looks for it without decoding.
- UDP tracker (BEP 15): the connect request's 64-bit protocol id 0x41727101980, action 0.
- uTP (BEP 29): a single datagram proves little (4 bits of version, 4 of type). Only a SYN
  (no payload, timestamp difference 0: it is the first packet) or a DATA packet whose
  payload opens with the peer wire handshake is taken as proof.
- LSD (BEP 14): ``BT-SEARCH * HTTP/1.1`` to the multicast group.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction
from wiresift.protocols.bittorrent.peerwire import (
    MSE_KEY_SIZE,
    MSE_MIN_DISTINCT,
    MSE_WINDOW,
    PROTOCOL_MARKER,
)
from wiresift.protocols.bittorrent.udp import (
    LSD_PREFIX,
    TRACKER_MAGIC,
    UTP_DATA,
    UTP_SYN,
    utp_header,
)

PEER_WIRE_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(re.escape(PROTOCOL_MARKER)),
        depth=len(PROTOCOL_MARKER),
        description="BitTorrent handshake (BEP 3)",
    ),
)
LSD_SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=re.compile(re.escape(LSD_PREFIX)),
        depth=len(LSD_PREFIX),
        description="BitTorrent Local Service Discovery (BEP 14)",
    ),
)


def peer_wire_probe(direction: Direction, data: bytes) -> Verdict:
    """A handshake prefix waits for more; an MSE-looking start is searched for clear text."""
    if len(data) < len(PROTOCOL_MARKER):
        return Verdict.NEED_MORE if PROTOCOL_MARKER.startswith(data) else Verdict.NO_MATCH
    if len(data) < MSE_KEY_SIZE or len(set(data[:MSE_KEY_SIZE])) < MSE_MIN_DISTINCT:
        return Verdict.NO_MATCH
    if data.find(PROTOCOL_MARKER, MSE_KEY_SIZE, MSE_WINDOW) >= 0:
        return Verdict.MATCH
    return Verdict.NEED_MORE if len(data) < MSE_WINDOW else Verdict.NO_MATCH


def dht_probe(direction: Direction, data: bytes) -> Verdict:
    """A bencoded dict holding the ``y`` key of a KRPC message."""
    if data[:1] != b"d" or not b"1" <= data[1:2] <= b"9":
        return Verdict.NO_MATCH
    return Verdict.MATCH if b"1:y1:" in data else Verdict.NO_MATCH


def tracker_probe(direction: Direction, data: bytes) -> Verdict:
    """A BEP 15 connect request: protocol id, action 0, a transaction id (16 bytes)."""
    if len(data) == 16 and data[:8] == TRACKER_MAGIC and data[8:12] == b"\x00\x00\x00\x00":
        return Verdict.MATCH if direction is Direction.ORIG else Verdict.NO_MATCH
    return Verdict.NO_MATCH


def utp_probe(direction: Direction, data: bytes) -> Verdict:
    """A uTP SYN (first packet of a connection) or a DATA packet holding a handshake."""
    header = utp_header(data)
    if header is None:
        return Verdict.NO_MATCH
    kind, _conn_id, _seq, ts_diff, offset = header
    if kind == UTP_SYN and offset == len(data) and ts_diff == 0:
        return Verdict.MATCH if direction is Direction.ORIG else Verdict.NO_MATCH
    if kind == UTP_DATA and data.startswith(PROTOCOL_MARKER, offset):
        return Verdict.MATCH
    return Verdict.NO_MATCH
