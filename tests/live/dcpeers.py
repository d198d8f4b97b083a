"""Direct Connect peers for the loopback tests: scripted ADC and NMDC clients and an NMDC hub.

ADC (dc-protocols/adc ``ADC.txt`` 1.0.4, ``ADC-EXT.txt`` ZLIG): two clients log in to a
real hub (uhub), chat on the hub (``BMSG`` with ``\\s`` and ``\\n`` escapes), exchange a
private message (``EMSG ... PM``) and run a client-to-client connection announced by
``DCTM``: ``CSUP``/``CINF``, then ``CGET``/``CSND`` of two known files, one plain, one
``ZL1`` (zlib). NMDC (direct-connect/protocols ``nmdc/nmdc.md``): Debian packages no NMDC
hub, so ``serve_nmdc_hub`` is a small one ($Lock/$Key, $ValidateNick/$Hello, $MyINFO
broadcast, main chat relay, ``$To:`` and ``$ConnectToMe`` relay, ``$Quit``); the clients
do the same as the ADC ones with ``$ADCGET``/``$ADCSND``.

Everything runs inside the test namespace as ``python -m tests.live.dcpeers COMMAND ...``;
a client scenario writes what it saw to a JSON file for the tests to compare with the
capture.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sys
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

ADC_PORT: Final = 1511
NMDC_PORT: Final = 411
HOST: Final = "127.0.0.1"
ADC_HUB_NAME: Final = "Loopback ADC hub"
NMDC_HUB_NAME: Final = "Loopback NMDC hub"
NICKS: Final = ("alice", "bob")
# ADC.txt s5.3.2 INF: uhub checks CID = base32(Tiger(PID)) whatever its configuration; the
# first pair is uhub's own test vector, the second was computed with rhash's Tiger.
ADC_IDENTITIES: Final = (
    ("3A4545WFVGZLSGUXZLG7OS6ULQUVG3HM2T63I7Y", "GNSSMURMD7K466NGZIHU65TP3S3UZSQ6MN5B2RI"),
    ("O5UXEZLTNFTHILLBMRRS24DFMVZC25DXN4QSCII", "ERAPMHCEW7OKKQKUY47UEMORS4YPZMSLCONAMPA"),
)
SHARE_SIZES: Final = (123_456_789, 42)
SHARED_FILES: Final = (17, 1)
ADC_HUB_CHAT: Final = "hello all\nsecond line with a \\ backslash"
ADC_PRIVATE: Final = "psst alice, ready for the file?"
ADC_ACTION: Final = "waves at everyone"
NMDC_HUB_CHAT: Final = "hi | there & $5 — ünïcode"
NMDC_CYRILLIC: Final = "Привет всем"
NMDC_PRIVATE: Final = "psst alice, ready for the file?"
CTM_TOKEN: Final = "wstoken42"  # noqa: S105 (a DCTM token, not a secret)
# The two shared files: incompressible bytes (sent plain) and text (sent with ZL1).
PLAIN_PATH: Final = "/share/random data.bin"
ZLIB_PATH: Final = "/share/notes.txt"
PLAIN_SIZE: Final = 300_000
ZLIB_SIZE: Final = 229_789
# (path, offset, count, flag) of each download: a whole file plain, one with ZL1, and a
# segment from the middle of the first (ADC.txt s5.3.10 GET start and byte count).
SEGMENT_START: Final = 100_000
SEGMENT_COUNT: Final = 50_000
TRANSFERS: Final = (
    (PLAIN_PATH, 0, PLAIN_SIZE, b""),
    (ZLIB_PATH, 0, ZLIB_SIZE, b" ZL1"),
    (PLAIN_PATH, SEGMENT_START, SEGMENT_COUNT, b""),
)
SOCKET_TIMEOUT_S: Final = 15.0


def shared_files() -> dict[str, bytes]:
    """The files alice shares, by path: the same bytes on every call and every Python."""
    blocks = (hashlib.sha256(b"wiresift dc %d" % n).digest() for n in range(PLAIN_SIZE // 32 + 1))
    noise = b"".join(blocks)[:PLAIN_SIZE]
    lines = (b"%06d direct connect hub share slot tiger tree hash\n" % n for n in range(5000))
    text = b"".join(lines)[:ZLIB_SIZE]
    return {PLAIN_PATH: noise, ZLIB_PATH: text}


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# --- framing ---------------------------------------------------------------------------------


class Wire:
    """A blocking socket read by terminated commands or by counted bytes."""

    def __init__(self, sock: socket.socket, terminator: bytes) -> None:
        sock.settimeout(SOCKET_TIMEOUT_S)
        self.sock = sock
        self.terminator = terminator
        self.buffer = bytearray()

    def send(self, *commands: bytes) -> None:
        """Send commands, each followed by the terminator, in one write."""
        self.sock.sendall(b"".join(c + self.terminator for c in commands))

    def command(self) -> bytes:
        """The next command without its terminator."""
        while (index := self.buffer.find(self.terminator)) < 0:
            self._fill()
        command = bytes(self.buffer[:index])
        del self.buffer[: index + len(self.terminator)]
        return command

    def until(self, prefix: bytes) -> bytes:
        """Read commands up to and including the first one starting with ``prefix``."""
        while not (command := self.command()).startswith(prefix):
            pass
        return command

    def exact(self, count: int) -> bytes:
        """The next ``count`` bytes."""
        while len(self.buffer) < count:
            self._fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def zlib_stream(self) -> bytes:
        """One zlib stream (RFC 1950) read to its end; the bytes after it stay buffered."""
        inflater = zlib.decompressobj()
        pieces = []
        while True:
            if not self.buffer:
                self._fill()
            pieces.append(inflater.decompress(bytes(self.buffer)))
            self.buffer.clear()
            if inflater.eof:
                self.buffer += inflater.unused_data
                return b"".join(pieces)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def connect(port: int, terminator: bytes) -> Wire:
    """A connection to ``HOST:port``."""
    return Wire(socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT_S), terminator)


def listener() -> socket.socket:
    """A listening socket on an ephemeral port of ``HOST``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((HOST, 0))
    server.listen(1)
    server.settimeout(SOCKET_TIMEOUT_S)
    return server


