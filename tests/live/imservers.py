"""Scripted instant-messaging servers and clients that talk over real TCP on a loopback.

No public OSCAR (ICQ/AIM), MRIM, MSN or YMSG servers exist any more, so each network has a
small server that answers a client's packets the way the real server did (login replies,
acknowledgements, contact lists, relayed messages from buddies) and a client that runs one
fixed session. Every packet is built with the wire builders of ``tests/protocols`` (each of
their constants cites its source); the few packets those builders lack are built here, each
citing its source. Peer-to-peer file transfers run on their own connections: the server
process also plays the remote buddy, who connects to the local client's listener (OFT2,
MSNFTP) or listens for it (MRIM). Run inside a namespace as
``python -m tests.live.imservers ROLE RESULT_JSON``; roles are ``<network>-server`` and
``<network>-client``. The servers write what the buddy received (texts, file hashes) to the
JSON file, the ground truth the tests compare with the capture.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from tests.protocols import mrim_wire as mrim
from tests.protocols import msn_wire as msn
from tests.protocols import oscar_wire as oscar
from tests.protocols import ymsg_wire as ymsg

IO_TIMEOUT_S: Final = 15.0
LOCAL: Final = "127.0.0.1"


def sample_file(seed: int, size: int) -> bytes:
    """Deterministic file content."""
    return random.Random(seed).randbytes(size)


# --- OSCAR ---------------------------------------------------------------------------------

OSCAR_PORT: Final = 5190  # protocols.md s1: login and BOS servers
OSCAR_LOGIN_HOST: Final = LOCAL
OSCAR_BOS_HOST: Final = "127.0.0.3"
OFT_PORT: Final = 5566
ICQ_UIN: Final = "123456789"
ICQ_PASSWORD: Final = b"secret12"
ICQ_BUDDY: Final = "87654321"
OFFLINE_SENDER: Final = "555"
OFFLINE_TEXT: Final = "while you were away"
OFFLINE_WHEN: Final = (2004, 5, 6, 7, 8)
AIM_NAME: Final = "Alice Smith"
AIM_PASSWORD: Final = b"aim-pass"
AIM_BUDDY: Final = "Bob Jones"
AIM_KEY: Final = b"2946821337"
# libpurple family_auth.c: the MD5 login hash ends with this string.
AIM_MD5_STRING: Final = b"AOL Instant Messenger (SM)"
OSCAR_COOKIE: Final = bytes(range(64))
AIM_COOKIE: Final = bytes(range(64, 128))
OFT_COOKIE: Final = bytes.fromhex("a1b2c3d4e5f60718")
OFT_NAME: Final = "report.bin"
OFT_FILE: Final = sample_file(0x0F72, 120_000)
# (sent by the client, text, charset code, raw bytes): protocols.md s1.3 charsets
# 0 = ASCII, 2 = UTF-16BE, 3 = ISO-8859-1 (read as cp1251 by Cyrillic clients).
RUSSIAN: Final = "Привет, как дела?"
ICQ_MESSAGES: Final = (
    (True, "hello bob", 0, b"hello bob"),
    (False, "hi alice", 0, b"hi alice"),
    (True, RUSSIAN, 2, RUSSIAN.encode("utf-16-be")),
    (False, "Всё хорошо, спасибо", 2, "Всё хорошо, спасибо".encode("utf-16-be")),
    (True, "Пока", 3, "Пока".encode("cp1251")),
    (False, "До встречи", 3, "До встречи".encode("cp1251")),
)
AIM_HTML_OUT: Final = "<HTML><BODY><B>bold</B> &amp; more<BR>line2</BODY></HTML>"
AIM_HTML_IN: Final = '<HTML><BODY><FONT COLOR="#0000ff">blue</FONT> reply</BODY></HTML>'
AIM_GROUPS: Final = (("Friends", 1), ("Work", 2), ("Family", 3))
AIM_BUDDIES: Final = tuple((f"buddy{i}", AIM_GROUPS[i % 3][1], 100 + i) for i in range(10))


def aim_digest() -> bytes:
    """BUCP hash: MD5(key, MD5(password), AIM_MD5_STRING) (libpurple family_auth.c)."""
    inner = hashlib.md5(AIM_PASSWORD).digest()
    return hashlib.md5(AIM_KEY + inner + AIM_MD5_STRING).digest()


def feedbag_items() -> list[bytes]:
    """The root group (TLV 0xC8 lists the groups), three groups and ten buddies (s1.4)."""
    order = b"".join(oscar.u16(gid) for _, gid in AIM_GROUPS)
    items = [oscar.feedbag_item("", 0, 0, 1, oscar.tlv(0x00C8, order))]
    items += [oscar.feedbag_item(name, gid, 0, 1) for name, gid in AIM_GROUPS]
    for name, gid, iid in AIM_BUDDIES:
        alias = oscar.tlv(0x0131, f"Nick {name}".encode()) if iid % 2 == 0 else b""
        items.append(oscar.feedbag_item(name, gid, iid, 0, alias))
    return items


def icq_meta_request(uin: str, command: int) -> bytes:
    """Family 0x15 request: TLV 1 of LE length, own UIN, command, request id (s1.3)."""
    inner = struct.pack("<IHH", int(uin), command, 2)
    return oscar.tlv(0x0001, struct.pack("<H", len(inner)) + inner)


def oscar_message_tlvs(raw: bytes, charset: int) -> bytes:
    """The message TLV and TLV 3, "server ack requested" (protocols.md s1.3)."""
    return oscar.message_block(raw, charset) + oscar.tlv(0x0003, b"")


def rendezvous_accept(cookie: bytes) -> bytes:
    """Channel-2 TLV 5 of type 2 "accept" (protocols.md s1.3)."""
    return oscar.tlv(0x0005, oscar.u16(2) + cookie + oscar.CAP_SEND_FILE)


class Stream:
    """A connected socket with exact reads."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(IO_TIMEOUT_S)
        self.sock = sock

    @classmethod
    def connect(cls, host: str, port: int) -> Stream:
        """Connect to ``host:port``."""
        return cls(socket.create_connection((host, port), timeout=IO_TIMEOUT_S))

    def send(self, data: bytes) -> None:
        """Send everything."""
        self.sock.sendall(data)

    def exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes; raise when the peer closes first."""
        out = bytearray()
        while len(out) < size:
            chunk = self.sock.recv(min(65536, size - len(out)))
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} of {size} bytes")
            out += chunk
        return bytes(out)

    def until(self, end: bytes, limit: int = 4096) -> bytes:
        """Bytes up to and including ``end``."""
        out = bytearray()
        while not out.endswith(end):
            out += self.exact(1)
            if len(out) > limit:
                raise ConnectionError("line too long")
        return bytes(out)

    def close_after_peer(self) -> None:
        """Wait for the peer to close, then close (an orderly end on both sides)."""
        try:
            while self.sock.recv(4096):
                pass
        finally:
            self.sock.close()

    def close(self) -> None:
        """Close at once."""
        self.sock.close()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4)
    sock.settimeout(IO_TIMEOUT_S)
    return sock


def accept(server: socket.socket) -> Stream:
    """The next connection."""
    sock, _ = server.accept()
    return Stream(sock)


def read_flap(stream: Stream) -> tuple[int, bytes]:
    """One FLAP frame: channel and data (protocols.md s1.1)."""
    marker, channel, _, length = struct.unpack(">BBHH", stream.exact(6))
    if marker != oscar.FLAP_MARKER:
        raise ConnectionError(f"not a FLAP frame: {marker:#x}")
    return channel, stream.exact(length)


def read_snac(stream: Stream, family: int, subtype: int) -> bytes:
    """The next FLAP, which must be SNAC ``family/subtype``; its body."""
    channel, data = read_flap(stream)
    got = struct.unpack_from(">HH", data) if channel == 2 else (channel, -1)
    if got != (family, subtype):
        raise ConnectionError(f"expected SNAC {family:#x}/{subtype:#x}, got {got}")
    return data[10:]


def read_channel(stream: Stream, channel: int) -> bytes:
    """The next FLAP, which must be on ``channel``."""
    got, data = read_flap(stream)
    if got != channel:
        raise ConnectionError(f"expected FLAP channel {channel}, got {got}")
    return data


def icbm_cookie(body: bytes) -> bytes:
    """The cookie of an ICBM body."""
    return body[:8]


def oft_receive(host: str, port: int) -> bytes:
    """The receiving peer: connect, read the prompt, acknowledge, read, confirm (s1.5)."""
    stream = Stream.connect(host, port)
    prompt = stream.exact(256)
    size = struct.unpack_from(">I", prompt, 28)[0]
    checksum = struct.unpack_from(">I", prompt, 40)[0]
    cookie = prompt[8:16]
    name = prompt[192:256].rstrip(b"\x00")
    stream.send(oscar.oft_header(0x0202, cookie, name, size, checksum))
    data = stream.exact(size)
    stream.send(oscar.oft_header(0x0204, cookie, name, size, checksum, received=size))
    stream.close_after_peer()
    return data


def oft_send(listener: socket.socket, data: bytes) -> None:
    """The sending peer: prompt, wait for the ack, the bytes, wait for done (s1.5)."""
    stream = accept(listener)
    name = OFT_NAME.encode()
    checksum = oscar.oft_checksum(data)
    stream.send(oscar.oft_header(0x0101, OFT_COOKIE, name, len(data), checksum))
    ack = stream.exact(256)
    if ack[6:8] != b"\x02\x02":
        raise ConnectionError(f"OFT: expected an ack, got {ack[6:8].hex()}")
    stream.send(data)
    done = stream.exact(256)
    if done[6:8] != b"\x02\x04":
        raise ConnectionError(f"OFT: expected done, got {done[6:8].hex()}")
    stream.close()


def oscar_server(result: Path) -> None:
    """ICQ login and BOS, then AIM (BUCP) login and BOS; the buddies' side of everything."""
    login = listen(OSCAR_LOGIN_HOST, OSCAR_PORT)
    bos = listen(OSCAR_BOS_HOST, OSCAR_PORT)
    received: dict[str, Any] = {"icq": [], "aim": [], "files": {}}
    bos_address = f"{OSCAR_BOS_HOST}:{OSCAR_PORT}"
    # ICQ: channel-1 UIN login.
    out = oscar.Flaps(0x2000)
    stream = accept(login)
    stream.send(out.frame(1, oscar.FLAP_VERSION))
    read_channel(stream, 1)
    stream.send(out.frame(4, oscar.login_reply_tlvs(ICQ_UIN, bos_address, OSCAR_COOKIE)))
    read_channel(stream, 4)
    stream.close()
    # ICQ BOS.
    out = oscar.Flaps(0x3000)
    stream = accept(bos)
    stream.send(out.frame(1, oscar.FLAP_VERSION))
    read_channel(stream, 1)
    # OSERVICE host online: the families served (libpurple family_oservice.c 0x0003).
    families = b"".join(oscar.u16(f) for f in (0x0001, 0x0004, 0x0013, 0x0015))
    stream.send(out.snac(0x0001, 0x0003, families))
    read_snac(stream, 0x0001, 0x000E)
    stream.send(out.snac(0x0001, 0x000F, oscar.user_info(ICQ_UIN)))
    read_snac(stream, 0x0015, 0x0002)
    stream.send(
        out.snac(
            0x0015,
            0x0003,
            oscar.offline_message(
                int(ICQ_UIN), int(OFFLINE_SENDER), OFFLINE_WHEN, OFFLINE_TEXT.encode()
            ),
        )
    )
    for index, (from_client, _, charset, raw) in enumerate(ICQ_MESSAGES):
        if from_client:
            body = read_snac(stream, 0x0004, 0x0006)
            received["icq"].append(body.hex())
            # ICBM 0x000C: the server's acknowledgement (protocols.md s1.3, TLV 3 asked).
            stream.send(out.snac(0x0004, 0x000C, body[:10] + oscar.screen_name(ICQ_BUDDY)))
        else:
            tlvs = oscar.message_block(raw, charset)
            incoming = oscar.icbm_incoming(bytes([0x40 + index]) * 8, 1, ICQ_BUDDY, tlvs)
            stream.send(out.snac(0x0004, 0x0007, incoming))
    body = read_snac(stream, 0x0004, 0x0006)
    cookie = icbm_cookie(body)
    stream.send(
        out.snac(
            0x0004, 0x0007, oscar.icbm_incoming(cookie, 2, ICQ_BUDDY, rendezvous_accept(cookie))
        )
    )
    received["files"][OFT_NAME] = hashlib.sha256(oft_receive(LOCAL, OFT_PORT)).hexdigest()
    read_channel(stream, 4)
    stream.close()
    # AIM: BUCP (family 0x17) MD5 login.
    out = oscar.Flaps(0x4000)
    stream = accept(login)
    stream.send(out.frame(1, oscar.FLAP_VERSION))
    read_channel(stream, 1)
    read_snac(stream, 0x0017, 0x0006)
    stream.send(out.snac(0x0017, 0x0007, oscar.u16(len(AIM_KEY)) + AIM_KEY))
    body = read_snac(stream, 0x0017, 0x0002)
    if aim_digest() not in body:
        raise ConnectionError("BUCP: wrong password hash")
    stream.send(out.snac(0x0017, 0x0003, oscar.login_reply_tlvs(AIM_NAME, bos_address, AIM_COOKIE)))
    stream.close_after_peer()
    # AIM BOS: feedbag, an add and a delete, HTML messages.
    out = oscar.Flaps(0x5000)
    stream = accept(bos)
    stream.send(out.frame(1, oscar.FLAP_VERSION))
    read_channel(stream, 1)
    stream.send(out.snac(0x0001, 0x0003, families))
    read_snac(stream, 0x0001, 0x000E)
    stream.send(out.snac(0x0001, 0x000F, oscar.user_info(AIM_NAME)))
    read_snac(stream, 0x0013, 0x0004)
    items = feedbag_items()
    stream.send(out.snac(0x0013, 0x0006, oscar.feedbag_list(items[:6]), flags=0x0001))
    stream.send(out.snac(0x0013, 0x0006, oscar.feedbag_list(items[6:])))
    for subtype in (0x0008, 0x000A):
        read_snac(stream, 0x0013, subtype)
        # FEEDBAG 0x000E: one status word per item, 0 = success (protocols.md s1.4).
        stream.send(out.snac(0x0013, 0x000E, oscar.u16(0)))
    body = read_snac(stream, 0x0004, 0x0006)
    received["aim"].append(body.hex())
    tlvs = oscar.message_block(AIM_HTML_IN.encode(), 0)
    stream.send(out.snac(0x0004, 0x0007, oscar.icbm_incoming(OFT_COOKIE, 1, AIM_BUDDY, tlvs)))
    read_channel(stream, 4)
    stream.close()
    result.write_text(json.dumps(received))


