"""IEEE 802.11 data frames, bare (LINKTYPE_IEEE802_11, 105) or behind a radiotap header
(LINKTYPE_IEEE802_11_RADIOTAP, 127), carrying LLC/SNAP and an EtherType.

Radiotap (radiotap.org, "Radiotap header"; tcpdump.org/linktypes/LINKTYPE_IEEE802_11_
RADIOTAP.html): version 0, pad, header length (little-endian, at offset 2), then one or
more 32-bit little-endian "present" words (bit 31 chains the next word) and the fields in
bit order, each aligned to its own size from the start of the header. Only the Flags field
(bit 1, after the 8-byte TSFT of bit 0) matters here: 0x20 says the 802.11 header is padded
to a multiple of 4 bytes (radiotap.org/fields/Flags). The FCS that flag 0x10 announces sits
after the IP datagram, whose own length leaves it out.

802.11 MAC header (IEEE 802.11-2020 s9.2.3, s9.3.2.1): frame control (protocol version 2
bits, type 2 bits, subtype 4 bits, then the flags byte), duration, three addresses,
sequence control (24 bytes); a fourth address when both To DS and From DS are set
(a wireless distribution system, s9.3.2.1.1); the 2-byte QoS Control field in QoS data
subtypes (subtype bit 3, s9.2.4.5); the 4-byte HT Control field when a QoS data frame has
the +HTC/Order bit set (s9.2.4.1.10). Only data frames (type 2) carry user data, and of
them not the "no data" subtypes (subtype bit 2: Null, QoS Null, CF-Ack/Poll without data).
Management, control and extension frames are counted as non-IP.

Frames that cannot be read as IP are counted and dropped, each under its own counter:
``wlan_encrypted`` (Protected Frame bit, s9.2.4.1.9: WEP/TKIP/CCMP payload),
``wlan_fragment`` (More Fragments or a fragment number: only the first fragment holds the
LLC header, and 802.11 fragments are not reassembled), ``wlan_amsdu`` (A-MSDU present bit of
QoS Control, s9.2.4.5.9: the body is a list of subframes).

The body starts with an IEEE 802.2 LLC header; SNAP (AA AA 03) with OUI 00-00-00 (RFC 1042)
or 00-00-F8 (IEEE 802.1H bridge tunnel) carries an EtherType. Other LLC is non-IP.

The encapsulation gets one ``wlan`` item (addresses, BSSID and radio data stay out of it, so
both directions agree).

Anomaly names: radiotap_truncated, radiotap_bad_version, radiotap_bad_length,
wlan_truncated, wlan_bad_version.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.walk import Layer, Walk

LINKTYPE_IEEE802_11: Final = 105  # tcpdump.org/linktypes.html

RADIOTAP_MIN_LEN: Final = 8  # version, pad, length, one present word
RADIOTAP_PRESENT_EXT: Final = 0x80000000  # another present word follows
RADIOTAP_TSFT: Final = 0x00000001
RADIOTAP_FLAGS: Final = 0x00000002
RADIOTAP_TSFT_LEN: Final = 8
RADIOTAP_FLAG_DATA_PAD: Final = 0x20

WLAN_HEADER_LEN: Final = 24  # frame control .. sequence control, three addresses
WLAN_ADDR4_LEN: Final = 6
WLAN_QOS_LEN: Final = 2
WLAN_HT_CONTROL_LEN: Final = 4
WLAN_TYPE_DATA: Final = 2
WLAN_SUBTYPE_QOS: Final = 0x8  # subtype bit 3: QoS data subtypes
WLAN_SUBTYPE_NO_DATA: Final = 0x4  # subtype bit 2: Null, QoS Null, CF-only frames
WLAN_FLAG_TO_DS: Final = 0x01
WLAN_FLAG_FROM_DS: Final = 0x02
WLAN_FLAG_MORE_FRAGMENTS: Final = 0x04
WLAN_FLAG_PROTECTED: Final = 0x40
WLAN_FLAG_ORDER: Final = 0x80  # +HTC in QoS data frames
WLAN_FRAGMENT_MASK: Final = 0x000F  # fragment number in sequence control
WLAN_QOS_AMSDU: Final = 0x80  # A-MSDU present, in the first QoS Control byte
LLC_SNAP_HEADER_LEN: Final = 8

_RADIOTAP: Final = struct.Struct("<BxHI")  # version, length, first present word
_PRESENT: Final = struct.Struct("<I")
_SEQUENCE_CONTROL: Final = struct.Struct("<H")
_SNAP: Final = struct.Struct("!3s3sH")  # DSAP/SSAP/control, OUI, EtherType
_SNAP_UI: Final = b"\xaa\xaa\x03"
_OUI_RFC1042: Final = b"\x00\x00\x00"
_OUI_BRIDGE_TUNNEL: Final = b"\x00\x00\xf8"
_SNAP_ETHERTYPE_OUIS: Final = frozenset({_OUI_RFC1042, _OUI_BRIDGE_TUNNEL})
_DS_BOTH: Final = WLAN_FLAG_TO_DS | WLAN_FLAG_FROM_DS


def decode_radiotap(walk: Walk, data: bytes, offset: int) -> int:
    """Radiotap header -> the 802.11 frame after it (padded per the Flags field)."""
    captured = len(data)
    if captured < offset + RADIOTAP_MIN_LEN:
        return walk.anomaly("radiotap_truncated", f"{captured - offset} bytes of header")
    version, length, present = _RADIOTAP.unpack_from(data, offset)
    if version != 0:
        return walk.anomaly("radiotap_bad_version", f"version {version}")
    if length < RADIOTAP_MIN_LEN:
        return walk.anomaly("radiotap_bad_length", f"length {length}")
    if captured < offset + length:
        return walk.anomaly("radiotap_truncated", f"{captured - offset} of {length} bytes")
    padded = False
    if present & RADIOTAP_FLAGS:
        field = 8  # from the header start: past the present words
        word = present
        while word & RADIOTAP_PRESENT_EXT:
            if field + 4 > length:
                return walk.anomaly("radiotap_bad_length", "present words pass the header")
            (word,) = _PRESENT.unpack_from(data, offset + field)
            field += 4
        if present & RADIOTAP_TSFT:
            field = (field + 7) & ~7  # TSFT is aligned to 8 bytes
            field += RADIOTAP_TSFT_LEN
        if field >= length:
            return walk.anomaly("radiotap_bad_length", "Flags field passes the header")
        padded = bool(data[offset + field] & RADIOTAP_FLAG_DATA_PAD)
    return _decode_wlan(walk, data, offset + length, padded)


def decode_ieee80211(walk: Walk, data: bytes, offset: int) -> int:
    """802.11 frame without radio header -> the EtherType its LLC/SNAP names."""
    return _decode_wlan(walk, data, offset, False)


def _decode_wlan(walk: Walk, data: bytes, offset: int, padded: bool) -> int:
    """802.11 MAC header of a data frame, then LLC/SNAP."""
    captured = len(data)
    if captured < offset + WLAN_HEADER_LEN:
        if captured - offset >= 1 and (data[offset] >> 2) & 3 != WLAN_TYPE_DATA:
            return walk.count("non_ip")  # control frames (ACK, CTS) are 10 to 16 bytes
        return walk.anomaly("wlan_truncated", f"{captured - offset} bytes of MAC header")
    control = data[offset]
    flags = data[offset + 1]
    if control & 3:
        return walk.anomaly("wlan_bad_version", f"protocol version {control & 3}")
    if (control >> 2) & 3 != WLAN_TYPE_DATA:
        return walk.count("non_ip")
    subtype = control >> 4
    if subtype & WLAN_SUBTYPE_NO_DATA:
        return walk.count("non_ip")
    header_len = WLAN_HEADER_LEN
    if flags & _DS_BOTH == _DS_BOTH:
        header_len += WLAN_ADDR4_LEN
    qos_at = offset + header_len
    if subtype & WLAN_SUBTYPE_QOS:
        header_len += WLAN_QOS_LEN
        if flags & WLAN_FLAG_ORDER:
            header_len += WLAN_HT_CONTROL_LEN
    if padded:
        header_len = (header_len + 3) & ~3
    if captured < offset + header_len:
        return walk.anomaly("wlan_truncated", f"{captured - offset} of {header_len} header bytes")
    if flags & WLAN_FLAG_PROTECTED:
        return walk.count("wlan_encrypted")
    (sequence_control,) = _SEQUENCE_CONTROL.unpack_from(data, offset + 22)
    if flags & WLAN_FLAG_MORE_FRAGMENTS or sequence_control & WLAN_FRAGMENT_MASK:
        return walk.count("wlan_fragment")
    if subtype & WLAN_SUBTYPE_QOS and data[qos_at] & WLAN_QOS_AMSDU:
        return walk.count("wlan_amsdu")
    offset += header_len
    if captured < offset + LLC_SNAP_HEADER_LEN:
        return walk.anomaly("wlan_truncated", f"{captured - offset} bytes of LLC header")
    llc, oui, ethertype = _SNAP.unpack_from(data, offset)
    if llc != _SNAP_UI or oui not in _SNAP_ETHERTYPE_OUIS:
        return walk.count("non_ip")
    walk.push("wlan")
    walk.ns = Layer.ETHERTYPE
    walk.key = ethertype
    return offset + LLC_SNAP_HEADER_LEN
