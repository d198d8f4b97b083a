"""Streaming Content-Encoding decoders (RFC 9110 s8.4, s8.4.1; gzip RFC 1952; zlib RFC 1950;
deflate RFC 1951; br RFC 7932; zstd RFC 8878 with the HTTP window cap of RFC 9659).

Theory of operation: a ``ContentDecoder`` is built from the codings of one message, in the
order the sender applied them (RFC 9110 s8.4), and decodes them in reverse. Each coding is a
stage; a stage pushes bounded chunks of its output into the next stage, and the last stage
pushes into a sink that enforces two caps: ``max_output`` bytes of decoded content, and a
decompression ratio (output over wire input) that, once past a floor, marks a bomb. When a cap
is hit the decoder stops decoding and only counts input, so the caller stays in sync with the
stream. Nothing holds a whole body: each ``feed`` returns what its input decoded to.

Bad content never raises. Unknown codings and corrupt streams are recorded as anomalies,
``failed`` is set and the caller keeps the raw body; an early end or trailing bytes after the
last member are recorded, and the decoded output is kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import brotli
import zstandard

# Anomaly names (docs/anomalies.md).
ANOMALY_UNKNOWN_ENCODING: Final = "http_unknown_content_encoding"
ANOMALY_DECODE_ERROR: Final = "content_decode_error"
ANOMALY_DECODE_INCOMPLETE: Final = "content_decode_incomplete"
ANOMALY_TRAILING_GARBAGE: Final = "content_trailing_garbage"
ANOMALY_ENCODING_MISMATCH: Final = "content_encoding_mismatch"
ANOMALY_TOO_MANY_ENCODINGS: Final = "content_too_many_encodings"
ANOMALY_RATIO: Final = "content_decompression_ratio"
ANOMALY_OUTPUT_TOO_LONG: Final = "content_decoded_too_long"

# Decoded bytes always allowed before the ratio test applies: small bodies legitimately
# compress far better than 1000:1 (a 1 MiB run of spaces gzips to about 1 KiB).
RATIO_FLOOR: Final = 1024 * 1024
# Largest chunk a stage hands downstream at once; bounds the memory of one decode step.
STAGE_CHUNK: Final = 256 * 1024
# zstd output per input byte at worst: one 128 KiB block (RFC 8878 s3.1.1.2.4) costs at
# least 4 bytes (an RLE block), so 32 KiB per byte bounds how much an input slice can expand.
_ZSTD_MAX_EXPANSION_SHIFT: Final = 15
# Smallest zstd input slice; at most 64 * 32 KiB = 2 MiB of output past the cap is produced
# and then cut.
_ZSTD_MIN_SLICE: Final = 64
# Largest zstd window accepted: RFC 9659 s3 caps the window of the "zstd" coding at 8 MB.
ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE_LOW: Final = 0x184D2A50  # RFC 8878 s3.1.2: 0x184D2A5? little-endian
_IDENTITY: Final = frozenset({"", "identity"})
_DEFLATE_FAMILY: Final = frozenset({"gzip", "x-gzip", "deflate"})
_SUPPORTED: Final = _DEFLATE_FAMILY | {"br", "zstd"}

_Sink = Callable[[bytes], None]


class _Stop(Exception):  # noqa: N818 (control flow, not an error)
    """A cap was hit: unwind every stage at once."""


class _CorruptError(Exception):
    """The stream cannot be decoded further."""


def parse_content_encoding(header_values: Iterable[bytes]) -> list[str]:
    """Codings of all Content-Encoding field lines, in the order applied (RFC 9110 s8.4).

    Several field lines combine as one comma-separated list (RFC 9110 s5.3); tokens are
    case-insensitive, and empty list elements are ignored (RFC 9110 s5.6.1).
    """
    codings: list[str] = []
    for value in header_values:
        for token in value.split(b","):
            name = token.strip(b" \t").decode("latin-1").lower()
            if name:
                codings.append(name)
    return codings


class _Stage:
    """One coding being decoded; output goes to ``down`` in chunks of at most STAGE_CHUNK."""

    __slots__ = ("down", "label", "note", "produced", "room", "saw_input")

    def __init__(self, label: str, note: Callable[[str, str], None]) -> None:
        self.label = label
        self.note = note
        self.down: _Sink = _discard
        self.room: Callable[[], int] = _unbounded
        self.produced = 0
        self.saw_input = False

    def push(self, data: bytes) -> None:
        """Decode ``data``; raises _CorruptError or lets _Stop through."""
        raise NotImplementedError

    def close(self) -> None:
        """The input ended: flush, and note an early end."""
        raise NotImplementedError

    def emit(self, out: bytes) -> None:
        self.produced += len(out)
        self.down(out)


def _discard(_: bytes) -> None:
    """Sink of a stage not yet linked (never used once the chain is built)."""


def _unbounded() -> int:
    return 1 << 62


class _MemberStage(_Stage):
    """A coding whose stream may hold several members or frames (gzip, zstd): a few bytes
    are held back until they tell what follows, and after trailing garbage the stage only
    counts."""

    __slots__ = ("_ignore", "_pending")

    def __init__(self, label: str, note: Callable[[str, str], None]) -> None:
        super().__init__(label, note)
        self._pending = b""  # too few bytes yet to tell what follows
        self._ignore = False  # past trailing garbage: count only

    def _resume(self, data: bytes) -> bytes:
        """The bytes to decode now: those held back, then ``data`` (empty when ignoring)."""
        if self._ignore or not data:
            return b""
        self.saw_input = True
        if self._pending:
            data = self._pending + data
            self._pending = b""
        return data


class _DeflateFamily(_MemberStage):
    """gzip / x-gzip / deflate. The wrapper is taken from the first bytes, not the label:
    real servers send raw deflate (RFC 1951) for "deflate" where RFC 9110 s8.4.1.2 says zlib
    (RFC 1950), and some send zlib for "gzip". gzip may have several members (RFC 1952 s2.2)."""

    __slots__ = ("_inflater", "_is_gzip", "_members")

    def __init__(self, label: str, note: Callable[[str, str], None]) -> None:
        super().__init__(label, note)  # _pending: < 2 bytes that will tell the wrapper
        self._inflater: zlib._Decompress | None = None
        self._members = 0
        self._is_gzip = False

    def _start_member(self, head: bytes) -> bool:
        """Open a decompressor for the member that starts with ``head`` (>= 2 bytes)."""
        if self._members:
            if head[:2] != _GZIP_MAGIC or not self._is_gzip:
                self.note(ANOMALY_TRAILING_GARBAGE, f"{self.label}: bytes after the stream end")
                self._ignore = True
                return False
            self._inflater = zlib.decompressobj(31)
            return True
        if head[:2] == _GZIP_MAGIC:
            wbits, wrapper = 31, "gzip"
        elif (head[0] & 0x0F) == 8 and (head[0] >> 4) <= 7 and ((head[0] << 8) | head[1]) % 31 == 0:
            wbits, wrapper = 15, "zlib"  # RFC 1950 s2.2: CM=8, CINFO<=7, FCHECK
        else:
            wbits, wrapper = -15, "raw deflate"
        self._is_gzip = wbits == 31
        expected = "gzip" if self.label in ("gzip", "x-gzip") else "zlib or raw deflate"
        if (self.label == "deflate") == self._is_gzip:
            self.note(
                ANOMALY_ENCODING_MISMATCH, f"{self.label}: {wrapper} data, {expected} expected"
            )
        self._inflater = zlib.decompressobj(wbits)
        return True

    def push(self, data: bytes) -> None:
        data = self._resume(data)
        while data:
            inflater = self._inflater
            if inflater is None:
                if len(data) < 2:
                    self._pending = data
                    return
                if not self._start_member(data):
                    return
                inflater = self._inflater
                assert inflater is not None
            try:
                out = inflater.decompress(data, STAGE_CHUNK)
                if out:
                    self.emit(out)
                # Output was capped: drain in bounded chunks. After eof the tail is stale
                # (CPython keeps it), so eof is tested first.
                while not inflater.eof and (inflater.unconsumed_tail or len(out) == STAGE_CHUNK):
                    out = inflater.decompress(inflater.unconsumed_tail, STAGE_CHUNK)
                    if not out:
                        break
                    self.emit(out)
            except zlib.error as exc:
                raise _CorruptError(f"{self.label}: {exc}") from None
            if not inflater.eof:
                return
            self._members += 1
            self._inflater = None
            data = inflater.unused_data

    def close(self) -> None:
        if self._ignore:
            return
        inflater = self._inflater
        if inflater is not None:
            try:
                out = inflater.flush()
            except zlib.error as exc:
                raise _CorruptError(f"{self.label}: {exc}") from None
            if out:
                self.emit(out)
            if not inflater.eof:
                self.note(ANOMALY_DECODE_INCOMPLETE, f"{self.label}: stream ended early")
        elif self._pending:
            if self._members:
                self.note(ANOMALY_TRAILING_GARBAGE, f"{self.label}: bytes after the stream end")
            else:
                self.note(ANOMALY_DECODE_INCOMPLETE, f"{self.label}: stream ended early")


class _Brotli(_Stage):
    """br (RFC 7932), with a bounded output buffer per call."""

    __slots__ = ("_decompressor", "_done")

    def __init__(self, label: str, note: Callable[[str, str], None]) -> None:
        super().__init__(label, note)
        self._decompressor = brotli.Decompressor()
        self._done = False  # finished, or past trailing garbage

    def push(self, data: bytes) -> None:
        if self._done or not data:
            return
        self.saw_input = True
        decompressor = self._decompressor
        if decompressor.is_finished():
            self.note(ANOMALY_TRAILING_GARBAGE, f"{self.label}: bytes after the stream end")
            self._done = True
            return
        try:
            out = decompressor.process(data, output_buffer_limit=STAGE_CHUNK)
            if out:
                self.emit(out)
            while not decompressor.can_accept_more_data():
                out = decompressor.process(b"", output_buffer_limit=STAGE_CHUNK)
                if not out:
                    break
                self.emit(out)
        except brotli.error as exc:
            # The library cannot say how much input it used, so bytes after the end of
            # the stream in the same chunk read as corruption.
            self._done = True
            raise _CorruptError(f"{self.label}: {exc}") from None

    def close(self) -> None:
        if not self._done and self.saw_input and not self._decompressor.is_finished():
            self.note(ANOMALY_DECODE_INCOMPLETE, f"{self.label}: stream ended early")


class _Zstd(_MemberStage):
    """zstd (RFC 8878), frame after frame. The binding has no output cap per call, so the
    input goes in slices sized from the room left: output per slice stays bounded."""

    __slots__ = ("_decompressor", "_frames")

    def __init__(self, label: str, note: Callable[[str, str], None]) -> None:
        super().__init__(label, note)  # _pending: < 4 bytes that will tell if a frame follows
        self._decompressor: zstandard.ZstdDecompressionObj | None = None
        self._frames = 0

    def push(self, data: bytes) -> None:
        data = self._resume(data)
        while data:
            decompressor = self._decompressor
            if decompressor is None:
                if self._frames:
                    if len(data) < 4:
                        self._pending = data
                        return
                    magic = int.from_bytes(data[:4], "little")
                    if data[:4] != _ZSTD_MAGIC and (magic & ~0xF) != _ZSTD_SKIPPABLE_LOW:
                        self.note(
                            ANOMALY_TRAILING_GARBAGE, f"{self.label}: bytes after the stream end"
                        )
                        self._ignore = True
                        return
                decompressor = _ZSTD_CONTEXT.decompressobj(write_size=STAGE_CHUNK)
                self._decompressor = decompressor
            step = max(_ZSTD_MIN_SLICE, self.room() >> _ZSTD_MAX_EXPANSION_SHIFT)
            piece, data = data[:step], data[step:]
            try:
                out = decompressor.decompress(piece)
            except zstandard.ZstdError as exc:
                raise _CorruptError(f"{self.label}: {exc}") from None
            if out:
                self.emit(out)
            if decompressor.eof:
                self._frames += 1
                self._decompressor = None
                data = decompressor.unused_data + data

    def close(self) -> None:
        if self._ignore:
            return
        if self._decompressor is not None:
            self.note(ANOMALY_DECODE_INCOMPLETE, f"{self.label}: stream ended early")
        elif self._pending:
            self.note(ANOMALY_TRAILING_GARBAGE, f"{self.label}: bytes after the stream end")


# One context serves every stream: decompressobj() gives each its own state.
_ZSTD_CONTEXT: Final = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)


def _make_stage(coding: str, note: Callable[[str, str], None]) -> _Stage:
    if coding in _DEFLATE_FAMILY:
        return _DeflateFamily(coding, note)
    if coding == "br":
        return _Brotli(coding, note)
    return _Zstd(coding, note)


class ContentDecoder:
    """Decode a Content-Encoding stack incrementally, under an output cap and a ratio cap.

    ``encodings`` are the codings in the order applied (as ``parse_content_encoding`` returns
    them); "identity" and empty tokens are skipped. After ``failed`` the caller keeps the raw
    body; after ``truncated`` the output stopped at a cap and the input is only counted.
    """

    __slots__ = (
        "_anomalies",
        "_failed",
        "_finished",
        "_input_size",
        "_max_output",
        "_max_ratio",
        "_out",
        "_output_size",
        "_stages",
        "_stopped",
        "_truncated",
    )

    def __init__(
        self, encodings: Sequence[str], *, max_output: int, max_ratio: int, max_layers: int
    ) -> None:
        self._anomalies: list[tuple[str, str]] = []
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._input_size = 0
        self._output_size = 0
        self._out: list[bytes] = []
        self._failed = False
        self._truncated = False
        self._stopped = False  # failed or truncated: count input, decode nothing
        self._finished = False
        self._stages: list[_Stage] = []
        codings = [c.strip().lower() for c in encodings]
        codings = [c for c in codings if c not in _IDENTITY]
        unknown = [c for c in codings if c not in _SUPPORTED]
        if unknown:
            self._anomalies.append((ANOMALY_UNKNOWN_ENCODING, ", ".join(unknown)))
            self._fail()
            return
        if len(codings) > max_layers:
            self._anomalies.append(
                (ANOMALY_TOO_MANY_ENCODINGS, f"{len(codings)} codings, at most {max_layers}")
            )
            self._fail()
            return
        # Applied first, decoded last (RFC 9110 s8.4).
        self._stages = [_make_stage(c, self._note) for c in reversed(codings)]
        for upper, lower in zip(self._stages, self._stages[1:], strict=False):
            upper.down = self._link(upper, lower)
            upper.room = self._ratio_room_of(upper)
        if self._stages:
            last = self._stages[-1]
            last.down = self._sink
            last.room = self._room

    @property
    def failed(self) -> bool:
        """The body could not be decoded; the caller keeps the raw bytes."""
        return self._failed

    @property
    def truncated(self) -> bool:
        """A cap stopped the output (``max_output`` or the ratio)."""
        return self._truncated

    @property
    def anomalies(self) -> list[tuple[str, str]]:
        """(name, detail) of everything noted so far, oldest first."""
        return self._anomalies

    @property
    def output_size(self) -> int:
        """Decoded bytes returned so far."""
        return self._output_size

    @property
    def input_size(self) -> int:
        """Encoded bytes fed so far (including those after a stop)."""
        return self._input_size

    def feed(self, data: bytes) -> bytes:
        """Decode the next bytes of the body; returns the decoded bytes they completed."""
        self._input_size += len(data)
        if self._stopped or self._finished or not data:
            return b""
        if not self._stages:
            return self._pass_through(data)
        try:
            self._stages[0].push(data)
        except _Stop:
            pass
        except _CorruptError as exc:
            self._corrupt(str(exc))
        return self._take()

    def finish(self) -> bytes:
        """The body ended: flush every stage; returns the last decoded bytes."""
        if self._finished:
            return b""
        self._finished = True
        if self._stopped:
            return b""
        try:
            for stage in self._stages:
                stage.close()
        except _Stop:
            pass
        except _CorruptError as exc:
            self._corrupt(str(exc))
        return self._take()

    def _take(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def _pass_through(self, data: bytes) -> bytes:
        room = self._max_output - self._output_size
        if len(data) > room:
            data = data[: max(room, 0)]
            self._mark_truncated(ANOMALY_OUTPUT_TOO_LONG, f"over {self._max_output} bytes")
        self._output_size += len(data)
        return data

    def _note(self, name: str, detail: str) -> None:
        self._anomalies.append((name, detail))

    def _fail(self) -> None:
        self._failed = True
        self._stopped = True

    def _corrupt(self, detail: str) -> None:
        self._anomalies.append((ANOMALY_DECODE_ERROR, detail))
        self._fail()

    def _ratio_bound(self) -> int:
        return max(RATIO_FLOOR, self._max_ratio * self._input_size)

    def _room(self) -> int:
        """Bytes the final stage may still produce."""
        return min(self._max_output, self._ratio_bound()) - self._output_size

    def _ratio_room_of(self, stage: _Stage) -> Callable[[], int]:
        return lambda: self._ratio_bound() - stage.produced

    def _link(self, upper: _Stage, lower: _Stage) -> _Sink:
        """Sink of an inner stage: the ratio cap applies to every layer, so a bomb inside
        a stack (or one whose outer layer only discards) stops as early as a plain one."""

        def forward(chunk: bytes) -> None:
            if upper.produced > self._ratio_bound():
                self._stop_truncated(ANOMALY_RATIO, self._ratio_detail(upper.label))
            lower.push(chunk)

        return forward

    def _sink(self, chunk: bytes) -> None:
        """Sink of the last stage: cut at the cap, keep the part within it."""
        ratio_bound = self._ratio_bound()
        allowed = min(self._max_output, ratio_bound)
        room = allowed - self._output_size
        if len(chunk) <= room:
            self._out.append(chunk)
            self._output_size += len(chunk)
            return
        if room > 0:
            self._out.append(chunk[:room])
            self._output_size += room
        if ratio_bound < self._max_output:
            self._stop_truncated(ANOMALY_RATIO, self._ratio_detail(self._stages[-1].label))
        self._stop_truncated(ANOMALY_OUTPUT_TOO_LONG, f"over {self._max_output} bytes")

    def _ratio_detail(self, label: str) -> str:
        return f"{label}: over {self._max_ratio}:1 from {self._input_size} input bytes"

    def _mark_truncated(self, name: str, detail: str) -> None:
        self._anomalies.append((name, detail))
        self._truncated = True
        self._stopped = True

    def _stop_truncated(self, name: str, detail: str) -> None:
        self._mark_truncated(name, detail)
        raise _Stop