def oscar_client(result: Path) -> None:
    """The local user: ICQ login, BOS with messages and a file, AIM login, BOS with a list."""
    out = oscar.Flaps(0x1000)
    stream = Stream.connect(OSCAR_LOGIN_HOST, OSCAR_PORT)
    read_channel(stream, 1)
    stream.send(out.frame(1, oscar.signon(ICQ_UIN, ICQ_PASSWORD)))
    read_channel(stream, 4)
    stream.send(out.frame(4, b""))
    stream.close_after_peer()
    out = oscar.Flaps(0x1100)
    stream = Stream.connect(OSCAR_BOS_HOST, OSCAR_PORT)
    read_channel(stream, 1)
    stream.send(out.frame(1, oscar.bos_signon(OSCAR_COOKIE)))
    read_snac(stream, 0x0001, 0x0003)
    stream.send(out.snac(0x0001, 0x000E, b""))
    read_snac(stream, 0x0001, 0x000F)
    stream.send(out.snac(0x0015, 0x0002, icq_meta_request(ICQ_UIN, 0x003C)))
    read_snac(stream, 0x0015, 0x0003)
    for index, (from_client, _, charset, raw) in enumerate(ICQ_MESSAGES):
        if from_client:
            cookie = bytes([index]) * 8
            body = oscar.icbm_send(cookie, 1, ICQ_BUDDY, oscar_message_tlvs(raw, charset))
            stream.send(out.snac(0x0004, 0x0006, body))
            read_snac(stream, 0x0004, 0x000C)
        else:
            read_snac(stream, 0x0004, 0x0007)
    listener = listen(LOCAL, OFT_PORT)
    offer = oscar.rendezvous_send_file(
        OFT_COOKIE, OFT_NAME.encode(), len(OFT_FILE), LOCAL, OFT_PORT
    )
    stream.send(out.snac(0x0004, 0x0006, oscar.icbm_send(OFT_COOKIE, 2, ICQ_BUDDY, offer)))
    read_snac(stream, 0x0004, 0x0007)
    oft_send(listener, OFT_FILE)
    listener.close()
    stream.send(out.frame(4, b""))
    stream.close_after_peer()
    # AIM.
    out = oscar.Flaps(0x1200)
    stream = Stream.connect(OSCAR_LOGIN_HOST, OSCAR_PORT)
    read_channel(stream, 1)
    stream.send(out.frame(1, oscar.FLAP_VERSION))
    stream.send(out.snac(0x0017, 0x0006, oscar.tlv(0x0001, AIM_NAME.encode())))
    key = read_snac(stream, 0x0017, 0x0007)
    if key[2:] != AIM_KEY:
        raise ConnectionError("BUCP: unexpected key")
    stream.send(out.snac(0x0017, 0x0002, oscar.bucp_login(AIM_NAME, aim_digest())))
    read_snac(stream, 0x0017, 0x0003)
    stream.close()
    out = oscar.Flaps(0x1300)
    stream = Stream.connect(OSCAR_BOS_HOST, OSCAR_PORT)
    read_channel(stream, 1)
    stream.send(out.frame(1, oscar.bos_signon(AIM_COOKIE)))
    read_snac(stream, 0x0001, 0x0003)
    stream.send(out.snac(0x0001, 0x000E, b""))
    read_snac(stream, 0x0001, 0x000F)
    stream.send(out.snac(0x0013, 0x0004, b""))
    read_snac(stream, 0x0013, 0x0006)
    read_snac(stream, 0x0013, 0x0006)
    added = oscar.feedbag_item("newbuddy", 2, 200, 0, oscar.tlv(0x0131, "Новый".encode()))
    stream.send(out.snac(0x0013, 0x0008, added))
    read_snac(stream, 0x0013, 0x000E)
    stream.send(out.snac(0x0013, 0x000A, oscar.feedbag_item("buddy3", 1, 103, 0)))
    read_snac(stream, 0x0013, 0x000E)
    html = oscar.message_block(AIM_HTML_OUT.encode(), 0)
    stream.send(out.snac(0x0004, 0x0006, oscar.icbm_send(b"\x07" * 8, 1, AIM_BUDDY, html)))
    read_snac(stream, 0x0004, 0x0007)
    stream.send(out.frame(4, b""))
    stream.close_after_peer()
    result.write_text(json.dumps({"done": True}))


