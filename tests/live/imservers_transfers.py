"""Scripted file transfers of the legacy IM networks that go around the peer-to-peer path.

Three sessions, each a control connection plus the connections its negotiation announces:

- OSCAR through AOL's rendezvous proxy (libpurple ``peer_proxy.c``): the sender opens a
  proxy session (CREATE), the proxy answers with a PIN and its address (CREATED), the
  rendezvous proposal carries them with the "use proxy" TLV, the receiver joins (JOIN with
  the PIN), the proxy tells both READY and relays the OFT2 exchange between them.
- MSN P2P over a direct connection (libpurple ``msn/slp.c``, ``msn/directconn.c``): the
  MSNSLP file INVITE, then a transreqbody INVITE answered by a transrespbody naming the
  buddy's listener; the sender connects, sends ``foo``, the nonce handshake, and the file
  in length-prefixed P2Pv1 chunks.
- YMSG version-15 transfer through Yahoo's HTTP relay (libpurple ``yahoo_filexfer.c``):
  offer (0xDC), accept (0xDC, 222=3), relay info (0xDD), the server's token (0xDE, 251),
  then ``POST /relay?token=...`` by the sender and ``GET /relay?token=...`` by the receiver.

The server process plays the servers, the proxy or relay, and the remote buddy; it writes
what the buddy received (file hashes) to the JSON file. Run inside a namespace as
``python -m tests.live.imservers_transfers ROLE RESULT_JSON``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import quote

from tests.live.imservers import (
    LOCAL,
    Stream,
    accept,
    expect_msn,
    expect_ymsg,
    listen,
    read_channel,
    read_msn,
    read_snac,
    sample_file,
)
from tests.protocols import msn_wire as msn
from tests.protocols import oscar_wire as oscar
from tests.protocols import ymsg_wire as ymsg

# --- OSCAR through the rendezvous proxy ------------------------------------------------------

OSCAR_PORT: Final = 5190
OSCAR_BOS_HOST: Final = "127.0.0.3"
PROXY_HOST: Final = "127.0.0.4"  # ars.oscar.aol.com in the real network
PROXY_PORT: Final = 5190  # libpurple peer.h PEER_PROXY_PORT
PROXY_ALICE: Final = "Alice Proxy"
PROXY_BOB: Final = "Bob Proxy"
PROXY_COOKIE: Final = bytes.fromhex("5072307879436b31")
PROXY_PIN: Final = 0x1F2E
PROXY_NAME: Final = "via-proxy.bin"
PROXY_FILE: Final = sample_file(0x9A0C, 90_000)
# libpurple peer.h: proxy frame version and types.
PROXY_VERSION: Final = 0x044A
PROXY_CREATE: Final = 0x0002
PROXY_CREATED: Final = 0x0003
PROXY_JOIN: Final = 0x0004
PROXY_READY: Final = 0x0005
PROXY_RELAY_CHUNK: Final = 8192


def proxy_frame(kind: int, payload: bytes) -> bytes:
    """Length (of what follows it), version, type, unknown 0, flags 0, payload
    (libpurple peer_proxy.c peer_proxy_send)."""
    return struct.pack(">HHHIH", 10 + len(payload), PROXY_VERSION, kind, 0, 0) + payload


def read_proxy_frame(stream: Stream) -> tuple[int, bytes]:
    """One proxy frame: type and payload (12-byte header, peer_proxy_connection_recv_cb)."""
    length, version, kind, _, _ = struct.unpack(">HHHIH", stream.exact(12))
    if version != PROXY_VERSION:
        raise ConnectionError(f"not a proxy frame: version {version:#x}")
    return kind, stream.exact(length - 10)


def proxy_hello(name: str, cookie: bytes, pin: int | None) -> bytes:
    """CREATE (no PIN) or JOIN payload: name length and name, PIN, cookie, capability TLV
    (peer_proxy_send_create_new_conn, peer_proxy_send_join_existing_conn)."""
    raw = name.encode()
    pin_bytes = b"" if pin is None else oscar.u16(pin)
    return bytes([len(raw)]) + raw + pin_bytes + cookie + oscar.tlv(0x0001, oscar.CAP_SEND_FILE)


def proxy_proposal(cookie: bytes, name: bytes, size: int, ip: str, pin: int) -> bytes:
    """Channel-2 TLV 5 asking the buddy to join the proxy: request number 1, proxy IP and
    its complement, PIN and its complement, "use proxy" 0x0010, then the file (libpurple
    family_icbm.c aim_im_sendch2_sendfile_requestproxy)."""
    address = bytes(int(p) for p in ip.split("."))
    service = oscar.u16(1) + oscar.u16(1) + oscar.u32(size) + name + b"\x00"
    inner = (
        oscar.tlv(0x000A, oscar.u16(1))
        + oscar.tlv(0x0002, address)
        + oscar.tlv(0x0016, bytes(b ^ 0xFF for b in address))
        + oscar.tlv(0x0005, oscar.u16(pin))
        + oscar.tlv(0x0017, oscar.u16(pin ^ 0xFFFF))
        + oscar.tlv(0x0010, b"")
        + oscar.tlv(0x2711, service)
        + oscar.tlv(0x2712, b"utf-8")
    )
    return oscar.tlv(0x0005, oscar.u16(0) + cookie + oscar.CAP_SEND_FILE + inner)


def relay(source: Stream, target: Stream, size: int, reader: Stream) -> bytes:
    """The proxy copies ``size`` bytes from ``source`` to ``target``; ``reader`` (the far
    end of ``target``, in this process) takes them as they come."""
    received = bytearray()
    while len(received) < size:
        chunk = source.exact(min(PROXY_RELAY_CHUNK, size - len(received)))
        target.send(chunk)
        received += reader.exact(len(chunk))
    return bytes(received)


def oscar_proxy_server(result: Path) -> None:
    """BOS, the rendezvous proxy and Bob, who joins the proxy session and receives."""
    bos_listener = listen(OSCAR_BOS_HOST, OSCAR_PORT)
    proxy_listener = listen(PROXY_HOST, PROXY_PORT)
    out = oscar.Flaps(0x6000)
    bos = accept(bos_listener)
    bos.send(out.frame(1, oscar.FLAP_VERSION))
    read_channel(bos, 1)
    bos.send(out.snac(0x0001, 0x0003, oscar.u16(0x0001) + oscar.u16(0x0004)))
    read_snac(bos, 0x0001, 0x000E)
    bos.send(out.snac(0x0001, 0x000F, oscar.user_info(PROXY_ALICE)))
    # Alice's proxy session.
    alice_side = accept(proxy_listener)
    kind, hello = read_proxy_frame(alice_side)
    if kind != PROXY_CREATE or PROXY_COOKIE not in hello:
        raise ConnectionError(f"proxy: expected CREATE, got {kind:#x}")
    address = bytes(int(p) for p in PROXY_HOST.split("."))
    alice_side.send(proxy_frame(PROXY_CREATED, oscar.u16(PROXY_PIN) + address))
    proposal = read_snac(bos, 0x0004, 0x0006)
    if oscar.tlv(0x0010, b"") not in proposal:
        raise ConnectionError("rendezvous: no use-proxy TLV")
    # Bob joins with the PIN; the proxy says READY to both.
    bob = Stream.connect(PROXY_HOST, PROXY_PORT)
    bob.send(proxy_frame(PROXY_JOIN, proxy_hello(PROXY_BOB, PROXY_COOKIE, PROXY_PIN)))
    bob_side = accept(proxy_listener)
    kind, hello = read_proxy_frame(bob_side)
    if kind != PROXY_JOIN or hello[1 + len(PROXY_BOB) :][:2] != oscar.u16(PROXY_PIN):
        raise ConnectionError(f"proxy: expected JOIN with the PIN, got {kind:#x}")
    for side in (bob_side, alice_side):
        side.send(proxy_frame(PROXY_READY, b""))
    if read_proxy_frame(bob)[0] != PROXY_READY:
        raise ConnectionError("proxy: Bob expected READY")
    accepted = oscar.tlv(0x0005, oscar.u16(2) + PROXY_COOKIE + oscar.CAP_SEND_FILE)
    bos.send(out.snac(0x0004, 0x0007, oscar.icbm_incoming(PROXY_COOKIE, 2, PROXY_BOB, accepted)))
    # OFT2 through the proxy: prompt, ack, the bytes, done.
    prompt = relay(alice_side, bob_side, 256, bob)
    size, checksum = (struct.unpack_from(">I", prompt, at)[0] for at in (28, 40))
    name = prompt[192:256].rstrip(b"\x00")
    bob.send(oscar.oft_header(0x0202, PROXY_COOKIE, name, size, checksum))
    alice_side.send(bob_side.exact(256))
    data = relay(alice_side, bob_side, size, bob)
    bob.send(oscar.oft_header(0x0204, PROXY_COOKIE, name, size, checksum, received=size))
    alice_side.send(bob_side.exact(256))
    alice_side.close_after_peer()
    bob_side.close()
    bob.close_after_peer()
    read_channel(bos, 4)
    bos.close()
    result.write_text(json.dumps({"files": {name.decode(): hashlib.sha256(data).hexdigest()}}))


def oscar_proxy_client(result: Path) -> None:
    """Alice: BOS sign-on, a proxy session for the file, the proposal, OFT2 through it."""
    out = oscar.Flaps(0x1400)
    bos = Stream.connect(OSCAR_BOS_HOST, OSCAR_PORT)
    read_channel(bos, 1)
    bos.send(out.frame(1, oscar.bos_signon(bytes(range(32)))))
    read_snac(bos, 0x0001, 0x0003)
    bos.send(out.snac(0x0001, 0x000E, b""))
    read_snac(bos, 0x0001, 0x000F)
    proxy = Stream.connect(PROXY_HOST, PROXY_PORT)
    proxy.send(proxy_frame(PROXY_CREATE, proxy_hello(PROXY_ALICE, PROXY_COOKIE, None)))
    kind, created = read_proxy_frame(proxy)
    if kind != PROXY_CREATED:
        raise ConnectionError(f"proxy: expected CREATED, got {kind:#x}")
    pin = struct.unpack_from(">H", created)[0]
    ip = ".".join(str(b) for b in created[2:6])
    offer = proxy_proposal(PROXY_COOKIE, PROXY_NAME.encode(), len(PROXY_FILE), ip, pin)
    bos.send(out.snac(0x0004, 0x0006, oscar.icbm_send(PROXY_COOKIE, 2, PROXY_BOB, offer)))
    if read_proxy_frame(proxy)[0] != PROXY_READY:
        raise ConnectionError("proxy: Alice expected READY")
    read_snac(bos, 0x0004, 0x0007)  # Bob's accept
    name = PROXY_NAME.encode()
    checksum = oscar.oft_checksum(PROXY_FILE)
    proxy.send(oscar.oft_header(0x0101, PROXY_COOKIE, name, len(PROXY_FILE), checksum))
    if proxy.exact(256)[6:8] != b"\x02\x02":
        raise ConnectionError("OFT: expected an ack")
    proxy.send(PROXY_FILE)
    if proxy.exact(256)[6:8] != b"\x02\x04":
        raise ConnectionError("OFT: expected done")
    proxy.close()
    bos.send(out.frame(4, b""))
    bos.close_after_peer()
    result.write_text(json.dumps({"done": True}))


# --- MSN P2P over a direct connection ----------------------------------------------------------

MSN_PORT: Final = 1863
MSN_SB_HOST: Final = "127.0.0.2"
DC_HOST: Final = "127.0.0.6"  # Bob's machine: the listener of the direct connection
DC_PORT: Final = 7001
DC_ALICE: Final = "alice@example.com"
DC_BOB: Final = "bob@example.net"
DC_SB_COOKIE: Final = "93742374.1050826919.51234"
DC_SESSION: Final = 9002
DC_CALL_ID: Final = "{11111111-2222-3333-4444-555555555555}"
DC_NONCE: Final = "{4A1B2C3D-5E6F-4789-9ABC-DEF012345678}"
DC_NAME: Final = "прямо 直接.zip"
DC_FILE: Final = sample_file(0xDC01, 50_000)
# Largest payload of one direct-connection P2P chunk (libpurple msn/p2p.h: 1352 bytes).
DC_CHUNK: Final = 1352
# libpurple msn/p2p.h P2P_ACK.
FLAG_ACK: Final = 0x2
SLP_SESSIONREQ: Final = "application/x-msnmsgr-sessionreqbody"
SLP_TRANSREQ: Final = "application/x-msnmsgr-transreqbody"
SLP_TRANSRESP: Final = "application/x-msnmsgr-transrespbody"


def slp_ok(ctype: str, body: dict[str, str]) -> bytes:
    """Bob's ``MSNSLP/1.0 200 OK`` in the INVITE's call (libpurple msn/slp.c)."""
    return msn.slp("MSNSLP/1.0 200 OK", DC_BOB, DC_ALICE, DC_CALL_ID, ctype, body)


def bob_p2p(chunk: bytes) -> bytes:
    """Switchboard to Alice: Bob's MSG with one P2P chunk and the MSNSLP app id 0."""
    payload = msn.mime(
        "application/x-msnmsgrp2p", chunk + struct.pack(">I", msn.APP_SLP), f"P2P-Dest: {DC_ALICE}"
    )
    return msn.server_msg(DC_BOB, "Bob", payload)


