"""WebSocket (RFC 6455) with permessage-deflate (RFC 7692): registration and public names.

WebSocket is never detected from bytes: it starts only when an HTTP/1.1 ``101 Switching
Protocols`` answers a request with ``Upgrade: websocket`` (RFC 6455 s4). The HTTP parser
then hands over the handshake facts (URL, Origin, subprotocol, extensions) in
``SwitchProtocol.context``, which reaches this parser as ``FlowInfo.context``.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.websocket.events import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsControl,
    WsMessage,
)
from wiresift.protocols.websocket.parser import WebSocketParser, parse_extensions

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "SPEC",
    "WebSocketParser",
    "WsControl",
    "WsMessage",
    "parse_extensions",
]

SPEC = ProtocolSpec(
    name="websocket",
    transport="tcp",
    ports=frozenset(),  # reached only through an HTTP Upgrade
    parser=WebSocketParser,
    description="WebSocket (RFC 6455, permessage-deflate RFC 7692)",
)