# --- ADC -------------------------------------------------------------------------------------


def adc_escape(text: str) -> bytes:
    """ADC.txt s3.1 escaping: backslash, space and newline."""
    return text.replace("\\", "\\\\").replace(" ", "\\s").replace("\n", "\\n").encode("utf-8")


def adc_login(index: int) -> tuple[Wire, str]:
    """Log ``NICKS[index]`` in to the ADC hub; returns the connection and the SID."""
    wire = connect(ADC_PORT, b"\n")
    wire.send(b"HSUP ADBASE ADTIGR")
    sid = wire.until(b"ISID ").split(b" ")[1].decode()
    pid, cid = ADC_IDENTITIES[index]
    wire.send(
        b"BINF %s ID%s PD%s NI%s SS%d SF%d I4%s SL2 HN1 HR0 HO0 VEwiresift\\stest\\s1.0 SUTCP4"
        % (
            sid.encode(),
            cid.encode(),
            pid.encode(),
            NICKS[index].encode(),
            SHARE_SIZES[index],
            SHARED_FILES[index],
            HOST.encode(),
        )
    )
    wire.until(b"BINF " + sid.encode())  # the hub lists every user, this one last
    return wire, sid


def adc_serve_files(server: socket.socket, cid: str, files: dict[str, bytes]) -> None:
    """The listening side of a client-to-client connection: answer CGETs until closed."""
    sock, _ = server.accept()
    peer = Wire(sock, b"\n")
    peer.until(b"CSUP ")
    peer.send(b"CSUP ADBASE ADTIGR ADZLIG", b"CINF ID" + cid.encode())
    peer.until(b"CINF ")
    try:
        while True:
            command = peer.command()
            if not command.startswith(b"CGET "):
                continue
            _, kind, path, start, count, *flags = command.split(b" ")
            data = files[path.replace(b"\\s", b" ").decode()][int(start) : int(start) + int(count)]
            head = b"CSND %s %s %s %d" % (kind, path, start, len(data))
            if b"ZL1" in flags:
                peer.sock.sendall(head + b" ZL1\n" + zlib.compress(data, 9))
            else:
                peer.sock.sendall(head + b"\n" + data)
    except ConnectionError:
        pass
    finally:
        peer.close()