def dc_handshake(ident: int) -> bytes:
    """Direct-connection handshake: a P2Pv1 header of flag 0x100 whose last 16 bytes (the
    ack fields) are the binary nonce, the GUID's fields little-endian (directconn.c)."""
    head = msn.p2p_header(0, ident, 0, 0, 0, msn.FLAG_DC_HANDSHAKE)[:32]
    return msn.dc_frame(head + uuid.UUID(DC_NONCE).bytes_le)


def read_dc(stream: Stream) -> bytes:
    """One length-prefixed direct-connection packet."""
    (length,) = struct.unpack("<I", stream.exact(4))
    return stream.exact(length)


def msn_direct_server(result: Path) -> None:
    """The switchboard, and Bob: accepts the file, offers a listener, receives the chunks."""
    sb = listen(MSN_SB_HOST, MSN_PORT)
    dc = listen(DC_HOST, DC_PORT)
    board = accept(sb)
    words, _ = expect_msn(board, "USR")
    board.send(msn.cmd("USR", words[1], "OK", DC_ALICE, "Alice"))
    words, _ = expect_msn(board, "CAL")
    board.send(msn.cmd("CAL", words[1], "RINGING", 11752014))
    board.send(msn.cmd("JOI", DC_BOB, "Bob"))
    words, _ = expect_msn(board, "MSG")  # the file INVITE
    board.send(msn.cmd("ACK", words[1]))
    ok = slp_ok(SLP_SESSIONREQ, {"SessionID": str(DC_SESSION)})
    for chunk in msn.p2p_chunks(0, 700, ok):
        board.send(bob_p2p(chunk))
    words, _ = expect_msn(board, "MSG")  # the transreqbody INVITE
    board.send(msn.cmd("ACK", words[1]))
    listening = {
        "Bridge": "TCPv1",
        "Listening": "true",
        "Nonce": DC_NONCE,
        "IPv4Internal-Addrs": DC_HOST,
        "IPv4Internal-Port": str(DC_PORT),
    }
    for chunk in msn.p2p_chunks(0, 701, slp_ok(SLP_TRANSRESP, listening)):
        board.send(bob_p2p(chunk))
    peer = accept(dc)
    if read_dc(peer) != b"foo\x00":
        raise ConnectionError("direct connection: expected foo")
    if read_dc(peer)[32:] != uuid.UUID(DC_NONCE).bytes_le:
        raise ConnectionError("direct connection: wrong nonce")
    peer.send(dc_handshake(702))
    data = bytearray()
    ident = 0
    while len(data) < len(DC_FILE):
        chunk = read_dc(peer)
        session, ident, offset, _, size, _, _, _, _ = msn.P2P_HEADER.unpack_from(chunk)
        if session != DC_SESSION or offset != len(data):
            raise ConnectionError(f"direct connection: unexpected chunk {session} {offset}")
        data += chunk[48 : 48 + size]
    ack = msn.P2P_HEADER.pack(DC_SESSION, 703, 0, len(data), 0, FLAG_ACK, ident, 0, len(data))
    peer.send(msn.dc_frame(ack))
    peer.close_after_peer()
    expect_msn(board, "OUT")
    board.close()
    result.write_text(json.dumps({"files": {DC_NAME: hashlib.sha256(data).hexdigest()}}))


