"""How XMPP streams are recognised (RFC 6120 s4.2, s4.7).

Either side opens with an optional XML declaration and ``<stream:stream`` (client
``jabber:client``, server-to-server ``jabber:server``). A capture that starts mid-stream
shows a stanza first: ``<message``, ``<presence`` or ``<iq`` (RFC 6120 s8). Ports (5222
client, 5269 server) are hints only.
"""

from __future__ import annotations

import re
from typing import Final

from wiresift.detect.signatures import Signature

_STREAM: Final = re.compile(rb"\s*(?:<\?xml[^>]{0,200}\?>\s*)?<stream:stream[\s>]", re.IGNORECASE)
_STANZA: Final = re.compile(rb"\s*<(?:message|presence|iq)[\s>/][^\r\n]{0,400}(?:to|from|type|id)=")

SIGNATURES: Final = (
    Signature(
        direction=None,
        pattern=_STREAM,
        depth=512,
        description="XMPP stream header (RFC 6120 s4.7)",
    ),
    Signature(
        direction=None,
        pattern=_STANZA,
        depth=512,
        description="XMPP stanza first: a capture started mid-stream (RFC 6120 s8)",
    ),
)
