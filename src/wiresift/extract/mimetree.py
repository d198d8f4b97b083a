"""The MIME tree of a message, built without reading it line by line.

The standard library's parser (``email.feedparser``) walks a message one line at a time in
Python, about 5 µs a line: a message with a 1 MB base64 attachment costs tens of
milliseconds. This module builds the same ``email.message.Message`` tree (compat32 policy:
the same headers, payload strings, preambles, epilogues and defects) by finding the
header/body separator and the multipart delimiters with ``str.find`` (RFC 2046 s5.1.1), and
parses only the header blocks with the standard parser.

It takes the fast path only for messages whose structure it can reproduce exactly: one line
ending throughout (CRLF or LF), every multipart with its boundary, its first delimiter and
its close delimiter, no empty parts, no header defects, no ``multipart/digest`` or
``message/delivery-status``. Any other message (about any damaged one) goes to the standard
parser as a whole, so the result never depends on which path was taken.
"""

from __future__ import annotations

from email.message import Message
from email.parser import Parser
from email.policy import compat32
from itertools import pairwise
from typing import Any, Final

# Nesting past this goes to the standard parser (which handles any depth it can).
MAX_FAST_DEPTH: Final = 64


_HEADER_PARSER: Final = Parser(policy=compat32)
_MULTIPART_CTES: Final = frozenset({"7bit", "8bit", "binary"})
_WHITESPACE: Final = " \t"


class _FallbackError(Exception):
    """The message needs the standard parser."""


def parse_message(data: bytes) -> Message:
    """The compat32 MIME tree of ``data``, equal to ``BytesParser(policy=compat32)``'s."""
    text = data.decode("ascii", "surrogateescape")
    tree = fast_tree(text)
    if tree is None:
        tree = _HEADER_PARSER.parsestr(text)
    return tree


def fast_tree(text: str) -> Message | None:
    """The tree by delimiter search, or None when the message needs the standard parser."""
    if "\r" not in text:
        newline = "\n"
    else:
        crlf = text.count("\r\n")
        if text.count("\r") != crlf or text.count("\n") != crlf:
            return None  # a bare CR or LF: lines as the standard parser splits them differ
        newline = "\r\n"
    try:
        return _TreeBuilder(text, newline).entity(0, len(text), (), 0)
    except _FallbackError:
        return None


class _TreeBuilder:
    __slots__ = ("_newline", "_text")

    def __init__(self, text: str, newline: str) -> None:
        self._text = text
        self._newline = newline

    def entity(self, start: int, end: int, separators: tuple[str, ...], depth: int) -> Message:
        """The entity in text[start:end]: header block, blank line, body (RFC 5322 s2.1)."""
        if depth > MAX_FAST_DEPTH:
            raise _FallbackError
        text, newline = self._text, self._newline
        if text.startswith(newline, start, end):
            header_end, body_start = start, start + len(newline)
        else:
            blank = text.find(newline + newline, start, end)
            if blank < 0:
                header_end = body_start = end
            else:
                header_end = blank + len(newline)
                body_start = header_end + len(newline)
        entity = _HEADER_PARSER.parsestr(text[start:header_end], headersonly=True)
        if entity.defects or _payload(entity):  # a line that is no header: body starts early
            raise _FallbackError
        content_type = entity.get_content_type()
        maintype = content_type.partition("/")[0]
        if content_type in ("message/delivery-status", "multipart/digest"):
            raise _FallbackError
        if maintype == "message":
            inner = self.entity(body_start, end, separators, depth + 1)
            entity.set_payload([inner])
        elif maintype == "multipart":
            self._multipart(entity, body_start, end, separators, depth)
        else:
            entity.set_payload(text[body_start:end])
        return entity

    def _multipart(
        self, entity: Message, start: int, end: int, separators: tuple[str, ...], depth: int
    ) -> None:
        """Parts between delimiter lines "--boundary", up to "--boundary--" (RFC 2046
        s5.1.1); text before the first is the preamble, after the last the epilogue."""
        boundary = entity.get_boundary()
        if boundary is None or "\r" in boundary or "\n" in boundary:
            raise _FallbackError
        encoding = str(entity.get("content-transfer-encoding", "8bit")).lower()
        if encoding not in _MULTIPART_CTES:
            raise _FallbackError
        separator = "--" + boundary
        if separator in separators:
            raise _FallbackError
        text, newline = self._text, self._newline
        delimiters = self._delimiters(separator, start, end)
        if not delimiters or delimiters[0][2] or not delimiters[-1][2]:
            raise _FallbackError  # no first delimiter, or no close delimiter
        first = delimiters[0][0]
        if first > start:
            entity.preamble = text[start : first - len(newline)]
        inner_separators = (*separators, separator)
        parts: list[Message | str] = []
        for (_line, after, _close), (next_line, _after, _next_close) in pairwise(delimiters):
            if after >= next_line:
                raise _FallbackError  # an empty part, or a delimiter without its line ending
            part = self.entity(after, next_line, inner_separators, depth + 1)
            _strip_last_line_ending(part)
            parts.append(part)
        entity.set_payload(parts)
        close_after = delimiters[-1][1]
        ended = text.endswith(newline, delimiters[-1][0], close_after)
        entity.epilogue = text[close_after:end] if ended else ""

    def _delimiters(self, separator: str, start: int, end: int) -> list[tuple[int, int, bool]]:
        """(line start, next line start, is close) of each delimiter line up to the close."""
        text, newline = self._text, self._newline
        found: list[tuple[int, int, bool]] = []
        needle = newline + separator
        position = start if text.startswith(separator, start, end) else -1
        if position < 0:
            at = text.find(needle, start, end)
            position = at + len(newline) if at >= 0 else -1
        while position >= 0:
            tail_start = position + len(separator)
            line_end = text.find(newline, tail_start, end)
            after = end if line_end < 0 else line_end + len(newline)
            tail = text[tail_start : end if line_end < 0 else line_end]
            if not tail.strip(_WHITESPACE):
                found.append((position, after, False))
            elif tail.startswith("--") and not tail[2:].strip(_WHITESPACE):
                found.append((position, after, True))
                break
            at = text.find(needle, tail_start, end)
            position = at + len(newline) if at >= 0 else -1
        return found


def _strip_last_line_ending(part: Message) -> None:
    """The line ending before a delimiter belongs to the delimiter (RFC 2046 s5.1.1): taken
    from the last entity parsed, as email.feedparser does."""
    last = part
    while last.get_content_maintype() == "message" and isinstance(_payload(last), list):
        last = _payload(last)[0]
    if last.get_content_maintype() == "multipart":
        epilogue = last.epilogue
        if epilogue == "":
            last.epilogue = None
        elif epilogue is not None:
            last.epilogue = _without_line_ending(epilogue)
        return
    payload = _payload(last)
    if isinstance(payload, str):
        last.set_payload(_without_line_ending(payload))


def _without_line_ending(value: str) -> str:
    """``value`` without one final CRLF, CR or LF (email.feedparser's NLCRE_eol)."""
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith(("\r", "\n")):
        return value[:-1]
    return value


def _payload(entity: Message) -> Any:
    """The stored payload (``get_payload()`` would recode 8-bit text)."""
    return getattr(entity, "_payload", None)


__all__ = ["MAX_FAST_DEPTH", "fast_tree", "parse_message"]