def msn_direct_client(result: Path) -> None:
    """Alice: switchboard, MSNSLP negotiation, then the file over Bob's listener."""
    board = Stream.connect(MSN_SB_HOST, MSN_PORT)
    board.send(msn.cmd("USR", 1, DC_ALICE, DC_SB_COOKIE))
    expect_msn(board, "USR")
    trid = iter(range(2, 1000))
    board.send(msn.cmd("CAL", next(trid), DC_BOB))
    expect_msn(board, "CAL")
    expect_msn(board, "JOI")

    def slp_to_bob(ident: int, message: bytes) -> None:
        for chunk in msn.p2p_chunks(0, ident, message):
            board.send(msn.p2p_msg(next(trid), DC_BOB, chunk, msn.APP_SLP))
            expect_msn(board, "ACK")

    slp_to_bob(600, msn.slp_file_invite(DC_ALICE, DC_BOB, DC_SESSION, DC_NAME, len(DC_FILE)))
    expect_msn(board, "MSG")  # 200 OK sessionreqbody
    transreq = msn.slp(
        f"INVITE MSNMSGR:{DC_BOB} MSNSLP/1.0",
        DC_ALICE,
        DC_BOB,
        DC_CALL_ID,
        SLP_TRANSREQ,
        {
            "Bridges": "TCPv1",
            "NetID": "0",
            "Conn-Type": "Direct-Connect",
            "UPnPNat": "false",
            "ICF": "false",
            "Nonce": DC_NONCE,
        },
    )
    slp_to_bob(601, transreq)
    _, payload = read_msn(board)  # 200 OK transrespbody
    fields = dict(
        line.split(": ", 1)
        for line in payload.decode("utf-8", "replace").split("\r\n")
        if ": " in line
    )
    peer = Stream.connect(fields["IPv4Internal-Addrs"], int(fields["IPv4Internal-Port"]))
    peer.send(msn.dc_frame(b"foo\x00") + dc_handshake(602))
    if read_dc(peer)[32:] != uuid.UUID(DC_NONCE).bytes_le:
        raise ConnectionError("direct connection: wrong nonce")
    for chunk in msn.p2p_chunks(DC_SESSION, 603, DC_FILE, msn.FLAG_FILE_DATA, DC_CHUNK):
        peer.send(msn.dc_frame(chunk))
    ack = read_dc(peer)
    if struct.unpack_from("<I", ack, 28)[0] != FLAG_ACK:
        raise ConnectionError("direct connection: expected an ack")
    peer.close()
    board.send(b"OUT\r\n")
    board.close_after_peer()
    result.write_text(json.dumps({"done": True}))


