"""TLS and SSL (RFC 8446, RFC 5246, RFC 6101): registration and public names.

Detection rules live in ``detect.py``; the record and handshake parser in ``parser.py``;
message bodies in ``handshake.py``; JA3/JA4 in ``fingerprints.py``; X.509 summaries in
``certificates.py``; events in ``events.py``. STARTTLS hand-overs (SMTP, POP3, IMAP) reach
this parser as ``SwitchProtocol(to="tls")``.
"""

from __future__ import annotations

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.tls.detect import SIGNATURES, probe
from wiresift.protocols.tls.events import (
    AlertSeen,
    CertificateInfo,
    CertificateSeen,
    ClientHello,
    EncryptedData,
    Resumed,
    ServerHello,
)
from wiresift.protocols.tls.parser import TlsParser

__all__ = [
    "SPEC",
    "AlertSeen",
    "CertificateInfo",
    "CertificateSeen",
    "ClientHello",
    "EncryptedData",
    "Resumed",
    "ServerHello",
    "TlsParser",
    "probe",
]

SPEC = ProtocolSpec(
    name="tls",
    transport="tcp",
    # 443 HTTPS, 465 SMTPS, 636 LDAPS, 853 DNS over TLS, 993 IMAPS, 995 POP3S, 8443.
    ports=frozenset({443, 465, 636, 853, 993, 995, 8443}),
    parser=TlsParser,
    description="TLS 1.0-1.3 and SSL 3.0 handshakes (RFC 8446, RFC 5246, RFC 6101)",
    signatures=SIGNATURES,
    probe=probe,
    accepts_gaps=True,
    mid_stream=False,
)
