"""Handshake message bodies: ClientHello and ServerHello (RFC 8446 s4.1.2-s4.1.3, RFC
5246 s7.4.1), the SSLv2-compatible CLIENT-HELLO (RFC 6101 appendix E.2), and the
Certificate list (RFC 5246 s7.4.2).

Every function takes a complete message body and returns the event's fields, or the name of
what is wrong. Lists are cut at ``MAX_LIST_ITEMS`` entries so a hello full of extensions
costs bounded work and memory (the body itself is already capped by the parser).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from wiresift.protocols.tls import fingerprints

# Entries kept per list (ciphers, extensions, groups...). Real hellos carry < 100 of each.
MAX_LIST_ITEMS: Final = 1024
# Certificates kept per Certificate message (real chains hold 2-5; RFC 5246 sets no cap).
MAX_CHAIN: Final = 16

EXT_SERVER_NAME: Final = 0
EXT_SUPPORTED_GROUPS: Final = 10
EXT_EC_POINT_FORMATS: Final = 11
EXT_SIGNATURE_ALGORITHMS: Final = 13
EXT_ALPN: Final = 16
EXT_SESSION_TICKET: Final = 35
EXT_PRE_SHARED_KEY: Final = 41
EXT_SUPPORTED_VERSIONS: Final = 43

# The random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 s4.1.3).
HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

_U16: Final = struct.Struct("!H")


class TruncatedError(Exception):
    """A length field points past the end of its container (internal to this module)."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        if self.pos >= self.end:
            raise TruncatedError
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        if self.pos + 2 > self.end:
            raise TruncatedError
        self.pos += 2
        return int(_U16.unpack_from(self.data, self.pos - 2)[0])

    def u24(self) -> int:
        return (self.u8() << 16) | self.u16()

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise TruncatedError
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def sub(self, size: int) -> _Reader:
        if self.pos + size > self.end:
            raise TruncatedError
        self.pos += size
        return _Reader(self.data, self.pos - size, self.pos)

    def u16_list(self, size: int) -> tuple[list[int], bool]:
        """``size`` bytes of 16-bit values; (values kept, whether some were dropped)."""
        block = self.take(size)
        count = len(block) // 2
        kept = min(count, MAX_LIST_ITEMS)
        return list(struct.unpack_from(f"!{kept}H", block)), count > kept


@dataclass(slots=True)
class ClientHelloFields:
    """What a ClientHello carries (the event adds time, direction and fingerprints)."""

    legacy_version: int
    cipher_suites: list[int]
    session_id: bytes = b""
    cookie: bytes = b""  # DTLS only (RFC 6347 s4.2.1)
    extensions: list[int] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    server_name: str | None = None
    alpn: list[bytes] = field(default_factory=list)
    supported_groups: list[int] = field(default_factory=list)
    ec_point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    session_ticket: bool = False
    psk_offered: bool = False
    sslv2: bool = False
    issues: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ServerHelloFields:
    """What a ServerHello carries."""

    legacy_version: int
    session_id: bytes
    cipher_suite: int
    compression: int
    retry_request: bool
    extensions: list[int] = field(default_factory=list)
    selected_version: int | None = None
    alpn: str | None = None
    psk_accepted: bool = False
    issues: list[str] = field(default_factory=list)


def _server_name(ext: _Reader) -> str | None:
    """The first host_name of a server_name extension (RFC 6066 s3)."""
    names = ext.sub(ext.u16())
    while names.left() >= 3:
        name_type = names.u8()
        value = names.take(names.u16())
        if name_type == 0:
            return value[:255].decode("ascii", "backslashreplace")
    return None


def _alpn(ext: _Reader) -> list[bytes]:
    """Protocol names of an ALPN extension (RFC 7301 s3.1)."""
    names = ext.sub(ext.u16())
    found: list[bytes] = []
    while names.left() > 0 and len(found) < MAX_LIST_ITEMS:
        found.append(names.take(names.u8()))
    return found


def parse_client_hello(body: bytes, *, dtls: bool = False) -> ClientHelloFields | str:
    """Fields of a ClientHello body, or an anomaly name.

    A DTLS ClientHello carries a cookie after the session id (RFC 6347 s4.2.1).
    """
    reader = _Reader(body)
    try:
        version = reader.u16()
        reader.take(32)  # random
        session_id = reader.take(reader.u8())
        cookie = reader.take(reader.u8()) if dtls else b""
        ciphers, dropped = reader.u16_list(reader.u16())
        hello = ClientHelloFields(
            legacy_version=version, cipher_suites=ciphers, session_id=session_id, cookie=cookie
        )
        if dropped:
            hello.issues.append("tls_too_many_ciphers")
        reader.take(reader.u8())  # compression methods
        if reader.left() >= 2:
            _client_extensions(reader.sub(reader.u16()), hello)
    except TruncatedError:
        return "tls_client_hello_truncated"
    return hello


