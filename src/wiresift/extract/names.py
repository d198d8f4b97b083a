"""File names that come from the wire, made safe to store and to show.

A name sent by a peer (a Content-Disposition filename, a request path, an FTP argument) may
hold directories, ".." segments, characters a file system refuses, device names that Windows
opens instead of a file, or bidirectional controls that disguise an extension. ``safe_filename``
keeps the last segment only and neutralises all of that; ``filename_from_uri`` takes the last
segment of a request target (RFC 9112 s3.2, RFC 3986 s3.3).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import unquote_to_bytes

FALLBACK_NAME: Final = "unnamed"
# Longest extension kept whole when a long name is cut.
MAX_KEPT_EXTENSION: Final = 16

# Refused by Windows (Naming Files, Paths, and Namespaces) and by most tools elsewhere.
_UNSAFE_CHARS: Final = frozenset('<>:"/\\|?*')
# Unicode categories replaced: controls, format characters (bidirectional overrides such as
# U+202E, zero-width joiners), surrogates (undecodable bytes), private use, line and
# paragraph separators.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Device names Windows opens whatever the extension (Naming Files, Paths, and Namespaces).
_RESERVED_NAMES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)
_SEPARATORS: Final = re.compile(r"[/\\]")
_SCHEME_AUTHORITY: Final = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://")
# A name every rule below leaves as it is (ASCII letters, digits, "_", "-" and inner dots):
# checked first, so that the common name costs one match.
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]*(?<!\.)")


def safe_filename(name: str | bytes, *, max_len: int = 200) -> str:
    """A file name safe on common file systems, at most ``max_len`` UTF-8 bytes, never empty.

    Bytes are read as UTF-8, else Latin-1. Only the last segment of a path survives (both
    separators); "." and ".." become "_"; NUL is dropped; controls, format characters and
    ``<>:"/\\|?*`` become "_"; a leading dot becomes "_" (no hidden files); trailing dots and
    spaces go (Windows drops them); reserved device names get a "_" prefix. A name cut to
    ``max_len`` keeps a short extension and never ends inside a UTF-8 sequence.
    """
    if max_len < 1:
        raise ValueError("max_len must be positive")
    text = _decode(name) if isinstance(name, bytes) else name
    if (
        len(text) <= max_len
        and _PLAIN_NAME.fullmatch(text) is not None
        and text.split(".", 1)[0].upper() not in _RESERVED_NAMES
    ):
        return text
    text = unicodedata.normalize("NFC", text.replace("\x00", ""))
    segments = [s for s in _SEPARATORS.split(text) if s.strip()]
    base = segments[-1].strip() if segments else ""
    if base in (".", ".."):
        return "_"
    cleaned = "".join(
        "_" if c in _UNSAFE_CHARS or unicodedata.category(c) in _UNSAFE_CATEGORIES else c
        for c in base
    )
    cleaned = cleaned.strip().rstrip(". ")
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    cleaned = _cut(cleaned, max_len)
    if cleaned.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_NAMES:
        cleaned = _cut("_" + cleaned, max_len)
    return cleaned or FALLBACK_NAME[:max_len]


def filename_from_uri(target: bytes) -> str | None:
    """Last path segment of a request target (origin-form or absolute-form, RFC 9112 s3.2),
    percent-decoded (UTF-8, else Latin-1), without query, fragment or ";params"; None when
    the path ends with "/" or names no file. Pass the result through ``safe_filename``."""
    path = target.split(b"#", 1)[0].split(b"?", 1)[0]
    scheme = _SCHEME_AUTHORITY.match(path)
    if scheme is not None:
        slash = path.find(b"/", scheme.end())
        if slash < 0:
            return None
        path = path[slash:]
    elif not path.startswith(b"/"):
        return None  # authority-form (CONNECT), asterisk-form (OPTIONS *), or not a path
    segment = path.rsplit(b"/", 1)[-1]
    semicolon = segment.find(b";")
    if semicolon >= 0 and b"=" in segment[semicolon:]:
        segment = segment[:semicolon]  # path parameters such as ";jsessionid=..."
    name = _decode(unquote_to_bytes(segment))
    if not name or name in (".", ".."):
        return None
    return name


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _cut(name: str, max_len: int) -> str:
    """``name`` in at most ``max_len`` UTF-8 bytes, keeping a short extension."""
    encoded = name.encode("utf-8")
    if len(encoded) <= max_len:
        return name
    dot = name.rfind(".")
    extension = name[dot:] if dot > 0 else ""
    extension_bytes = extension.encode("utf-8")
    if len(extension_bytes) > MAX_KEPT_EXTENSION or len(extension_bytes) >= max_len:
        extension, extension_bytes = "", b""
    stem = name[: len(name) - len(extension)].encode("utf-8")
    room = max_len - len(extension_bytes)
    kept = stem[:room].decode("utf-8", "ignore").rstrip(". ")
    return kept + extension if kept else ""
