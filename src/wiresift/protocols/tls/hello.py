"""The hello events of TLS and DTLS, built once from the parsed hellos (RFC 8446 s4.1.2,
s4.1.3; RFC 6347 s4.2): the two parsers differ in framing, not in what a hello says."""

from __future__ import annotations

from typing import Literal

from wiresift.protocols.base import Direction
from wiresift.protocols.tls import handshake as hs
from wiresift.protocols.tls.events import ClientHello, ServerHello
from wiresift.protocols.tls.fingerprints import cipher_name, ja3s


def client_hello_event(
    parsed: hs.ClientHelloFields,
    direction: Direction,
    ts: int,
    transport: Literal["tcp", "dtls"] = "tcp",
) -> ClientHello:
    """The ClientHello event with its JA3 and JA4 fingerprints."""
    ja3, ja3_string, ja4, ja4_r = hs.fingerprint_strings(parsed, transport)
    return ClientHello(
        direction=direction,
        ts=ts,
        legacy_version=parsed.legacy_version,
        supported_versions=tuple(parsed.supported_versions),
        server_name=parsed.server_name,
        alpn=tuple(a.decode("ascii", "backslashreplace") for a in parsed.alpn),
        cipher_suites=tuple(parsed.cipher_suites),
        extensions=tuple(parsed.extensions),
        supported_groups=tuple(parsed.supported_groups),
        ec_point_formats=tuple(parsed.ec_point_formats),
        signature_algorithms=tuple(parsed.signature_algorithms),
        session_id=parsed.session_id,
        session_ticket=parsed.session_ticket,
        psk_offered=parsed.psk_offered,
        sslv2=parsed.sslv2,
        ja3=ja3,
        ja3_string=ja3_string,
        ja4=ja4,
        ja4_r=ja4_r,
    )


def server_hello_event(parsed: hs.ServerHelloFields, direction: Direction, ts: int) -> ServerHello:
    """The ServerHello event with the negotiated version and its JA3S fingerprint."""
    fingerprint, fingerprint_string = ja3s(
        parsed.legacy_version, parsed.cipher_suite, parsed.extensions
    )
    return ServerHello(
        direction=direction,
        ts=ts,
        legacy_version=parsed.legacy_version,
        version=parsed.selected_version or parsed.legacy_version,
        cipher_suite=parsed.cipher_suite,
        cipher_name=cipher_name(parsed.cipher_suite),
        compression=parsed.compression,
        alpn=parsed.alpn,
        extensions=tuple(parsed.extensions),
        session_id=parsed.session_id,
        retry_request=parsed.retry_request,
        ja3s=fingerprint,
        ja3s_string=fingerprint_string,
    )


def resumption(
    client: hs.ClientHelloFields | None, server: hs.ServerHelloFields, before_13: bool
) -> str | None:
    """How the server resumed a session ("psk", "ticket", "session_id"), "await_ticket" when
    only a later NewSessionTicket can tell, or None (a full handshake)."""
    if server.psk_accepted:
        return "psk"
    if client is None or not before_13:
        return None
    if client.session_id and client.session_id == server.session_id:
        return "ticket" if client.session_ticket else "session_id"
    return "await_ticket" if client.session_ticket else None