def adc_scenario(result: Path) -> None:
    """Two ADC clients on the hub: chat, private message, a DCTM and two downloads."""
    files = shared_files()
    alice, alice_sid = adc_login(0)
    bob, bob_sid = adc_login(1)
    alice.until(b"BINF " + bob_sid.encode())
    seen: dict[str, Any] = {"sids": {"alice": alice_sid, "bob": bob_sid}}
    alice.send(b"BMSG %s %s" % (alice_sid.encode(), adc_escape(ADC_HUB_CHAT)))
    seen["bob_got_chat"] = bob.until(b"BMSG ").decode()
    alice.until(b"BMSG ")  # the hub echoes broadcasts to the sender
    bob.send(b"BMSG %s %s ME1" % (bob_sid.encode(), adc_escape(ADC_ACTION)))
    seen["alice_got_action"] = alice.until(b"BMSG ").decode()
    bob.until(b"BMSG ")
    bob.send(
        b"EMSG %s %s %s PM%s"
        % (bob_sid.encode(), alice_sid.encode(), adc_escape(ADC_PRIVATE), bob_sid.encode())
    )
    seen["alice_got_private"] = alice.until(b"EMSG ").decode()
    bob.until(b"EMSG ")  # EMSG is echoed to its sender
    server = listener()
    port = server.getsockname()[1]
    seen["port"] = port
    serving = threading.Thread(
        target=adc_serve_files, args=(server, ADC_IDENTITIES[0][1], files), daemon=True
    )
    serving.start()
    alice.send(
        b"DCTM %s %s ADC/1.0 %d %s"
        % (alice_sid.encode(), bob_sid.encode(), port, CTM_TOKEN.encode())
    )
    seen["bob_got_ctm"] = bob.until(b"DCTM ").decode()
    peer = connect(port, b"\n")
    peer.send(b"CSUP ADBASE ADTIGR ADZLIG")
    peer.until(b"CINF ")
    peer.send(b"CINF ID%s TO%s" % (ADC_IDENTITIES[1][1].encode(), CTM_TOKEN.encode()))
    received: list[str] = []
    for path, start, count, flag in TRANSFERS:
        wire_path = adc_escape(path)
        peer.send(b"CGET file %s %d %d%s" % (wire_path, start, count, flag))
        reply = peer.until(b"CSND ")
        body = peer.zlib_stream() if flag else peer.exact(count)
        received.append(sha256(body))
        seen.setdefault("csnd", []).append(reply.decode())
    seen["received"] = received
    peer.close()
    serving.join(SOCKET_TIMEOUT_S)
    server.close()
    bob.close()
    seen["alice_got_quit"] = alice.until(b"IQUI ").decode()
    alice.close()
    result.write_text(json.dumps(seen, indent=1))


# --- NMDC ------------------------------------------------------------------------------------

# nmdc.md $Key: these bytes are written as /%DCNnnn%/ in a key.
_KEY_ESCAPED: Final = frozenset({0, 5, 36, 96, 124, 126})


def nmdc_key(lock: bytes) -> bytes:
    """The $Key answering a $Lock (nmdc.md "$Key"), lock given without " Pk=..."."""
    key = [0] * len(lock)
    key[0] = lock[0] ^ lock[-1] ^ lock[-2] ^ 5
    for index in range(1, len(lock)):
        key[index] = lock[index] ^ lock[index - 1]
    out = bytearray()
    for value in key:
        swapped = ((value << 4) | (value >> 4)) & 0xFF
        out += b"/%%DCN%03d%%/" % swapped if swapped in _KEY_ESCAPED else bytes([swapped])
    return bytes(out)


def nmdc_escape(text: str) -> bytes:
    """nmdc.md "Escaping": $, | and & as HTML entities, in UTF-8."""
    return text.replace("&", "&amp;").replace("$", "&#36;").replace("|", "&#124;").encode("utf-8")


