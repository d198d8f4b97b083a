"""Real chat servers and scripted clients on the loopback interface of a network namespace.

IRC (RFC 2812): ngIRCd with a generated config on 127.0.0.1:6667, and two clients of our own
over raw sockets (``irc-session``) that register, join a channel, talk in it and in private,
send a NOTICE and a DCC SEND (the CTCP offer, then the file on a direct connection with the
receiver's 4-byte acknowledgements). XMPP (RFC 6120, RFC 6121): Prosody with a generated
config on 127.0.0.1:5222 (plaintext, SASL PLAIN) and two slixmpp clients
(``xmpp-session``) that exchange messages, build a roster by roster sets (the server pushes
them back) and fetch it, send a file in-band (XEP-0047) and one over a direct SOCKS5
bytestream (XEP-0065), then change the roster in a second session. The programs run inside the
namespace as ``python -m tests.live.chatservers COMMAND ...`` and write what they sent and
received to a JSON file (bytes as base64) for the tests to compare with the capture.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

IRC_PORT: Final = 6667
DCC_PORT: Final = 5050
XMPP_PORT: Final = 5222
XMPP_DOMAIN: Final = "localhost"
XMPP_PASSWORD: Final = "xmpp-secret"  # noqa: S105 (test account)
IRC_CHANNEL: Final = "#test"
CLIENT_TIMEOUT_S: Final = 20.0
DCC_NAME: Final = "report.bin"
IBB_BLOCK_SIZE: Final = 4096
IBB_SID: Final = "ibb-sid-1"
S5B_SID: Final = "s5b-sid-1"
S5B_PORT: Final = 5051
XMPP_RESOURCES: Final = {"alice": "desk", "bob": "phone"}
XMPP_SECOND_RESOURCE: Final = "laptop"

CI_PACKAGES: Final = {"ngircd": "ngircd", "prosody": "prosody", "prosodyctl": "prosody"}

# (sender, target, command, text) in the order the IRC session sends them.
IRC_LINES: Final = (
    ("alice", IRC_CHANNEL, "PRIVMSG", "Hello channel, this is Alice."),
    ("bob", IRC_CHANNEL, "PRIVMSG", "Привет, канал! Как слышно?"),
    ("alice", IRC_CHANNEL, "PRIVMSG", "\x01ACTION waves to everyone\x01"),
    ("alice", "bob", "PRIVMSG", "A private word, Bob."),
    ("bob", "alice", "PRIVMSG", "Private answer from Bob."),
    ("bob", "alice", "NOTICE", "This is a notice for Alice."),
)

# (sender, recipient, text) of the XMPP chat messages.
XMPP_MESSAGES: Final = (
    ("alice", "bob", "Hello Bob, plain XMPP here."),
    ("bob", "alice", "Здравствуй, Алиса! Всё получил."),
    ("alice", "bob", "Good. A file follows in-band."),
)

# (contact, name, group) Alice puts on her roster.
ROSTER: Final = (
    ("bob@localhost", "Bob", "Friends"),
    ("carol@localhost", "Carol", "Work"),
    ("dave@localhost", "Dave", "Work"),
)
# Roster sets in a second session, after its fetch: one renamed, one added, then
# ROSTER_REMOVED removed (RFC 6121 s2.3, s2.5); the server pushes each back.
ROSTER_CHANGES: Final = (
    ("dave@localhost", "David", "Work"),
    ("erin@localhost", "Erin", "Family"),
)
ROSTER_REMOVED: Final = "carol@localhost"


def dcc_file() -> bytes:
    """The file sent by DCC: fixed pseudo-random bytes, not a multiple of the block size."""
    return random.Random(0x44434353).randbytes(70_123)


def s5b_file() -> bytes:
    """The file sent over a direct SOCKS5 bytestream: fixed pseudo-random bytes."""
    return random.Random(0x53354221).randbytes(41_234)


def ibb_file() -> bytes:
    """The file sent in-band over XMPP: fixed pseudo-random bytes."""
    return random.Random(0x49424221).randbytes(23_456)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- ngIRCd --------------------------------------------------------------------------------


def write_ngircd_config(root: Path) -> Path:
    """An ngIRCd config: 127.0.0.1:6667 only, no PAM, ident or DNS, one channel."""
    config = root / "ngircd.conf"
    motd = root / "motd"
    motd.write_text("Test server.\n")
    config.write_text(
        f"""# Generated for one test run.
