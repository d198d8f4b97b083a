"""IEEE 802.11 data frames, bare (linktype 105) and behind radiotap (127), with LLC/SNAP."""

from __future__ import annotations

import struct

import pytest

from tests.unit.decode.frames import IPV4_TCP, IPV6_TCP, tcp_result
from wiresift.decode import PacketDecoder

LINKTYPE_IEEE802_11 = 105
LINKTYPE_RADIOTAP = 127
SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
SNAP_IPV6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"
MAC_A = b"\x02\x00\x00\x00\x00\x01"
MAC_B = b"\x02\x00\x00\x00\x00\x02"
MAC_AP = b"\x02\x00\x00\x00\x00\xaa"
TO_DS = 0x01
FROM_DS = 0x02
MORE_FRAGMENTS = 0x04
PROTECTED = 0x40
ORDER = 0x80


def wlan(
    body: bytes,
    *,
    subtype: int = 0,
    frame_type: int = 2,
    flags: int = TO_DS,
    qos: int | None = None,
    fragment: int = 0,
    pad: bool = False,
) -> bytes:
    """An 802.11 frame: frame control, duration, addresses, sequence control, [A4], [QoS],
    [HT control when Order is set on a QoS frame], [pad to 4], body."""
    control = subtype << 4 | frame_type << 2
    header = struct.pack("<BBH", control, flags, 0) + MAC_AP + MAC_A + MAC_B
    header += struct.pack("<H", 0x120 << 4 | fragment)
    if flags & TO_DS and flags & FROM_DS:
        header += MAC_AP
    if qos is not None:
        header += struct.pack("<H", qos)
        if flags & ORDER:
            header += b"\x00\x00\x00\x00"
    if pad:
        header += bytes(-len(header) % 4)
    return header + body


def radiotap(frame: bytes, *, flags: int | None = None, tsft: bool = False) -> bytes:
    """Radiotap header: version 0, present word with TSFT/Flags/Rate fields as asked."""
    present = 0x04  # Rate
    fields = b""
    if tsft:
        present |= 0x01
        fields += struct.pack("<Q", 123456)  # offset 8: already aligned to 8
    if flags is not None:
        present |= 0x02
        fields += bytes([flags])
    fields += b"\x0c"  # Rate: 6 Mb/s
    return struct.pack("<BBHI", 0, 0, 8 + len(fields), present) + fields + frame


def test_bare_data_frame() -> None:
    """A plain data frame with LLC/SNAP: IPv4, encap "wlan"."""
    decoder = PacketDecoder()
    result = decoder.decode(LINKTYPE_IEEE802_11, wlan(SNAP_IPV4 + IPV4_TCP))
    assert result == tcp_result(("wlan",))


def test_radiotap_data_frame() -> None:
    """Radiotap, then the data frame: the radiotap length is honoured."""
    decoder = PacketDecoder()
    frame = radiotap(wlan(SNAP_IPV6 + IPV6_TCP, flags=FROM_DS), tsft=True)
    assert decoder.decode(LINKTYPE_RADIOTAP, frame) == tcp_result(("wlan",), ipv6_addresses=True)


def test_qos_data_frame() -> None:
    """QoS data (subtype 8) has a 2-byte QoS Control field before the body."""
    decoder = PacketDecoder()
    frame = wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0x0005)
    assert decoder.decode(LINKTYPE_IEEE802_11, frame) == tcp_result(("wlan",))


def test_qos_with_ht_control() -> None:
    """A QoS data frame with the Order bit carries a 4-byte HT Control field."""
    decoder = PacketDecoder()
    frame = wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0, flags=TO_DS | ORDER)
    assert decoder.decode(LINKTYPE_IEEE802_11, frame) == tcp_result(("wlan",))


def test_four_address_frame() -> None:
    """To DS and From DS both set: a fourth address (WDS), then QoS."""
    decoder = PacketDecoder()
    frame = wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0, flags=TO_DS | FROM_DS)
    assert decoder.decode(LINKTYPE_IEEE802_11, frame) == tcp_result(("wlan",))


def test_radiotap_data_pad_flag() -> None:
    """Radiotap flag 0x20: the 26-byte QoS header is padded to 28 bytes."""
    decoder = PacketDecoder()
    inner = wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0, pad=True)
    frame = radiotap(inner, flags=0x20, tsft=True)
    assert decoder.decode(LINKTYPE_RADIOTAP, frame) == tcp_result(("wlan",))


def test_radiotap_with_fcs_flag() -> None:
    """Radiotap flag 0x10 (FCS at the end): the FCS is not part of the datagram."""
    decoder = PacketDecoder()
    frame = radiotap(wlan(SNAP_IPV4 + IPV4_TCP) + b"\xde\xad\xbe\xef", flags=0x10)
    assert decoder.decode(LINKTYPE_RADIOTAP, frame) == tcp_result(("wlan",))


