"""Events of the SOCKS parser (RFC 1928, RFC 1929, SOCKS 4 and 4a)."""

from __future__ import annotations

from dataclasses import dataclass

from wiresift.protocols.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksGreeting(Event):
    """SOCKS 5 version identifier and method selection message (RFC 1928 s3)."""

    methods: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksMethod(Event):
    """The method the server chose (RFC 1928 s3; 0xFF: none acceptable)."""

    method: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksAuth(Event):
    """Username/password sub-negotiation request (RFC 1929 s2); the password only when
    secrets are kept."""

    username: bytes
    password: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksAuthResult(Event):
    """Username/password status (RFC 1929 s2): 0 is success."""

    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksRequest(Event):
    """A CONNECT, BIND or UDP ASSOCIATE request (RFC 1928 s4; SOCKS 4 CD 1 or 2)."""

    version: int
    command: str  # "connect", "bind", "udp_associate" or "unknown"
    address_type: str  # "ipv4", "ipv6" or "domain"
    host: str
    port: int
    user_id: bytes = b""  # SOCKS 4 USERID


@dataclass(frozen=True, slots=True, kw_only=True)
class SocksReply(Event):
    """The server's reply (RFC 1928 s6; SOCKS 4 CD 90-93)."""

    version: int
    code: int
    status: str  # "succeeded", "general_failure", ... (names after RFC 1928 s6)
    succeeded: bool
    bound_host: str
    bound_port: int
