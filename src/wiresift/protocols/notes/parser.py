"""NRPC session reader: detection probe, server name, encryption guess, text carving.

Evidence for each field is in the package docstring (``protocols/notes/__init__.py``).
Carving is split-invariant: each direction's bytes are scanned in pieces cut right after a
NUL or line-feed byte, and no carved pattern can contain either, so a match never spans
two pieces.
"""

from __future__ import annotations

import math
import re
from typing import Final

from wiresift.config import Limits
from wiresift.detect.signatures import Verdict
from wiresift.model import JsonValue
from wiresift.protocols.base import Anomaly, Direction, Event, FlowInfo, Parser
from wiresift.protocols.usage_events import UsageInfo

# nDPI lotus_notes.c: bytes 6-13 of the client's first message.
CLIENT_MAGIC: Final = b"\x00\x00\x02\x00\x00\x40\x02\x0f"
CLIENT_MAGIC_AT: Final = 6
CLIENT_MIN_SIZE: Final = 17  # nDPI: "payload_len > 16"
# nmap lotusnotes match: byte 8 = 0x03 then 00 00 40 02 0F in the server's answer.
SERVER_MAGIC: Final = b"\x03\x00\x00\x40\x02\x0f"
SERVER_MAGIC_AT: Final = 8
HEADER_NEEDED: Final = 14
# Bytes of each direction looked at for the encryption guess, after the hello.
ENTROPY_SAMPLE: Final = 4096
MIN_ENTROPY_SAMPLE: Final = 256
# Bits per byte above which the sample is taken as encrypted or compressed (English text
# is about 4.5, random data approaches 8; 7.0 leaves room for short samples).
HIGH_ENTROPY: Final = 7.0
# Bytes of each direction the carver reads (a session beyond this is only counted).
MAX_NOTES_CARVE_BYTES: Final = 4 * 1024 * 1024
# Bytes held before a carving pass (a pass cuts after the last NUL/LF).
CARVE_CHUNK: Final = 16 * 1024
# Values kept per carved list.
MAX_CARVED: Final = 32

NOTES_NAME: Final = re.compile(
    rb"CN=[\x20-\x2e\x30-\x7e]{1,80}(?:/(?:OU|O|C)=[\x20-\x2e\x30-\x7e]{1,80}){1,6}"
)
SMTP_ADDRESS: Final = re.compile(
    rb"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"
)
SUBJECT_LINE: Final = re.compile(rb"(?:^|[\r\n\x00])Subject: ?([\x20-\x7e]{1,200})")
_SEPARATORS: Final = re.compile(rb"[\x00\n]")


