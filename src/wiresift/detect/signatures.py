"""Declarative detection rules (Zeek dpd.sig, Suricata probe + pattern registration)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # only annotations need it; importing it would close an import cycle
    from wiresift.protocols.base import Direction


# The bytes a text protocol's first line can begin with, either side: printable ASCII and
# whitespace. A protocol whose every signature and probe needs one of them at offset 0 says
# so (``ProtocolSpec.first_bytes``), and detection skips it for a stream that begins with
# anything else (a TLS record, a binary protocol) without running its rules.
TEXT_FIRST_BYTES: Final = frozenset(range(0x09, 0x0E)) | frozenset(range(0x20, 0x7F))


class Verdict(enum.Enum):
    """What a probe says of the bytes seen so far."""

    MATCH = "match"
    NO_MATCH = "no_match"
    NEED_MORE = "need_more"


class Confidence(enum.IntEnum):
    """How a protocol was chosen, weakest first."""

    PORT = 1
    SIGNATURE = 2
    PROBE = 3
    EXPECTED = 4


@dataclass(frozen=True, slots=True)
class Signature:
    """A regular expression matched at the start of one direction's first bytes.

    ``direction`` is the side that must send the pattern (None: either side; a match on
    the responder's side of a mid-stream flow tells the detector the roles are reversed).
    ``depth`` is how many bytes are looked at.
    """

    direction: Direction | None
    pattern: re.Pattern[bytes]
    depth: int = 64
    description: str = ""
