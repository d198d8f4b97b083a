"""Yahoo! Messenger (YMSG): registration and public names.

``SPEC`` reads YMSG connections found by content on any port: logins, messages (offline
ones too), conferences and chat rooms, typing, buddy lists, presence and file offers.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.ymsg.detect import SIGNATURES
from wiresift.protocols.ymsg.parser import MAX_PAIRS, YmsgParser

__all__ = ["MAX_PAIRS", "SPEC", "YmsgParser"]

SPEC = ProtocolSpec(
    name="ymsg",
    transport="tcp",
    ports=frozenset({5050}),  # scsa.msg.yahoo.com (libpurple yahoo/libymsg.h YAHOO_PAGER_PORT)
    parser=YmsgParser,
    description="Yahoo! Messenger YMSG",
    signatures=SIGNATURES,
    accepts_gaps=True,
    mid_stream=True,
)
