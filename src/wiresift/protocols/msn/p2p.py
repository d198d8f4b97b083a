"""MSNSLP and P2P version 1: file transfers of MSN Messenger 6 and later.

Theory of operation: a P2P message travels in chunks, each led by a 48-byte little-endian
header (session id, message identifier, offset, total size, chunk size, flags, ack fields;
libpurple ``msn/p2p.h``). In a switchboard the chunk is the body of an
``application/x-msnmsgrp2p`` MSG and is followed by a 4-byte big-endian application id; on
a direct connection each chunk is one length-prefixed frame without it (libpurple
``msn/directconn.c``). Chunks of session 0 carry MSNSLP, a SIP-like text whose INVITE body
names the data session (``SessionID``) and, for a file (EUF-GUID of file transfer),
a base64 ``Context`` holding the size and the UTF-16LE name (libpurple ``msn/xfer.h``).
Chunks of that data session are the file, placed by their offset.

``P2pAssembler`` keeps the state one conversation needs; both the switchboard parser and
the direct-connection parser feed it whole chunks and get chat events back.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Final

from wiresift.protocols.base import Anomaly, Direction, Event
from wiresift.protocols.chatevents import FileBegin, FileData, FileEnd, FileOffer
from wiresift.protocols.expect_events import ExpectConnection

# P2Pv1 header: session id, identifier, offset, total size, chunk size, flags, ack session,
# ack unique id, ack size; 48 bytes, little-endian (libpurple msn/p2p.h, MsnP2PHeader).
P2P_HEADER: Final = struct.Struct("<IIQQIIIIQ")
P2P_HEADER_LEN: Final = 48
# Application id footer after a switchboard chunk: 4 bytes big-endian (libpurple msn/p2p.h).
P2P_FOOTER_LEN: Final = 4
# Flags (libpurple msn/p2p.h P2P_*): the ones a passive reader needs.
FLAG_ACK: Final = 0x2
FLAG_FILE: Final = 0x10
FLAG_MSN_OBJ_DATA: Final = 0x20
FLAG_DC_HANDSHAKE: Final = 0x100
FLAG_FILE_DATA: Final = 0x01000030  # WLM 2009 compatible file data (libpurple P2P_FILE_DATA)
# EUF-GUID of a file transfer session (libpurple msn/msn.h MSN_FT_GUID).
FILE_TRANSFER_GUID: Final = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
# File-transfer Context: header length, version, file size, type (little-endian), then the
# name as 260 UTF-16LE code units (libpurple msn/xfer.h MsnContextHeader, MAX_FILE_NAME_LEN).
CONTEXT_HEAD: Final = struct.Struct("<IIQI")
CONTEXT_NAME_BYTES: Final = 520
# Largest MSNSLP message reassembled: INVITEs are a few hundred bytes plus a base64 context
# of 574 bytes or a preview image; libpurple sends SLP in chunks of at most 1202 bytes.
MAX_SLP_BYTES: Final = 64 * 1024
# MSNSLP messages and data sessions tracked at once per conversation.
MAX_SLP_PENDING: Final = 32
MAX_SESSIONS: Final = 64
# Addresses of one direct-connection announcement followed (IPv4Internal/External-Addrs).
MAX_ANNOUNCED_ADDRS: Final = 4
_EMAIL: Final = re.compile(r"msnmsgr:([^;>\s]+)", re.IGNORECASE)
_IPV4: Final = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


class FileSession:
    """One negotiated file: what the INVITE said, and how far its data has come."""

    __slots__ = (
        "direction",
        "file",
        "name",
        "next_offset",
        "recipient",
        "sender",
        "session_id",
        "size",
    )

    def __init__(
        self, session_id: int, name: str | None, size: int | None, sender: str, recipient: str
    ) -> None:
        self.session_id = session_id
        self.name = name
        self.size = size
        self.sender = sender
        self.recipient = recipient
        self.file = -1  # FileBegin number once data flows
        self.direction = Direction.ORIG  # the side sending the data, once it flows
        self.next_offset = 0


def decode_context(context: str) -> tuple[str | None, int | None]:
    """File name and size from an INVITE's base64 Context (libpurple msn/xfer.h)."""
    try:
        blob = base64.b64decode(context.strip(), validate=False)
    except (binascii.Error, ValueError):
        return None, None
    if len(blob) < CONTEXT_HEAD.size:
        return None, None
    _length, _version, size, _kind = CONTEXT_HEAD.unpack_from(blob)
    raw_name = blob[CONTEXT_HEAD.size : CONTEXT_HEAD.size + CONTEXT_NAME_BYTES]
    raw_name = raw_name[: len(raw_name) & ~1]
    name = raw_name.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return (name or None), size