# --- MRIM ----------------------------------------------------------------------------------

MRIM_HOST: Final = LOCAL
MRIM_PORT: Final = 2041  # protocols.md s4
MRIM_FT_PORT: Final = 2045
MRIM_ACCOUNT: Final = "alice@mail.ru"
MRIM_PASSWORD: Final = b"pa55"
MRIM_BUDDY: Final = "bob@mail.ru"
MRIM_CLIENT: Final = 'client="magent" version="5.10" build="3000"'
MRIM_GROUPS: Final = ("Друзья", "Work")
MRIM_CONTACTS: Final = (
    (0, 0, "bob@mail.ru", "Боб"),
    (0, 1, "carol@bk.ru", "Carol"),
    (0, 1, "dmitry@list.ru", "Дмитрий"),
)
MRIM_UNICODE_OUT: Final = "Привет, Боб! Как дела?"
MRIM_UNICODE_IN: Final = "Отлично, спасибо 🙂"
MRIM_CP1251_OUT: Final = "Старый клиент: привет"
MRIM_CP1251_IN: Final = "И тебе привет"
MRIM_FT_NAME: Final = "фото.jpg"
MRIM_FT_FILE: Final = sample_file(0x3419, 70_000)
MRIM_FT_SESSION: Final = 4242
# kopete-mrim mra_proto.h: packets the test builders lack, and their bodies.
MRIM_HELLO_ACK: Final = 0x1002  # UL ping period
MRIM_MESSAGE_RECV: Final = 0x1011  # LPS from, UL message id
MRIM_MESSAGE_STATUS: Final = 0x1012  # UL status, 0 = delivered
MRIM_ADD_CONTACT_ACK: Final = 0x101A  # UL status, UL contact id
MRIM_FILE_TRANSFER_ACK: Final = 0x1027  # UL status, LPS peer, UL session, LPS mirror
MRIM_FT_ACCEPT: Final = 1  # mra_proto.h FILE_TRANSFER_STATUS_OK


