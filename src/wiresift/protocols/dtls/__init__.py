"""DTLS 1.0 and 1.2 on UDP (RFC 4347, RFC 6347), with DTLS 1.3 records counted (RFC 9147).

Detection lives in ``detect.py``, the record and fragment reassembly in ``parser.py``; the
handshake bodies, fingerprints (JA4 with protocol letter ``d``) and events are the TLS
package's, so a DTLS flow's ``usage`` object has the fields of a TLS one.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.dtls.detect import CONTENT_HANDSHAKE, probe
from wiresift.protocols.dtls.parser import DtlsParser

__all__ = ["SPEC", "DtlsParser", "probe"]

SPEC = ProtocolSpec(
    name="dtls",
    transport="udp",
    # 443 VPNs (AnyConnect, OpenConnect), 853 DNS over DTLS (RFC 8094), 3391 RD Gateway,
    # 4433 test servers, 5349 TURN over DTLS (RFC 7350), 5684 CoAPS (RFC 7252), 6514
    # syslog (RFC 6012). A hint only: detection needs a hello.
    ports=frozenset({443, 853, 3391, 4433, 5349, 5684, 6514}),
    parser=DtlsParser,
    description="DTLS 1.0/1.2 handshakes on UDP (RFC 4347, RFC 6347; RFC 9147 records)",
    probe=probe,
    first_bytes=frozenset({CONTENT_HANDSHAKE}),  # a hello's record
    mid_stream=False,
)
