"""Events of the TLS parser (RFC 8446, RFC 5246, RFC 6101): what the handshake shows in clear.

One event per handshake message worth reporting; application data is never an event, only
counted (``EncryptedData`` when a direction ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from wiresift.protocols.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello(Event):
    """A ClientHello (RFC 8446 s4.1.2) or SSLv2-compatible CLIENT-HELLO (RFC 6101 E.2).

    Lists keep wire order and GREASE values (RFC 8701); fingerprints leave GREASE out.
    """

    legacy_version: int
    supported_versions: tuple[int, ...]
    server_name: str | None
    alpn: tuple[str, ...]
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]
    supported_groups: tuple[int, ...]
    ec_point_formats: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    session_id: bytes
    session_ticket: bool  # a non-empty SessionTicket extension (RFC 5077 s3.2)
    psk_offered: bool  # a pre_shared_key extension (RFC 8446 s4.2.11)
    sslv2: bool  # sent in the SSLv2 record format
    ja3: str
    ja3_string: str
    ja4: str
    ja4_r: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello(Event):
    """A ServerHello (RFC 8446 s4.1.3), or a HelloRetryRequest when ``retry_request``."""

    legacy_version: int
    version: int  # negotiated: supported_versions (RFC 8446 s4.2.1) or legacy_version
    cipher_suite: int
    cipher_name: str
    compression: int
    alpn: str | None
    extensions: tuple[int, ...]
    session_id: bytes
    retry_request: bool
    ja3s: str
    ja3s_string: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """What X.509 (RFC 5280) says of one certificate, as text for people and logs."""

    subject: str
    issuer: str
    serial: str  # upper-case hex, as Zeek's x509.log writes it
    not_before: int  # seconds since the epoch
    not_after: int
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    key_type: str  # "rsa", "ec", "dsa", "ed25519", ...
    key_bits: int | None
    curve: str | None
    signature_algorithm: str | None
    self_signed: bool
    sha256: str  # of the DER
    sha1: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateSeen(Event):
    """One certificate of a Certificate message (RFC 5246 s7.4.2), in chain order.

    ``direction`` RESP is the server's chain, ORIG a client certificate. ``info`` is None
    when the DER did not parse (an anomaly says why).
    """

    index: int
    der: bytes
    info: CertificateInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed(Event):
    """The server resumed a session (RFC 5246 s7.3 abbreviated handshake, RFC 8446 s2.2)."""

    method: str  # "session_id", "ticket" or "psk"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSeen(Event):
    """A clear-text alert (RFC 8446 s6); encrypted alerts are only counted."""

    level: int
    description: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptedData(Event):
    """Encrypted records of one direction, counted when the direction ends."""

    records: int
    size: int  # payload bytes, record headers excluded