def parse_slp(data: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    """Start line, headers and body fields of an MSNSLP message (SIP-like, NUL-ended)."""
    text = data.split(b"\x00", 1)[0].decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = _fields(lines[1:])
    return lines[0], headers, _fields(body.split("\r\n"))


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _email(value: str) -> str:
    found = _EMAIL.search(value)
    return found.group(1) if found else value.strip("<> ")


class P2pAssembler:
    """Reassembles P2Pv1 chunks of one conversation into MSNSLP messages and files."""

    def __init__(self, proto: str, max_file: int) -> None:
        self.proto = proto
        self.max_file = max_file
        self._slp: dict[tuple[int, int], bytearray] = {}
        self.sessions: dict[int, FileSession] = {}
        self._calls: dict[str, int] = {}  # Call-ID -> session id of an INVITE
        self._files = 0

    def next_file_number(self) -> int:
        """The next ``FileBegin.file`` number of this flow."""
        number = self._files
        self._files += 1
        return number

    def chunk(
        self, direction: Direction, data: bytes, ts: int, footer: bool, out: list[Event]
    ) -> None:
        """One chunk: header, payload and (switchboard only) the application id footer."""
        if len(data) < P2P_HEADER_LEN:
            out.append(self._anomaly(direction, ts, "p2p_short_header", str(len(data))))
            return
        session, ident, offset, total, size, flags, _a, _b, _c = P2P_HEADER.unpack_from(data)
        payload = data[P2P_HEADER_LEN : P2P_HEADER_LEN + size]
        if len(payload) != size or (footer and len(data) < P2P_HEADER_LEN + size):
            out.append(self._anomaly(direction, ts, "p2p_bad_chunk_size", str(size)))
            return
        if flags & FLAG_ACK or flags == FLAG_DC_HANDSHAKE or not size:
            return
        known = self.sessions.get(session)
        if session == 0:
            self._slp_chunk(direction, ident, offset, total, payload, ts, out)
        elif known is not None or flags & (FLAG_FILE | FLAG_MSN_OBJ_DATA) == FLAG_FILE:
            self._file_chunk(direction, session, known, offset, total, payload, ts, out)

    # -- MSNSLP -------------------------------------------------------------------------

    def _slp_chunk(
        self,
        direction: Direction,
        ident: int,
        offset: int,
        total: int,
        payload: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        if total > MAX_SLP_BYTES:
            out.append(self._anomaly(direction, ts, "slp_too_long", str(total)))
            return
        key = (direction, ident)
        held = self._slp.get(key)
        if held is None:
            if offset:
                return  # the start of this message was not seen
            if len(self._slp) >= MAX_SLP_PENDING:
                del self._slp[next(iter(self._slp))]
                out.append(self._anomaly(direction, ts, "slp_too_many_pending"))
            held = self._slp[key] = bytearray()
        if offset != len(held):
            del self._slp[key]
            out.append(self._anomaly(direction, ts, "p2p_out_of_order", f"{offset}"))
            return
        held += payload
        if len(held) >= total:
            del self._slp[key]
            self._slp_message(direction, bytes(held[:total]), ts, out)

    def _slp_message(self, direction: Direction, data: bytes, ts: int, out: list[Event]) -> None:
        start, headers, body = parse_slp(data)
        sender = _email(headers.get("from", ""))
        recipient = _email(headers.get("to", ""))
        call = headers.get("call-id", "")
        kind = headers.get("content-type", "")
        if start.startswith("INVITE") and kind.endswith("sessionreqbody"):
            if body.get("euf-guid", "").upper() != FILE_TRANSFER_GUID:
                return  # display picture, emoticon, webcam...
            session = _int(body.get("sessionid", ""))
            if session is None:
                out.append(self._anomaly(direction, ts, "slp_no_session_id"))
                return
            name, size = decode_context(body.get("context", ""))
            if len(self.sessions) >= MAX_SESSIONS:
                del self.sessions[next(iter(self.sessions))]
            self.sessions[session] = FileSession(session, name, size, sender, recipient)
            if len(self._calls) < MAX_SESSIONS:
                self._calls[call] = session
            out.append(
                FileOffer(
                    direction=direction,
                    ts=ts,
                    name=name or "",
                    size=size,
                    sender=sender,
                    recipient=recipient,
                    transfer_id=str(session),
                )
            )
        elif start.startswith("MSNSLP/1.0 ") and call in self._calls:
            file = self.sessions.get(self._calls[call])
            code = start.split(" ", 2)[1]
            if file is not None and kind.endswith("sessionreqbody"):
                out.append(
                    FileOffer(
                        direction=direction,
                        ts=ts,
                        name=file.name or "",
                        size=file.size,
                        sender=file.sender,
                        recipient=file.recipient,
                        transfer_id=str(file.session_id),
                        accepted=code == "200",
                    )
                )
        if kind.endswith(("transreqbody", "transrespbody")):
            self._direct(direction, body, ts, out)

    def _direct(
        self, direction: Direction, body: dict[str, str], ts: int, out: list[Event]
    ) -> None:
        """A direct connection offered (Bridges TCPv1, Listening true): expect it."""
        if body.get("listening", "").lower() != "true":
            return
        announced: list[tuple[str, int]] = []
        for which in ("external", "internal"):
            port = _int(body.get(f"ipv4{which}-port", ""))
            if port is None or not 0 < port < 65536:
                continue
            for addr in _IPV4.findall(body.get(f"ipv4{which}-addrs", "")):
                if (addr, port) not in announced and len(announced) < MAX_ANNOUNCED_ADDRS:
                    announced.append((addr, port))
        context = dict(self.sessions)
        out.extend(
            ExpectConnection(
                direction=direction,
                ts=ts,
                protocol="msnp2p",
                server_addr=addr,
                server_port=port,
                context=context,
            )
            for addr, port in announced
        )

    # -- file data ----------------------------------------------------------------------

    def _file_chunk(
        self,
        direction: Direction,
        session: int,
        known: FileSession | None,
        offset: int,
        total: int,
        payload: bytes,
        ts: int,
        out: list[Event],
    ) -> None:
        if known is None:
            # Data of a session negotiated out of sight (direct connection without context).
            if len(self.sessions) >= MAX_SESSIONS:
                return
            known = self.sessions[session] = FileSession(session, None, total, "", "")
        if known.file < 0:
            if offset:
                out.append(self._anomaly(direction, ts, "p2p_file_start_missed", str(offset)))
            known.file = self.next_file_number()
            known.direction = direction
            known.next_offset = offset
            out.append(
                FileBegin(
                    direction=direction,
                    ts=ts,
                    file=known.file,
                    name=known.name,
                    size=known.size if known.size is not None else total,
                    offset=offset,
                    sender=known.sender or None,
                    recipient=known.recipient or None,
                    transfer_id=str(session),
                    upload=direction is Direction.ORIG,
                )
            )
        if offset < known.next_offset:
            payload = payload[known.next_offset - offset :]  # retransmitted overlap
        elif offset > known.next_offset:
            out.append(
                self._anomaly(direction, ts, "p2p_file_gap", f"{offset - known.next_offset}")
            )
            out.append(
                FileEnd(direction=direction, ts=ts, file=known.file, complete=False, reason="gap")
            )
            del self.sessions[session]
            return
        if payload:
            known.next_offset += len(payload)
            out.append(FileData(direction=direction, ts=ts, file=known.file, data=payload))
        if known.next_offset >= total:
            out.append(FileEnd(direction=direction, ts=ts, file=known.file, complete=True))
            del self.sessions[session]

    def close(self, direction: Direction, ts: int) -> list[Event]:
        """``direction`` ended: the files it was sending end incomplete."""
        closing = {
            k: s for k, s in self.sessions.items() if s.file >= 0 and s.direction == direction
        }
        for key in closing:
            del self.sessions[key]
        return [
            FileEnd(direction=direction, ts=ts, file=s.file, complete=False, reason="closed")
            for s in closing.values()
        ]

    def _anomaly(self, direction: Direction, ts: int, name: str, detail: str = "") -> Anomaly:
        return Anomaly(direction=direction, ts=ts, name=f"{self.proto}_{name}", detail=detail)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None
