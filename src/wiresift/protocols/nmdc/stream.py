"""The byte-stream machinery NMDC and ADC share: commands, raw file data, zlib.

Theory of operation: both Direct Connect protocols are streams of text commands closed by a
terminator (``|`` in NMDC, ``\\n`` in ADC), interrupted by two things:

- **file data**: after ``$ADCSND``/``$Send``/``$Sending`` (NMDC) or ``CSND`` (ADC) the next
  bytes are the file, counted by the command, not terminated; with the ``ZL1`` flag they are
  one zlib stream (RFC 1950) whose *uncompressed* size is the count (ADC-EXT "ZLIG");
- **stream compression**: after ``$ZOn|`` (NMDC) or ``ZON`` (ADC-EXT "ZLIF") the whole command
  stream of that direction is one zlib stream until the zlib end marker.

Each direction keeps one buffer and one mode. Commands are found by searching for the
terminator from where the previous search stopped. A command longer than ``max_command``
gives an anomaly and the direction skips to the next terminator (resynchronisation, as after
a gap or a mid-stream start). Every inflater is guarded by
``Limits.max_decompression_ratio``: a stream that inflates further is a zlib bomb, reported,
and that direction is then ignored (its compressed bytes have no terminator to resync on).

Sources: direct-connect/protocols ``nmdc/nmdc.md`` ($ADCSND, $Send, $ZOn); dc-protocols/adc
``ADC.txt`` s3 (SND) and ``ADC-EXT.txt`` (ZLIF, ZLIG); RFC 1950 (zlib).
"""

from __future__ import annotations

import abc
import enum
import zlib
from dataclasses import dataclass
from typing import Final

from wiresift.config import Limits
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.chatevents import FileBegin, FileData, FileEnd

# Longest command kept while its terminator has not arrived. A $NickList or $MyINFO burst of
# a large hub reaches hundreds of KiB in one command; 10 MiB is the cap wiresift's DC
# parsers use (past it: "<proto>_command_too_long", then resync at the next terminator).
MAX_COMMAND_BYTES: Final = 10 * 1024 * 1024
# Output produced per zlib call before the ratio guard looks again (zlib's own examples
# inflate in 16-256 KiB steps).
INFLATE_CHUNK: Final = 64 * 1024
# Below this much output the ratio guard does not judge: short, very repetitive command
# bursts legitimately inflate more than any sane ratio at the start of a stream.
RATIO_FLOOR_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class DcPeerContext:
    """What a hub connection said of a coming client-to-client connection.

    Given as ``ExpectConnection.context`` for ``$ConnectToMe`` (NMDC) and ``DCTM`` (ADC);
    the client-to-client parser reads it from ``FlowInfo.context``. ``listener`` asked to be
    connected to (the flow's responder), ``connector`` will connect (the flow's initiator).
    """

    protocol: str  # "nmdc" or "adc"
    hub: str
    listener: str | None = None
    connector: str | None = None
    token: str | None = None


class GuardedInflater:
    """A zlib (RFC 1950) inflater that gives up past a compression ratio.

    ``failed`` becomes "bomb" when the output exceeds ``max_ratio`` times the input (once
    past ``RATIO_FLOOR_BYTES``), "corrupt" when zlib rejects the data. ``eof`` says the zlib
    stream ended; ``unused`` then holds the bytes that followed it.
    """

    __slots__ = ("_inflater", "consumed", "eof", "failed", "max_ratio", "produced", "unused")

    def __init__(self, max_ratio: int) -> None:
        self._inflater = zlib.decompressobj()
        self.max_ratio = max_ratio
        self.consumed = 0
        self.produced = 0
        self.eof = False
        self.failed: str | None = None
        self.unused = b""

    def feed(self, data: bytes) -> bytes:
        """Inflate ``data``; returns the output up to the end of the stream or a failure."""
        if self.eof or self.failed is not None:
            return b""
        inflater = self._inflater
        pieces: list[bytes] = []
        pending = data
        self.consumed += len(data)
        while True:
            try:
                piece = inflater.decompress(pending, INFLATE_CHUNK)
            except zlib.error:
                self.failed = "corrupt"
                break
            self.produced += len(piece)
            pieces.append(piece)
            if self.produced > RATIO_FLOOR_BYTES and self.produced > self.max_ratio * max(
                1, self.consumed - len(inflater.unconsumed_tail)
            ):
                self.failed = "bomb"
                break
            if inflater.eof:
                self.eof = True
                self.unused = inflater.unused_data
                self.consumed -= len(self.unused)
                break
            pending = inflater.unconsumed_tail
            # A full piece may leave output inside zlib even when all input is consumed.
            if not pending and len(piece) < INFLATE_CHUNK:
                break
        return b"".join(pieces)


class _Mode(enum.Enum):
    COMMANDS = enum.auto()  # terminated text commands
    RAW = enum.auto()  # counted file bytes
    ZRAW = enum.auto()  # one zlib stream of file bytes
    SKIP = enum.auto()  # counted bytes of a file already given up (after a gap)
    RESYNC = enum.auto()  # drop through the next terminator
    DEAD = enum.auto()  # nothing more can be understood in this direction


