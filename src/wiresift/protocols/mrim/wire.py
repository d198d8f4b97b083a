"""MRIM wire primitives: the 44-byte little-endian header, UL, LPS and text rules.

Layouts: /work/shared/protocols.md s4 (from kopete-mrim ``mra/mra_proto.h``,
``mra/mradata.cpp`` and mrim-server ``src/messages/mrim/container.js``).
"""

from __future__ import annotations

import struct
from typing import Final

# magic, version, seq, type, body length, from ip, from port, 16 reserved (protocols.md s4.1)
HEADER: Final = struct.Struct("<IIIIIII16s")
HEADER_SIZE: Final = 44
MAGIC: Final = 0xDEADBEEF  # protocols.md s4.1, "CS_MAGIC"
MAGIC_BYTES: Final = b"\xef\xbe\xad\xde"  # the magic as it appears on the wire (LE)
UL: Final = struct.Struct("<I")
# First protocol minor that sends texts as UTF-16LE (protocols.md s4.4, mrim-server contacts.js).
UNICODE_MINOR: Final = 16


class Reader:
    """Reads UL and LPS fields from a body; ``ok`` turns False once a field runs past the end."""

    __slots__ = ("data", "offset", "ok")

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset
        self.ok = True

    def remaining(self) -> int:
        """Bytes left."""
        return len(self.data) - self.offset

    def ul(self) -> int:
        """A uint32 LE (0 once past the end)."""
        if self.offset + 4 > len(self.data):
            self.ok = False
            self.offset = len(self.data)
            return 0
        (value,) = UL.unpack_from(self.data, self.offset)
        self.offset += 4
        return int(value)

    def lps(self) -> bytes:
        """A uint32 LE byte length and that many bytes (b"" once past the end)."""
        length = self.ul()
        if not self.ok or self.offset + length > len(self.data):
            self.ok = False
            self.offset = len(self.data)
            return b""
        value = self.data[self.offset : self.offset + length]
        self.offset += length
        return value

    def z(self) -> bytes:
        """A NUL-terminated string (mask letter ``z``)."""
        end = self.data.find(b"\x00", self.offset)
        if end < 0:
            self.ok = False
            self.offset = len(self.data)
            return b""
        value = self.data[self.offset : end]
        self.offset = end + 1
        return value


def looks_utf16le(raw: bytes) -> bool:
    """Even length and mostly-zero high bytes, or Cyrillic high bytes 0x04 (protocols.md s4.4)."""
    if not raw or len(raw) & 1:
        return False
    high = raw[1::2]
    plausible = sum(1 for b in high if b in (0x00, 0x04))
    return plausible * 4 >= len(high) * 3


def decode_text(raw: bytes, unicode_expected: bool) -> tuple[str, str]:
    """Text per protocols.md s4.4: UTF-16LE when the version or flag says so and the bytes
    agree, else cp1251 (mrim-server falls back to cp1251 on odd lengths too)."""
    even = bool(raw) and not len(raw) & 1
    if even and (looks_utf16le(raw) or (unicode_expected and b"\x00" in raw)):
        return raw.decode("utf-16-le", "replace"), "utf-16le"
    if raw.isascii():
        return raw.decode("ascii"), "us-ascii"
    return raw.decode("cp1251", "replace"), "cp1251"