def _client_extensions(exts: _Reader, hello: ClientHelloFields) -> None:
    while exts.left() >= 4:
        ext_type = exts.u16()
        ext = exts.sub(exts.u16())
        if len(hello.extensions) >= MAX_LIST_ITEMS:
            if "tls_too_many_extensions" not in hello.issues:
                hello.issues.append("tls_too_many_extensions")
            continue
        hello.extensions.append(ext_type)
        if ext_type == EXT_SERVER_NAME and ext.left() and hello.server_name is None:
            hello.server_name = _server_name(ext)
        elif ext_type == EXT_SUPPORTED_GROUPS and ext.left():
            hello.supported_groups = ext.u16_list(ext.u16())[0]
        elif ext_type == EXT_EC_POINT_FORMATS and ext.left():
            hello.ec_point_formats = list(ext.take(ext.u8())[:MAX_LIST_ITEMS])
        elif ext_type == EXT_SIGNATURE_ALGORITHMS and ext.left():
            hello.signature_algorithms = ext.u16_list(ext.u16())[0]
        elif ext_type == EXT_ALPN and ext.left():
            hello.alpn = _alpn(ext)
        elif ext_type == EXT_SUPPORTED_VERSIONS and ext.left():
            hello.supported_versions = ext.u16_list(ext.u8())[0]
        elif ext_type == EXT_SESSION_TICKET:
            hello.session_ticket = ext.left() > 0
        elif ext_type == EXT_PRE_SHARED_KEY:
            hello.psk_offered = True
    if exts.left():
        hello.issues.append("tls_extensions_truncated")


def parse_sslv2_client_hello(message: bytes) -> ClientHelloFields | str:
    """Fields of an SSLv2 CLIENT-HELLO (type byte, version, three lengths, then the lists).

    Cipher specs are three bytes; those starting with a zero byte are TLS cipher suites
    (RFC 6101 E.2, RFC 5246 E.2) and are the ones kept.
    """
    reader = _Reader(message)
    try:
        if reader.u8() != 1:
            return "tls_sslv2_not_client_hello"
        version = reader.u16()
        spec_len = reader.u16()
        session_len = reader.u16()
        challenge_len = reader.u16()
        specs = reader.take(spec_len)
        session_id = reader.take(session_len)
        reader.take(challenge_len)
    except TruncatedError:
        return "tls_client_hello_truncated"
    ciphers = [
        (specs[i + 1] << 8) | specs[i + 2]
        for i in range(0, min(len(specs) - 2, 3 * MAX_LIST_ITEMS), 3)
        if specs[i] == 0
    ]
    return ClientHelloFields(
        legacy_version=version, cipher_suites=ciphers, session_id=session_id, sslv2=True
    )


def parse_server_hello(body: bytes) -> ServerHelloFields | str:
    """Fields of a ServerHello body, or an anomaly name."""
    reader = _Reader(body)
    try:
        version = reader.u16()
        random = reader.take(32)
        session_id = reader.take(reader.u8()) if not 0x7F00 <= version <= 0x7F15 else b""
        hello = ServerHelloFields(
            legacy_version=version,
            session_id=session_id,
            cipher_suite=reader.u16(),
            # TLS 1.3 drafts before 22 sent neither session id nor compression.
            compression=reader.u8() if not 0x7F00 <= version <= 0x7F15 else 0,
            retry_request=random == HRR_RANDOM,
        )
        if reader.left() >= 2:
            exts = reader.sub(reader.u16())
            while exts.left() >= 4:
                ext_type = exts.u16()
                ext = exts.sub(exts.u16())
                if len(hello.extensions) < MAX_LIST_ITEMS:
                    hello.extensions.append(ext_type)
                if ext_type == EXT_SUPPORTED_VERSIONS and ext.left() >= 2:
                    hello.selected_version = ext.u16()
                elif ext_type == EXT_ALPN and ext.left():
                    names = _alpn(ext)
                    if names:
                        hello.alpn = names[0].decode("ascii", "backslashreplace")
                elif ext_type == EXT_PRE_SHARED_KEY:
                    hello.psk_accepted = True
    except TruncatedError:
        return "tls_server_hello_truncated"
    return hello


def parse_certificate_list(body: bytes, tls13: bool) -> tuple[list[bytes], str | None]:
    """DER certificates of a Certificate body, and an anomaly name if something was off.

    TLS 1.3 adds a request context before the list and extensions after each entry (RFC
    8446 s4.4.2); a clear one is seen only in draft-era captures.
    """
    reader = _Reader(body)
    chain: list[bytes] = []
    try:
        if tls13:
            reader.take(reader.u8())
        entries = reader.sub(reader.u24())
        while entries.left() > 0:
            der = entries.take(entries.u24())
            if tls13:
                entries.take(entries.u16())
            if len(chain) >= MAX_CHAIN:
                return chain, "tls_certificate_chain_too_long"
            chain.append(der)
    except TruncatedError:
        return chain, "tls_certificate_truncated"
    return chain, None


def fingerprint_strings(
    hello: ClientHelloFields, transport: str = "tcp"
) -> tuple[str, str, str, str]:
    """(ja3, ja3_string, ja4, ja4_r) of a ClientHello (``transport``: tcp, quic or dtls)."""
    ja3, ja3_string = fingerprints.ja3(
        hello.legacy_version,
        hello.cipher_suites,
        hello.extensions,
        hello.supported_groups,
        hello.ec_point_formats,
    )
    ja4, ja4_r = fingerprints.ja4(
        transport=transport,
        legacy_version=hello.legacy_version,
        supported_versions=hello.supported_versions,
        has_sni=hello.server_name is not None,
        alpn=hello.alpn,
        ciphers=hello.cipher_suites,
        extensions=hello.extensions,
        signature_algorithms=hello.signature_algorithms,
    )
    return ja3, ja3_string, ja4, ja4_r