# --- YMSG version 15 through the HTTP relay ----------------------------------------------------

YMSG_PORT: Final = 5050
YMSG_ALICE: Final = "alice_y"
YMSG_BOB: Final = "bob_y"
YMSG_SESSION: Final = 0x5A3C11F1
YMSG_TRANSFER: Final = "BwXk3Qd1mPz7uLc9aRt5vYe2sHg8nJf4"  # 265: the sender's 32-character id
YMSG_RELAY_ID: Final = "rB4+w/QzN1a8kd9Xp0==.-"  # 251: base64-like, escaped in the URL
YMSG_NAME: Final = "отчёт 2009.pdf"
YMSG_FILE: Final = sample_file(0x7915, 40_000)
RELAY_HOST: Final = "127.0.0.5"  # relay.msg.yahoo.com in the real network
RELAY_PORT: Final = 80  # libpurple yahoo.h YAHOO_XFER_RELAY_PORT
YMSG_COOKIES: Final = "Y=v=1&n=abc; T=z=xyz"


def relay_query(sender: str, recipient: str) -> str:
    """``token=...&sender=...&recver=...`` with the token URL-encoded (yahoo_filexfer.c)."""
    return f"token={quote(YMSG_RELAY_ID, safe='')}&sender={sender}&recver={recipient}"


