"""Builders of OSCAR client and server packets for tests (layouts: protocols.md s1).

Every constant names its source: /work/shared/protocols.md section (itself from libpurple
``libpurple/protocols/oscar`` and Wireshark ``packet-aim.c``), or libfaim ``icq.h``.
"""

from __future__ import annotations

import struct

FLAP_MARKER = 0x2A  # protocols.md s1.1
FLAP_VERSION = b"\x00\x00\x00\x01"  # protocols.md s1.1
ROAST = bytes.fromhex("F32681C43986DB9271A3B9E6537A957C")  # protocols.md s1.1
CAP_SEND_FILE = bytes.fromhex("094613434C7F11D18222444553540000")  # protocols.md s1.3
CAP_DIRECT_IM = bytes.fromhex("094613454C7F11D18222444553540000")  # protocols.md s1.3


class Flaps:
    """One direction's FLAP sequence numbers (protocols.md s1.1: +1 per frame)."""

    def __init__(self, start: int = 0x1000) -> None:
        self.seq = start

    def frame(self, channel: int, data: bytes) -> bytes:
        """A FLAP frame: 0x2A, channel, sequence, length, data (protocols.md s1.1)."""
        out = struct.pack(">BBHH", FLAP_MARKER, channel, self.seq & 0xFFFF, len(data)) + data
        self.seq += 1
        return out

    def snac(self, family: int, subtype: int, body: bytes, flags: int = 0, req: int = 1) -> bytes:
        """A channel-2 FLAP with a SNAC header (protocols.md s1.2)."""
        return self.frame(2, struct.pack(">HHHI", family, subtype, flags, req) + body)


def tlv(kind: int, value: bytes) -> bytes:
    """type(2) length(2) value (protocols.md s1.2)."""
    return struct.pack(">HH", kind, len(value)) + value


def u16(value: int) -> bytes:
    """Big-endian 16 bits."""
    return struct.pack(">H", value)


def u32(value: int) -> bytes:
    """Big-endian 32 bits."""
    return struct.pack(">I", value)


def roast(password: bytes) -> bytes:
    """Channel-1 roasted password (protocols.md s1.1)."""
    return bytes(b ^ ROAST[i % 16] for i, b in enumerate(password))


def signon(
    name: str,
    password: bytes | None,
    client: str = "ICQ Inc. - Product of ICQ (TM).2003b.5.56.1.3916.85",
) -> bytes:
    """Channel-1 data: version, TLV 1 name, 2 roasted password, 3 client, 0x17-0x1A version."""
    data = FLAP_VERSION + tlv(0x0001, name.encode())
    if password is not None:
        data += tlv(0x0002, roast(password))
    data += tlv(0x0003, client.encode())
    for kind, value in ((0x0016, 0x010A), (0x0017, 5), (0x0018, 56), (0x0019, 1), (0x001A, 3916)):
        data += tlv(kind, u16(value))  # protocols.md s1.1: TLVs 0x0016-0x001A
    return data


def bos_signon(cookie: bytes) -> bytes:
    """Channel-1 data on the BOS connection: version and TLV 6 cookie (protocols.md s1.1)."""
    return FLAP_VERSION + tlv(0x0006, cookie)


def login_reply_tlvs(name: str, bos: str, cookie: bytes) -> bytes:
    """Login reply: TLV 1 name, 5 BOS host:port, 6 cookie (protocols.md s1.1)."""
    return tlv(0x0001, name.encode()) + tlv(0x0005, bos.encode()) + tlv(0x0006, cookie)


def bucp_login(
    name: str, digest: bytes, client: str = "AOL Instant Messenger, version 5.9.3702/WIN32"
) -> bytes:
    """BUCP 0x0002 body: TLV 1 name, 3 client id, 0x25 MD5 hash (protocols.md s1.1)."""
    return (
        tlv(0x0001, name.encode())
        + tlv(0x0003, client.encode())
        + tlv(0x0025, digest)
        + tlv(0x0017, u16(5))
        + tlv(0x0018, u16(9))
    )


def screen_name(name: str) -> bytes:
    """Length (1) + name (protocols.md s1.3)."""
    raw = name.encode()
    return bytes((len(raw),)) + raw


def user_info(name: str, tlvs: bytes = b"", count: int = 0) -> bytes:
    """User-info block: name, warning (2), TLV count (2), TLVs (protocols.md s1.2)."""
    return screen_name(name) + u16(0) + u16(count) + tlvs


def message_block(text: bytes, charset: int) -> bytes:
    """TLV 2 fragments: 0x0501 features, 0x0101 charset/sub-charset/text (protocols.md s1.3)."""
    features = u16(0x0501) + u16(1) + b"\x01"
    body = u16(charset) + u16(0) + text
    return tlv(0x0002, features + u16(0x0101) + u16(len(body)) + body)


