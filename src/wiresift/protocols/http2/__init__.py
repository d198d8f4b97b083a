"""HTTP/2 (RFC 9113) with HPACK (RFC 7541): registration and public names.

Each stream becomes the events of the HTTP/1 parser (``RequestHead``, ``ResponseHead``,
``BodyData``, ``BodyGap``, ``MessageEnd``) with ``tx`` = the stream id, so the same
builder makes one object per stream. Detection rules live in ``detect.py``, the frame
layout in ``frames.py``, the passive stream table in ``parser.py``.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.http2.detect import SIGNATURES, probe
from wiresift.protocols.http2.parser import Http2Parser

__all__ = ["SPEC", "Http2Parser", "probe"]

SPEC = ProtocolSpec(
    name="http2",
    transport="tcp",
    # No port of its own: cleartext HTTP/2 is found by its preface (RFC 9113 s3.3) or
    # reached by an h2c upgrade from HTTP/1.1.
    ports=frozenset(),
    parser=Http2Parser,
    description="HTTP/2 (RFC 9113, HPACK RFC 7541)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=True,
)
