"""Skype and Microsoft Teams: what can be seen of them without keys.

* ``stun``: STUN/TURN messages on UDP, labelled Skype/Teams by the Microsoft attributes
  ([MS-TURN], [MS-ICE2]); the media that follows (SRTP) is counted only.
* ``skype``: classic peer-to-peer Skype's UDP header shape (a weak heuristic).
* TLS flows to Skype/Teams names get ``application: "skype"`` from ``hosts.classify_tls``
  (called by the usage builder when a TLS flow closes).
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.skype import classic, stun
from wiresift.protocols.skype.classic import SkypeUdpParser
from wiresift.protocols.skype.hosts import SKYPE_DOMAINS, classify_tls, skype_name
from wiresift.protocols.skype.stun import StunParser

__all__ = [
    "SKYPE_DOMAINS",
    "SKYPE_UDP_SPEC",
    "SPECS",
    "STUN_SPEC",
    "SkypeUdpParser",
    "StunParser",
    "classify_tls",
    "skype_name",
]

STUN_SPEC: Final = ProtocolSpec(
    name="stun",
    transport="udp",
    # 3478 STUN/TURN (RFC 8489 s18.5), 3479-3481 Microsoft Teams relays.
    ports=frozenset({3478, 3479, 3480, 3481}),
    parser=StunParser,
    description="STUN/TURN on UDP (RFC 8489, RFC 8656) with MS-TURN/MS-ICE2 attributes",
    probe=stun.probe,
    first_bytes=frozenset(range(0x40)),  # the two top bits are 0 (RFC 8489 s5)
    mid_stream=False,
)

SKYPE_UDP_SPEC: Final = ProtocolSpec(
    name="skype",
    transport="udp",
    ports=frozenset(),
    parser=SkypeUdpParser,
    description="classic Skype UDP (heuristic on the 3-byte header; content encrypted)",
    probe=classic.probe,
    mid_stream=False,
    # One datagram in 256 of random bytes passes the header test: like nDPI, trust it only
    # on a flow's first datagrams (detect/detector.py DatagramDetector).
    extra={"first_datagrams": 4},
)

SPECS: Final = (STUN_SPEC, SKYPE_UDP_SPEC)