def icbm_send(cookie: bytes, channel: int, to: str, tlvs: bytes) -> bytes:
    """ICBM 0x0006 body: cookie, channel, destination, TLVs (protocols.md s1.3)."""
    return cookie + u16(channel) + screen_name(to) + tlvs


def icbm_incoming(cookie: bytes, channel: int, sender: str, tlvs: bytes) -> bytes:
    """ICBM 0x0007 body: cookie, channel, sender user info, TLVs (protocols.md s1.3)."""
    info = tlv(0x0001, u16(0x0050))  # user class (protocols.md s1.2)
    return cookie + u16(channel) + user_info(sender, info, 1) + tlvs


def typing(cookie: bytes, to: str, state: int) -> bytes:
    """ICBM 0x0014: cookie, channel 1, name, state (0 done, 1 typed, 2 begun; libpurple)."""
    return cookie + u16(1) + screen_name(to) + u16(state)


def icq_legacy(uin: int, kind: int, text: bytes) -> bytes:
    """Channel-4 TLV 5: LE UIN, type, flags, LE length, NUL-terminated text (s1.3)."""
    data = text + b"\x00"
    return tlv(0x0005, struct.pack("<IBBH", uin, kind, 0, len(data)) + data)


def offline_message(
    own: int, sender: int, when: tuple[int, int, int, int, int], text: bytes
) -> bytes:
    """Family 0x15 reply body: TLV 1 of LE fields, command 0x0041 (protocols.md s1.3,
    libfaim icq.h: sender, year, month, day, hour, minute, type, flags, text)."""
    year, month, day, hour, minute = when
    message = text + b"\x00"
    data = (
        struct.pack("<IHBBBBBBH", sender, year, month, day, hour, minute, 1, 0, len(message))
        + message
    )
    inner = struct.pack("<IHH", own, 0x0041, 2) + data
    return tlv(0x0001, struct.pack("<H", len(inner)) + inner)


def feedbag_item(name: str, group: int, item: int, kind: int, tlvs: bytes = b"") -> bytes:
    """Item: name length, name, group id, item id, type, TLV length, TLVs (s1.4)."""
    raw = name.encode()
    return u16(len(raw)) + raw + u16(group) + u16(item) + u16(kind) + u16(len(tlvs)) + tlvs


def feedbag_list(items: list[bytes], stamp: int = 1_200_000_000) -> bytes:
    """0x0013/0x0006 body: version 0, count, items, last change (protocols.md s1.4)."""
    return b"\x00" + u16(len(items)) + b"".join(items) + u32(stamp)


def rendezvous_send_file(cookie: bytes, name: bytes, size: int, ip: str, port: int) -> bytes:
    """Channel-2 TLV 5: propose, cookie, send-file capability, TLVs (protocols.md s1.3)."""
    address = bytes(int(p) for p in ip.split("."))
    service = u16(1) + u16(1) + u32(size) + name + b"\x00"
    inner = (
        tlv(0x000A, u16(1))
        + tlv(0x000F, b"")
        + tlv(0x0003, address)
        + tlv(0x0005, u16(port))
        + tlv(0x0016, bytes(b ^ 0xFF for b in address))
        + tlv(0x0017, u16(port ^ 0xFFFF))
        + tlv(0x2711, service)
        + tlv(0x2712, b"utf-8")
    )
    return tlv(0x0005, u16(0) + cookie + CAP_SEND_FILE + inner)


def oft_checksum(data: bytes) -> int:
    """AIM file checksum, byte by byte (libpurple oft.c, initial 0xFFFF0000)."""
    checksum = 0xFFFF
    for index, byte in enumerate(data):
        old = checksum
        checksum = (checksum - (byte if index & 1 else byte << 8)) & 0xFFFFFFFF
        if checksum > old:
            checksum = (checksum - 1) & 0xFFFFFFFF
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    return checksum << 16


def oft_header(
    kind: int, cookie: bytes, name: bytes, size: int, checksum: int, received: int = 0
) -> bytes:
    """OFT2 header of 256 bytes (protocols.md s1.5 table)."""
    head = struct.pack(
        ">4sHH8sHHHHHHIIII", b"OFT2", 0, kind, cookie, 0, 0, 1, 1, 1, 1, size, size, 0, checksum
    )
    head += u32(0xFFFF0000) + u32(0) + u32(0) + u32(0) + u32(received) + u32(0xFFFF0000)
    head += b"Cool FileXfer".ljust(32, b"\x00") + b"\x20\x1c\x11" + bytes(69) + bytes(16)
    head += u16(0) + u16(0) + name.ljust(64, b"\x00")
    return head[:4] + u16(len(head)) + head[6:]