def my_info(index: int) -> bytes:
    """The $MyINFO of ``NICKS[index]`` (nmdc.md $MyINFO)."""
    nick = NICKS[index].encode()
    tag = b"<wiresift V:1.0,M:A,H:1/0/0,S:2>"
    email = nick + b"@example.test"
    return b"$MyINFO $ALL %s %s share%s$ $LAN(T3)\x01$%s$%d$" % (
        nick,
        nick,
        tag,
        email,
        SHARE_SIZES[index],
    )


def nmdc_login(index: int) -> Wire:
    """Log ``NICKS[index]`` in to the NMDC hub, up to its own $MyINFO coming back."""
    wire = connect(NMDC_PORT, b"|")
    lock = wire.until(b"$Lock ").split(b" ")[1]
    nick = NICKS[index].encode()
    wire.send(b"$Supports NoGetINFO NoHello", b"$Key " + nmdc_key(lock), b"$ValidateNick " + nick)
    wire.until(b"$Hello " + nick)
    wire.send(b"$Version 1,0091", b"$GetNickList", my_info(index))
    wire.until(b"$MyINFO $ALL " + nick + b" ")
    return wire


def nmdc_serve_files(server: socket.socket, files: dict[str, bytes]) -> None:
    """The listening side of an NMDC client-to-client connection: answer $ADCGETs."""
    sock, _ = server.accept()
    peer = Wire(sock, b"|")
    lock = b"EXTENDEDPROTOCOLwiresiftAlice"
    their_lock = peer.until(b"$Lock ").split(b" ")[1]
    peer.send(
        b"$MyNick alice",
        b"$Lock " + lock + b" Pk=wiresift",
        b"$Supports MiniSlots XmlBZList ADCGet TTHF ZLIG",
        b"$Direction Upload 31000",
        b"$Key " + nmdc_key(their_lock),
    )
    try:
        while True:
            command = peer.command()
            if not command.startswith(b"$ADCGET "):
                continue
            _, kind, path, start, count, *flags = command.split(b" ")
            data = files[path.replace(b"\\s", b" ").decode()][int(start) : int(start) + int(count)]
            head = b"$ADCSND %s %s %s %d" % (kind, path, start, len(data))
            if b"ZL1" in flags:
                peer.sock.sendall(head + b" ZL1|" + zlib.compress(data, 9))
            else:
                peer.sock.sendall(head + b"|" + data)
    except ConnectionError:
        pass
    finally:
        peer.close()


def nmdc_scenario(result: Path) -> None:
    """Two NMDC clients on the hub: chat, private message, $ConnectToMe, two downloads."""
    files = shared_files()
    alice = nmdc_login(0)
    bob = nmdc_login(1)
    alice.until(b"$MyINFO $ALL bob ")
    seen: dict[str, Any] = {}
    alice.send(b"<alice> " + nmdc_escape(NMDC_HUB_CHAT))
    seen["bob_got_chat"] = bob.until(b"<alice> ").decode()
    alice.until(b"<alice> ")  # the hub relays main chat to the sender too
    bob.send(b"<bob> " + nmdc_escape(NMDC_CYRILLIC))
    seen["alice_got_cyrillic"] = alice.until(b"<bob> ").decode()
    bob.until(b"<bob> ")
    bob.send(b"$To: alice From: bob $<bob> " + nmdc_escape(NMDC_PRIVATE))
    seen["alice_got_private"] = alice.until(b"$To: ").decode()
    server = listener()
    port = server.getsockname()[1]
    seen["port"] = port
    serving = threading.Thread(target=nmdc_serve_files, args=(server, files), daemon=True)
    serving.start()
    alice.send(b"$ConnectToMe bob %s:%d" % (HOST.encode(), port))
    seen["bob_got_ctm"] = bob.until(b"$ConnectToMe ").decode()
    peer = connect(port, b"|")
    peer.send(b"$MyNick bob", b"$Lock EXTENDEDPROTOCOLwiresiftBob Pk=wiresift")
    lock = peer.until(b"$Lock ").split(b" ")[1]
    peer.until(b"$Key ")
    peer.send(
        b"$Supports MiniSlots XmlBZList ADCGet TTHF ZLIG",
        b"$Direction Download 12000",
        b"$Key " + nmdc_key(lock),
    )
    received: list[str] = []
    for path, start, count, flag in TRANSFERS:
        wire_path = path.replace(" ", "\\s").encode()
        peer.send(b"$ADCGET file %s %d %d%s" % (wire_path, start, count, flag))
        reply = peer.until(b"$ADCSND ")
        body = peer.zlib_stream() if flag else peer.exact(count)
        received.append(sha256(body))
        seen.setdefault("adcsnd", []).append(reply.decode())
    seen["received"] = received
    peer.close()
    serving.join(SOCKET_TIMEOUT_S)
    server.close()
    bob.close()
    seen["alice_got_quit"] = alice.until(b"$Quit ").decode()
    alice.close()
    result.write_text(json.dumps(seen, indent=1))


