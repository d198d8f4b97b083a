"""A streaming, non-validating XML reader for XMPP streams (RFC 6120 s4, s11).

Theory of operation: an XMPP stream is one long XML document whose root
(``<stream:stream>``) is opened at the start, reopened after SASL and TLS (RFC 6120 s4.3.3,
often with a new ``<?xml?>`` declaration mid-document) and whose children, the stanzas,
are the units of meaning. Off-the-shelf parsers fit badly: they refuse a second
declaration or root, cannot start in the middle of a capture, and ``xml.etree`` expands
entities from a DTD (billion laughs). So this reader is written for the job and knows no
DTD at all: ``<!DOCTYPE``/``<!ENTITY`` are reported (RFC 6120 s11.1 forbids them) and
skipped; only the five predefined entities and character references are decoded, any
other ``&name;`` stays as written. Nothing is ever expanded.

The reader is a step loop over a byte buffer: ``push`` appends bytes, ``next_item``
returns the next stream item (``StreamOpen``, ``StreamClose``, a complete stanza as an
``Element``, or an anomaly name) or None when more bytes are needed. Bytes can be cut
anywhere: a tag is looked for incrementally (the scan position and open quote are kept),
text is kept raw until its element closes. Limits: a stanza larger than
``MAX_STANZA_BYTES`` or nested deeper than ``MAX_DEPTH`` is dropped (one anomaly) while the
reader keeps counting depth, without storing, until the stanza ends; a single tag longer
than ``MAX_TAG_BYTES`` is dropped and reading resumes at the next ``<``.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# Largest stanza kept, in bytes. Prosody's c2s_stanza_size_limit and ejabberd's
# max_stanza_size both default to 256 KiB; an XEP-0047 block of 64 KiB fits in base64.
MAX_STANZA_BYTES: Final = 256 * 1024
# Deepest element nesting kept inside a stanza. Real stanzas nest under 10 levels (a MAM
# result holding a forwarded message with XHTML is about 8); 64 leaves room.
MAX_DEPTH: Final = 64
# Longest single tag (name plus attributes) before it is treated as garbage.
MAX_TAG_BYTES: Final = 64 * 1024

STREAM_NS: Final = "http://etherx.jabber.org/streams"
_TAG_END_OR_QUOTE: Final = re.compile(rb"[>\"']")
_NAME: Final = re.compile(rb"[^\s/>=]+")
_ATTR: Final = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_REFERENCE: Final = re.compile(r"&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z_][\w.-]*);")
_PREDEFINED: Final = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class Element:
    """One element of a stanza: local name, namespace, attributes, children and text."""

    __slots__ = ("attrs", "children", "name", "ns", "raw", "text")

    def __init__(self, name: str, ns: str, attrs: dict[str, str]) -> None:
        self.name = name
        self.ns = ns
        self.attrs = attrs
        self.children: list[Element] = []
        self.text = ""
        self.raw = b""  # the whole stanza as sent (top-level elements only)

    def __repr__(self) -> str:
        return f"Element({self.name!r}, {self.ns!r}, {self.attrs!r})"

    def get(self, key: str, default: str = "") -> str:
        """Attribute ``key`` ("" when absent)."""
        return self.attrs.get(key, default)

    def find(self, name: str, ns: str | None = None) -> Element | None:
        """The first child called ``name`` (in ``ns`` when given)."""
        for child in self.children:
            if child.name == name and (ns is None or child.ns == ns):
                return child
        return None

    def findall(self, name: str, ns: str | None = None) -> list[Element]:
        """Every child called ``name`` (in ``ns`` when given)."""
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def child_text(self, name: str, ns: str | None = None) -> str | None:
        """Text of the first child called ``name``, or None when there is none."""
        child = self.find(name, ns)
        return None if child is None else child.text


class StreamOpen(NamedTuple):
    """``<stream:stream>`` was opened (or reopened)."""

    attrs: dict[str, str]


class StreamClose(NamedTuple):
    """``</stream:stream>`` closed the stream."""


class XmlAnomaly(NamedTuple):
    """Something wrong with the XML; ``name`` is the anomaly's suffix (``xmpp_<name>``)."""

    name: str
    detail: str = ""


Item = StreamOpen | StreamClose | Element | XmlAnomaly


class _Again:
    """A step that produced nothing to report: keep reading."""


_AGAIN: Final = _Again()


class _Open:
    """An element being built, with its namespace scope and raw text."""

    __slots__ = ("element", "qname", "scope", "text")

    def __init__(self, element: Element, qname: bytes, scope: dict[str, str]) -> None:
        self.element = element
        self.qname = qname
        self.scope = scope
        self.text = bytearray()


def decode_references(text: str) -> tuple[str, bool]:
    """Decode predefined entities and character references; unknown ones stay as written.

    Returns the text and whether an unknown entity was seen (never expanded).
    """
    if "&" not in text:
        return text, False
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        ref = match.group(1)
        if ref[0] == "#":
            try:
                code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
                return chr(code)
            except (ValueError, OverflowError):
                return match.group(0)
        value = _PREDEFINED.get(ref)
        if value is None:
            unknown = True
            return match.group(0)
        return value

    return _REFERENCE.sub(replace, text), unknown


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


