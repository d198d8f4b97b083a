"""X.509 certificate summaries (RFC 5280) from DER, with the ``cryptography`` package.

Parsing is pure computation on the bytes handed in. Distinguished names are written the
RFC 4514 way (most specific first, ``CN=...,O=...,C=...``), as Zeek's x509.log does; text
fields are cut at ``MAX_TEXT`` characters so a hostile certificate cannot blow up a log.
"""

from __future__ import annotations

import hashlib
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from wiresift.protocols.tls.events import CertificateInfo

# Longest subject, issuer or name kept (a real DN is well under 1 KiB).
MAX_TEXT: Final = 1024
# Subject alternative names kept per certificate (real ones list a few hundred at most).
MAX_NAMES: Final = 256
# Attribute names the RFC 4514 writer would print as dotted OIDs or in upper case; these
# are OpenSSL's short names, as in Zeek's x509.log.
_ATTRIBUTE_NAMES: Final = {
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]


def _key(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
        return "unknown", None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size, None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456, None
    return "unknown", None, None


def _sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns = tuple(_cut(name) for name in ext.value.get_values_for_type(x509.DNSName)[:MAX_NAMES])
    ips = tuple(str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)[:MAX_NAMES])
    return dns, ips


def _signature_algorithm(cert: x509.Certificate) -> str | None:
    try:
        name = cert.signature_algorithm_oid._name
    except ValueError:
        return None
    return name if name != "Unknown OID" else cert.signature_algorithm_oid.dotted_string


def describe_certificate(der: bytes) -> CertificateInfo | str:
    """The summary of one DER certificate, or the reason it could not be read."""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string(_ATTRIBUTE_NAMES)
        issuer = cert.issuer.rfc4514_string(_ATTRIBUTE_NAMES)
        serial = f"{cert.serial_number:X}"
        not_before = int(cert.not_valid_before_utc.timestamp())
        not_after = int(cert.not_valid_after_utc.timestamp())
    except (ValueError, TypeError, OverflowError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    key_type, key_bits, curve = _key(cert)
    san_dns, san_ip = _sans(cert)
    return CertificateInfo(
        subject=_cut(subject),
        issuer=_cut(issuer),
        serial=serial if len(serial) % 2 == 0 else "0" + serial,
        not_before=not_before,
        not_after=not_after,
        san_dns=san_dns,
        san_ip=san_ip,
        key_type=key_type,
        key_bits=key_bits,
        curve=curve,
        signature_algorithm=_signature_algorithm(cert),
        self_signed=cert.subject == cert.issuer,
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
    )