def read_mrim(stream: Stream) -> tuple[int, int, bytes]:
    """One MRIM packet: type, sequence, body (protocols.md s4.1)."""
    header = stream.exact(44)
    magic, _, seq, kind, length = struct.unpack_from("<IIIII", header)
    if magic != mrim.MAGIC:
        raise ConnectionError(f"not an MRIM header: {magic:#x}")
    return kind, seq, stream.exact(length)


def expect_mrim(stream: Stream, kind: int) -> tuple[int, bytes]:
    """The next packet, which must be ``kind``: sequence and body."""
    got, seq, body = read_mrim(stream)
    if got != kind:
        raise ConnectionError(f"expected MRIM {kind:#x}, got {got:#x}")
    return seq, body


def mrim_server(result: Path) -> None:
    """A 1.23 session (list, messages, add, file offer) and a 1.10 session (cp1251)."""
    server = listen(MRIM_HOST, MRIM_PORT)
    received: dict[str, Any] = {"texts": [], "files": {}}
    for version in (mrim.VERSION_1_23, mrim.VERSION_1_10):
        unicode = version == mrim.VERSION_1_23
        codec = "utf-16-le" if unicode else "cp1251"
        flags = mrim.FLAG_UNICODE if unicode else 0

        stream = accept(server)

        def send(
            kind: int, body: bytes, seq: int, version: int = version, stream: Stream = stream
        ) -> None:
            stream.send(mrim.packet(kind, body, seq, version))

        seq, _ = expect_mrim(stream, mrim.HELLO)
        send(MRIM_HELLO_ACK, mrim.ul(30), seq)
        seq, _ = expect_mrim(stream, mrim.LOGIN2)
        send(mrim.LOGIN_ACK, b"", seq)
        if unicode:
            send(mrim.CONTACT_LIST2, mrim.contact_list(list(MRIM_GROUPS), list(MRIM_CONTACTS)), 0)
        send(mrim.MAILBOX_STATUS, mrim.ul(2), 0)
        seq, body = expect_mrim(stream, mrim.MESSAGE)
        received["texts"].append(body.hex())
        send(MRIM_MESSAGE_STATUS, mrim.ul(0), seq)
        reply = MRIM_UNICODE_IN if unicode else MRIM_CP1251_IN
        send(mrim.MESSAGE_ACK, mrim.message_ack(7, flags, MRIM_BUDDY, reply.encode(codec)), 0)
        expect_mrim(stream, MRIM_MESSAGE_RECV)
        if unicode:
            seq, _ = expect_mrim(stream, mrim.ADD_CONTACT)
            send(MRIM_ADD_CONTACT_ACK, mrim.ul(0) + mrim.ul(20), seq)
            ft = listen(LOCAL, MRIM_FT_PORT)
            offer = mrim.file_transfer(
                MRIM_BUDDY,
                MRIM_FT_SESSION,
                [(MRIM_FT_NAME, len(MRIM_FT_FILE))],
                f"{LOCAL}:{MRIM_FT_PORT};",
            )
            send(mrim.FILE_TRANSFER, offer, 0)
            expect_mrim(stream, MRIM_FILE_TRANSFER_ACK)
            peer = accept(ft)
            peer.until(b"\x00")  # MRA_FT_HELLO <receiver>
            peer.send(b"MRA_FT_HELLO " + MRIM_BUDDY.encode() + b"\x00")
            asked = peer.until(b"\x00")
            if asked != b"MRA_FT_GET_FILE " + MRIM_FT_NAME.encode("cp1251") + b"\x00":
                raise ConnectionError(f"MRIM FT: unexpected request {asked!r}")
            peer.send(MRIM_FT_FILE)
            peer.close_after_peer()
            ft.close()
            received["files"][MRIM_FT_NAME] = hashlib.sha256(MRIM_FT_FILE).hexdigest()
        stream.close_after_peer()
    result.write_text(json.dumps(received))


