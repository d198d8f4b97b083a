"""How HTTP/1.x is recognised in the first bytes of a stream (RFC 9112 s3, s4).

The client's first line is ``method SP request-target SP HTTP/1.x`` and the server's is
``HTTP/1.x SP status-code``. Methods are case-sensitive (RFC 9110 s9.1); only the known ones
below count, so a random text protocol that happens to start with a token and a space is
not taken for HTTP.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature, Verdict
from wiresift.protocols.base import Direction

# RFC 9110 s9 and RFC 5789 (PATCH); WebDAV RFC 4918, RFC 3253 (DeltaV), RFC 3648, RFC 3744,
# RFC 4437, RFC 4791 (MKCALENDAR), RFC 5323 (SEARCH), RFC 5842 (BIND); RFC 2068 s19.6.1
# (LINK/UNLINK); Exchange WebDAV (SUBSCRIBE/NOTIFY/POLL/B*); SSDP/UPnP (M-SEARCH); cache
# purges (PURGE, Squid and Varnish); Outlook Anywhere (RPC_IN_DATA/RPC_OUT_DATA); Icecast
# (SOURCE). "PRI" is left out on purpose: it starts the HTTP/2 preface (RFC 9113 s3.4).
METHODS: Final = frozenset(
    {
        b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE",
        b"PATCH", b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK",
        b"UNLOCK", b"SEARCH", b"REPORT", b"MKCALENDAR", b"ACL", b"ORDERPATCH", b"BIND",
        b"UNBIND", b"REBIND", b"CHECKOUT", b"CHECKIN", b"UNCHECKOUT", b"MKWORKSPACE",
        b"UPDATE", b"LABEL", b"MERGE", b"MKACTIVITY", b"VERSION-CONTROL",
        b"BASELINE-CONTROL", b"MKREDIRECTREF", b"UPDATEREDIRECTREF", b"LINK", b"UNLINK",
        b"SUBSCRIBE", b"UNSUBSCRIBE", b"NOTIFY", b"POLL", b"BCOPY", b"BDELETE", b"BMOVE",
        b"BPROPFIND", b"BPROPPATCH", b"M-SEARCH", b"PURGE", b"QUERY", b"RPC_IN_DATA",
        b"RPC_OUT_DATA", b"SOURCE",
    }
)  # fmt: skip
MAX_METHOD_LEN: Final = max(len(method) for method in METHODS)

# Longest first line the probe waits for (the default Limits.max_line).
PROBE_MAX_LINE: Final = 8192

_METHOD_ALTERNATION: Final = b"|".join(
    re.escape(method) for method in sorted(METHODS, key=len, reverse=True)
)
# A request-target holds no whitespace or control bytes (RFC 9112 s3.2); bytes >= 0x80 are
# tolerated because real clients send raw UTF-8.
_REQUEST_LINE: Final = re.compile(
    rb"(?:" + _METHOD_ALTERNATION + rb") [^\x00-\x20\x7f]+ HTTP/1\.[0-9]\r?\n"
)
_REQUEST_AFTER_METHOD_PARTIAL: Final = re.compile(
    rb"[^\x00-\x20\x7f]*|[^\x00-\x20\x7f]+ (?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?"
)
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[0-9] [0-9]{3}(?:[ \t][^\r\n]*)?\r?\n")
_STATUS_LINE_PARTIAL: Final = re.compile(
    rb"(?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[0-9](?: (?:[0-9](?:[0-9](?:[0-9]"
    rb"(?:[ \t][^\r\n]*)?\r?)?)?)?)?)?)?)?)?)?)?)?)?"
)

SIGNATURES: Final = (
    Signature(
        direction=Direction.ORIG,
        pattern=re.compile(rb"(?:" + _METHOD_ALTERNATION + rb") "),
        depth=MAX_METHOD_LEN + 1,
        description="HTTP request line: a known method and a space (RFC 9112 s3)",
    ),
    Signature(
        direction=Direction.RESP,
        pattern=re.compile(rb"HTTP/1\.[0-9]"),
        depth=8,
        description="HTTP status line: HTTP/1.x (RFC 9112 s4)",
    ),
)


def probe(direction: Direction, data: bytes) -> Verdict:
    """MATCH for a whole plausible request line (ORIG) or status line (RESP).

    NEED_MORE while ``data`` is still a prefix of one, NO_MATCH otherwise.
    """
    if direction is Direction.ORIG:
        return _probe_request(data)
    return _probe_status(data)


def _probe_request(data: bytes) -> Verdict:
    space = data.find(b" ", 0, MAX_METHOD_LEN + 1)
    if space < 0:
        if len(data) <= MAX_METHOD_LEN and any(method.startswith(data) for method in METHODS):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH
    if data[:space] not in METHODS:
        return Verdict.NO_MATCH
    if _REQUEST_LINE.match(data):
        return Verdict.MATCH
    if (
        b"\n" not in data
        and len(data) < PROBE_MAX_LINE
        and _REQUEST_AFTER_METHOD_PARTIAL.fullmatch(data, space + 1)
    ):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH


def _probe_status(data: bytes) -> Verdict:
    if _STATUS_LINE.match(data):
        return Verdict.MATCH
    if b"\n" not in data and len(data) < PROBE_MAX_LINE and _STATUS_LINE_PARTIAL.fullmatch(data):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH
