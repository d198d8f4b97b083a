"""MSN Messenger wire builders for tests: MSNP lines and payloads, invitations, MSNFTP
blocks, P2Pv1 chunks with MSNSLP, direct-connection frames.

Every layout follows ../shared/protocols.md s2 (from libpurple ``msn/`` and the MSNFTP
notes cited there); the constants name their source.
"""

from __future__ import annotations

import base64
import struct
from typing import Final

CRLF: Final = b"\r\n"
# MSNFTP / invitation application GUID (libpurple msn/msn.h MSN_FT_GUID).
FT_GUID: Final = "{5D3E02AB-6190-11d3-BBBB-00C04F795683}"
# P2Pv1 header, 48 bytes little-endian (libpurple msn/p2p.h).
P2P_HEADER: Final = struct.Struct("<IIQQIIIIQ")
# P2P flags (libpurple msn/p2p.h): WLM 2009 file data, direct-connection handshake.
FLAG_FILE_DATA: Final = 0x01000030
FLAG_DC_HANDSHAKE: Final = 0x100
# Application id footers (libpurple msn/p2p.h): 0 = MSNSLP, 2 = file transfer.
APP_SLP: Final = 0
APP_FILE: Final = 2
# Largest payload of one switchboard P2P chunk (libpurple msn/p2p.h: 1202 bytes).
SB_CHUNK: Final = 1202
# Largest MSNFTP data block (msnftp.html: at most 2045 bytes).
FTP_BLOCK: Final = 2045


def cmd(verb: str, *params: str | int) -> bytes:
    """``VERB p1 p2\\r\\n`` (protocols.md s2.1)."""
    return " ".join([verb, *map(str, params)]).encode() + CRLF


def payload_cmd(verb: str, params: tuple[str | int, ...], payload: bytes) -> bytes:
    """A payload command: the byte length is the last parameter, no CRLF after the payload."""
    return cmd(verb, *params, len(payload)) + payload


def mime(content_type: str, body: bytes, *headers: str) -> bytes:
    """MSG payload: MIME-Version, Content-Type, extra headers, blank line, body."""
    head = ["MIME-Version: 1.0", f"Content-Type: {content_type}", *headers]
    return "\r\n".join(head).encode() + CRLF + CRLF + body


def text_payload(text: str, font: str = "Arial", charset_code: str = "0") -> bytes:
    """A text/plain message with its X-MMS-IM-Format header (font name URL-encoded)."""
    fmt = f"X-MMS-IM-Format: FN={font.replace(' ', '%20')}; EF=; CO=0; CS={charset_code}; PF=22"
    return mime("text/plain; charset=UTF-8", text.encode(), fmt)


def client_msg(trid: int, payload: bytes, ack: str = "N") -> bytes:
    """Client to switchboard: ``MSG trid ack len``."""
    return payload_cmd("MSG", (trid, ack), payload)


def server_msg(email: str, name: str, payload: bytes) -> bytes:
    """Switchboard to client: ``MSG email url-encoded-name len``."""
    return payload_cmd("MSG", (email, name.replace(" ", "%20")), payload)


def typing_payload(user: str) -> bytes:
    """text/x-msmsgscontrol with TypingUser (protocols.md s2.2)."""
    return mime("text/x-msmsgscontrol", CRLF, f"TypingUser: {user}")


def invite_fields(*fields: tuple[str, str]) -> bytes:
    """text/x-msmsgsinvite body: ``Name: value`` lines (protocols.md s2.4)."""
    body = "".join(f"{k}: {v}\r\n" for k, v in fields).encode()
    return mime("text/x-msmsgsinvite; charset=UTF-8", body)


def ftp_invite(cookie: int, name: str, size: int) -> bytes:
    """An MSNFTP file offer (Invitation-Command INVITE)."""
    return invite_fields(
        ("Application-Name", "File Transfer"),
        ("Application-GUID", FT_GUID),
        ("Invitation-Command", "INVITE"),
        ("Invitation-Cookie", str(cookie)),
        ("Application-File", name),
        ("Application-FileSize", str(size)),
        ("Connectivity", "N"),
    )