def mrim_client(result: Path) -> None:
    """The local user of both MRIM sessions; fetches the offered file."""
    files: dict[str, str] = {}
    for version in (mrim.VERSION_1_23, mrim.VERSION_1_10):
        unicode = version == mrim.VERSION_1_23
        codec = "utf-16-le" if unicode else "cp1251"
        flags = mrim.FLAG_UNICODE if unicode else 0
        stream = Stream.connect(MRIM_HOST, MRIM_PORT)
        stream.send(mrim.packet(mrim.HELLO, b"", 1, version))
        expect_mrim(stream, MRIM_HELLO_ACK)
        login = mrim.login2(MRIM_ACCOUNT, MRIM_PASSWORD, 1, MRIM_CLIENT)
        stream.send(mrim.packet(mrim.LOGIN2, login, 2, version))
        expect_mrim(stream, mrim.LOGIN_ACK)
        if unicode:
            expect_mrim(stream, mrim.CONTACT_LIST2)
        expect_mrim(stream, mrim.MAILBOX_STATUS)
        text = MRIM_UNICODE_OUT if unicode else MRIM_CP1251_OUT
        message = mrim.message(flags, MRIM_BUDDY, text.encode(codec))
        stream.send(mrim.packet(mrim.MESSAGE, message, 3, version))
        expect_mrim(stream, MRIM_MESSAGE_STATUS)
        _, body = expect_mrim(stream, mrim.MESSAGE_ACK)
        (message_id,) = struct.unpack_from("<I", body)
        recv = mrim.lps(MRIM_BUDDY.encode()) + mrim.ul(message_id)
        stream.send(mrim.packet(MRIM_MESSAGE_RECV, recv, 4, version))
        if unicode:
            add = mrim.add_contact(0, 1, "dave@mail.ru", "Dave")
            stream.send(mrim.packet(mrim.ADD_CONTACT, add, 5, version))
            expect_mrim(stream, MRIM_ADD_CONTACT_ACK)
            expect_mrim(stream, mrim.FILE_TRANSFER)
            ack = (
                mrim.ul(MRIM_FT_ACCEPT)
                + mrim.lps(MRIM_BUDDY.encode())
                + mrim.ul(MRIM_FT_SESSION)
                + mrim.lps(b"")
            )
            stream.send(mrim.packet(MRIM_FILE_TRANSFER_ACK, ack, 6, version))
            peer = Stream.connect(LOCAL, MRIM_FT_PORT)
            peer.send(b"MRA_FT_HELLO " + MRIM_ACCOUNT.encode() + b"\x00")
            peer.until(b"\x00")
            peer.send(b"MRA_FT_GET_FILE " + MRIM_FT_NAME.encode("cp1251") + b"\x00")
            data = peer.exact(len(MRIM_FT_FILE))
            peer.close()
            files[MRIM_FT_NAME] = hashlib.sha256(data).hexdigest()
        stream.close()
    result.write_text(json.dumps({"files": files}))


# --- MSN -----------------------------------------------------------------------------------

MSN_PORT: Final = 1863  # libpurple msn/msn.h
MSN_NS_HOST: Final = LOCAL
MSN_SB_HOST: Final = "127.0.0.2"
MSNFTP_PORT: Final = 6891
MSN_ALICE: Final = "alice@example.com"
MSN_BOB: Final = "bob@example.net"
MSN_CAROL: Final = "carol@example.org"
MSN_DAVE: Final = "dave@example.com"
MSN_ERIN: Final = "erin@example.com"
MSN_SB_COOKIE: Final = "17262740.1050826919.32308"
MSN_LATIN: Final = "Grüße, ça va? Ñandú"
MSN_CYRILLIC: Final = "Привет, как дела?"
MSN_CJK: Final = "你好\uff0c世界\u3002こんにちは"  # fullwidth comma, ideographic full stop
# (sender, text): None = the local user (alice).
MSN_CONFERENCE: Final = (
    (None, MSN_LATIN),
    (MSN_BOB, MSN_CYRILLIC),
    (MSN_CAROL, MSN_CJK),
    (None, MSN_CYRILLIC),
    (None, MSN_CJK),
    (MSN_BOB, MSN_LATIN),
)
MSN_NAMES: Final = {MSN_BOB: "Bob B.", MSN_CAROL: "Carol"}
MSNFTP_COOKIE: Final = 77
MSNFTP_AUTH: Final = 123456
MSNFTP_NAME: Final = "отчёт 年.txt"
MSNFTP_FILE: Final = sample_file(0x6D73, 30_000)
P2P_SESSION: Final = 9001
P2P_NAME: Final = "фото_写真.jpg"
P2P_FILE: Final = sample_file(0x7032, 20_000)


