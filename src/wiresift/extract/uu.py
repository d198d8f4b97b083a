"""uuencoded files inside text bodies (POSIX.1-2017 ``uuencode``, "begin <mode> <name>").

Old mail clients pasted files into the text body between a ``begin 644 name`` line and an
``end`` line; each line in between starts with a length character (32 + byte count) and
carries up to 45 bytes in 60 characters. There is no maintained library for this, so the
decoder is here: it is lenient (encoders disagree on padding and the "`" for zero) and never
raises; a line that cannot be decoded is counted in ``bad_lines``.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Final

# A begin line: "begin", an octal file mode, one space, the file name (POSIX uuencode).
_BEGIN: Final = re.compile(rb"^begin[ \t]+([0-7]{3,4})[ \t]+([^\r\n]+?)[ \t]*\r?$", re.MULTILINE)
# Blocks decoded per body at most (a body of "begin" lines must not make thousands of files).
MAX_UU_FILES: Final = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class UuFile:
    """One file decoded from a uuencoded block."""

    name: bytes  # as written on the begin line
    mode: str  # octal file mode as written
    data: bytes
    bad_lines: int  # lines that could not be decoded (skipped)
    ended: bool  # the "end" line was found


def decode_uu_line(line: bytes) -> bytes | None:
    """One uuencoded line, or None when it is not one.

    The first character gives the byte count; characters past the count are padding some
    encoders add, so only the needed characters are decoded (the fallback ``uu`` used).
    """
    if not line:
        return b""
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        count = (line[0] - 32) & 63
        needed = (count * 4 + 5) // 3
        try:
            return binascii.a2b_uu(line[:needed])
        except binascii.Error:
            return None


def find_uuencoded(text: bytes, *, max_bytes: int) -> list[UuFile]:
    """Every uuencoded block in ``text``, each decoded to at most ``max_bytes`` bytes."""
    files: list[UuFile] = []
    position = 0
    while len(files) < MAX_UU_FILES:
        begin = _BEGIN.search(text, position)
        if begin is None:
            break
        chunks: list[bytes] = []
        size = 0
        bad = 0
        ended = False
        position = begin.end() + 1
        while position < len(text):
            newline = text.find(b"\n", position)
            stop = len(text) if newline < 0 else newline
            line = text[position:stop].rstrip(b"\r")
            position = stop + 1
            if line.rstrip() == b"end":
                ended = True
                break
            if line.startswith(b"begin "):
                position -= len(line) + 1  # an unterminated block: the next one starts here
                break
            decoded = decode_uu_line(line)
            if decoded is None:
                bad += 1
                continue
            if size < max_bytes:
                decoded = decoded[: max_bytes - size]
                chunks.append(decoded)
                size += len(decoded)
        files.append(
            UuFile(
                name=begin.group(2),
                mode=begin.group(1).decode("ascii"),
                data=b"".join(chunks),
                bad_lines=bad,
                ended=ended,
            )
        )
    return files


__all__ = ["MAX_UU_FILES", "UuFile", "decode_uu_line", "find_uuencoded"]