def probe(direction: Direction, data: bytes) -> Verdict:
    """The client's or the server's first NRPC message (nDPI and nmap byte patterns).

    Bytes short of the pattern wait for more only when what is there agrees with it (nDPI
    wants the whole pattern in the first packet; this allows a split after its start).
    """
    if direction is Direction.ORIG:
        magic, at, whole = CLIENT_MAGIC, CLIENT_MAGIC_AT, CLIENT_MIN_SIZE
    else:
        magic, at, whole = SERVER_MAGIC, SERVER_MAGIC_AT, HEADER_NEEDED
    seen = data[at:HEADER_NEEDED]
    if len(data) >= whole and seen == magic:
        return Verdict.MATCH
    if at < len(data) < whole and magic.startswith(seen):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte."""
    if not data:
        return 0.0
    counts = [0] * 256
    for byte in data:
        counts[byte] += 1
    size = len(data)
    return -sum(c / size * math.log2(c / size) for c in counts if c)


class _Side:
    """What one direction has shown."""

    __slots__ = ("carved", "hello", "hello_size", "pending", "sample", "seen")

    def __init__(self) -> None:
        self.seen = 0  # bytes of this direction so far
        self.hello = b""  # the first HEADER_NEEDED bytes
        self.hello_size = -1  # the first message's size, once known
        self.sample = bytearray()  # bytes after the hello, for the entropy guess
        self.pending = bytearray()  # bytes not carved yet
        self.carved = 0


class NotesParser(Parser):
    """Reads both directions of an NRPC session; reports once, when the flow ends."""

    name = "notes"

    def __init__(self, flow: FlowInfo, limits: Limits) -> None:
        super().__init__(flow, limits)
        self._sides = (_Side(), _Side())
        self.addresses: list[str] = []
        self.subjects: list[str] = []
        # Notes names (CN=.../O=...) per direction, in order of appearance.
        self._names: tuple[list[str], list[str]] = ([], [])
        self._reported = False

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """Take the next bytes of ``direction``."""
        side = self._sides[direction]
        events: list[Event] = []
        if len(side.hello) < HEADER_NEEDED:
            side.hello += data[: HEADER_NEEDED - len(side.hello)]
            if len(side.hello) == HEADER_NEEDED:
                side.hello_size = self._hello_size(side.hello)
                if probe(direction, side.hello + b"\x00" * 3) is not Verdict.MATCH:
                    events.append(
                        Anomaly(
                            direction=direction,
                            ts=ts,
                            name="notes_unexpected_hello",
                            detail=side.hello.hex(),
                        )
                    )
        start = side.seen
        side.seen += len(data)
        if side.hello_size >= 0 and len(side.sample) < ENTROPY_SAMPLE:
            skip = max(0, side.hello_size - start)
            side.sample += data[skip : skip + ENTROPY_SAMPLE - len(side.sample)]
        if side.carved < MAX_NOTES_CARVE_BYTES:
            room = MAX_NOTES_CARVE_BYTES - side.carved
            side.pending += data[:room]
            side.carved += min(room, len(data))
            if len(side.pending) >= CARVE_CHUNK:
                self._carve(direction, final=False)
        return events

    def gap(self, direction: Direction, size: int, ts: int) -> list[Event]:
        """A hole: carving restarts after it (nothing spans the gap)."""
        side = self._sides[direction]
        self._carve(direction, final=True)
        side.seen += size
        return [
            Anomaly(direction=direction, ts=ts, name="notes_content_gap", detail=f"{size} bytes")
        ]

    def end(self, direction: Direction, ts: int) -> list[Event]:
        """Carve what is left; after both directions, report the session."""
        self._carve(direction, final=True)
        if direction is not Direction.RESP or self._reported:
            return []
        self._reported = True
        return [UsageInfo(direction=direction, ts=ts, protocol="notes", metadata=self._report())]

    def buffered_bytes(self) -> int:
        """Bytes held for carving and the entropy sample."""
        return sum(len(s.pending) + len(s.sample) for s in self._sides)

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _hello_size(head: bytes) -> int:
        """The first message's size: nmap's probe starts with a 16-bit LE count of the
        bytes that follow (0x3A for its 60 bytes); otherwise the 14 header bytes."""
        declared = int.from_bytes(head[:2], "little") + 2
        return declared if HEADER_NEEDED <= declared <= ENTROPY_SAMPLE else HEADER_NEEDED

    def _carve(self, direction: Direction, *, final: bool) -> None:
        side = self._sides[direction]
        pending = side.pending
        if not pending:
            return
        if final:
            cut = len(pending)
        else:
            cut = max(pending.rfind(b"\x00"), pending.rfind(b"\n")) + 1 or len(pending)
        piece = bytes(pending[:cut])
        del pending[:cut]
        names = self._names[direction]
        for match in NOTES_NAME.finditer(piece):
            _add(names, match.group().decode("ascii"))
        for match in SMTP_ADDRESS.finditer(piece):
            _add(self.addresses, match.group().decode("ascii"))
        for match in SUBJECT_LINE.finditer(piece):
            _add(self.subjects, match.group(1).decode("ascii").strip())

    def _report(self) -> dict[str, JsonValue]:
        client, server = self._sides
        metadata: dict[str, JsonValue] = {
            "application": "lotus_notes",
            "client_hello": client.hello[:HEADER_NEEDED].hex(),
            "server_hello": server.hello[:HEADER_NEEDED].hex(),
        }
        client_names, server_names = self._names
        # The first name the server sends is its own (nmap's lotusnotes match).
        server_name = server_names[0] if server_names else None
        if server_name is not None:
            metadata["server_name"] = server_name
        guesses: list[bool] = []
        for label, side in (("client", client), ("server", server)):
            if len(side.sample) >= MIN_ENTROPY_SAMPLE:
                bits = entropy(bytes(side.sample))
                metadata[f"entropy_{label}"] = round(bits, 2)
                guesses.append(bits >= HIGH_ENTROPY)
        if not guesses:
            metadata["encryption"] = "undetermined"
        elif any(guesses):
            metadata["encryption"] = "encrypted_or_compressed"
        else:
            metadata["encryption"] = "none"
        if metadata["encryption"] != "encrypted_or_compressed":
            names = [n for n in client_names if n != server_name]
            if names:
                metadata["client_names"] = list[JsonValue](names)
            carved = self.addresses + [n for n in server_names[1:] if n not in names]
            if carved:
                metadata["carved_addresses"] = list[JsonValue](carved[:MAX_CARVED])
            if self.subjects:
                metadata["carved_subjects"] = list[JsonValue](self.subjects)
        return metadata


def _add(values: list[str], value: str) -> None:
    if value not in values and len(values) < MAX_CARVED:
        values.append(value)
