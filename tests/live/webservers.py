"""Real web servers, proxies and clients on the loopback of a private network namespace.

HTTP/2 (RFC 9113): nghttpd serves files in cleartext with prior knowledge; nghttpx in front
of it answers ``Upgrade: h2c`` (RFC 7540 s3.2). WebSocket (RFC 6455, RFC 7692): the
``websockets`` package on both ends, run inside the namespace as
``python -m tests.live.webservers COMMAND ...``. SOCKS (RFC 1928, RFC 1929; SOCKS 4a):
Dante in front of Python's ``http.server``. ``CapturingNamespace`` is the mail tests'
``LoopbackNamespace`` with a capture buffer large enough for multi-megabyte transfers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from tests.live.mailservers import START_DEADLINE_S, LoopbackNamespace, stop_process, which

H2_PORT: Final = 8080  # nghttpd, h2c with prior knowledge
H2_UPGRADE_PORT: Final = 3000  # nghttpx, accepts Upgrade: h2c
WS_PORT: Final = 8765
HTTP_PORT: Final = 8000  # python -m http.server, the target behind SOCKS
SOCKS_PORT: Final = 1080  # Dante, no authentication
SOCKS_AUTH_PORT: Final = 1081  # Dante, username/password (RFC 1929)
SOCKS_USER: Final = "wssocks"
SOCKS_PASSWORD: Final = "socks-secret-1"  # noqa: S105 (throwaway test account)
WS_PATH: Final = "/chat/room1?lang=en"
WS_SUBPROTOCOL: Final = "chat.v1"
WS_ORIGIN: Final = "http://app.example.test"
WS_FRAGMENT_SIZE: Final = 64 * 1024
WS_FRAGMENTS: Final = 48  # the big message: 3 MiB in 48 frames
CAPTURE_BUFFER_KIB: Final = 65536  # tcpdump -B: loopback bursts overflow the 2 MiB default
CLIENT_TIMEOUT_S: Final = 30.0

CI_PACKAGES: Final = {
    "ip": "iproute2",
    "ss": "iproute2",
    "tcpdump": "tcpdump",
    "curl": "curl",
    "nghttpd": "nghttp2-server",
    "nghttp": "nghttp2-client",
    "nghttpx": "nghttp2-proxy",
    "danted": "dante-server",
    "useradd": "passwd",
    "chpasswd": "passwd",
}


def prerequisites_missing(tools: Sequence[str], *, need_websockets: bool = False) -> str | None:
    """Why these tests cannot run here (not root, no ip netns, a tool missing), or None."""
    if os.geteuid() != 0:
        return "live web tests need root (network namespace, tcpdump)"
    missing = [f"{tool} (Debian package {CI_PACKAGES[tool]})" for tool in tools if not which(tool)]
    if missing:
        return "missing tools: " + ", ".join(missing)
    probe = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False, timeout=10
    )
    if probe.returncode != 0:
        return f"ip netns is unavailable: {probe.stderr.strip()}"
    if need_websockets and importlib.util.find_spec("websockets") is None:
        return "the websockets package is not installed (pip install websockets)"
    return None


class CapturingNamespace(LoopbackNamespace):
    """``LoopbackNamespace`` whose tcpdump has a large kernel buffer (no dropped packets)."""

    def __init__(self) -> None:
        super().__init__()
        self._dump: subprocess.Popen[bytes] | None = None
        self._dump_log: Path | None = None
        self.dropped = 0  # packets the kernel dropped before tcpdump read them

    def start_capture(self, pcap: Path) -> None:
        """tcpdump on the namespace's ``lo`` into ``pcap``; returns once it listens."""
        log = pcap.with_suffix(".tcpdump.log")
        argv = [which("tcpdump") or "tcpdump", "-i", "lo", "-s", "0", "-U", "-n"]
        argv += ["--immediate-mode", "-B", str(CAPTURE_BUFFER_KIB), "-Z", "root", "-w", str(pcap)]
        self._dump = self.spawn(argv, log)
        self._dump_log = log
        deadline = time.monotonic() + START_DEADLINE_S
        while b"listening on" not in log.read_bytes():
            if self._dump.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {log.read_text(errors='replace')}")
            time.sleep(0.02)

    def stop_capture(self) -> None:
        """Stop tcpdump after the last packets reached it; set ``dropped`` from its report."""
        if self._dump is None or self._dump_log is None:
            return
        time.sleep(0.2)
        stop_process(self._dump, signal.SIGINT)
        self._dump = None
        for line in self._dump_log.read_text(errors="replace").splitlines():
            if line.endswith("packets dropped by kernel"):
                self.dropped = int(line.split()[0])

    def wait_port(self, port: int, process: subprocess.Popen[bytes]) -> None:
        """Wait until TCP ``port`` listens on 127.0.0.1 (any process may own it)."""
        self.wait_listening([port], process)


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# --- files served over HTTP/2 and through SOCKS ---------------------------------------------


