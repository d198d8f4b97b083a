"""Which protocol is this stream? Content first, ports only as a hint.

Like Zeek's PIA, the first bytes of each direction are buffered (capped by
``Limits.detect_buffer_bytes`` and ``detect_max_packets``) and every enabled protocol's
signatures and probe look at them. On a decision the buffered bytes are replayed, in arrival
order, into the chosen parser. A match on the "wrong" side (a server greeting sent by what
the flow table took for the client, as happens when a capture starts mid-connection) says the
roles are reversed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from wiresift.config import Limits
from wiresift.detect.signatures import Confidence, Verdict
from wiresift.protocols.base import Direction, ProtocolSpec

# The other direction, by index (an enum call costs more, and runs once per packet here).
_OTHER: Final = (Direction.RESP, Direction.ORIG)
# A chunk of a stream seen during detection: bytes, or an int for a gap of that many bytes.
Chunk = tuple[Direction, bytes | int]


@dataclass(frozen=True, slots=True)
class Detection:
    """The decision, and why it was taken (shown by ``wiresift detect``)."""

    protocol: str | None  # None: no protocol recognised
    confidence: Confidence | None
    reversed: bool
    reason: str


class StreamDetector:
    """Detection state of one TCP flow (created only for flows that carry payload)."""

    __slots__ = ("_bufs", "_done", "_packets", "_port", "_specs", "chunks", "limits")

    def __init__(self, specs: Sequence[ProtocolSpec], limits: Limits, server_port: int) -> None:
        self._specs = specs
        self.limits = limits
        self._port = server_port
        self._bufs = [b"", b""]
        self._packets = 0
        self._done = False
        self.chunks: list[Chunk] = []

    def gap(self, direction: Direction, size: int) -> None:
        """A hole in ``direction`` while undecided: kept in the replay as a gap."""
        self.chunks.append((direction, size))

    def data(self, direction: Direction, data: bytes, *, final: bool = False) -> Detection | None:
        """Look at new bytes; return a Detection when decided, None while undecided."""
        self.chunks.append((direction, data))
        self._packets += 1
        buf = self._bufs[direction]
        cap = self.limits.detect_buffer_bytes
        if len(buf) < cap:
            buf = self._bufs[direction] = buf + data[: cap - len(buf)]
        pending = False
        other = _OTHER[direction]
        for spec in self._specs:
            verdict, reverse, how = self._check(spec, direction, other, buf)
            if verdict is Verdict.MATCH:
                side = "responder" if (direction == Direction.RESP) != reverse else "initiator"
                return Detection(
                    spec.name,
                    how,
                    reverse,
                    f"{how.name.lower()} matched the {side}'s first bytes",
                )
            if verdict is Verdict.NEED_MORE:
                pending = True
        full = len(buf) >= cap or self._packets >= self.limits.detect_max_packets
        if not (final or full) and (pending or not (self._bufs[0] and self._bufs[1])):
            # Undecided: a prefix of some protocol, or only one side seen so far (the other
            # side may still tell, e.g. a server greeting the capture started after).
            return None
        return self._fallback()

    def end(self) -> Detection:
        """The stream ended undecided."""
        return self._fallback()

    def _fallback(self) -> Detection:
        for spec in self._specs:
            if self._port in spec.ports and spec.mid_stream:
                return Detection(
                    spec.name,
                    Confidence.PORT,
                    False,
                    f"no content matched; port {self._port} suggests {spec.name}",
                )
        return Detection(None, None, False, "no protocol matched the first bytes")

    @staticmethod
    def _check(
        spec: ProtocolSpec, direction: Direction, other: Direction, buf: bytes
    ) -> tuple[Verdict, bool, Confidence]:
        verdict = Verdict.NO_MATCH
        first_bytes = spec.first_bytes
        if first_bytes is not None and buf and buf[0] not in first_bytes:
            return verdict, False, Confidence.PROBE  # none of its rules can hold
        for sig in spec.signatures:
            head = buf[: sig.depth]
            if sig.pattern.match(head):
                if sig.direction is None or sig.direction == direction:
                    return Verdict.MATCH, False, Confidence.SIGNATURE
                return Verdict.MATCH, True, Confidence.SIGNATURE
        if spec.probe is not None:
            first = spec.probe(direction, buf)
            if first is Verdict.MATCH:
                return Verdict.MATCH, False, Confidence.PROBE
            second = spec.probe(other, buf)
            if second is Verdict.MATCH:
                return Verdict.MATCH, True, Confidence.PROBE
            if Verdict.NEED_MORE in (first, second):
                verdict = Verdict.NEED_MORE
        return verdict, False, Confidence.PROBE


class DatagramDetector:
    """Detection state of one UDP flow: every datagram is looked at on its own (a datagram
    protocol's header is at the start of each one), and the undecided datagrams are kept,
    bounded by ``detect_max_packets`` and ``detect_buffer_bytes``, for the replay."""

    __slots__ = ("_held", "_packets", "_port", "_specs", "chunks", "limits")

    def __init__(self, specs: Sequence[ProtocolSpec], limits: Limits, server_port: int) -> None:
        self._specs = specs
        self.limits = limits
        self._port = server_port
        self._packets = 0
        self._held = 0
        self.chunks: list[Chunk] = []

    def gap(self, direction: Direction, size: int) -> None:
        """Datagrams have no gaps; kept for the detector interface."""

    def data(self, direction: Direction, data: bytes, *, final: bool = False) -> Detection | None:
        """Look at one datagram; return a Detection when decided, None while undecided."""
        self._packets += 1
        if self._held + len(data) <= self.limits.detect_buffer_bytes:
            self.chunks.append((direction, data))
            self._held += len(data)
        other = _OTHER[direction]
        head = data[: self.limits.detect_buffer_bytes]
        for spec in self._specs:
            first = spec.extra.get("first_datagrams")
            if isinstance(first, int) and self._packets > first:
                continue  # a weak heuristic: trusted on a flow's first datagrams only
            verdict, reverse, how = StreamDetector._check(spec, direction, other, head)
            if verdict is Verdict.MATCH:
                side = "a responder" if (direction == Direction.RESP) != reverse else "an initiator"
                if (direction, data) not in self.chunks[-1:]:
                    self.chunks.append((direction, data))  # the deciding datagram is replayed
                return Detection(
                    spec.name, how, reverse, f"{how.name.lower()} matched {side} datagram"
                )
        if final or self._packets >= self.limits.detect_max_packets:
            return self.end()
        return None

    def end(self) -> Detection:
        """The flow ended undecided: the server port may still suggest a protocol."""
        for spec in self._specs:
            if self._port in spec.ports and spec.mid_stream:
                return Detection(
                    spec.name,
                    Confidence.PORT,
                    False,
                    f"no datagram matched; port {self._port} suggests {spec.name}",
                )
        return Detection(None, None, False, "no protocol matched the first datagrams")
