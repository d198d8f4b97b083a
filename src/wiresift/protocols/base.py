"""The vocabulary every protocol parser shares.

A parser is sans-IO (h11/h2/wsproto): bytes in, a list of frozen events out. Time comes
in as integer nanoseconds of packet time. Remote misbehaviour becomes an ``Anomaly``
event; an exception means a bug in wiresift itself.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from wiresift.config import Limits

if TYPE_CHECKING:
    from wiresift.detect.signatures import Signature, Verdict


# ``Parser.body_run`` of a body with no known end: everything until the stream closes.
UNBOUNDED_RUN: Final = 1 << 62


class Direction(enum.IntEnum):
    """ORIG is initiator to responder (client to server), RESP the reverse."""

    ORIG = 0
    RESP = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every protocol event."""

    direction: Direction
    ts: int  # packet time, ns since the epoch, of the byte that completed the event


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirmed(Event):
    """The parser is now sure the stream is its protocol."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation(Event):
    """The stream is probably not this protocol."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly(Event):
    """Named misbehaviour of the peer (``<proto>_<problem>``, listed in docs/anomalies.md)."""

    name: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchProtocol(Event):
    """The stream changes protocol (STARTTLS, Upgrade, CONNECT, SOCKS).

    ``to`` names the next protocol, or None to run detection again. ``leftover`` holds the
    bytes of ``direction`` after the switch point; ``leftover_other`` those of the other
    direction that the parser had buffered. ``context`` carries what the next parser needs
    to know of the handshake (WebSocket URL, subprotocol, extensions). ``tunnel`` is set when
    the stream now carries a connection to another host (SOCKS, HTTP CONNECT): (label,
    target host, target port); later objects of the flow name that target as the server.
    """

    to: str | None
    leftover: bytes = b""
    leftover_other: bytes = b""
    context: dict[str, object] | None = None
    tunnel: tuple[str, str, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowInfo:
    """What a parser may know of its flow (no I/O handles)."""

    uid: str
    orig_addr: str
    orig_port: int
    resp_addr: str
    resp_port: int
    transport: Literal["tcp", "udp"]
    mid_stream: bool = False  # the capture started after the connection did
    # Handshake facts handed on by SwitchProtocol.context, or what an ExpectConnection
    # announced for this flow (protocols/expect_events.py).
    context: object | None = None
    tunnels: tuple[str, ...] = ()  # proxy layers crossed (SOCKS, HTTP CONNECT), outermost first
    via: tuple[str, int] | None = None  # the proxy's address when resp_* names the target


class Parser(abc.ABC):
    """Sans-IO, one instance per flow; sees both directions."""

    name: str = ""

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        self.flow = flow
        self.limits = limits

    @abc.abstractmethod
    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next in-order bytes of ``direction``."""

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """``size`` bytes of ``direction`` were never captured (a hole in the stream)."""
        return [
            Anomaly(
                direction=direction, ts=ts, name=f"{self.name}_content_gap", detail=f"{size} bytes"
            )
        ]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` is closed (FIN, RST or flow timeout); flush partial state."""
        return []

    def buffered_bytes(self) -> int:
        """Bytes held by the parser right now (the fuzz invariant bounds this)."""
        return 0

    def body_run(self, direction: Direction) -> int:
        """How many of the next bytes of ``direction`` this parser would hand on whole as
        body data of the current message, with no other effect, however they were split.

        The engine may join consecutive segments up to that many bytes and feed them at
        once, with the time of the last one. 0 (the default): feed every segment now;
        ``UNBOUNDED_RUN``: every byte from here on.
        """
        return 0


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """How a protocol registers itself: detection rules next to its parser."""

    name: str
    transport: Literal["tcp", "udp"]
    ports: frozenset[int]  # a hint only
    parser: type[Parser]
    description: str = ""
    signatures: tuple[Signature, ...] = ()
    probe: Callable[[Direction, bytes], Verdict] | None = None
    accepts_gaps: bool = False
    mid_stream: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    # The bytes either side's first message can begin with (None: any). Only a promise
    # that every signature and the probe hold: detection then skips the protocol for a
    # stream that begins otherwise (detect/signatures.py TEXT_FIRST_BYTES).
    first_bytes: frozenset[int] | None = None