class _Side:
    """The state of one direction."""

    __slots__ = (
        "data",
        "file",
        "garbage",
        "inflater",
        "mode",
        "nick",
        "remaining",
        "scan",
        "stream",
    )

    def __init__(self, mode: _Mode) -> None:
        self.data = bytearray()
        self.scan = 0  # no terminator in data[:scan]
        self.mode = mode
        self.remaining = 0  # RAW/SKIP: bytes left; ZRAW: uncompressed bytes expected
        self.file = -1  # number of the file being received
        self.inflater: GuardedInflater | None = None  # ZRAW
        self.stream: GuardedInflater | None = None  # whole-stream compression ($ZOn, ZON)
        self.garbage = False  # the last command was not understood (report once)
        self.nick: str | None = None


class DcStreamParser(Parser):
    """Base of the NMDC and ADC parsers: framing, file data and zlib; subclasses read
    commands in ``_command``."""

    terminator: bytes = b"|"
    max_command: int = MAX_COMMAND_BYTES

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        first = _Mode.RESYNC if flow.mid_stream else _Mode.COMMANDS
        self._sides = (_Side(first), _Side(first))
        self._files = 0

    # -- to implement -------------------------------------------------------------------

    @abc.abstractmethod
    def _command(self, direction: Direction, command: bytes, ts: int) -> list[Event] | None:
        """One command without its terminator; None when it is not understood at all."""

    def _leftover(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """An unterminated command at the end of the stream."""
        return [self._anomaly(direction, ts, "truncated_command", f"{len(data)} bytes")]

    # -- Parser -------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        side = self._sides[direction]
        if side.mode is _Mode.DEAD:
            return []
        out: list[Event] = []
        if side.stream is not None:
            data = self._inflate_stream(direction, side, data, ts, out)
        side.data += data
        self._run(direction, side, ts, out)
        return out

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = [self._anomaly(direction, ts, "content_gap", f"{size} bytes")]
        mode = side.mode
        if mode is _Mode.DEAD:
            return out
        if side.stream is not None:
            # A hole in a compressed stream breaks every byte after it.
            out.append(self._anomaly(direction, ts, "compressed_stream_gap"))
            self._kill(side)
            return out
        if mode is _Mode.RAW or mode is _Mode.ZRAW:
            out.append(
                FileEnd(direction=direction, ts=ts, file=side.file, complete=False, reason="gap")
            )
            side.inflater = None
            if mode is _Mode.RAW and size < side.remaining:
                side.mode = _Mode.SKIP
                side.remaining -= size
                return out
        elif mode is _Mode.SKIP and size < side.remaining:
            side.remaining -= size
            return out
        side.data.clear()
        side.scan = 0
        side.mode = _Mode.RESYNC
        return out

    def end(self, direction: Direction, ts: int) -> list[Event]:
        side = self._sides[direction]
        out: list[Event] = []
        if side.mode is _Mode.RAW or side.mode is _Mode.ZRAW:
            out.append(
                FileEnd(direction=direction, ts=ts, file=side.file, complete=False, reason="closed")
            )
            side.mode = _Mode.RESYNC
            side.inflater = None
        elif side.mode is _Mode.COMMANDS and side.data:
            out += self._leftover(direction, bytes(side.data), ts)
        side.data.clear()
        side.scan = 0
        return out

    def buffered_bytes(self) -> int:
        return len(self._sides[0].data) + len(self._sides[1].data)

    # -- for subclasses ------------------------------------------------------------------

    def _anomaly(self, direction: Direction, ts: int, problem: str, detail: str = "") -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=f"{self.name}_{problem}", detail=detail)

    def _nick(self, direction: Direction) -> str | None:
        return self._sides[direction].nick

    def _set_nick(self, direction: Direction, nick: str) -> None:
        self._sides[direction].nick = nick

    def _begin_file(
        self,
        direction: Direction,
        ts: int,
        out: list[Event],
        *,
        name: str,
        start: int,
        count: int,
        compressed: bool,
        transfer_id: str | None = None,
    ) -> None:
        """``direction`` now sends ``count`` bytes of ``name`` from offset ``start``."""
        side = self._sides[direction]
        other = self._sides[1 - direction]
        side.file = self._files
        self._files += 1
        out.append(
            FileBegin(
                direction=direction,
                ts=ts,
                file=side.file,
                name=name,
                size=start + count,
                offset=start,
                sender=side.nick,
                recipient=other.nick,
                transfer_id=transfer_id,
                upload=direction is Direction.ORIG,
            )
        )
        if count == 0 and not compressed:
            out.append(FileEnd(direction=direction, ts=ts, file=side.file, complete=True))
            return
        side.remaining = count
        if compressed:
            side.mode = _Mode.ZRAW
            side.inflater = GuardedInflater(self.limits.max_decompression_ratio)
        else:
            side.mode = _Mode.RAW

    def _start_stream_compression(self, direction: Direction, ts: int, out: list[Event]) -> None:
        """Every byte after the current command is one zlib stream ($ZOn, ZON)."""
        side = self._sides[direction]
        rest = bytes(side.data)
        side.data.clear()
        side.scan = 0
        side.stream = GuardedInflater(self.limits.max_decompression_ratio)
        side.data += self._inflate_stream(direction, side, rest, ts, out)

    # -- machinery ---------------------------------------------------------------------

    def _kill(self, side: _Side) -> None:
        side.mode = _Mode.DEAD
        side.data.clear()
        side.scan = 0
        side.stream = side.inflater = None

    def _zlib_failure(self, direction: Direction, ts: int, failed: str) -> Anomaly:
        if failed == "bomb":
            return self._anomaly(
                direction, ts, "zlib_bomb", f"ratio over {self.limits.max_decompression_ratio}"
            )
        return self._anomaly(direction, ts, "zlib_error")

    def _inflate_stream(
        self, direction: Direction, side: _Side, data: bytes, ts: int, out: list[Event]
    ) -> bytes:
        stream = side.stream
        assert stream is not None
        plain = stream.feed(data)
        if stream.failed is not None:
            out.append(self._zlib_failure(direction, ts, stream.failed))
            self._kill(side)
            return b""
        if stream.eof:
            side.stream = None
            plain += stream.unused
        return plain

    def _run(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> None:
        terminator = self.terminator
        data = side.data
        while data:
            mode = side.mode
            if mode is _Mode.COMMANDS:
                limit = self.max_command
                index = data.find(terminator, side.scan, limit + 1)
                if index < 0:
                    side.scan = min(len(data), limit + 1)
                    if len(data) > limit:
                        # The same verdict whatever the cuts: no terminator in limit+1 bytes.
                        out.append(
                            self._anomaly(direction, ts, "command_too_long", f"over {limit} bytes")
                        )
                        del data[: limit + 1]
                        side.scan = 0
                        side.mode = _Mode.RESYNC
                        continue
                    return
                command = bytes(data[:index])
                del data[: index + 1]
                side.scan = 0
                events = self._command(direction, command, ts)
                if events is None:
                    if not side.garbage:
                        out.append(self._anomaly(direction, ts, "bad_command", _show(command)))
                    side.garbage = True
                else:
                    side.garbage = False
                    out += events
                if side.mode is _Mode.DEAD:
                    return
                data = side.data  # stream compression may have replaced the bytes
            elif mode is _Mode.RAW:
                take = min(side.remaining, len(data))
                out.append(
                    FileData(direction=direction, ts=ts, file=side.file, data=bytes(data[:take]))
                )
                del data[:take]
                side.remaining -= take
                if not side.remaining:
                    out.append(FileEnd(direction=direction, ts=ts, file=side.file, complete=True))
                    side.mode = _Mode.COMMANDS
            elif mode is _Mode.ZRAW:
                self._inflate_file(direction, side, ts, out)
            elif mode is _Mode.SKIP:
                take = min(side.remaining, len(data))
                del data[:take]
                side.remaining -= take
                if not side.remaining:
                    side.mode = _Mode.COMMANDS
            elif mode is _Mode.RESYNC:
                index = data.find(terminator)
                if index < 0:
                    data.clear()
                    return
                del data[: index + 1]
                side.mode = _Mode.COMMANDS
            else:
                data.clear()
                return

    def _inflate_file(self, direction: Direction, side: _Side, ts: int, out: list[Event]) -> None:
        inflater = side.inflater
        assert inflater is not None
        chunk = bytes(side.data)
        side.data.clear()
        side.scan = 0
        plain = inflater.feed(chunk)
        if len(plain) > side.remaining:
            if side.remaining >= 0:
                out.append(self._anomaly(direction, ts, "compressed_data_overrun"))
            plain = plain[: max(side.remaining, 0)]
            side.remaining = -1
        else:
            side.remaining -= len(plain)
        if plain:
            out.append(FileData(direction=direction, ts=ts, file=side.file, data=plain))
        if inflater.failed is not None:
            out.append(self._zlib_failure(direction, ts, inflater.failed))
            out.append(
                FileEnd(
                    direction=direction,
                    ts=ts,
                    file=side.file,
                    complete=False,
                    reason=inflater.failed,
                )
            )
            # Where the compressed bytes end is unknown: nothing after them can be trusted.
            self._kill(side)
            return
        if inflater.eof:
            complete = side.remaining == 0
            if side.remaining > 0:
                out.append(self._anomaly(direction, ts, "compressed_data_short"))
            out.append(FileEnd(direction=direction, ts=ts, file=side.file, complete=complete))
            side.inflater = None
            side.mode = _Mode.COMMANDS
            side.data += inflater.unused


def _show(command: bytes) -> str:
    """A short printable form of a command for an anomaly's detail."""
    return command[:64].decode("latin-1").encode("unicode_escape").decode("ascii")