def test_radiotap_extended_present_words() -> None:
    """A second present word (bit 31) moves the Flags field; the pad flag is still read."""
    inner = wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0, pad=True)
    # present: Flags + ext; second word: nothing. Flags at offset 12; header 16 bytes.
    header = struct.pack("<BBHII", 0, 0, 16, 0x80000002, 0) + b"\x20\x00\x00\x00"
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_RADIOTAP, header + inner) == tcp_result(("wlan",))


def test_bridge_tunnel_oui() -> None:
    """SNAP with OUI 00-00-F8 (802.1H) carries an EtherType too."""
    decoder = PacketDecoder()
    frame = wlan(b"\xaa\xaa\x03\x00\x00\xf8\x08\x00" + IPV4_TCP)
    assert decoder.decode(LINKTYPE_IEEE802_11, frame) == tcp_result(("wlan",))


@pytest.mark.parametrize(
    ("frame", "counter"),
    [
        (wlan(bytes(12), frame_type=0, subtype=8, flags=0), "non_ip"),  # beacon
        (b"\xd4\x00\x00\x00" + MAC_A, "non_ip"),  # ACK, 10 bytes
        (wlan(b"", subtype=4), "non_ip"),  # Null function
        (wlan(b"", subtype=12, qos=0), "non_ip"),  # QoS Null
        (wlan(SNAP_IPV4 + IPV4_TCP, flags=TO_DS | PROTECTED), "wlan_encrypted"),
        (wlan(SNAP_IPV4 + IPV4_TCP, flags=TO_DS | MORE_FRAGMENTS), "wlan_fragment"),
        (wlan(IPV4_TCP[:20], fragment=1), "wlan_fragment"),
        (wlan(SNAP_IPV4 + IPV4_TCP, subtype=8, qos=0x80), "wlan_amsdu"),
        (wlan(b"\xaa\xaa\x03\x00\x0b\x85\x00\x01" + bytes(20)), "non_ip"),  # other OUI
        (wlan(b"\x42\x42\x03" + bytes(40)), "non_ip"),  # STP over LLC
        (wlan(b"\xaa\xaa\x03\x00\x00\x00\x88\x8e" + bytes(20)), "non_ip"),  # EAPOL
    ],
    ids=[
        "beacon",
        "ack",
        "null",
        "qos-null",
        "protected",
        "more-fragments",
        "later-fragment",
        "amsdu",
        "other-oui",
        "stp",
        "eapol",
    ],
)
def test_frames_without_ip(frame: bytes, counter: str) -> None:
    """Frames that carry no readable IP are counted under their name, no anomaly."""
    decoder = PacketDecoder()
    assert decoder.decode(LINKTYPE_IEEE802_11, frame) is None
    assert decoder.counters == {counter: 1}
    assert decoder.anomalies == {}


@pytest.mark.parametrize(
    ("linktype", "frame", "anomaly"),
    [
        (LINKTYPE_RADIOTAP, b"\x01\x00\x08\x00\x00\x00\x00\x00", "radiotap_bad_version"),
        (LINKTYPE_RADIOTAP, b"\x00\x00\x04\x00\x00\x00\x00\x00", "radiotap_bad_length"),
        (LINKTYPE_RADIOTAP, b"\x00\x00\x40\x00\x00\x00\x00\x00" + bytes(8), "radiotap_truncated"),
        (LINKTYPE_RADIOTAP, b"\x00\x00\x08\x00\x02\x00\x00\x00", "radiotap_bad_length"),
        (LINKTYPE_IEEE802_11, b"\x09" + bytes(40), "wlan_bad_version"),
    ],
    ids=["version", "short-length", "length-past-packet", "flags-past-header", "wlan-version"],
)
def test_bad_headers(linktype: int, frame: bytes, anomaly: str) -> None:
    """Impossible radiotap or 802.11 headers are named anomalies."""
    decoder = PacketDecoder()
    assert decoder.decode(linktype, frame) is None
    assert decoder.anomalies == {anomaly: 1}


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (LINKTYPE_RADIOTAP, radiotap(wlan(SNAP_IPV4 + IPV4_TCP), flags=0, tsft=True)),
        (LINKTYPE_IEEE802_11, wlan(SNAP_IPV6 + IPV6_TCP, subtype=8, qos=0, flags=3)),
    ],
    ids=["radiotap", "wds-qos"],
)
def test_every_truncation_is_handled(linktype: int, frame: bytes) -> None:
    """Each prefix of a valid frame is one anomaly, or a Decoded marked truncated."""
    for length in range(len(frame)):
        decoder = PacketDecoder()
        result = decoder.decode(linktype, frame[:length])
        if result is None:
            assert sum(decoder.anomalies.values()) == 1
        else:
            assert result.truncated
