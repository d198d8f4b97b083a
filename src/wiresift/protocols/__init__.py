"""Protocol parsers: one package per protocol, each registering a ``SPEC``.

``REGISTRY`` is the static list of every protocol wiresift knows, in order of preference
when several match the same bytes.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols import http1, imap, pop3, smtp
from wiresift.protocols.base import ProtocolSpec

REGISTRY: Final[tuple[ProtocolSpec, ...]] = (http1.SPEC, smtp.SPEC, pop3.SPEC, imap.SPEC)

__all__ = ["REGISTRY"]
