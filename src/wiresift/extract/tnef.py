"""Attachments packed in TNEF (winmail.dat, application/ms-tnef; [MS-OXTNEF]).

Outlook wraps a message's attachments in one TNEF stream. The PyPI package ``tnefparse``
reads it; this module guards it: the stream's attribute framing ([MS-OXTNEF] s2.1.3: level
byte, 32-bit id, 32-bit length, data, 16-bit checksum) is walked first without copying, and
streams with too many attributes are not handed over, because ``tnefparse`` copies the rest
of the stream at every attribute (quadratic on crafted input). Any exception it raises on
broken input becomes an error string.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

try:
    from tnefparse import TNEF as _TnefReader  # type: ignore[import-untyped,unused-ignore]  # noqa: N811
except ImportError:  # pragma: no cover - the package is optional
    _TnefReader = None

TNEF_SIGNATURE: Final = b"\x78\x9f\x3e\x22"  # 0x223E9F78 little-endian ([MS-OXTNEF] s2.1.3.1)
# Attributes per stream at most (a real winmail.dat has a few dozen: ~15 message attributes
# and ~6 per attachment).
MAX_TNEF_ATTRIBUTES: Final = 2048
# Bytes tnefparse may copy while reading one stream (sum of the remaining length at each
# attribute), so that crafted framing stays linear in practice.
MAX_TNEF_COPY: Final = 256 * 1024 * 1024
_HEADER: Final = 6  # signature + legacy key
_ATTRIBUTE_OVERHEAD: Final = 11  # level, id, length, checksum
_LENGTH: Final = struct.Struct("<I")


@dataclass(frozen=True, slots=True, kw_only=True)
class TnefFile:
    """One attachment found in a TNEF stream."""

    name: str | None
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TnefResult:
    """What a TNEF stream held: its attachments, or why they could not be read."""

    files: tuple[TnefFile, ...] = ()
    error: str | None = None


def tnef_available() -> bool:
    """Whether the ``tnefparse`` package is installed."""
    return _TnefReader is not None


def is_tnef(data: bytes) -> bool:
    """Whether ``data`` starts with the TNEF signature."""
    return data[:4] == TNEF_SIGNATURE


def _framing_cost(data: bytes) -> tuple[int, int]:
    """(attributes, bytes copied by a reader that slices the rest at each attribute)."""
    offset = _HEADER
    attributes = 0
    copied = 0
    # Same loop condition as the reader: attributes shorter than 12 bytes end the stream.
    while offset + 12 < len(data) and attributes <= MAX_TNEF_ATTRIBUTES:
        (length,) = _LENGTH.unpack_from(data, offset + 5)
        remaining = len(data) - offset
        copied += remaining
        offset += min(remaining, length + _ATTRIBUTE_OVERHEAD)
        attributes += 1
    return attributes, copied


def unpack_tnef(data: bytes) -> TnefResult:
    """The attachments of a TNEF stream; never raises."""
    if _TnefReader is None:
        return TnefResult(error="tnefparse is not installed")
    if not is_tnef(data):
        return TnefResult(error="no TNEF signature")
    attributes, copied = _framing_cost(data)
    if attributes > MAX_TNEF_ATTRIBUTES or copied > MAX_TNEF_COPY:
        return TnefResult(error=f"too many attributes ({attributes}) to read")
    try:
        reader = _TnefReader(data, do_checksum=False)
        attachments = list(reader.attachments)
    except Exception as error:  # third-party reader on hostile input
        return TnefResult(error=f"{type(error).__name__}: {error}"[:200])
    files: list[TnefFile] = []
    problems: list[str] = []
    for attachment in attachments:
        try:
            payload = attachment.data
            raw_name = attachment.long_filename()
        except Exception as error:  # same reason
            problems.append(type(error).__name__)
            continue
        if isinstance(raw_name, bytes):
            raw_name = raw_name.decode("latin-1")
        name = raw_name.strip("\x00") if isinstance(raw_name, str) else None
        if isinstance(payload, bytes):
            files.append(TnefFile(name=name or None, data=payload))
    return TnefResult(files=tuple(files), error="; ".join(problems)[:200] or None)


__all__ = [
    "MAX_TNEF_ATTRIBUTES",
    "MAX_TNEF_COPY",
    "TNEF_SIGNATURE",
    "TnefFile",
    "TnefResult",
    "is_tnef",
    "tnef_available",
    "unpack_tnef",
]