def ftp_receiver_accept(cookie: int) -> bytes:
    """The receiver's ACCEPT (no address: the sender listens and answers with one)."""
    return invite_fields(
        ("Invitation-Command", "ACCEPT"),
        ("Invitation-Cookie", str(cookie)),
        ("Launch-Application", "FALSE"),
        ("Request-Data", "IP-Address:"),
    )


def ftp_accept(cookie: int, ip: str, port: int, auth_cookie: int) -> bytes:
    """The sender's ACCEPT naming its MSNFTP listener and the AuthCookie."""
    return invite_fields(
        ("Invitation-Command", "ACCEPT"),
        ("Invitation-Cookie", str(cookie)),
        ("IP-Address", ip),
        ("Port", str(port)),
        ("AuthCookie", str(auth_cookie)),
        ("Launch-Application", "FALSE"),
    )


def ftp_blocks(data: bytes, size: int = FTP_BLOCK) -> bytes:
    """MSNFTP data blocks: flag 0, 16-bit little-endian length, bytes."""
    out = bytearray()
    for start in range(0, len(data), size):
        chunk = data[start : start + size]
        out += bytes([0, len(chunk) & 0xFF, len(chunk) >> 8]) + chunk
    return bytes(out)


def p2p_header(
    session: int, ident: int, offset: int, total: int, size: int, flags: int = 0
) -> bytes:
    """P2Pv1 48-byte header (ack fields zero)."""
    return P2P_HEADER.pack(session, ident, offset, total, size, flags, 0, 0, 0)


def p2p_chunks(
    session: int, ident: int, data: bytes, flags: int = 0, size: int = SB_CHUNK
) -> list[bytes]:
    """One P2P message cut into chunks of at most ``size`` bytes (header + payload)."""
    return [
        p2p_header(session, ident, start, len(data), len(data[start : start + size]), flags)
        + data[start : start + size]
        for start in range(0, max(len(data), 1), size)
    ]


def p2p_msg(trid: int, dest: str, chunk: bytes, app_id: int) -> bytes:
    """Client switchboard MSG D carrying one chunk and its big-endian app id footer."""
    payload = mime(
        "application/x-msnmsgrp2p", chunk + struct.pack(">I", app_id), f"P2P-Dest: {dest}"
    )
    return client_msg(trid, payload, ack="D")


def file_context(name: str, size: int) -> str:
    """Base64 Context of a file INVITE: length 574, version 2, size, type 1 (no preview),
    name as 260 UTF-16LE units, 30 + 4 unknown bytes (libpurple msn/xfer.h)."""
    head = struct.pack("<IIQI", 574, 2, size, 1)
    raw_name = name.encode("utf-16-le")[:520].ljust(520, b"\x00")
    return base64.b64encode(head + raw_name + b"\x00" * 34).decode()


def slp(
    start: str, sender: str, recipient: str, call_id: str, ctype: str, body: dict[str, str]
) -> bytes:
    """An MSNSLP message: start line, headers, NUL-ended ``Key: value`` body."""
    text = "".join(f"{k}: {v}\r\n" for k, v in body.items()) + "\r\n"
    raw_body = text.encode() + b"\x00"
    head = (
        f"{start}\r\nTo: <msnmsgr:{recipient}>\r\nFrom: <msnmsgr:{sender}>\r\n"
        f"Via: MSNSLP/1.0/TLP ;branch={{A0D624A6-6C0C-4283-A9E0-BC97B4B46D32}}\r\n"
        f"CSeq: 0 \r\nCall-ID: {call_id}\r\nMax-Forwards: 0\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(raw_body)}\r\n\r\n"
    )
    return head.encode() + raw_body


def slp_file_invite(sender: str, recipient: str, session: int, name: str, size: int) -> bytes:
    """INVITE with a sessionreqbody for a file (EUF-GUID of file transfer, AppID 2)."""
    return slp(
        f"INVITE MSNMSGR:{recipient} MSNSLP/1.0",
        sender,
        recipient,
        "{11111111-2222-3333-4444-555555555555}",
        "application/x-msnmsgr-sessionreqbody",
        {
            "EUF-GUID": FT_GUID.upper(),
            "SessionID": str(session),
            "AppID": "2",
            "Context": file_context(name, size),
        },
    )


def dc_frame(data: bytes) -> bytes:
    """Direct connection packet: 32-bit little-endian length and data (directconn.c)."""
    return struct.pack("<I", len(data)) + data
