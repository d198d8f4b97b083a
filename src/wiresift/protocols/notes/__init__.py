"""Lotus Notes / HCL Domino NRPC (Notes Remote Procedure Call) on TCP 1352.

NRPC has no public specification and no Wireshark dissector. What is used here, and why:

* Detection: the client's first message has bytes 6-13 = ``00 00 02 00 00 40 02 0F`` and
  more than 16 bytes (nDPI ``lotus_notes.c``; nmap's ``NotesRPC`` probe begins
  ``3A 00 00 00 2F 00 00 00 02 00 00 40 02 0F``). The server's answer has byte 8 = 0x03
  followed by ``00 00 40 02 0F`` (nmap's ``lotusnotes`` match), which also identifies a
  flow whose capture starts after the client's first message.
* Server name: the server's answer carries the server's Notes distinguished name in clear,
  ``CN=Mail01/OU=Sales/O=Acme`` (nmap's match extracts it the same way).
* Encryption: NRPC port encryption (notes.ini ``TCPIP=...`` flag 0x8000; default on from
  Domino 14.5) and compression (flag 0x0020) make everything after the hello look random;
  Shannon entropy of the first bytes after the hello tells the two cases apart, but cannot
  tell encryption from compression.
* Mail: with neither, Notes items travel in undocumented RPC structures, with text in
  LMBCS (ASCII-compatible). Only a best-effort carver runs: SMTP addresses, Notes names
  (``CN=.../O=...``) and ``Subject:`` header lines of MIME-stored mail. Bodies, rich text,
  attachments, recipients' roles and message boundaries are not recovered.
"""

from __future__ import annotations

from typing import Final

from wiresift.protocols.base import ProtocolSpec
from wiresift.protocols.notes.parser import NotesParser, probe

__all__ = ["SPEC", "NotesParser", "probe"]

SPEC: Final = ProtocolSpec(
    name="notes",
    transport="tcp",
    ports=frozenset({1352}),  # IANA "lotusnote"
    parser=NotesParser,
    description="Lotus Notes/Domino NRPC: session detection, server name, best-effort carving",
    probe=probe,
    accepts_gaps=True,
    mid_stream=False,
)
