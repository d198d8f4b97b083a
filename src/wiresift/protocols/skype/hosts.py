"""Skype and Microsoft Teams by name: TLS server names and certificate names.

Modern Skype and Teams carry signalling, chat and presence over HTTPS/WebSocket (TLS on
443), so the only readable evidence is the ClientHello's server name (RFC 6066 s3) and,
up to TLS 1.2, the server certificate's subject and subjectAltName DNS names (RFC 5280
s4.2.1.6). The list below names the domains those clients are documented or observed to
use (Microsoft 365 URL and IP ranges list for Teams/Skype for Business; the host names in
the corpus captures: ``apps.skype.com``, ``apps.skypeassets.com``, certificate
``*.gateway.messenger.live.com``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from wiresift.model import JsonValue

# A name matches when it equals one of these or ends with "." + one of them.
SKYPE_DOMAINS: Final[tuple[str, ...]] = (
    "skype.com",  # apps, api, login, ui, config: the Skype client's own services
    "skype.net",  # classic relay/host names (rst*.r.skype.net, dsn*.d.skype.net)
    "skypeassets.com",  # Skype web assets
    "skypeassets.net",
    "skypedata.akadns.net",  # telemetry pipes
    "skypeforbusiness.com",  # Skype for Business Online
    "lync.com",  # Skype for Business / Lync Online
    "gateway.messenger.live.com",  # Skype chat gateway (certificate *.gateway...)
    "trouter.io",  # Teams/Skype push ("trouter") service
    "trouter.skype.com",
    "teams.microsoft.com",  # Teams web and client services
    "teams.live.com",  # Teams for personal use
    "teams.skype.com",
    "teams.office.com",
    "teams.cdn.live.net",
    "teams.cdn.office.net",
    "mstea.ms",  # Teams short links
    "teams.events.data.microsoft.com",
    "teams.trafficmanager.net",
)
# Teams backends in Azure are named "<something>-teams.cloudapp.net".
_SUFFIXES: Final = (*("." + domain for domain in SKYPE_DOMAINS), "-teams.cloudapp.net")
_DOMAIN_SET: Final = frozenset(SKYPE_DOMAINS)
# Longest name looked at (DNS names are at most 253 characters, RFC 1035 s2.3.4).
MAX_NAME: Final = 253


def skype_name(name: str) -> bool:
    """True if ``name`` (a host name, possibly a ``*.`` wildcard) is a Skype/Teams name."""
    if not name or len(name) > MAX_NAME:
        return False
    host = name.lower().rstrip(".")
    if host.startswith("*."):
        host = host[2:]
    return host in _DOMAIN_SET or host.endswith(_SUFFIXES)


def _certificate_names(certificate: JsonValue) -> list[str]:
    """The subject CN and the DNS subjectAltNames of one certificate summary."""
    if not isinstance(certificate, dict):
        return []
    names: list[str] = []
    subject = certificate.get("subject")
    if isinstance(subject, str):
        for part in subject.split(","):
            key, _, value = part.strip().partition("=")
            if key.upper() == "CN":
                names.append(value)
    san = certificate.get("san_dns")
    if isinstance(san, list):
        names.extend(item for item in san if isinstance(item, str))
    return names


def tls_skype_names(metadata: Mapping[str, JsonValue]) -> list[str]:
    """The Skype/Teams names among a TLS usage object's SNI and server certificates."""
    names: list[str] = []
    sni = metadata.get("sni")
    if isinstance(sni, str):
        names.append(sni)
    certificates = metadata.get("server_certificates")
    if isinstance(certificates, list):
        for certificate in certificates:
            names.extend(_certificate_names(certificate))
    found: list[str] = []
    for name in names:
        if skype_name(name) and name not in found:
            found.append(name)
    return found


def classify_tls(metadata: dict[str, JsonValue]) -> None:
    """Mark a TLS usage object as Skype/Teams when a name matches (called at its close)."""
    found = tls_skype_names(metadata)
    if found:
        metadata["application"] = "skype"
        metadata["application_names"] = list[JsonValue](found[:8])