[Global]
Name = irc.wiresift.test
Info = Test server
Listen = 127.0.0.1
Ports = {IRC_PORT}
MotdFile = {motd}
ServerUID = 65534
ServerGID = 65534

[Limits]
PingTimeout = 120
PongTimeout = 60
MaxConnectionsIP = 10

[Options]
PAM = no
Ident = no
DNS = no
OperCanUseMode = yes

[Channel]
Name = {IRC_CHANNEL}
Topic = Test channel
Modes = +n
"""
    )
    return config


class IrcClient:
    """One IRC connection over a raw socket: send lines, read lines until one matches."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", IRC_PORT), timeout=CLIENT_TIMEOUT_S)
        self._buffer = b""
        self.received: list[str] = []

    def send(self, line: str) -> None:
        """Send one line (CRLF added), UTF-8."""
        self.sock.sendall(line.encode() + b"\r\n")

    def read_until(self, needle: str) -> str:
        """Read lines (answering PING) until one contains ``needle``; return it."""
        while True:
            while b"\r\n" not in self._buffer:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError(f"{self.nick}: closed while waiting for {needle!r}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\r\n", 1)
            line = raw.decode()
            self.received.append(line)
            if line.startswith("PING "):
                self.send("PONG " + line[5:])
            if needle in line:
                return line

    def register(self) -> None:
        """NICK and USER (RFC 2812 s3.1), then wait for the welcome and the end of MOTD."""
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick} 0 * :{self.nick.title()} Example")
        self.read_until(f" 001 {self.nick} ")
        self.read_until(f" 376 {self.nick} ")


def irc_session(result: Path) -> None:
    """Alice and Bob register, join the channel, exchange ``IRC_LINES`` (each awaited at
    the receiver) and a DCC SEND of ``dcc_file()`` from Alice to Bob, then quit."""
    clients = {nick: IrcClient(nick) for nick in ("alice", "bob")}
    for client in clients.values():
        client.register()
    for client in clients.values():
        client.send(f"JOIN {IRC_CHANNEL}")
        client.read_until(f" 366 {client.nick} {IRC_CHANNEL} ")
    clients["alice"].read_until("JOIN")  # Bob's join, seen by Alice
    relayed = []
    for sender, target, command, text in IRC_LINES:
        clients[sender].send(f"{command} {target} :{text}")
        receiver = clients["bob" if sender == "alice" else "alice"]
        relayed.append(receiver.read_until(f"{command} {target} :{text}"))

    data = dcc_file()
    listener = socket.create_server(("127.0.0.1", DCC_PORT))
    listener.settimeout(CLIENT_TIMEOUT_S)
    acks: list[int] = []
    sender_thread = threading.Thread(target=_dcc_send, args=(listener, data, acks))
    sender_thread.start()
    address = struct.unpack("!I", socket.inet_aton("127.0.0.1"))[0]
    offer = f"\x01DCC SEND {DCC_NAME} {address} {DCC_PORT} {len(data)}\x01"
    clients["alice"].send(f"PRIVMSG bob :{offer}")
    relayed.append(clients["bob"].read_until("DCC SEND"))
    received = _dcc_receive(len(data))
    sender_thread.join(CLIENT_TIMEOUT_S)
    listener.close()

    for client in clients.values():
        client.send("QUIT :bye")
        client.read_until("ERROR")
        client.sock.close()
    result.write_text(
        json.dumps(
            {
                "relayed": relayed,
                "dcc": _b64(received),
                "acks": acks,
                "received": {nick: c.received for nick, c in clients.items()},
            }
        )
    )


def _dcc_send(listener: socket.socket, data: bytes, acks: list[int]) -> None:
    """The DCC sender: accept, send the whole file, read the 4-byte network-order
    acknowledgements until the last one covers the whole file."""
    connection, _ = listener.accept()
    with connection:
        connection.sendall(data)
        buffer = b""
        while not acks or acks[-1] < len(data):
            chunk = connection.recv(4096)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 4:
                acks.append(struct.unpack("!I", buffer[:4])[0])
                buffer = buffer[4:]