def read_http_head(stream: Stream) -> tuple[str, dict[str, str]]:
    """Request or status line and the headers (lower-case names)."""
    lines = stream.until(b"\r\n\r\n", limit=8192).decode().split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return lines[0], {k.strip().lower(): v.strip() for k, v in headers.items()}


def ymsg_relay_server(result: Path) -> None:
    """The pager server and the HTTP relay; Bob accepts and downloads from the relay."""
    pager = listen(LOCAL, YMSG_PORT)
    relay_listener = listen(RELAY_HOST, RELAY_PORT)
    stream = accept(pager)

    def send(service: int, pairs: Sequence[ymsg.Pair]) -> None:
        stream.send(ymsg.packet(service, pairs, session=YMSG_SESSION))

    expect_ymsg(stream, ymsg.AUTH)
    send(ymsg.AUTH, [(1, YMSG_ALICE), (94, "8Jmx.SG.(a*2|p/5u&7(n.z~1)1-2*b"), (13, "2")])
    expect_ymsg(stream, ymsg.AUTHRESP)
    send(ymsg.LIST, [(87, "Friends:bob_y\n"), (88, ""), (89, YMSG_ALICE), (59, YMSG_COOKIES)])
    offer = expect_ymsg(stream, ymsg.FILETRANS_15)
    send(ymsg.FILETRANS_15, [(4, YMSG_BOB), (5, YMSG_ALICE), (265, offer["265"][0]), (222, "3")])
    info = expect_ymsg(stream, ymsg.FILETRANS_INFO_15)
    # Bob got the info with the relay's token (251) and answered with FILETRANS_ACC_15,
    # which the server passes on to Alice (yahoo_process_filetrans_acc_15).
    send(
        ymsg.FILETRANS_ACC_15,
        [
            (4, YMSG_BOB),
            (5, YMSG_ALICE),
            (265, info["265"][0]),
            (27, info["27"][0]),
            (249, "3"),
            (251, YMSG_RELAY_ID),
        ],
    )
    upload = accept(relay_listener)
    line, headers = read_http_head(upload)
    if line != f"POST /relay?{relay_query(YMSG_ALICE, YMSG_BOB)} HTTP/1.1":
        raise ConnectionError(f"relay: unexpected upload {line!r}")
    stored = upload.exact(int(headers["content-length"]))
    upload.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    upload.close_after_peer()
    bob = Stream.connect(RELAY_HOST, RELAY_PORT)
    bob.send(
        (
            f"GET /relay?{relay_query(YMSG_BOB, YMSG_ALICE)} HTTP/1.1\r\n"
            f"Cookie: {YMSG_COOKIES}\r\nUser-Agent: Mozilla/5.0\r\n"
            f"Host: {RELAY_HOST}\r\nConnection: Keep-Alive\r\n\r\n"
        ).encode()
    )
    download = accept(relay_listener)
    read_http_head(download)
    download.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        + f"Content-Length: {len(stored)}\r\n\r\n".encode()
        + stored
    )
    _, headers = read_http_head(bob)
    data = bob.exact(int(headers["content-length"]))
    bob.close()
    download.close_after_peer()
    expect_ymsg(stream, 0x02)  # LOGOFF
    stream.close()
    result.write_text(json.dumps({"files": {YMSG_NAME: hashlib.sha256(data).hexdigest()}}))


