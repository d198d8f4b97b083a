"""OSCAR wire helpers: FLAP/SNAC headers, TLV lists, charsets, roasting, HTML, checksums.

Layouts are those of /work/shared/protocols.md s1 (checked against tshark's ``aim``
dissector there); the sources named per constant are libpurple ``libpurple/protocols/oscar``
(``flap_connection.c``, ``family_icbm.c``, ``family_auth.c``, ``oft.c``, ``peer.h``) and
Wireshark ``epan/dissectors/packet-aim.c``.
"""

from __future__ import annotations

import html
import re
import struct
from typing import Final

# FLAP: marker, channel, sequence, data length (protocols.md s1.1; packet-aim.c).
FLAP_HEADER: Final = struct.Struct(">BBHH")
FLAP_MARKER: Final = 0x2A  # protocols.md s1.1, start marker
CHANNEL_SIGNON: Final = 1  # protocols.md s1.1
CHANNEL_SNAC: Final = 2  # protocols.md s1.1
CHANNEL_ERROR: Final = 3  # protocols.md s1.1
CHANNEL_SIGNOFF: Final = 4  # protocols.md s1.1
CHANNEL_KEEPALIVE: Final = 5  # protocols.md s1.1
FLAP_VERSION: Final = b"\x00\x00\x00\x01"  # protocols.md s1.1: first bytes of channel 1

# SNAC: family, subtype, flags, request id (protocols.md s1.2).
SNAC_HEADER: Final = struct.Struct(">HHHI")
SNAC_FLAG_HAS_VERSION_TLV: Final = 0x8000  # libpurple flap_connection.c (protocols.md s1.2)
SNAC_FLAG_MORE_FOLLOWS: Final = 0x0001  # protocols.md s1.4: SSI list continues

TLV_HEADER: Final = struct.Struct(">HH")
U16: Final = struct.Struct(">H")
U32: Final = struct.Struct(">I")
U16_LE: Final = struct.Struct("<H")
U32_LE: Final = struct.Struct("<I")

# Items of one TLV list kept: a 64 KiB FLAP holds at most 16383 empty TLVs; real lists
# have tens (libpurple's user-info blocks carry under 20).
MAX_TLVS: Final = 4096

# Roasting table of the old channel-1 login (protocols.md s1.1; libpurple family_auth.c).
ROAST_TABLE: Final = bytes.fromhex("F32681C43986DB9271A3B9E6537A957C")

# ICBM text charsets (protocols.md s1.3; libpurple family_icbm.c).
CHARSET_ASCII: Final = 0x0000
CHARSET_UNICODE: Final = 0x0002  # UCS-2 / UTF-16BE
CHARSET_LATIN1: Final = 0x0003  # ISO-8859-1, in practice the sender's local code page

_BREAK: Final = re.compile(r"<br\s*/?>|</p\s*>", re.IGNORECASE)
_STR_TAG: Final = re.compile(r"<[^<>]*>")
_LOOKS_HTML: Final = re.compile(r"<\s*/?\s*(html|body|font|b|i|u|a|br|p|span|div)\b", re.I)


def parse_tlvs(
    data: bytes, offset: int = 0, count: int | None = None
) -> tuple[dict[int, bytes], int, bool]:
    """TLVs from ``offset`` (all, or ``count`` of them): (first value per type, end, complete).

    ``complete`` is False when the list runs past the data or past ``MAX_TLVS`` items; the
    values read so far are still returned.
    """
    values: dict[int, bytes] = {}
    end = len(data)
    seen = 0
    while offset + 4 <= end and (count is None or seen < count):
        if seen >= MAX_TLVS:
            return values, offset, False
        kind, length = TLV_HEADER.unpack_from(data, offset)
        start = offset + 4
        if start + length > end:
            return values, end, False
        values.setdefault(kind, data[start : start + length])
        offset = start + length
        seen += 1
    if count is not None and seen < count:
        return values, offset, False
    return values, offset, offset == end or count is not None


def unroast(secret: bytes) -> bytes:
    """Undo the XOR roasting of a channel-1 password (protocols.md s1.1)."""
    table = ROAST_TABLE
    return bytes(b ^ table[i % len(table)] for i, b in enumerate(secret))