def read_msn(stream: Stream) -> tuple[list[str], bytes]:
    """One command line (words) and its payload when it carries one (protocols.md s2.1)."""
    words = stream.until(b"\r\n")[:-2].decode().split(" ")
    payload = b""
    if words[0] in ("MSG", "UUX", "ADL") and words[-1].isdigit() and len(words) >= 3:
        payload = stream.exact(int(words[-1]))
    return words, payload


def expect_msn(stream: Stream, verb: str) -> tuple[list[str], bytes]:
    """The next command, which must be ``verb``."""
    words, payload = read_msn(stream)
    if words[0] != verb:
        raise ConnectionError(f"expected {verb}, got {words}")
    return words, payload


def msn_server(result: Path) -> None:
    """The notification server, then the switchboard with two buddies and two files."""
    ns = listen(MSN_NS_HOST, MSN_PORT)
    sb = listen(MSN_SB_HOST, MSN_PORT)
    received: dict[str, Any] = {"texts": [], "files": {}}
    stream = accept(ns)
    words, _ = expect_msn(stream, "VER")
    stream.send(msn.cmd("VER", words[1], "MSNP8", "CVR0"))
    words, _ = expect_msn(stream, "CVR")
    url = "http://download.microsoft.com/download/msnmsgr.exe"
    stream.send(msn.cmd("CVR", words[1], "6.2.0208", "6.2.0208", "6.2.0208", url, url))
    words, _ = expect_msn(stream, "USR")
    stream.send(msn.cmd("USR", words[1], "TWN", "S", "lc=1033,id=507,tw=40,fs=1,ct=1062764229"))
    words, _ = expect_msn(stream, "USR")
    stream.send(msn.cmd("USR", words[1], "OK", MSN_ALICE, "Alice", 1, 0))
    words, _ = expect_msn(stream, "SYN")
    stream.send(
        msn.cmd("SYN", words[1], 42, 3, 2)
        + msn.cmd("LSG", 0, "Other%20Contacts", 0)
        + msn.cmd("LSG", 1, "%D0%9A%D0%BE%D0%BB%D0%BB%D0%B5%D0%B3%D0%B8", 0)
        + msn.cmd("LST", MSN_BOB, "Bob%20B.", 11, 0)
        + msn.cmd("LST", MSN_CAROL, "%E7%8E%8B%E5%B0%8F%E6%98%8E", 11, 1)
        + msn.cmd("LST", MSN_DAVE, "Dave", 3, 1)
    )
    words, _ = expect_msn(stream, "CHG")
    stream.send(msn.cmd("CHG", words[1], "NLN", 0))
    stream.send(msn.cmd("ILN", words[1], "NLN", MSN_BOB, "Bob%20B.", 0))
    words, _ = expect_msn(stream, "ADD")
    stream.send(msn.cmd("ADD", words[1], "FL", 43, MSN_ERIN, "Erin", 1))
    words, _ = expect_msn(stream, "REM")
    stream.send(msn.cmd("REM", words[1], "FL", 44, MSN_DAVE))
    words, _ = expect_msn(stream, "XFR")
    stream.send(msn.cmd("XFR", words[1], "SB", f"{MSN_SB_HOST}:{MSN_PORT}", "CKI", MSN_SB_COOKIE))
    # The switchboard.
    board = accept(sb)
    words, _ = expect_msn(board, "USR")
    board.send(msn.cmd("USR", words[1], "OK", MSN_ALICE, "Alice"))
    for buddy in (MSN_BOB, MSN_CAROL):
        words, _ = expect_msn(board, "CAL")
        board.send(msn.cmd("CAL", words[1], "RINGING", 11752013))
        board.send(msn.cmd("JOI", buddy, MSN_NAMES[buddy].replace(" ", "%20")))
    for sender, text in MSN_CONFERENCE:
        if sender is None:
            words, payload = expect_msn(board, "MSG")
            received["texts"].append(payload.split(b"\r\n\r\n", 1)[1].decode())
            board.send(msn.cmd("ACK", words[1]))
        else:
            board.send(msn.server_msg(sender, MSN_NAMES[sender], msn.text_payload(text)))
    board.send(msn.cmd("BYE", MSN_CAROL))
    # MSNFTP: Bob accepts the offer and fetches the file from Alice's listener.
    expect_msn(board, "MSG")
    board.send(msn.server_msg(MSN_BOB, "Bob B.", msn.ftp_receiver_accept(MSNFTP_COOKIE)))
    _, payload = expect_msn(board, "MSG")
    fields = dict(line.split(": ", 1) for line in payload.decode().split("\r\n") if ": " in line)
    peer = Stream.connect(fields["IP-Address"], int(fields["Port"]))
    peer.send(b"VER MSNFTP\r\n")
    peer.until(b"\r\n")
    peer.send(f"USR {MSN_BOB} {fields['AuthCookie']}\r\n".encode())
    size = int(peer.until(b"\r\n").split()[1])
    peer.send(b"TFR\r\n")
    data = bytearray()
    while len(data) < size:
        _, low, high = peer.exact(3)
        data += peer.exact(low | high << 8)
    peer.send(b"BYE 16777989\r\n")
    peer.close_after_peer()
    received["files"][MSNFTP_NAME] = hashlib.sha256(data).hexdigest()
    # P2P through the switchboard: Bob's client reassembles the data chunks.
    p2p = bytearray()
    while True:
        words, payload = expect_msn(board, "MSG")
        board.send(msn.cmd("ACK", words[1]))
        chunk = payload.split(b"\r\n\r\n", 1)[1][:-4]
        session = struct.unpack_from("<I", chunk)[0]
        if session == P2P_SESSION:
            p2p += chunk[48:]
            if len(p2p) == len(P2P_FILE):
                break
    received["files"][P2P_NAME] = hashlib.sha256(p2p).hexdigest()
    expect_msn(board, "OUT")
    board.close()
    expect_msn(stream, "OUT")
    stream.close()
    result.write_text(json.dumps(received))


