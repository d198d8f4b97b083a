"""Builders of MRIM client and server packets for tests (layouts: protocols.md s4).

Constants name their section of /work/shared/protocols.md (from kopete-mrim ``mra_proto.h``
and mrim-server ``globals.js``).
"""

from __future__ import annotations

import struct

MAGIC = 0xDEADBEEF  # protocols.md s4.1
VERSION_1_23 = 0x00010017  # protocols.md s4.1: (1 << 16) | 23, UTF-16LE texts (s4.4)
VERSION_1_10 = 0x0001000A  # a pre-1.16 version: cp1251 texts (protocols.md s4.4)
HELLO = 0x1001  # protocols.md s4.2
LOGIN2 = 0x1038  # protocols.md s4.2
LOGIN_ACK = 0x1004  # protocols.md s4.2
MESSAGE = 0x1008  # protocols.md s4.2
MESSAGE_ACK = 0x1009  # protocols.md s4.2
CONTACT_LIST2 = 0x1037  # protocols.md s4.2
ADD_CONTACT = 0x1019  # protocols.md s4.2
FILE_TRANSFER = 0x1026  # protocols.md s4.2
MAILBOX_STATUS = 0x1033  # protocols.md s4.2
START_TLS = 0x1086  # protocols.md s4.2
START_TLS_OK = 0x1087  # protocols.md s4.2
FLAG_RTF = 0x80  # protocols.md s4.2 message flags
FLAG_NOTIFY = 0x400  # protocols.md s4.2: typing
FLAG_UNICODE = 0x100000  # protocols.md s4.2


def packet(kind: int, body: bytes = b"", seq: int = 1, version: int = VERSION_1_23) -> bytes:
    """44-byte LE header (magic, version, seq, type, length, ip, port, 16 zero) + body."""
    return struct.pack("<IIIIIII16s", MAGIC, version, seq, kind, len(body), 0, 0, b"") + body


def ul(value: int) -> bytes:
    """uint32 LE (protocols.md s4.1 "UL")."""
    return struct.pack("<I", value)


def lps(value: bytes) -> bytes:
    """uint32 LE length + bytes (protocols.md s4.1 "LPS")."""
    return ul(len(value)) + value


def login2(account: str, password: bytes, status: int, description: str) -> bytes:
    """LOGIN2 body: login, password, status, client description (protocols.md s4.2)."""
    return lps(account.encode()) + lps(password) + ul(status) + lps(description.encode())


def message(flags: int, to: str, text: bytes) -> bytes:
    """MESSAGE body: flags, recipient, text, RTF part (protocols.md s4.2)."""
    return ul(flags) + lps(to.encode()) + lps(text) + lps(b" ")


def message_ack(message_id: int, flags: int, sender: str, text: bytes) -> bytes:
    """MESSAGE_ACK body: id, flags, sender, text, RTF part (protocols.md s4.2)."""
    return ul(message_id) + ul(flags) + lps(sender.encode()) + lps(text) + lps(b" ")


def contact_list(
    groups: list[str], contacts: list[tuple[int, int, str, str]], unicode: bool = True
) -> bytes:
    """CONTACT_LIST2: status 0, group count, masks "us"/"uussuu", groups, contacts (s4.3)."""
    codec = "utf-16-le" if unicode else "cp1251"
    body = ul(0) + ul(len(groups)) + lps(b"us") + lps(b"uussuu")
    for name in groups:
        body += ul(0) + lps(name.encode(codec))
    for flags, group, address, nick in contacts:
        body += (
            ul(flags) + ul(group) + lps(address.encode()) + lps(nick.encode(codec)) + ul(0) + ul(1)
        )
    return body


def add_contact(flags: int, group: int, address: str, name: str) -> bytes:
    """ADD_CONTACT body: flags, group, e-mail, name, unused (protocols.md s4.2)."""
    return ul(flags) + ul(group) + lps(address.encode()) + lps(name.encode("utf-16-le")) + lps(b"")


def file_transfer(peer: str, session: int, files: list[tuple[str, int]], addresses: str) -> bytes:
    """FILE_TRANSFER: peer, session, total, {files, {UL, unicode files}, addresses} (s4.2)."""
    listing = "".join(f"{name};{size};" for name, size in files)
    inner = (
        lps(listing.encode("cp1251"))
        + lps(ul(1) + lps(listing.encode("utf-16-le")))
        + lps(addresses.encode())
    )
    return lps(peer.encode()) + ul(session) + ul(sum(s for _, s in files)) + lps(inner)
