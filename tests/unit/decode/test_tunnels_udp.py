"""Tunnels in UDP: VXLAN, Geneve, Teredo, GTP-U, GRE in UDP, AYIYA, hand-built."""

from __future__ import annotations

import struct

import pytest

from tests.pcapgen import ether, ipv4, ipv6, udp
from tests.unit.decode.frames import (
    IPV4_TCP,
    IPV4_UDP,
    IPV6_TCP,
    packed,
    tcp_result,
    udp_result,
)
from wiresift.decode import DecodeLimits, PacketDecoder
from wiresift.decode.packet import IPPROTO_UDP, Decoded

OUTER_A = "198.51.100.7"
OUTER_B = "198.51.100.3"


def over_udp(sport: int, dport: int, payload: bytes, *, reverse: bool = False) -> bytes:
    """Ethernet/IPv4/UDP between the outer endpoints carrying ``payload``."""
    src, dst = (OUTER_B, OUTER_A) if reverse else (OUTER_A, OUTER_B)
    return ether(ipv4(src, dst, IPPROTO_UDP, udp(sport, dport, payload)))


def plain_udp(sport: int, dport: int, payload: bytes) -> Decoded:
    """What over_udp gives when the payload is not a tunnel."""
    return Decoded(
        packed(OUTER_A),
        packed(OUTER_B),
        IPPROTO_UDP,
        sport,
        dport,
        0,
        0,
        0,
        payload,
        ("eth",),
        False,
    )


def decode(frame: bytes, decoder: PacketDecoder | None = None) -> Decoded | None:
    """Decode with the fast path and check that the table walk agrees."""
    decoder = decoder or PacketDecoder()
    result = decoder.decode(1, frame)
    assert PacketDecoder()._decode_walk(1, frame) == result
    return result


def vxlan(vni: int, flags: int = 0x08) -> bytes:
    """VXLAN header (RFC 7348 s5)."""
    return struct.pack("!B3xI", flags, vni << 8)