def msn_client(result: Path) -> None:
    """Alice: NS login and list, then a conference and two files on the switchboard."""
    stream = Stream.connect(MSN_NS_HOST, MSN_PORT)
    trid = iter(range(1, 1000))

    def ns(verb: str, *params: str | int) -> list[str]:
        stream.send(msn.cmd(verb, next(trid), *params))
        return read_msn(stream)[0]

    ns("VER", "MSNP8", "CVR0")
    ns("CVR", "0x0409", "winnt", "5.1", "i386", "MSNMSGR", "6.2.0208", "MSMSGS", MSN_ALICE)
    ns("USR", "TWN", "I", MSN_ALICE)
    ns("USR", "TWN", "S", "t=secret-ticket&p=x")
    stream.send(msn.cmd("SYN", next(trid), 0))
    for _ in range(6):  # SYN, 2 LSG, 3 LST
        read_msn(stream)
    ns("CHG", "NLN", 0)
    read_msn(stream)  # ILN
    ns("ADD", "FL", MSN_ERIN, "Erin", 1)
    ns("REM", "FL", MSN_DAVE)
    xfr = ns("XFR", "SB")
    host, port = xfr[3].split(":")
    board = Stream.connect(host, int(port))
    board.send(msn.cmd("USR", 1, MSN_ALICE, xfr[5]))
    expect_msn(board, "USR")
    sb_trid = iter(range(2, 1000))
    for buddy in (MSN_BOB, MSN_CAROL):
        board.send(msn.cmd("CAL", next(sb_trid), buddy))
        expect_msn(board, "CAL")
        expect_msn(board, "JOI")
    for sender, text in MSN_CONFERENCE:
        if sender is None:
            board.send(msn.client_msg(next(sb_trid), msn.text_payload(text), ack="A"))
            expect_msn(board, "ACK")
        else:
            expect_msn(board, "MSG")
    expect_msn(board, "BYE")
    listener = listen(LOCAL, MSNFTP_PORT)
    board.send(
        msn.client_msg(next(sb_trid), msn.ftp_invite(MSNFTP_COOKIE, MSNFTP_NAME, len(MSNFTP_FILE)))
    )
    expect_msn(board, "MSG")
    accept_msg = msn.ftp_accept(MSNFTP_COOKIE, LOCAL, MSNFTP_PORT, MSNFTP_AUTH)
    board.send(msn.client_msg(next(sb_trid), accept_msg))
    peer = accept(listener)
    peer.until(b"\r\n")
    peer.send(b"VER MSNFTP\r\n")
    peer.until(b"\r\n")
    peer.send(f"FIL {len(MSNFTP_FILE)}\r\n".encode())
    peer.until(b"\r\n")
    peer.send(msn.ftp_blocks(MSNFTP_FILE))
    peer.until(b"\r\n")  # BYE
    peer.close()
    listener.close()
    invite = msn.slp_file_invite(MSN_ALICE, MSN_BOB, P2P_SESSION, P2P_NAME, len(P2P_FILE))
    messages = [(c, msn.APP_SLP) for c in msn.p2p_chunks(0, 500, invite)]
    chunks = msn.p2p_chunks(P2P_SESSION, 501, P2P_FILE, flags=msn.FLAG_FILE_DATA)
    messages += [(c, msn.APP_FILE) for c in chunks]
    for chunk, app_id in messages:
        board.send(msn.p2p_msg(next(sb_trid), MSN_BOB, chunk, app_id))
        expect_msn(board, "ACK")
    board.send(b"OUT\r\n")
    board.close_after_peer()
    stream.send(b"OUT\r\n")
    stream.close_after_peer()
    result.write_text(json.dumps({"done": True}))


# --- YMSG ----------------------------------------------------------------------------------

YMSG_PORT: Final = 5050  # libpurple yahoo/libymsg.h YAHOO_PAGER_PORT
YMSG_ALICE: Final = "alice_y"
YMSG_BOB: Final = "bob_y"
YMSG_SESSION: Final = 0x5A3C11F0
YMSG_LIST: Final = "Friends:bob_y,carol_y\n家族:mom_y\n"
YMSG_LATIN: Final = "Grüße, ça va?"
YMSG_CYRILLIC: Final = "Привет, как дела?"
YMSG_CJK: Final = "你好\uff0c世界"  # with a fullwidth comma
YMSG_TEXTS: Final = (YMSG_LATIN, YMSG_CYRILLIC, YMSG_CJK)
YMSG_ROOM: Final = "alice_y-1234"
YMSG_FILE_ID: Final = "TID1"
YMSG_FILE_NAME: Final = "отчёт.pdf"
YMSG_FILE_SIZE: Final = 12345
YMSG_RELAY: Final = "98.136.112.1"
# libpurple yahoo_packet.h services the test builders lack.
YMSG_LOGOFF: Final = 0x02
YMSG_CONFINVITE: Final = 0x18
YMSG_CONFLOGON: Final = 0x19


def read_ymsg(stream: Stream) -> tuple[int, dict[str, list[str]]]:
    """One YMSG packet: service and its key/value pairs."""
    _, _, _, length, service, _, _ = ymsg.HEADER.unpack(stream.exact(ymsg.HEADER.size))
    parts = stream.exact(length).split(ymsg.SEPARATOR)
    pairs: dict[str, list[str]] = {}
    for key, value in zip(parts[0:-1:2], parts[1::2], strict=False):
        pairs.setdefault(key.decode(), []).append(value.decode())
    return service, pairs


def expect_ymsg(stream: Stream, service: int) -> dict[str, list[str]]:
    """The next packet, which must be ``service``."""
    got, pairs = read_ymsg(stream)
    if got != service:
        raise ConnectionError(f"expected YMSG {service:#x}, got {got:#x}")
    return pairs