def _dcc_receive(size: int) -> bytes:
    """The DCC receiver: connect, read ``size`` bytes, acknowledge each read with the total
    received so far (32 bits, network order), close."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", DCC_PORT), timeout=CLIENT_TIMEOUT_S) as sock:
        while len(received) < size:
            chunk = sock.recv(8192)
            if not chunk:
                break
            received += chunk
            sock.sendall(struct.pack("!I", len(received)))
    return bytes(received)


# --- Prosody -------------------------------------------------------------------------------


def write_prosody_setup(root: Path, prosodyctl: str) -> Path:
    """A Prosody config (c2s on 127.0.0.1:5222 without TLS, PLAIN allowed, internal_plain
    storage under ``root``, no s2s) and the accounts alice and bob; returns the config."""
    data = root / "data"
    data.mkdir()
    config = root / "prosody.cfg.lua"
    config.write_text(
        f"""-- Generated for one test run.
pidfile = "{root / "prosody.pid"}"
data_path = "{data}"
run_as_root = true
daemonize = false
admins = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "posix"; }}
modules_disabled = {{ "s2s"; "tls"; "offline"; "c2s_limits"; }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {XMPP_PORT} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
log = {{ info = "{root / "prosody.log"}"; }}
VirtualHost "{XMPP_DOMAIN}"
"""
    )
    for user in ("alice", "bob"):
        subprocess.run(
            [prosodyctl, "--config", str(config), "register", user, XMPP_DOMAIN, XMPP_PASSWORD],
            check=True,
            capture_output=True,
            timeout=30,
        )
    return config


def xmpp_session(result: Path) -> None:
    """Run the XMPP exchange (``_xmpp_exchange``) and write what each side got."""
    outcome = asyncio.run(asyncio.wait_for(_xmpp_exchange(), CLIENT_TIMEOUT_S))
    result.write_text(json.dumps(outcome))


async def _login(user: str, resource: str) -> Any:
    """A slixmpp client logged in as ``user@localhost/resource`` over plain TCP (SASL PLAIN,
    no TLS), with IBB and SOCKS5 bytestreams accepted, once its session has started."""
    import slixmpp  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    client = slixmpp.ClientXMPP(
        f"{user}@{XMPP_DOMAIN}/{resource}",
        XMPP_PASSWORD,
        plugin_config={"feature_mechanisms": {"unencrypted_plain": True}},
        sasl_mech="PLAIN",
    )
    client.loop = loop
    client.enable_direct_tls = False
    client.enable_starttls = False
    client.enable_plaintext = True
    for plugin in ("xep_0030", "xep_0199"):
        client.register_plugin(plugin)
    for plugin in ("xep_0047", "xep_0065"):
        client.register_plugin(plugin, {"auto_accept": True})
    started: asyncio.Future[None] = loop.create_future()
    client.add_event_handler("session_start", lambda _event: _settle(started))
    client.connect("127.0.0.1", XMPP_PORT)
    await started
    return client


def _settle(future: asyncio.Future[None]) -> None:
    """Resolve ``future`` unless it already is (events may come twice)."""
    if not future.done():
        future.set_result(None)


async def _logout(client: Any) -> None:
    """Close the stream and wait for the connection to end."""
    client.disconnect()
    await client.disconnected


def _roster_items(items: Any) -> dict[str, dict[str, Any]]:
    """``{jid: {"name", "groups"}}`` of slixmpp roster items."""
    return {
        str(jid): {"name": item["name"], "groups": list(item["groups"])}
        for jid, item in items.items()
    }


async def _xmpp_exchange() -> dict[str, Any]:
    """Alice (desk) and Bob log in; Alice sets the three ``ROSTER`` items (the server pushes
    each back) and fetches the roster; they exchange ``XMPP_MESSAGES``; Alice sends
    ``ibb_file()`` over IBB (XEP-0047) and ``s5b_file()`` over a direct SOCKS5 bytestream
    (XEP-0065); both log out. Then Alice logs in again (laptop), fetches the roster and
    changes it (``ROSTER_CHANGES``, ``ROSTER_REMOVED``) by roster sets."""
    loop = asyncio.get_running_loop()
    alice = await _login("alice", XMPP_RESOURCES["alice"])
    bob = await _login("bob", XMPP_RESOURCES["bob"])
    clients = {"alice": alice, "bob": bob}
    inbox: dict[str, asyncio.Queue[str]] = {}
    for user, client in clients.items():
        queue: asyncio.Queue[str] = asyncio.Queue()
        inbox[user] = queue
        client.add_event_handler("message", lambda msg, q=queue: q.put_nowait(str(msg["body"])))
        client.send_presence()
    incoming_streams: asyncio.Queue[Any] = asyncio.Queue()
    s5b_chunks: list[bytes] = []
    s5b_closed: asyncio.Future[None] = loop.create_future()
    bob.add_event_handler("ibb_stream_start", incoming_streams.put_nowait)
    bob.add_event_handler("socks5_data", s5b_chunks.append)
    bob.add_event_handler("socks5_closed", lambda _exc: _settle(s5b_closed))

    for contact, name, group in ROSTER:
        await alice.update_roster(contact, name=name, groups=[group])
    fetched = _roster_items((await alice.get_roster())["roster"]["items"])

    received = []
    for sender, recipient, text in XMPP_MESSAGES:
        to = f"{recipient}@{XMPP_DOMAIN}/{XMPP_RESOURCES[recipient]}"
        clients[sender].send_message(mto=to, mbody=text, mtype="chat")
        received.append(await inbox[recipient].get())

    bob_full = f"bob@{XMPP_DOMAIN}/{XMPP_RESOURCES['bob']}"
    stream = await alice["xep_0047"].open_stream(bob_full, block_size=IBB_BLOCK_SIZE, sid=IBB_SID)
    incoming = await incoming_streams.get()
    gathered = asyncio.ensure_future(incoming.gather(timeout=int(CLIENT_TIMEOUT_S)))
    await stream.sendall(ibb_file())
    await stream.close()
    ibb_received = await gathered

    await _s5b_send(alice, bob_full, s5b_file())
    await asyncio.wait_for(s5b_closed, CLIENT_TIMEOUT_S)
    for client in clients.values():
        await _logout(client)

    laptop = await _login("alice", XMPP_SECOND_RESOURCE)
    refetched = _roster_items((await laptop.get_roster())["roster"]["items"])
    for contact, name, group in ROSTER_CHANGES:
        await laptop.update_roster(contact, name=name, groups=[group])
    await laptop.del_roster_item(ROSTER_REMOVED)
    roster = laptop.client_roster
    changed = _roster_items(
        {jid: roster[jid] for jid in roster if roster[jid]["subscription"] != "remove"}
    )
    await _logout(laptop)
    return {
        "roster": {"fetched": fetched, "refetched": refetched, "changed": changed},
        "received": received,
        "ibb": _b64(ibb_received),
        "s5b": _b64(b"".join(s5b_chunks)),
    }


async def _s5b_send(sender: Any, target: str, data: bytes) -> None:
    """A direct SOCKS5 bytestream (XEP-0065 s5): the sender is its own streamhost on
    127.0.0.1:S5B_PORT, offers it, and once the target named it in its result (having
    connected with the SHA-1 address of s5.3.2) writes ``data`` and closes."""
    accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def streamhost(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting = await reader.readexactly(2)
        await reader.readexactly(greeting[1])
        writer.write(b"\x05\x00")  # version 5, no authentication (RFC 1928 s3)
        request = await reader.readexactly(5)
        address = await reader.readexactly(request[4] + 2)
        writer.write(b"\x05\x00\x00\x03" + bytes([request[4]]) + address)
        accepted.set_result(writer)

    server = await asyncio.start_server(streamhost, "127.0.0.1", S5B_PORT)
    offer = sender.make_iq_set(ito=target)
    offer["socks"]["sid"] = S5B_SID
    offer["socks"].add_streamhost(sender.boundjid.full, "127.0.0.1", str(S5B_PORT))
    await offer.send()
    writer = await accepted
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command, args = argv[0], [Path(arg) for arg in argv[1:]]
    if command == "irc-session":
        irc_session(args[0])
    elif command == "xmpp-session":
        xmpp_session(args[0])
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