class NmdcHub:
    """A minimal NMDC hub (nmdc.md): login, user list, chat and connection relays."""

    def __init__(self) -> None:
        self.users: dict[bytes, asyncio.StreamWriter] = {}
        self.infos: dict[bytes, bytes] = {}

    def broadcast(self, command: bytes) -> None:
        """Send ``command`` to every logged-in user."""
        for writer in self.users.values():
            writer.write(command + b"|")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection."""
        nick: bytes | None = None
        writer.write(b"$Lock EXTENDEDPROTOCOL_wiresift_hub Pk=wiresift-hub|")
        try:
            while True:
                try:
                    command = (await reader.readuntil(b"|"))[:-1]
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                if command.startswith(b"$ValidateNick "):
                    nick = command.split(b" ", 1)[1]
                    self.users[nick] = writer
                    writer.write(
                        b"$Supports NoGetINFO NoHello|$HubName %s|$Hello %s|"
                        % (NMDC_HUB_NAME.encode(), nick)
                    )
                elif nick is None:
                    continue
                elif command == b"$GetNickList":
                    writer.write(b"$NickList %s$$|" % b"$$".join(self.users))
                    for info in self.infos.values():
                        writer.write(info + b"|")
                elif command.startswith(b"$MyINFO "):
                    self.infos[nick] = command
                    self.broadcast(command)
                elif command.startswith(b"<"):
                    self.broadcast(command)
                elif command.startswith((b"$To: ", b"$ConnectToMe ")):
                    target = self.users.get(command.split(b" ")[1])
                    if target is not None:
                        target.write(command + b"|")
                await writer.drain()
        finally:
            if nick is not None:
                self.users.pop(nick, None)
                self.infos.pop(nick, None)
                self.broadcast(b"$Quit " + nick)
            writer.close()


async def _serve_nmdc_hub() -> None:
    hub = NmdcHub()
    server = await asyncio.start_server(hub.handle, HOST, NMDC_PORT)
    async with server:
        await server.serve_forever()


def write_uhub_setup(root: Path) -> Path:
    """uhub's configuration (plain ADC on ``HOST:ADC_PORT``, guests allowed) in ``root``."""
    (root / "users.conf").write_text("")
    (root / "plugins.conf").write_text("")
    config = root / "uhub.conf"
    config.write_text(
        f"server_port={ADC_PORT}\n"
        f"server_bind_addr={HOST}\n"
        f'hub_name="{ADC_HUB_NAME}"\n'
        "hub_description=wiresift\n"
        "max_users=10\n"
        "show_banner=0\n"
        "registered_users_only=0\n"
        "tls_enable=0\n"
        "obsolete_clients=1\n"
        f"file_acl={root / 'users.conf'}\n"
        f"file_plugins={root / 'plugins.conf'}\n"
    )
    return config


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command = argv[0]
    if command == "nmdc-hub":
        asyncio.run(_serve_nmdc_hub())
    elif command == "adc-scenario":
        adc_scenario(Path(argv[1]))
    elif command == "nmdc-scenario":
        nmdc_scenario(Path(argv[1]))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