def write_site(root: Path) -> dict[str, bytes]:
    """Known files under ``root`` (random and text, 0 bytes to 1.5 MB); name -> content."""
    rng = random.Random(0x77656232)
    files = {
        "small.txt": b"HTTP/2 on the loopback.\n" * 3,
        "random.bin": rng.randbytes(65_537),
        "large.bin": rng.randbytes(1_500_000),
        "page.html": b"<!doctype html><title>t</title><p>" + b"web " * 5_000 + b"</p>\n",
        "empty.txt": b"",
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def nghttpx_argv(work: Path) -> list[str]:
    """nghttpx: cleartext frontend on H2_UPGRADE_PORT (HTTP/1.1, h2c upgrade, prior
    knowledge), HTTP/2 backend to nghttpd on H2_PORT; no config file, logs under ``work``."""
    return [
        which("nghttpx") or "nghttpx",
        "--conf=/dev/null",
        f"--frontend=127.0.0.1,{H2_UPGRADE_PORT};no-tls",
        f"--backend=127.0.0.1,{H2_PORT};;proto=h2",
        "--workers=1",
        "--single-process",
        "--no-ocsp",
        f"--errorlog-file={work / 'nghttpx-error.log'}",
        f"--accesslog-file={work / 'nghttpx-access.log'}",
        f"--pid-file={work / 'nghttpx.pid'}",
    ]


# --- Dante -----------------------------------------------------------------------------------


def write_dante_config(path: Path, port: int, method: str) -> None:
    """A Dante config: listen on 127.0.0.1:``port``, connect out from 127.0.0.1, clients
    authenticate with ``method`` (``none`` or ``username``)."""
    path.write_text(
        f"""# Generated for one test run.
logoutput: {path.with_suffix(".log")}
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: {method}
user.privileged: root
user.unprivileged: nobody
client pass {{
  from: 127.0.0.0/8 to: 0.0.0.0/0
}}
socks pass {{
  from: 127.0.0.0/8 to: 0.0.0.0/0
  command: connect
  log: error connect
}}
"""
    )


def dante_argv(config: Path) -> list[str]:
    """danted in the foreground with one worker process and its pid file beside ``config``."""
    return [which("danted") or "danted", "-f", str(config), "-p", str(config.with_suffix(".pid"))]


class SystemUser:
    """A throwaway local account (Dante's username method checks the system's passwords)."""

    def __init__(self, name: str, password: str) -> None:
        self.name = name
        subprocess.run(
            ["userdel", name], check=False, capture_output=True, timeout=10
        )  # a leftover of an interrupted run
        subprocess.run(
            [which("useradd") or "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
            timeout=10,
        )
        self._made = True
        try:
            subprocess.run(
                [which("chpasswd") or "chpasswd"],
                input=f"{name}:{password}\n".encode(),
                check=True,
                capture_output=True,
                timeout=10,
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Delete the account; safe to call twice."""
        if self._made:
            subprocess.run(
                [which("userdel") or "userdel", self.name],
                check=False,
                capture_output=True,
                timeout=10,
            )
            self._made = False


# --- WebSocket -------------------------------------------------------------------------------


class WsMessage(NamedTuple):
    """One WebSocket message as the peers exchange it."""

    sender: str  # "client" or "server"
    opcode: str  # "text" or "binary"
    payload: bytes  # UTF-8 for text


def ws_client_messages() -> list[WsMessage]:
    """What the client sends, in order; the last one goes out in WS_FRAGMENTS frames."""
    rng = random.Random(0x77737331)
    big = b"".join(
        rng.randbytes(WS_FRAGMENT_SIZE // 2) + bytes([index]) * (WS_FRAGMENT_SIZE // 2)
        for index in range(WS_FRAGMENTS)
    )
    return [
        WsMessage("client", "text", "hello over WebSocket, привет".encode()),
        WsMessage("client", "binary", rng.randbytes(4_096)),
        WsMessage("client", "text", ("repetitive line of text\n" * 4_000).encode()),
        WsMessage("client", "binary", big),
    ]


WS_GREETING: Final = WsMessage("server", "binary", random.Random(0x67726565).randbytes(2_048))


def ws_reply(message: WsMessage) -> WsMessage:
    """The server's text answer to one client message: its size and SHA-256."""
    return WsMessage(
        "server", "text", f"ack {len(message.payload)} {sha256(message.payload)}".encode()
    )


def ws_conversation() -> list[WsMessage]:
    """Every message of one connection in the order they are sent."""
    out = [WS_GREETING]
    for message in ws_client_messages():
        out += [message, ws_reply(message)]
    return out


def _as_sent(message: WsMessage) -> str | bytes:
    return message.payload.decode() if message.opcode == "text" else message.payload


def _as_received(data: str | bytes) -> tuple[str, bytes]:
    return ("text", data.encode()) if isinstance(data, str) else ("binary", bytes(data))


def serve_websocket() -> None:
    """websockets server on 127.0.0.1:WS_PORT: greets with a binary message, answers every
    message with ``ack SIZE SHA256``; permessage-deflate when the client offers it."""
    from websockets.sync.server import ServerConnection, serve  # noqa: PLC0415
    from websockets.typing import Subprotocol  # noqa: PLC0415

    def handler(connection: ServerConnection) -> None:
        connection.send(_as_sent(WS_GREETING))
        for data in connection:
            opcode, payload = _as_received(data)
            connection.send(_as_sent(ws_reply(WsMessage("client", opcode, payload))))

    with serve(
        handler,
        "127.0.0.1",
        WS_PORT,
        subprotocols=[Subprotocol(WS_SUBPROTOCOL)],
        max_size=None,
        ping_interval=None,
    ) as server:
        signal.signal(signal.SIGTERM, lambda signum, frame: server.shutdown())
        server.serve_forever()


def websocket_client(compress: bool, result: Path) -> None:
    """Connect to WS_PATH with WS_SUBPROTOCOL (permessage-deflate offered when ``compress``),
    send ``ws_client_messages`` (the big one fragmented), record what was received."""
    from websockets.sync.client import connect  # noqa: PLC0415
    from websockets.typing import Origin, Subprotocol  # noqa: PLC0415

    received: list[list[str | int]] = []
    with connect(
        f"ws://127.0.0.1:{WS_PORT}{WS_PATH}",
        origin=Origin(WS_ORIGIN),
        subprotocols=[Subprotocol(WS_SUBPROTOCOL)],
        compression="deflate" if compress else None,
        max_size=None,
        ping_interval=None,
        proxy=None,
        open_timeout=CLIENT_TIMEOUT_S,
    ) as connection:

        def receive() -> None:
            opcode, payload = _as_received(connection.recv(timeout=CLIENT_TIMEOUT_S))
            received.append([opcode, len(payload), sha256(payload)])

        receive()
        for message in ws_client_messages():
            if len(message.payload) > WS_FRAGMENT_SIZE:
                connection.send(_fragments(_as_sent(message)))
            else:
                connection.send(_as_sent(message))
            receive()
        response = connection.response
        extensions = response.headers.get("Sec-WebSocket-Extensions") if response else None
        record: dict[str, Any] = {
            "subprotocol": connection.subprotocol,
            "extensions": extensions,
            "received": received,
        }
    result.write_text(json.dumps(record))


def _fragments(payload: str | bytes) -> Iterator[str | bytes]:
    for start in range(0, len(payload), WS_FRAGMENT_SIZE):
        yield payload[start : start + WS_FRAGMENT_SIZE]


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command = argv[0]
    if command == "ws-server":
        serve_websocket()
    elif command == "ws-client":
        websocket_client(argv[1] == "deflate", Path(argv[2]))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
