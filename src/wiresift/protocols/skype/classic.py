"""Classic (peer-to-peer, about 2003-2017) Skype on UDP: a weak, header-shaped heuristic.

Every byte after the 3-byte header is obfuscated (RC4-derived keystream), so nothing of
the content is recoverable. What is visible (Wireshark ``packet-skype.c``): bytes 0-1 an
object/frame id, the low nibble of byte 2 a packet type: 0x02 payload (4-byte IV, 4-byte
CRC, encrypted data), 0x03 resend, 0x05/0x07 NAT info, 0x0D audio. nDPI's historical
``skype.c`` took a flow's first datagrams with byte 2 == 0x02 and at least 16 bytes (not
byte 0 == 0x30, an SNMP sequence) or a 3-byte datagram with type 0x0D. That rule is known
to catch other encrypted UDP (a DNSCrypt query was its published false positive); here
DNSCrypt is excluded by its framing (DNSCrypt v2 protocol s"Queries": queries padded to a
multiple of 64 bytes, at least 256; responses begin with the resolver magic ``r6fnvWj8``),
and STUN by its cookie.
"""

from __future__ import annotations

from typing import Final

from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.skype.stun import is_stun
from wiresift.protocols.usage_events import UsageInfo

TYPE_PAYLOAD: Final = 0x02  # byte 2 of a payload packet
TYPE_AUDIO: Final = 0x0D  # low nibble of byte 2 of a 3-byte audio/keepalive packet
MIN_PAYLOAD_DATAGRAM: Final = 16  # 3-byte header + IV + CRC + some data
SNMP_SEQUENCE: Final = 0x30  # ASN.1 SEQUENCE: an SNMP message, not Skype
# DNSCrypt v2: queries are padded to a multiple of 64 bytes and at least 256 bytes.
DNSCRYPT_MIN_QUERY: Final = 256
DNSCRYPT_BLOCK: Final = 64
DNSCRYPT_RESOLVER_MAGIC: Final = b"r6fnvWj8"


def _looks_like_dnscrypt(data: bytes) -> bool:
    size = len(data)
    return (size >= DNSCRYPT_MIN_QUERY and size % DNSCRYPT_BLOCK == 0) or data.startswith(
        DNSCRYPT_RESOLVER_MAGIC
    )


def probe(direction: Direction, data: bytes) -> Verdict:
    """nDPI's classic Skype UDP shapes, minus DNSCrypt, SNMP and STUN (weak evidence)."""
    size = len(data)
    if size == 3:
        return Verdict.MATCH if data[2] & 0x0F == TYPE_AUDIO else Verdict.NO_MATCH
    if (
        size < MIN_PAYLOAD_DATAGRAM
        or data[2] != TYPE_PAYLOAD
        or data[0] == SNMP_SEQUENCE
        or _looks_like_dnscrypt(data)
        or is_stun(data)
    ):
        return Verdict.NO_MATCH
    return Verdict.MATCH


class SkypeUdpParser(Parser):
    """Counts a classic Skype flow's datagram types; reports the flow as Skype (heuristic)."""

    name = "skype"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self.payload_packets = 0
        self.other_packets = 0
        self._reported = False

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """One datagram; the first one reports the flow."""
        events: list[Event] = []
        if len(data) < 3:
            events.append(
                Anomaly(
                    direction=direction, ts=ts, name="skype_short_datagram", detail=str(len(data))
                )
            )
        elif data[2] == TYPE_PAYLOAD:
            self.payload_packets += 1
        else:
            self.other_packets += 1
        if not self._reported:
            self._reported = True
            events.append(
                UsageInfo(
                    direction=direction,
                    ts=ts,
                    protocol="skype",
                    metadata={
                        "application": "skype",
                        "generation": "classic",
                        "evidence": ["classic_udp_header"],
                        "content": "encrypted",
                    },
                    complete=False,  # a heuristic label, not a decoded handshake
                )
            )
        return events

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """Datagram counts, once per flow."""
        if direction is not Direction.ORIG:
            return []
        return [
            UsageInfo(
                direction=direction,
                ts=ts,
                protocol="skype",
                metadata={
                    "payload_datagrams": self.payload_packets,
                    "other_datagrams": self.other_packets,
                },
                complete=False,
            )
        ]
