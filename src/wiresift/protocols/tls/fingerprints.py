"""Client and server fingerprints: JA3/JA3S (Salesforce) and JA4 (FoxIO), plus names.

JA3 is ``version,ciphers,extensions,groups,point_formats`` in decimal, dash-joined, GREASE
values (RFC 8701) left out, and its MD5; JA3S is ``version,cipher,extensions`` of the
ServerHello. JA4 follows FoxIO's published description: ``t`` + version + SNI flag +
cipher and extension counts + ALPN ends, then truncated SHA-256 of the sorted cipher list
and of the sorted extension list (SNI and ALPN left out) with the signature algorithms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

EXT_SERVER_NAME: Final = 0x0000
EXT_ALPN: Final = 0x0010


def is_grease(value: int) -> bool:
    """The sixteen reserved GREASE values 0x0a0a, 0x1a1a ... 0xfafa (RFC 8701 s2)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def _no_grease(values: Iterable[int]) -> list[int]:
    return [v for v in values if not is_grease(v)]


def _dashed(values: Iterable[int]) -> str:
    return "-".join(str(v) for v in values)


def ja3(
    version: int,
    ciphers: Sequence[int],
    extensions: Sequence[int],
    groups: Sequence[int],
    point_formats: Sequence[int],
) -> tuple[str, str]:
    """(md5, string) of the JA3 client fingerprint."""
    text = ",".join(
        (
            str(version),
            _dashed(_no_grease(ciphers)),
            _dashed(_no_grease(extensions)),
            _dashed(_no_grease(groups)),
            _dashed(point_formats),
        )
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), text


def ja3s(version: int, cipher: int, extensions: Sequence[int]) -> tuple[str, str]:
    """(md5, string) of the JA3S server fingerprint."""
    text = f"{version},{cipher},{_dashed(_no_grease(extensions))}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), text


# Version codes of JA4 part a.
_JA4_VERSIONS: Final = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_EMPTY_HASH: Final = "000000000000"
# JA4 part a, first letter: QUIC "q", DTLS "d", TLS over TCP "t".
_JA4_PROTOCOLS: Final = {"quic": "q", "dtls": "d"}


def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _alpn_code(alpn: Sequence[bytes]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    first = alpn[0]
    head, tail = chr(first[0]), chr(first[-1])
    if _alnum(head) and _alnum(tail):
        return head + tail
    return f"{first[0]:02x}"[0] + f"{first[-1]:02x}"[1]


def _truncated_sha256(text: str) -> str:
    if not text:
        return _EMPTY_HASH
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ja4(
    *,
    transport: str,
    legacy_version: int,
    supported_versions: Sequence[int],
    has_sni: bool,
    alpn: Sequence[bytes],
    ciphers: Sequence[int],
    extensions: Sequence[int],
    signature_algorithms: Sequence[int],
) -> tuple[str, str]:
    """(ja4, ja4_r): the JA4 client fingerprint and its raw, unhashed form."""
    versions = _no_grease(supported_versions)
    version = max(versions) if versions else legacy_version
    clean_ciphers = _no_grease(ciphers)
    clean_extensions = _no_grease(extensions)
    part_a = (
        _JA4_PROTOCOLS.get(transport, "t")
        + _JA4_VERSIONS.get(version, "00")
        + ("d" if has_sni else "i")
        + f"{min(len(clean_ciphers), 99):02d}"
        + f"{min(len(clean_extensions), 99):02d}"
        + _alpn_code(alpn)
    )
    cipher_list = ",".join(f"{c:04x}" for c in sorted(clean_ciphers))
    ext_list = ",".join(
        f"{e:04x}" for e in sorted(clean_extensions) if e not in (EXT_SERVER_NAME, EXT_ALPN)
    )
    sigs = ",".join(f"{s:04x}" for s in _no_grease(signature_algorithms))
    ext_text = f"{ext_list}_{sigs}" if sigs else ext_list
    ja4_text = f"{part_a}_{_truncated_sha256(cipher_list)}_{_truncated_sha256(ext_text)}"
    return ja4_text, f"{part_a}_{cipher_list}_{ext_text}"


# Protocol version names (RFC 6101, RFC 2246, RFC 4346, RFC 5246, RFC 8446; DTLS below).
VERSION_NAMES: Final = {
    0x0002: "SSLv2",
    0x0300: "SSLv3",
    0x0301: "TLSv1.0",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
    0xFEFF: "DTLSv1.0",  # RFC 4347
    0xFEFD: "DTLSv1.2",  # RFC 6347
    0xFEFC: "DTLSv1.3",  # RFC 9147
}


def version_name(version: int) -> str:
    """``TLSv1.2``; pre-standard TLS 1.3 drafts (0x7fNN) as ``TLSv1.3-draft-NN``."""
    name = VERSION_NAMES.get(version)
    if name is not None:
        return name
    if version >> 8 == 0x7F:
        return f"TLSv1.3-draft-{version & 0xFF}"
    if version >> 8 == 0x7E:  # Facebook's fizz drafts (0x7e01.. in the wild)
        return f"TLSv1.3-fb-{version & 0xFF}"
    return f"0x{version:04x}"


# IANA "TLS Cipher Suites" registry: the suites seen in real traffic, by code.
CIPHER_NAMES: Final = {
    0x0000: "TLS_NULL_WITH_NULL_NULL",
    0x0001: "TLS_RSA_WITH_NULL_MD5",
    0x0002: "TLS_RSA_WITH_NULL_SHA",
    0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
    0x0007: "TLS_RSA_WITH_IDEA_CBC_SHA",
    0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0011: "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
    0x0012: "TLS_DHE_DSS_WITH_DES_CBC_SHA",
    0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
    0x0014: "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0015: "TLS_DHE_RSA_WITH_DES_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0096: "TLS_RSA_WITH_SEED_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0x5600: "TLS_FALLBACK_SCSV",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


def cipher_name(code: int) -> str:
    """The IANA name of a cipher suite, or its code in hex when not listed here."""
    return CIPHER_NAMES.get(code) or f"0x{code:04x}"