def looks_cp1251(raw: bytes) -> bool:
    """Whether 8-bit text reads as Russian cp1251 rather than Latin-1.

    cp1251 letters live in 0xC0-0xFF (plus Ё/ё at 0xA8/0xB8); Latin-1 text has few of
    them in a row, Russian text has nearly only them (protocols.md s1.6).
    """
    high = [b for b in raw if b >= 0x80]
    if not high:
        return False
    letters = sum(1 for b in high if b >= 0xC0 or b in (0xA8, 0xB8))
    return letters * 10 >= len(high) * 9 and len(high) * 2 >= len(raw) - raw.count(0x20)


def decode_local(raw: bytes) -> tuple[str, str]:
    """Text in the sender's local code page (ICQ): cp1251 when it reads as such, else Latin-1."""
    if raw.isascii():
        return raw.decode("ascii"), "us-ascii"
    if looks_cp1251(raw):
        return raw.decode("cp1251", "replace"), "cp1251"
    return raw.decode("iso-8859-1"), "iso-8859-1"


def decode_icbm_text(raw: bytes, charset: int) -> tuple[str, str]:
    """Text of an ICBM 0x0101 fragment with its declared charset (protocols.md s1.3)."""
    if charset == CHARSET_UNICODE:
        usable = raw[: len(raw) & ~1]
        return usable.decode("utf-16-be", "replace"), "utf-16be"
    if charset == CHARSET_ASCII and raw.isascii():
        return raw.decode("ascii"), "us-ascii"
    if charset == CHARSET_ASCII:
        # Clients declare ASCII and send UTF-8 (libpurple tries UTF-8 first as well).
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return decode_local(raw)
    return decode_local(raw)


def decode_named(raw: bytes, name: str | None) -> tuple[str, str]:
    """Text with a declared charset name (TLV 0x2712 ``utf-8``, ``us-ascii``...)."""
    label = (name or "").strip().lower() or "utf-8"
    try:
        return raw.decode(label), label
    except (LookupError, UnicodeDecodeError):
        pass
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return decode_local(raw)


def strip_html(text: str) -> tuple[str, str | None]:
    """(plain text, markup or None): AIM sends HTML bodies (protocols.md s1.3)."""
    if not _LOOKS_HTML.search(text):
        return text, None
    plain = _BREAK.sub("\n", text)
    plain = html.unescape(_STR_TAG.sub("", plain))
    return plain.strip(), text


def screen_name(data: bytes, offset: int) -> tuple[str, int] | None:
    """A length-prefixed (1 byte) screen name at ``offset``: (name, next offset)."""
    if offset >= len(data):
        return None
    length = data[offset]
    end = offset + 1 + length
    if end > len(data):
        return None
    return data[offset + 1 : end].decode("utf-8", "replace"), end


def ipv4_text(raw: bytes) -> str | None:
    """A 4-byte address as dotted quad; None for a missing or all-zero one."""
    if len(raw) != 4 or raw == b"\x00\x00\x00\x00":
        return None
    return ".".join(str(b) for b in raw)


class OftChecksum:
    """The AIM file checksum of OFT (libpurple oft.c; initial value 0xFFFF0000).

    The sender subtracts the file, read as big-endian 16-bit words, from 0xFFFF with an
    end-around borrow; that is subtraction modulo 0xFFFF, so running sums of the even and
    odd bytes are enough (whatever the chunking).
    """

    __slots__ = ("_even", "_odd", "_position_odd")

    def __init__(self) -> None:
        self._even = 0
        self._odd = 0
        self._position_odd = False

    def update(self, data: bytes) -> None:
        """Add the next bytes of the file."""
        first, second = data[0::2], data[1::2]
        if self._position_odd:
            first, second = second, first
        self._even += sum(first)
        self._odd += sum(second)
        if len(data) & 1:
            self._position_odd = not self._position_odd

    def matches(self, announced: int) -> bool:
        """Whether the bytes seen give ``announced`` (both compared modulo 0xFFFF)."""
        total = (self._even << 8) + self._odd
        value = (0xFFFF - total) % 0xFFFF
        return (value - (announced >> 16)) % 0xFFFF == 0
