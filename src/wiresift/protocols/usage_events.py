"""The one event any protocol emits to say "who uses what" (the ``usage`` object).

A parser that only observes an application (BitTorrent, Skype, Lotus Notes...) reports what
it learnt as ``UsageInfo`` events; ``extract/usage.py`` merges them into one object per
flow. Values are JSON-ready: scalars replace the previous value of their key, lists are
appended to it (duplicates dropped, capped by the builder).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wiresift.model import JsonValue
from wiresift.protocols.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageInfo(Event):
    """Metadata of ``protocol`` learnt from the stream, e.g. ``{"client": "uTorrent 3.5"}``."""

    protocol: str
    metadata: Mapping[str, JsonValue]
    # The parser is sure of what it saw (a whole handshake), not only a hint.
    complete: bool = True