def ymsg_relay_client(result: Path) -> None:
    """Alice: login, the offer, the relay info, then the upload to the relay."""
    stream = Stream.connect(LOCAL, YMSG_PORT)

    def send(service: int, pairs: Sequence[ymsg.Pair]) -> None:
        stream.send(ymsg.packet(service, pairs, session=YMSG_SESSION))

    stream.send(ymsg.packet(ymsg.AUTH, [(1, YMSG_ALICE)], session=0))
    expect_ymsg(stream, ymsg.AUTH)
    send(ymsg.AUTHRESP, [(0, YMSG_ALICE), (6, "hash6"), (96, "hash96"), (1, YMSG_ALICE)])
    expect_ymsg(stream, ymsg.LIST)
    send(
        ymsg.FILETRANS_15,
        [
            (1, YMSG_ALICE),
            (5, YMSG_BOB),
            (265, YMSG_TRANSFER),
            (222, "1"),
            (266, "1"),
            (302, "268"),
            (300, "268"),
            (27, YMSG_NAME),
            (28, str(len(YMSG_FILE))),
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
            (265, YMSG_TRANSFER),
            (27, YMSG_NAME),
            (249, "3"),
            (250, RELAY_HOST),
        ],
    )
    accepted = expect_ymsg(stream, ymsg.FILETRANS_ACC_15)
    if accepted["251"] != [YMSG_RELAY_ID]:
        raise ConnectionError(f"YMSG: unexpected token {accepted['251']}")
    relay = Stream.connect(RELAY_HOST, RELAY_PORT)
    relay.send(
        (
            f"POST /relay?{relay_query(YMSG_ALICE, YMSG_BOB)} HTTP/1.1\r\n"
            f"Cookie:{YMSG_COOKIES}\r\nUser-Agent: Mozilla/5.0\r\nHost: {RELAY_HOST}\r\n"
            f"Content-Length: {len(YMSG_FILE)}\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        + YMSG_FILE
    )
    read_http_head(relay)
    relay.close()
    send(0x02, [(0, YMSG_ALICE)])  # LOGOFF (libpurple yahoo_packet.h)
    stream.close_after_peer()
    result.write_text(json.dumps({"done": True}))


ROLES: Final[dict[str, Callable[[Path], None]]] = {
    "oscar-proxy-server": oscar_proxy_server,
    "oscar-proxy-client": oscar_proxy_client,
    "msn-direct-server": msn_direct_server,
    "msn-direct-client": msn_direct_client,
    "ymsg-relay-server": ymsg_relay_server,
    "ymsg-relay-client": ymsg_relay_client,
}


def main(argv: Sequence[str]) -> int:
    """``ROLE RESULT_JSON``."""
    if len(argv) != 2 or argv[0] not in ROLES:
        print(f"usage: imservers_transfers {{{','.join(ROLES)}}} RESULT_JSON", file=sys.stderr)
        return 2
    ROLES[argv[0]](Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