def ymsg_server(result: Path) -> None:
    """The pager server: login, list and changes, messages, a conference, a file offer."""
    server = listen(LOCAL, YMSG_PORT)
    stream = accept(server)
    received: dict[str, Any] = {"texts": [], "conference": []}

    def send(service: int, pairs: Sequence[ymsg.Pair]) -> None:
        stream.send(ymsg.packet(service, pairs, session=YMSG_SESSION))

    expect_ymsg(stream, ymsg.AUTH)
    send(ymsg.AUTH, [(1, YMSG_ALICE), (94, "8Jmx.SG.(a*2|p/5u&7(n.z~1)1-2*b"), (13, "2")])
    expect_ymsg(stream, ymsg.AUTHRESP)
    send(ymsg.LIST, [(87, YMSG_LIST), (88, ""), (89, YMSG_ALICE), (59, "Y=v=1")])
    for service in (ymsg.ADDBUDDY, ymsg.REMBUDDY):
        pairs = expect_ymsg(stream, service)
        buddy, group = pairs["7"][0], pairs["65"][0]
        send(service, [(1, YMSG_ALICE), (7, buddy), (65, group), (66, "0")])
    for text in YMSG_TEXTS:
        received["texts"].append(expect_ymsg(stream, ymsg.MESSAGE)["14"][0])
        send(ymsg.MESSAGE, [(4, YMSG_BOB), (5, YMSG_ALICE), (14, text[::-1]), (97, "1")])
    invite = expect_ymsg(stream, YMSG_CONFINVITE)
    for buddy in invite["52"]:
        send(YMSG_CONFLOGON, [(1, YMSG_ALICE), (57, YMSG_ROOM), (53, buddy)])
    received["conference"].append(expect_ymsg(stream, ymsg.CONFMSG)["14"][0])
    send(
        ymsg.CONFMSG,
        [(1, YMSG_ALICE), (57, YMSG_ROOM), (3, YMSG_BOB), (14, YMSG_CYRILLIC), (97, "1")],
    )
    offer = expect_ymsg(stream, ymsg.FILETRANS_15)
    send(
        ymsg.FILETRANS_15,
        [(1, YMSG_BOB), (5, YMSG_ALICE), (265, offer["265"][0]), (222, "3")],
    )
    expect_ymsg(stream, ymsg.FILETRANS_INFO_15)
    expect_ymsg(stream, YMSG_LOGOFF)
    stream.close()
    result.write_text(json.dumps(received))


def ymsg_client(result: Path) -> None:
    """Alice's Yahoo! Messenger session."""
    stream = Stream.connect(LOCAL, YMSG_PORT)

    def send(service: int, pairs: Sequence[ymsg.Pair]) -> None:
        stream.send(ymsg.packet(service, pairs, session=YMSG_SESSION))

    stream.send(ymsg.packet(ymsg.AUTH, [(1, YMSG_ALICE)], session=0))
    expect_ymsg(stream, ymsg.AUTH)
    send(
        ymsg.AUTHRESP,
        [(0, YMSG_ALICE), (6, "hash6"), (96, "hash96"), (2, YMSG_ALICE), (2, "1"), (1, YMSG_ALICE)],
    )
    expect_ymsg(stream, ymsg.LIST)
    send(ymsg.ADDBUDDY, [(1, YMSG_ALICE), (7, "dave_y"), (65, "Friends"), (14, "hi")])
    expect_ymsg(stream, ymsg.ADDBUDDY)
    send(ymsg.REMBUDDY, [(1, YMSG_ALICE), (7, "carol_y"), (65, "Friends")])
    expect_ymsg(stream, ymsg.REMBUDDY)
    for text in YMSG_TEXTS:
        send(ymsg.MESSAGE, [(1, YMSG_ALICE), (5, YMSG_BOB), (14, text), (97, "1")])
        expect_ymsg(stream, ymsg.MESSAGE)
    send(
        YMSG_CONFINVITE,
        [
            (1, YMSG_ALICE),
            (50, YMSG_ALICE),
            (57, YMSG_ROOM),
            (58, "Join my conference"),
            (52, YMSG_BOB),
            (52, "carol_y"),
            (13, "0"),
        ],
    )
    expect_ymsg(stream, YMSG_CONFLOGON)
    expect_ymsg(stream, YMSG_CONFLOGON)
    send(
        ymsg.CONFMSG,
        [
            (1, YMSG_ALICE),
            (53, YMSG_BOB),
            (53, "carol_y"),
            (57, YMSG_ROOM),
            (14, YMSG_CJK),
            (97, "1"),
        ],
    )
    expect_ymsg(stream, ymsg.CONFMSG)
    send(
        ymsg.FILETRANS_15,
        [
            (1, YMSG_ALICE),
            (5, YMSG_BOB),
            (265, YMSG_FILE_ID),
            (222, "1"),
            (266, "1"),
            (302, "268"),
            (300, "268"),
            (27, YMSG_FILE_NAME),
            (28, str(YMSG_FILE_SIZE)),
            (301, "268"),
            (303, "268"),
        ],
    )
    expect_ymsg(stream, ymsg.FILETRANS_15)
    send(
        ymsg.FILETRANS_INFO_15,
        [
            (1, YMSG_ALICE),
            (5, YMSG_BOB),
            (265, YMSG_FILE_ID),
            (27, YMSG_FILE_NAME),
            (249, "3"),
            (250, YMSG_RELAY),
            (251, "TOKEN%3D"),
        ],
    )
    send(YMSG_LOGOFF, [(0, YMSG_ALICE)])
    stream.close_after_peer()
    result.write_text(json.dumps({"done": True}))


ROLES: Final[dict[str, Callable[[Path], None]]] = {
    "oscar-server": oscar_server,
    "oscar-client": oscar_client,
    "mrim-server": mrim_server,
    "mrim-client": mrim_client,
    "msn-server": msn_server,
    "msn-client": msn_client,
    "ymsg-server": ymsg_server,
    "ymsg-client": ymsg_client,
}


def main(argv: Sequence[str]) -> int:
    """``ROLE RESULT_JSON``."""
    if len(argv) != 2 or argv[0] not in ROLES:
        print(f"usage: imservers {{{','.join(ROLES)}}} RESULT_JSON", file=sys.stderr)
        return 2
    ROLES[argv[0]](Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