def geneve(vni: int, protocol: int, options: bytes = b"", version: int = 0) -> bytes:
    """Geneve header (RFC 8926 s3.4) with ``options`` (a multiple of 4 bytes)."""
    return struct.pack("!BBHI", version << 6 | len(options) // 4, 0, protocol, vni << 8) + options


def gtpu(
    payload: bytes,
    *,
    message_type: int = 255,
    flags: int = 0x30,
    extensions: bytes = b"",
    first_extension: int = 0,
) -> bytes:
    """GTP-U header (TS 29.281 s5.1), TEID 0x01020304; optional fields when flags ask."""
    optional = b""
    if flags & 0x07:
        optional = struct.pack("!HBB", 1, 0, first_extension) + extensions
    length = len(optional) + len(payload)
    return struct.pack("!BBHI", flags, message_type, length, 0x01020304) + optional + payload


def teredo_auth(client_id: bytes, auth_value: bytes) -> bytes:
    """Teredo authentication header (RFC 4380 s5.1.1)."""
    return (
        struct.pack("!HBB", 1, len(client_id), len(auth_value))
        + client_id
        + auth_value
        + bytes(8)
        + b"\0"
    )


TEREDO_ORIGIN = struct.pack("!HH4s", 0, 0xFFFF ^ 3544, bytes(4))


@pytest.mark.parametrize("reverse", [False, True])
def test_vxlan(reverse: bool) -> None:
    """VXLAN adds the sorted outer endpoints and the VNI; the inner Ethernet follows."""
    result = decode(over_udp(51000, 4789, vxlan(42) + ether(IPV4_TCP), reverse=reverse))
    expected = ("eth", "vxlan:198.51.100.3-198.51.100.7", "vxlan:vni=42", "eth")
    assert result == tcp_result(expected)


def test_vxlan_encap_tuple_is_shared_both_ways() -> None:
    """Both directions with different source ports give one interned tuple."""
    decoder = PacketDecoder()
    forward = decode(over_udp(51000, 4789, vxlan(42) + ether(IPV4_TCP)), decoder)
    backward = decode(over_udp(62000, 4789, vxlan(42) + ether(IPV4_TCP), reverse=True), decoder)
    assert forward is not None
    assert backward is not None
    assert backward.encap is forward.encap


@pytest.mark.parametrize(
    ("payload", "anomaly"),
    [
        (vxlan(42, flags=0x00) + ether(IPV4_TCP), "vxlan_bad_header"),
        (vxlan(42)[:7], "vxlan_truncated"),
    ],
)
def test_vxlan_port_without_vxlan_stays_udp(payload: bytes, anomaly: str) -> None:
    """A datagram to 4789 whose header does not validate is plain UDP, with an anomaly."""
    decoder = PacketDecoder()
    assert decode(over_udp(51000, 4789, payload), decoder) == plain_udp(51000, 4789, payload)
    assert decoder.anomalies == {anomaly: 1}


@pytest.mark.parametrize(
    ("header", "inner", "items"),
    [
        (geneve(7, 0x6558), ether(IPV4_TCP), ("geneve:vni=7", "eth")),
        (geneve(7, 0x0800, options=bytes(8)), IPV4_TCP, ("geneve:vni=7",)),
        (geneve(16777215, 0x86DD), IPV6_TCP, ("geneve:vni=16777215",)),
    ],
)
def test_geneve(header: bytes, inner: bytes, items: tuple[str, ...]) -> None:
    """Geneve skips its options and dispatches its protocol type."""
    result = decode(over_udp(40000, 6081, header + inner))
    expected = ("eth", "geneve:198.51.100.3-198.51.100.7", *items)
    assert result == tcp_result(expected, ipv6_addresses=inner is IPV6_TCP)


@pytest.mark.parametrize(
    ("payload", "anomaly"),
    [
        (geneve(7, 0x6558, version=1) + ether(IPV4_TCP), "geneve_bad_header"),
        (geneve(7, 0x6558)[:5], "geneve_truncated"),
        (geneve(7, 0x0800, options=bytes(8))[:12], "geneve_truncated"),
    ],
)
def test_malformed_geneve_stays_udp(payload: bytes, anomaly: str) -> None:
    """A bad Geneve header leaves plain UDP and an anomaly."""
    decoder = PacketDecoder()
    assert decode(over_udp(40000, 6081, payload), decoder) == plain_udp(40000, 6081, payload)
    assert decoder.anomalies == {anomaly: 1}


@pytest.mark.parametrize(
    "prefix",
    [b"", TEREDO_ORIGIN, teredo_auth(b"id", b"auth"), teredo_auth(b"", b"") + TEREDO_ORIGIN],
)
def test_teredo(prefix: bytes) -> None:
    """Teredo skips its optional headers to the IPv6 packet; server port as source too."""
    expected = tcp_result(("eth", "teredo:198.51.100.3-198.51.100.7"), ipv6_addresses=True)
    assert decode(over_udp(3544, 50000, prefix + IPV6_TCP)) == expected
    assert decode(over_udp(50000, 3544, prefix + IPV6_TCP)) == expected


@pytest.mark.parametrize(
    ("payload", "anomaly"),
    [
        (b"not teredo at all, just some text for the port: " * 2, "teredo_bad_header"),
        (IPV6_TCP + b"extra", "teredo_bad_header"),
        (IPV4_TCP + bytes(20), "teredo_bad_header"),
        (IPV6_TCP[:39], "teredo_truncated"),
        (TEREDO_ORIGIN + IPV6_TCP[:30], "teredo_truncated"),
    ],
)
def test_teredo_port_without_ipv6_stays_udp(payload: bytes, anomaly: str) -> None:
    """Only one whole IPv6 packet filling the datagram is Teredo."""
    decoder = PacketDecoder()
    assert decode(over_udp(50000, 3544, payload), decoder) == plain_udp(50000, 3544, payload)
    assert decoder.anomalies == {anomaly: 1}


# A PDU session container (TS 38.415), 4 bytes: length 1, two content bytes, next type 0.
PDU_SESSION_CONTAINER = b"\x01\x00\x09\x00"


@pytest.mark.parametrize(
    ("payload", "inner"),
    [
        (gtpu(IPV4_TCP), IPV4_TCP),
        (gtpu(IPV6_TCP), IPV6_TCP),
        (gtpu(IPV4_TCP, flags=0x32), IPV4_TCP),
        (gtpu(IPV4_TCP, flags=0x31), IPV4_TCP),
        (
            gtpu(IPV4_TCP, flags=0x34, first_extension=0x85, extensions=PDU_SESSION_CONTAINER),
            IPV4_TCP,
        ),
        (
            gtpu(
                IPV6_TCP,
                flags=0x36,
                first_extension=0x85,
                extensions=b"\x01\x00\x09\x40" + b"\x02" + bytes(6) + b"\x00",
            ),
            IPV6_TCP,
        ),
    ],
)
def test_gtpu(payload: bytes, inner: bytes) -> None:
    """GTP-U G-PDUs with optional fields and extension chains carry IPv4 or IPv6."""
    result = decode(over_udp(2152, 2152, payload))
    expected = ("eth", "gtpu:198.51.100.3-198.51.100.7")
    assert result == tcp_result(expected, ipv6_addresses=inner is IPV6_TCP)


def test_gtpu_is_cut_at_its_length() -> None:
    """Bytes after the G-PDU's length (in the same datagram) are not inner payload."""
    payload = gtpu(IPV4_UDP) + b"TRAILER"
    result = decode(over_udp(2152, 2152, payload))
    assert result == udp_result(("eth", "gtpu:198.51.100.3-198.51.100.7"))


def test_gtpu_echo_request_is_plain_udp() -> None:
    """GTP-U signalling (echo request, type 1) is plain UDP without an anomaly."""
    payload = gtpu(b"", message_type=1, flags=0x32)
    decoder = PacketDecoder()
    assert decode(over_udp(2152, 2152, payload), decoder) == plain_udp(2152, 2152, payload)
    assert decoder.anomalies == {}


@pytest.mark.parametrize(
    ("payload", "anomaly", "stays_udp"),
    [
        (gtpu(IPV4_TCP, flags=0x50), "gtpu_bad_header", True),  # version 2
        (gtpu(IPV4_TCP, flags=0x20), "gtpu_bad_header", True),  # GTP' (PT 0)
        (gtpu(IPV4_TCP)[:7], "gtpu_truncated", True),
        (struct.pack("!BBHI", 0x30, 255, 0xFFFF, 1) + IPV4_TCP, "gtpu_bad_length", True),
        (struct.pack("!BBHIH", 0x32, 255, 2, 1, 1), "gtpu_truncated", True),
        (gtpu(b"\x00" * 4, flags=0x34, first_extension=0x85), "gtpu_ext_header_truncated", False),
        (
            gtpu(b"", flags=0x34, first_extension=0x85, extensions=b"\x02\x00\x00"),
            "gtpu_ext_header_truncated",
            False,
        ),
        (
            gtpu(IPV4_TCP, flags=0x34, first_extension=0x85, extensions=b"\x01\x00\x00\x85" * 9),
            "gtpu_too_many_ext_headers",
            False,
        ),
        (gtpu(b"\x50" + bytes(19)), "gtpu_bad_inner_version", False),
        (gtpu(b""), "gtpu_truncated", False),
    ],
)
def test_malformed_gtpu(payload: bytes, anomaly: str, stays_udp: bool) -> None:
    """Malformed GTP-U is a named anomaly: plain UDP when the base header is bad."""
    decoder = PacketDecoder()
    result = decode(over_udp(2152, 2152, payload), decoder)
    assert result == (plain_udp(2152, 2152, payload) if stays_udp else None)
    assert decoder.anomalies == {anomaly: 1}


def test_gre_in_udp() -> None:
    """GRE in UDP (RFC 8086) decodes like GRE in IP, with a key item."""
    header = struct.pack("!HHI", 0x2000, 0x0800, 77)
    result = decode(over_udp(49152, 4754, header + IPV4_TCP))
    assert result == tcp_result(("eth", "gre:198.51.100.3-198.51.100.7", "gre:key=77"))


@pytest.mark.parametrize("payload", [b"\x00\x08", struct.pack("!HH", 0x0003, 0x0800) + IPV4_TCP])
def test_gre_in_udp_bad_header_stays_udp(payload: bytes) -> None:
    """A short header or a version other than 0 on port 4754 is plain UDP."""
    decoder = PacketDecoder()
    assert decode(over_udp(49152, 4754, payload), decoder) == plain_udp(49152, 4754, payload)
    assert decoder.anomalies == {"gre_udp_bad_header": 1}


def ayiya(next_header: int, inner: bytes, *, opcode: int = 1) -> bytes:
    """AYIYA header (draft-massar-v6ops-ayiya-02 s5): 16-byte identity, 20-byte signature."""
    return struct.pack("!BBBBI", 0x41, 0x52, 0x20 | opcode, next_header, 0) + bytes(36) + inner


@pytest.mark.parametrize(("next_header", "inner"), [(41, IPV6_TCP), (4, IPV4_TCP)])
def test_ayiya(next_header: int, inner: bytes) -> None:
    """AYIYA forward messages carry IPv6 or IPv4 after identity and signature."""
    result = decode(over_udp(5072, 40000, ayiya(next_header, inner)))
    expected = ("eth", "ayiya:198.51.100.3-198.51.100.7")
    assert result == tcp_result(expected, ipv6_addresses=next_header == 41)


@pytest.mark.parametrize(
    ("payload", "anomaly"),
    [
        (ayiya(41, IPV6_TCP, opcode=0), "ayiya_bad_header"),
        (ayiya(41, IPV4_TCP), "ayiya_bad_header"),
        (ayiya(17, IPV4_TCP), "ayiya_bad_header"),
        (ayiya(41, b""), "ayiya_bad_header"),
        (b"\x41\x52\x21", "ayiya_truncated"),
    ],
)
def test_malformed_ayiya_stays_udp(payload: bytes, anomaly: str) -> None:
    """Anything but a forward message with a matching inner version is plain UDP."""
    decoder = PacketDecoder()
    assert decode(over_udp(40000, 5072, payload), decoder) == plain_udp(40000, 5072, payload)
    assert decoder.anomalies == {anomaly: 1}


def test_ordinary_udp_takes_the_fast_path() -> None:
    """UDP on other ports stays on the fast path (nothing counted by the walk)."""
    decoder = PacketDecoder()
    query = b"a DNS query of some length"
    assert decoder.decode(1, over_udp(40000, 53, query)) == plain_udp(40000, 53, query)
    assert decoder._walk.counts["udp"] == 0
    assert decoder._fast_ipv4_udp == 1
    decoder.decode(1, over_udp(40000, 4789, vxlan(1) + ether(IPV4_TCP)))
    assert decoder._walk.counts["udp"] == 1
    assert decoder._fast_ipv4_udp == 1


def test_vxlan_over_ipv6() -> None:
    """Outer IPv6 works the same (the fast path hands tunnel ports to the walk)."""
    datagram = udp(1, 4789, vxlan(5) + ether(IPV4_TCP))
    frame = ether(ipv6("2001:db8::9", "2001:db8::1", 17, datagram), 0x86DD)
    result = decode(frame, PacketDecoder())
    assert result == tcp_result(("eth", "vxlan:2001:db8::1-2001:db8::9", "vxlan:vni=5", "eth"))


def test_nested_udp_tunnels_stop_at_the_depth_limit() -> None:
    """VXLAN in VXLAN in VXLAN passes max_tunnel_depth 2: tunnel_too_deep."""
    frame = ether(IPV4_TCP)
    for _ in range(3):
        frame = over_udp(1, 4789, vxlan(1) + frame)
    decoder = PacketDecoder()
    assert decode(frame, decoder) is None
    assert decoder.anomalies == {"tunnel_too_deep": 1}
    deeper = PacketDecoder(limits=DecodeLimits(max_tunnel_depth=3))
    result = deeper.decode(1, frame)
    assert result is not None
    assert result.encap == ("eth", *(["vxlan:198.51.100.3-198.51.100.7", "vxlan:vni=1", "eth"] * 3))


ALL_FRAMES = [
    over_udp(51000, 4789, vxlan(42) + ether(IPV4_TCP)),
    over_udp(40000, 6081, geneve(7, 0x0800, options=bytes(8)) + IPV4_TCP),
    over_udp(50000, 3544, teredo_auth(b"id", b"au") + TEREDO_ORIGIN + IPV6_TCP),
    over_udp(2152, 2152, gtpu(IPV4_TCP, flags=0x34, first_extension=0x85, extensions=b"\1\0\0\0")),
    over_udp(49152, 4754, struct.pack("!HHI", 0x2000, 0x0800, 77) + IPV4_TCP),
    over_udp(5072, 40000, ayiya(41, IPV6_TCP)),
]


@pytest.mark.parametrize("frame", ALL_FRAMES)
def test_truncation_at_every_length_never_raises(frame: bytes) -> None:
    """Every prefix decodes to None or a Decoded; fast path and walk agree."""
    decoder = PacketDecoder()
    for size in range(len(frame)):
        result = decode(frame[:size], decoder)
        assert result is None or result.truncated or result.proto == IPPROTO_UDP
    whole = decode(frame, decoder)
    assert whole is not None
    assert (whole.proto, whole.truncated) == (6, False)


def test_teredo_on_any_port_is_recognised_by_its_header() -> None:
    """A relay on another port (RFC 4380 s5.2): an IPv6 packet filling the datagram with a
    Teredo address (2001:0::/32) is Teredo; the same without a Teredo address stays UDP."""
    from tests.pcapgen import tcp  # noqa: PLC0415

    segment = tcp(1286, 80, 1, 0, 0x18, b"hi")
    teredo_inner = ipv6("2001:0:4137:9e50::1", "2001:4860::68", 6, segment)
    result = decode(over_udp(3797, 32900, teredo_inner), PacketDecoder())
    assert result is not None
    assert result.encap == ("eth", "teredo:198.51.100.3-198.51.100.7")
    assert (result.proto, result.sport, result.dport, result.payload) == (6, 1286, 80, b"hi")
    other_inner = ipv6("2001:db8::1", "2001:4860::68", 6, segment)
    plain = decode(over_udp(3797, 32900, other_inner), PacketDecoder())
    assert plain == plain_udp(3797, 32900, other_inner)
