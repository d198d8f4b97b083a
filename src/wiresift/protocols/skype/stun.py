"""STUN/TURN on UDP (RFC 8489, RFC 8656) with the Microsoft extensions Skype and Teams use.

A STUN message is a 20-byte header (RFC 8489 s5: type with the two top bits zero, length
of the attributes, magic cookie ``0x2112A442``, 96-bit transaction id) and 4-byte aligned
TLV attributes (s14). Microsoft's clients and relays add attributes from the
comprehension-optional range documented in [MS-TURN] s2.2.2 and [MS-ICE2] s2.2.2; their
presence is what tells a Skype/Teams call from any other STUN user (nDPI's ``stun.c``
labels "Skype_TeamsCall" the same way). After ICE, the flow carries SRTP media and TURN
ChannelData (RFC 8656 s12.4): counted, never decoded (the media keys are not on the wire).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.model import JsonValue
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.usage_events import UsageInfo

MAGIC_COOKIE: Final = 0x2112A442  # RFC 8489 s5
HEADER: Final = struct.Struct("!HHI12s")
ATTRIBUTE: Final = struct.Struct("!HH")
HEADER_SIZE: Final = 20
# Attributes read per message (real messages carry fewer than 20).
MAX_STUN_ATTRIBUTES: Final = 64
# Longest SOFTWARE / REALM value kept (RFC 8489 s14.14: fewer than 128 characters).
MAX_TEXT: Final = 128
# Distinct values kept per list (addresses, message types).
MAX_VALUES: Final = 16

# RFC 8489 s18.3, RFC 8656 s18: the attributes whose value is reported.
ATTR_XOR_MAPPED_ADDRESS: Final = 0x0020
ATTR_REALM: Final = 0x0014
ATTR_SOFTWARE: Final = 0x8022
# Microsoft attributes: [MS-TURN] s2.2.2.1 MS-Version 0x8008, s2.2.2.2 MS-Sequence Number
# 0x8050, s2.2.2.3 MS-Service Quality 0x8055; [MS-ICE2] s2.2.2.2 Candidate-Identifier
# 0x8054, s2.2.2.3 Implementation-Version 0x8070; [MS-TURN] MS-Multiplexed TURN Session ID
# 0x8095 (used by Teams relays; listed by nDPI's stun.c).
MS_ATTRIBUTES: Final[dict[int, str]] = {
    0x8008: "ms_version",
    0x8050: "ms_sequence_number",
    0x8054: "candidate_identifier",
    0x8055: "ms_service_quality",
    0x8070: "ms_implementation_version",
    0x8095: "ms_multiplexed_turn_session_id",
}
# RFC 8489 s18.2 and RFC 8656 s18: method numbers.
METHODS: Final[dict[int, str]] = {
    0x001: "binding",
    0x003: "allocate",
    0x004: "refresh",
    0x006: "send",
    0x007: "data",
    0x008: "create_permission",
    0x009: "channel_bind",
}
CLASSES: Final = ("request", "indication", "success", "error")
# Weak evidence only ([MS] "Office 365 URLs and IP address ranges": Teams media relays on
# UDP 3478-3481, Teams client media ports 50000-59999).
RELAY_PORTS: Final = range(3478, 3482)
MEDIA_PORTS: Final = range(50000, 60000)


def message_class(message_type: int) -> int:
    """0 request, 1 indication, 2 success response, 3 error response (RFC 8489 s5)."""
    return ((message_type >> 7) & 0x2) | ((message_type >> 4) & 0x1)


def message_method(message_type: int) -> int:
    """The 12-bit method of a message type (RFC 8489 s5)."""
    return (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)


def is_stun(data: bytes) -> bool:
    """A whole RFC 5389/8489 message: top bits 00, cookie, aligned length that fits exactly."""
    if len(data) < HEADER_SIZE or data[0] & 0xC0:
        return False
    _type, length, cookie, _tid = HEADER.unpack_from(data)
    return cookie == MAGIC_COOKIE and not length & 3 and HEADER_SIZE + length == len(data)


def probe(direction: Direction, data: bytes) -> Verdict:
    """A STUN message; a response first seen from the initiator means the roles are reversed."""
    if not is_stun(data):
        return Verdict.NO_MATCH
    klass = message_class(HEADER.unpack_from(data)[0])
    if direction is Direction.ORIG and klass >= 2:
        return Verdict.NO_MATCH  # the other call (as responder) matches
    return Verdict.MATCH


def _xor_address(value: bytes, tid: bytes) -> str | None:
    """XOR-MAPPED-ADDRESS (RFC 8489 s14.2) as ``addr:port``."""
    if len(value) < 8:
        return None
    family = value[1]
    port = int.from_bytes(value[2:4], "big") ^ (MAGIC_COOKIE >> 16)
    key = MAGIC_COOKIE.to_bytes(4, "big") + tid
    if family == 1:
        raw = bytes(a ^ b for a, b in zip(value[4:8], key, strict=False))
        return f"{ipaddress.IPv4Address(raw)}:{port}"
    if family == 2 and len(value) >= 20:
        raw = bytes(a ^ b for a, b in zip(value[4:20], key, strict=True))
        return f"[{ipaddress.IPv6Address(raw)}]:{port}"
    return None


class StunParser(Parser):
    """One datagram per ``feed``: STUN messages are read, media datagrams only counted."""

    name = "stun"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self.messages = 0
        self.media = 0
        self.channel_data = 0
        self._types: list[str] = []
        self._ms: list[str] = []
        self._addresses: list[str] = []
        self._software: list[str] = []
        self._realm: str | None = None
        self._reported = False

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Read one datagram (RFC 8489 s6: one message per UDP datagram)."""
        if not is_stun(data):
            if len(data) >= 4 and 0x40 <= data[0] <= 0x7F:
                self.channel_data += 1  # RFC 8656 s12.4: channel numbers 0x4000-0x7FFF
            elif len(data) >= HEADER_SIZE and data[4:8] == MAGIC_COOKIE.to_bytes(4, "big"):
                return [Anomaly(direction=direction, ts=ts, name="stun_bad_length")]
            else:
                self.media += 1
            return []
        self.messages += 1
        message_type, length, _cookie, tid = HEADER.unpack_from(data)
        new = self._note_type(message_type)
        events: list[Event] = []
        offset = HEADER_SIZE
        end = HEADER_SIZE + length
        for _ in range(MAX_STUN_ATTRIBUTES):
            if offset + 4 > end:
                break
            kind, size = ATTRIBUTE.unpack_from(data, offset)
            value = data[offset + 4 : offset + 4 + size]
            if len(value) < size:
                events.append(
                    Anomaly(
                        direction=direction,
                        ts=ts,
                        name="stun_bad_attribute",
                        detail=f"attribute 0x{kind:04x} overruns the message",
                    )
                )
                break
            new |= self._attribute(kind, value, tid)
            offset += 4 + ((size + 3) & ~3)  # RFC 8489 s14: values padded to 4 bytes
        if new or not self._reported:
            self._reported = True
            events.append(self._usage(direction, ts))
        return events

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """Datagram counts, once per flow (on the first direction's end)."""
        if direction is not Direction.ORIG:
            return []
        counts: dict[str, JsonValue] = {
            "stun_messages": self.messages,
            "media_datagrams": self.media,
            "turn_channel_datagrams": self.channel_data,
        }
        return [UsageInfo(direction=direction, ts=ts, protocol="stun", metadata=counts)]

    # -- internals ---------------------------------------------------------------------

    def _note_type(self, message_type: int) -> bool:
        method = message_method(message_type)
        label = f"{METHODS.get(method, f'0x{method:03x}')}_{CLASSES[message_class(message_type)]}"
        if label in self._types or len(self._types) >= MAX_VALUES:
            return False
        self._types.append(label)
        return True

    def _attribute(self, kind: int, value: bytes, tid: bytes) -> bool:
        """Remember what an attribute tells; True if it was news."""
        ms_name = MS_ATTRIBUTES.get(kind)
        if ms_name is not None:
            if ms_name in self._ms:
                return False
            self._ms.append(ms_name)
            return True
        if kind == ATTR_XOR_MAPPED_ADDRESS:
            address = _xor_address(value, tid)
            if address is None or address in self._addresses:
                return False
            if len(self._addresses) < MAX_VALUES:
                self._addresses.append(address)
            return True
        if kind in (ATTR_SOFTWARE, ATTR_REALM):
            text = value[:MAX_TEXT].decode("utf-8", "replace")
            if kind == ATTR_REALM:
                changed = text != self._realm
                self._realm = text
                return changed
            if text in self._software or len(self._software) >= MAX_VALUES:
                return False
            self._software.append(text)
            return True
        return False

    def _usage(self, direction: Direction, ts: int) -> UsageInfo:
        flow = self.flow
        evidence: list[JsonValue] = []
        if self._ms:
            evidence.append("microsoft_stun_attributes")
        if flow.resp_port in RELAY_PORTS or flow.orig_port in RELAY_PORTS:
            evidence.append("stun_relay_port")
        if flow.resp_port in MEDIA_PORTS or flow.orig_port in MEDIA_PORTS:
            evidence.append("teams_media_port")
        metadata: dict[str, JsonValue] = {
            "message_types": list[JsonValue](self._types),
            "evidence": evidence,
        }
        if self._ms:
            # Only the Microsoft attributes decide; ports alone are too common to name an
            # application.
            metadata["application"] = "skype"
            metadata["ms_attributes"] = list[JsonValue](self._ms)
        if self._addresses:
            metadata["mapped_addresses"] = list[JsonValue](self._addresses)
        if self._software:
            metadata["software"] = list[JsonValue](self._software)
        if self._realm is not None:
            metadata["realm"] = self._realm
        return UsageInfo(
            direction=direction, ts=ts, protocol="stun", metadata=metadata, complete=True
        )