class XmlStreamReader:
    """Incremental reader of one direction of an XMPP stream."""

    __slots__ = (
        "_buf",
        "_depth",
        "_pos",
        "_quote",
        "_raw",
        "_scan",
        "_skipping",
        "_stack",
        "_stanza_bytes",
        "_stream_scope",
        "in_stream",
    )

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # bytes before _pos are consumed
        self._scan = 0  # tag search resumes here (relative to _buf)
        self._quote = 0  # open quote character inside the tag being scanned, or 0
        self._stack: list[_Open] = []
        self._depth = 0  # element depth below the stream root while skipping
        self._skipping = False  # a too large or too deep stanza: count depth, store nothing
        self._stanza_bytes = 0
        self._raw = bytearray()
        self._stream_scope: dict[str, str] = {"": "jabber:client", "stream": STREAM_NS}
        self.in_stream = False

    def __len__(self) -> int:
        return len(self._buf) - self._pos + len(self._raw)

    def push(self, data: bytes) -> None:
        """Append bytes of the stream."""
        if self._pos:
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    def take_rest(self) -> bytes:
        """Remove and return every byte not read yet (after a switch to TLS or zlib)."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = self._scan = self._quote = 0
        return rest

    def reset(self) -> None:
        """Forget the partial stanza and buffered bytes (a hole in the stream)."""
        self._buf.clear()
        self._pos = self._scan = self._quote = 0
        self._stack.clear()
        self._raw.clear()
        self._skipping = False
        self._depth = 0
        self._stanza_bytes = 0

    # -- the step loop ------------------------------------------------------------------

    def next_item(self) -> Item | None:
        """The next complete item, or None when more bytes are needed."""
        buf = self._buf
        while True:
            pos = self._pos
            if pos >= len(buf):
                return None
            lt = buf.find(b"<", pos)
            if lt != pos:
                end = len(buf) if lt < 0 else lt
                self._text(pos, end)
                self._pos = end
                if lt < 0:
                    if self._stanza_bytes > MAX_STANZA_BYTES and self._stack:
                        return self._start_skipping("stanza_too_long")
                    return None
                continue
            item = self._markup()
            if item is None:
                return None
            if not isinstance(item, _Again):
                return item

    def _text(self, start: int, end: int) -> None:
        if not self._stack or self._skipping:
            return  # between stanzas (whitespace keepalives) or dropped
        chunk = self._buf[start:end]
        self._stack[-1].text += chunk
        self._account(chunk)

    def _account(self, chunk: bytes | bytearray) -> None:
        if self._skipping:
            return
        self._stanza_bytes += len(chunk)
        self._raw += chunk

    def _start_skipping(self, name: str) -> XmlAnomaly:
        """Drop the stanza being built; keep its depth to find its end."""
        self._depth = len(self._stack)
        self._stack.clear()
        self._raw.clear()
        self._skipping = True
        return XmlAnomaly(name, f"over {MAX_STANZA_BYTES} bytes or {MAX_DEPTH} levels")

    def _find_tag_end(self) -> int:
        """Offset of the ``>`` closing the tag at ``_pos`` (quote-aware), or -1."""
        buf = self._buf
        scan = max(self._scan, self._pos + 1)
        while True:
            if self._quote:
                close = buf.find(bytes((self._quote,)), scan)
                if close < 0:
                    self._scan = len(buf)
                    return -1
                self._quote = 0
                scan = close + 1
                continue
            match = _TAG_END_OR_QUOTE.search(buf, scan)
            if match is None:
                self._scan = len(buf)
                return -1
            if buf[match.start()] == 0x3E:  # '>'
                self._scan = 0
                return match.start()
            self._quote = buf[match.start()]
            scan = match.start() + 1

    def _markup(self) -> Item | _Again | None:
        buf = self._buf
        pos = self._pos
        head = bytes(buf[pos : pos + 9])
        if head.startswith(b"<!--"):
            return self._skip_until(b"-->", None)
        if head.startswith(b"<![CDATA["):
            end = buf.find(b"]]>", pos + 9)
            if end < 0:
                return self._pending()
            if self._stack and not self._skipping:
                data = bytes(buf[pos + 9 : end])
                # Escape so that reference decoding at the close leaves CDATA unchanged.
                self._stack[-1].text += data.replace(b"&", b"&amp;")
                self._account(buf[pos : end + 3])
            self._pos = end + 3
            return _AGAIN
        if head.startswith(b"<?"):
            return self._skip_until(b"?>", None)
        if len(head) < 9 and (b"<![CDATA[".startswith(head) or b"<!--".startswith(head[:4])):
            return None  # which markup this is shows with the next bytes
        if head.startswith(b"<!"):
            # DOCTYPE/ENTITY: never allowed in XMPP (RFC 6120 s11.1); skip it, expand nothing.
            bracket = buf.find(b"[", pos, pos + MAX_TAG_BYTES)
            close = buf.find(b">", pos)
            if bracket >= 0 and (close < 0 or bracket < close):
                return self._skip_until(b"]>", XmlAnomaly("dtd", "DOCTYPE with internal subset"))
            return self._skip_until(b">", XmlAnomaly("dtd", "markup declaration"))
        if len(head) < 2:
            return None
        end = self._find_tag_end()
        if end < 0:
            return self._pending()
        tag = bytes(buf[pos : end + 1])
        self._pos = end + 1
        if tag.startswith(b"</"):
            return self._end_tag(tag)
        return self._start_tag(tag)

    def _pending(self) -> XmlAnomaly | None:
        """Need more bytes, unless the unfinished markup is already too long."""
        if len(self._buf) - self._pos <= MAX_TAG_BYTES:
            return None
        # Garbage or an endless tag: drop it and resume at the next '<'.
        next_lt = self._buf.find(b"<", self._pos + 1)
        self._pos = len(self._buf) if next_lt < 0 else next_lt
        self._scan = self._quote = 0
        return XmlAnomaly("tag_too_long", f"over {MAX_TAG_BYTES} bytes")

    def _skip_until(self, terminator: bytes, anomaly: XmlAnomaly | None) -> Item | _Again | None:
        end = self._buf.find(terminator, self._pos + 2)
        if end < 0:
            return self._pending()
        self._pos = end + len(terminator)
        return anomaly if anomaly is not None else _AGAIN

    # -- tags ---------------------------------------------------------------------------

    def _start_tag(self, tag: bytes) -> Item | _Again:
        self_closing = tag.endswith(b"/>")
        name_match = _NAME.match(tag, 1)
        if name_match is None:
            return XmlAnomaly("malformed_tag", repr(tag[:64]))
        qname = name_match.group(0)
        stack = self._stack
        if qname == b"stream:stream" or (qname == b"stream" and not stack):
            attrs = self._attrs(tag, name_match.end())
            self._stream_scope = self._scope(attrs, {"": "jabber:client", "stream": STREAM_NS})
            if stack or self._skipping:
                stack.clear()
                self._raw.clear()
                self._skipping = False
            self._stanza_bytes = 0
            self.in_stream = True
            return StreamOpen(attrs)
        self.in_stream = True  # a capture that starts mid-stream has no stream header
        if self._skipping:
            if not self_closing:
                self._depth += 1
            return _AGAIN
        if not stack:
            self._stanza_bytes = 0
            self._raw.clear()
        self._account(tag)
        if len(stack) >= MAX_DEPTH or self._stanza_bytes > MAX_STANZA_BYTES:
            anomaly = self._start_skipping(
                "too_deep" if len(stack) >= MAX_DEPTH else "stanza_too_long"
            )
            if not self_closing:
                self._depth += 1
            return anomaly
        attrs = self._attrs(tag, name_match.end())
        parent_scope = stack[-1].scope if stack else self._stream_scope
        scope = self._scope(attrs, parent_scope)
        prefix, _, local = qname.decode("utf-8", "replace").rpartition(":")
        element = Element(local, scope.get(prefix, ""), attrs)
        if stack:
            stack[-1].element.children.append(element)
        if self_closing:
            if not stack:
                element.raw = bytes(self._raw)
                self._raw.clear()
                return element
            return _AGAIN
        stack.append(_Open(element, qname, scope))
        return _AGAIN

    def _end_tag(self, tag: bytes) -> Item | _Again:
        qname = tag[2:-1].strip()
        if qname == b"stream:stream" or (qname == b"stream" and not self._stack):
            self._stack.clear()
            self._raw.clear()
            self._skipping = False
            return StreamClose()
        if self._skipping:
            self._depth -= 1
            if self._depth <= 0:
                self._skipping = False
                self._depth = 0
            return _AGAIN
        stack = self._stack
        if not stack:
            return XmlAnomaly("unbalanced_end_tag", qname.decode("latin-1")[:64])
        self._account(tag)
        current = stack.pop()
        element = current.element
        text, unknown = decode_references(_text(current.text))
        element.text = text
        mismatch = current.qname != qname
        if stack:
            if mismatch:
                return XmlAnomaly("mismatched_end_tag", qname.decode("latin-1")[:64])
            return XmlAnomaly("unknown_entity") if unknown else _AGAIN
        element.raw = bytes(self._raw)
        self._raw.clear()
        return element

    @staticmethod
    def _attrs(tag: bytes, start: int) -> dict[str, str]:
        attrs: dict[str, str] = {}
        for match in _ATTR.finditer(tag, start):
            value = match.group(2) if match.group(2) is not None else match.group(3)
            attrs[_text(match.group(1))] = decode_references(_text(value))[0]
        return attrs

    @staticmethod
    def _scope(attrs: dict[str, str], parent: dict[str, str]) -> dict[str, str]:
        declared = {
            ("" if key == "xmlns" else key[6:]): value
            for key, value in attrs.items()
            if key == "xmlns" or key.startswith("xmlns:")
        }
        return {**parent, **declared} if declared else parent
