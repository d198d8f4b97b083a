"""BitTorrent (BEP 3 and extensions): registration and public names.

``peerwire.py`` reads the TCP peer wire protocol (handshake, BEP 10 extension handshake,
BEP 9 metadata, message counts); ``udp.py`` the UDP side (DHT BEP 5, UDP tracker BEP 15,
uTP BEP 29 with the peer wire inside, LSD BEP 14); ``bencode.py`` is the bounded bencode
decoder; ``clients.py`` names client software from peer ids; ``metadata.py`` summarises a
torrent's info dict; ``detect.py`` holds the detection rules. Every flow reports what it
learnt as ``UsageInfo`` events (one ``usage`` object per flow). HTTP tracker announces and
scrapes are HTTP requests and come out as ``http`` objects.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.bittorrent.detect import (
    LSD_SIGNATURES,
    PEER_WIRE_SIGNATURES,
    dht_probe,
    peer_wire_probe,
    tracker_probe,
    utp_probe,
)
from wiresift.protocols.bittorrent.peerwire import PeerWireParser
from wiresift.protocols.bittorrent.udp import (
    LSD_PREFIX,
    TRACKER_MAGIC,
    UTP_SYN,
    UTP_VERSION,
    BittorrentUdpParser,
    DhtParser,
    LsdParser,
    UdpTrackerParser,
    UtpParser,
)

__all__ = [
    "DHT_SPEC",
    "LSD_SPEC",
    "SPEC",
    "SPECS",
    "TRACKER_UDP_SPEC",
    "UTP_SPEC",
    "BittorrentUdpParser",
    "DhtParser",
    "LsdParser",
    "PeerWireParser",
    "UdpTrackerParser",
    "UtpParser",
]

SPEC: Final = ProtocolSpec(
    name="bittorrent",
    transport="tcp",
    # 6881-6889 were the first clients' defaults; real peers listen anywhere.
    ports=frozenset(range(6881, 6890)),
    parser=PeerWireParser,
    description="BitTorrent peer wire protocol (BEP 3, BEP 10, BEP 9), MSE recognised",
    signatures=PEER_WIRE_SIGNATURES,
    probe=peer_wire_probe,
    accepts_gaps=True,
)
DHT_SPEC: Final = ProtocolSpec(
    name="bittorrent-dht",
    transport="udp",
    ports=frozenset({6881}),
    parser=DhtParser,
    description="BitTorrent DHT KRPC (BEP 5), uTP and tracker datagrams of the same socket",
    probe=dht_probe,
    first_bytes=frozenset(b"d"),  # a bencoded dictionary
)
TRACKER_UDP_SPEC: Final = ProtocolSpec(
    name="bittorrent-tracker-udp",
    transport="udp",
    ports=frozenset({6969}),
    parser=UdpTrackerParser,
    description="BitTorrent UDP tracker protocol (BEP 15)",
    probe=tracker_probe,
    first_bytes=frozenset(TRACKER_MAGIC[:1]),  # a connect request's protocol id
)
UTP_SPEC: Final = ProtocolSpec(
    name="utp",
    transport="udp",
    ports=frozenset(),
    parser=UtpParser,
    description="uTorrent Transport Protocol (BEP 29) carrying the peer wire protocol",
    probe=utp_probe,
    # type (DATA to SYN) in the high nibble, version 1 in the low one
    first_bytes=frozenset((kind << 4) | UTP_VERSION for kind in range(UTP_SYN + 1)),
)
LSD_SPEC: Final = ProtocolSpec(
    name="bittorrent-lsd",
    transport="udp",
    ports=frozenset({6771}),
    parser=LsdParser,
    description="BitTorrent Local Service Discovery (BEP 14)",
    signatures=LSD_SIGNATURES,
    first_bytes=frozenset(LSD_PREFIX[:1]),
)
SPECS: Final = (SPEC, DHT_SPEC, TRACKER_UDP_SPEC, UTP_SPEC, LSD_SPEC)
