"""A real Direct Connect client, ncdc, on uhub next to a scripted ADC client.

ncdc (Debian package ``ncdc``) is a curses program with no batch mode, so it runs on a
pseudo-terminal and is typed to, with its own commands (ncdc(1): ``/set``, ``/share``,
``/open``, ``/say``, ``/msg``, ``/quit``) and a session directory of its own (``-c``). A
first run shares a folder, waits for the hashing and quits: ncdc writes its file list on a
timer or at exit, so the second run meets the hub with the file already listed. The
scripted client (``bob`` of ``tests.live.dcpeers``) logs in first and paces the second
run: each step waits until bob's hub connection shows ncdc's doing (its ``BINF``, its
``BMSG``, its ``EMSG``). Bob then asks ncdc for a connection (``DCTM``, ADC.txt s5.3.8)
and downloads ncdc's file list and the shared file by its TTH (``CGET file TTH/...``,
ADC.txt s5.3.10).

The same scenario runs on NMDC against the small hub of ``tests.live.dcpeers`` (ncdc opens
``dchub://``): bob is the scripted NMDC client, paced by ncdc's ``$MyINFO``, main chat line
and ``$To:``; bob sends ``$ConnectToMe`` (nmdc.md), ncdc connects to him and bob downloads
the file list with ``$ADCGET file files.xml.bz2 0 -1``.

Runs inside the test namespace as ``python -m tests.live.dcclient RESULT WORKDIR [adc|nmdc]``;
writes what bob saw to ``RESULT`` (JSON) and ncdc's last terminal output to
``WORKDIR/ncdc.screen``.
"""

from __future__ import annotations

import bz2
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

from tests.live.dcpeers import (
    ADC_IDENTITIES,
    ADC_PORT,
    HOST,
    NMDC_PORT,
    Wire,
    adc_login,
    listener,
    nmdc_key,
    nmdc_login,
    sha256,
)

NCDC_NICK: Final = "ncdcuser"
BOB: Final = "bob"
SHARE_NAME: Final = "loopback"
SHARED_NAME: Final = "ncdc shared file.txt"
SHARED_BYTES: Final = b"".join(
    b"%05d a file shared by a real ncdc client\n" % n for n in range(400)
)
HUB_CHAT: Final = "hello from ncdc, a real client"
PRIVATE_TEXT: Final = "psst bob, this is ncdc"
PEER_TOKEN: Final = "ncdctoken7"  # noqa: S105 (a DCTM token, not a secret)
SCREEN_KEEP_BYTES: Final = 65_536
STEP_TIMEOUT_S: Final = 20.0
# The whole scenario ends (ncdc stopped) before the caller's own timeout kills this process.
SCENARIO_DEADLINE_S: Final = 90
KEY_DELAY_S: Final = 0.002
AFTER_LINE_S: Final = 0.3
TERMINAL_ROWS: Final = 40
TERMINAL_COLUMNS: Final = 160
LISTED_FILE: Final = re.compile(rb'<File Name="([^"]+)" Size="(\d+)" TTH="([A-Z2-7]{39})"')


class Terminal:
    """A program on a pseudo-terminal: keys are typed to it, its last output is kept."""

    def __init__(self, argv: Sequence[str], home: Path) -> None:
        master, slave = pty.openpty()
        size = struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        environment = {**os.environ, "TERM": "xterm", "LANG": "C.UTF-8", "HOME": str(home)}
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=home,
            env=environment,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen += chunk
            del self.screen[:-SCREEN_KEEP_BYTES]

    def type_line(self, line: str) -> None:
        """Type ``line`` and Enter, one key at a time."""
        for char in line:
            os.write(self.master, char.encode())
            time.sleep(KEY_DELAY_S)
        os.write(self.master, b"\r")
        time.sleep(AFTER_LINE_S)

    def wait_for_screen(self, text: bytes) -> None:
        """Wait until the program has drawn ``text``."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while text not in self.screen:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not on the screen: {bytes(self.screen[-2000:])!r}")
            time.sleep(0.05)

    def quit(self) -> int:
        """Type ``/quit`` and wait for the program's exit status."""
        self.type_line("/quit")
        return self.process.wait(timeout=STEP_TIMEOUT_S)

    def close(self) -> None:
        """Stop the program (SIGTERM, then SIGKILL) and close the terminal."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        os.close(self.master)
        self._reader.join(5)


def adc_fields(command: str) -> dict[str, str]:
    """The named parameters of an ADC broadcast (``BINF SID NAMEvalue ...``), unescaped
    (ADC.txt s3.1: ``\\s``, ``\\n``, ``\\\\``)."""
    fields = {}
    for token in command.split(" ")[2:]:
        value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n"}.get(m[1], m[1]), token[2:])
        fields[token[:2]] = value
    return fields


def wait_for(wire: Wire, prefix: bytes, test: Callable[[bytes], bool] | None = None) -> bytes:
    """The first command starting with ``prefix`` (and passing ``test``) within the timeout."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        command = wire.until(prefix)
        if test is None or test(command):
            return command
    raise TimeoutError(f"no {prefix!r} within {STEP_TIMEOUT_S} s")


def read_or_empty(path: Path) -> bytes:
    """The bytes of ``path``, or none while it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def share_and_hash(session: Path, shared: Path) -> None:
    """A first ncdc run: set the nick, share ``shared``, wait for the hashing, quit."""
    ncdc = Terminal(["ncdc", "-c", str(session)], session.parent)
    try:
        ncdc.wait_for_screen(b"Welcome to ncdc")
        ncdc.type_line(f"/set nick {NCDC_NICK}")
        ncdc.type_line(f"/share {SHARE_NAME} {shared}")
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while b"Completed hashing" not in read_or_empty(session / "stderr.log"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"ncdc did not hash {shared} in {STEP_TIMEOUT_S} s")
            time.sleep(0.05)
        ncdc.quit()
    finally:
        ncdc.close()


def prepare_session(work: Path) -> Path:
    """ncdc's session directory in ``work``, with the shared file already hashed."""
    session = work / "ncdc"
    shared = work / "shared"
    session.mkdir()
    shared.mkdir()
    (shared / SHARED_NAME).write_bytes(SHARED_BYTES)
    share_and_hash(session, shared)
    return session


def scenario(result: Path, work: Path) -> None:
    """ncdc and bob on uhub: ncdc chats, sends bob a private message, bob downloads its file."""
    session = prepare_session(work)
    bob, bob_sid = adc_login(1)
    seen: dict[str, Any] = {"bob_sid": bob_sid}
    ncdc = Terminal(["ncdc", "-c", str(session)], work)
    try:
        ncdc.wait_for_screen(b"Welcome to ncdc")
        _chat_and_serve(ncdc, bob, bob_sid, seen)
    finally:
        (work / "ncdc.screen").write_bytes(bytes(ncdc.screen))
        ncdc.close()
        bob.close()
    result.write_text(json.dumps(seen, indent=1))


def _chat_and_serve(ncdc: Terminal, bob: Wire, bob_sid: str, seen: dict[str, Any]) -> None:
    ncdc.type_line(f"/open {SHARE_NAME} adc://{HOST}:{ADC_PORT}/")
    info = wait_for(bob, b"BINF ", lambda c: f" NI{NCDC_NICK} ".encode() in c)
    ncdc_sid = info.split(b" ")[1]
    seen["ncdc_sid"] = ncdc_sid.decode()
    seen["ncdc_binf"] = info.decode()
    ncdc.type_line(f"/say {HUB_CHAT}")
    seen["bob_got_chat"] = wait_for(bob, b"BMSG " + ncdc_sid).decode()
    ncdc.type_line(f"/msg {BOB} {PRIVATE_TEXT}")
    seen["bob_got_private"] = wait_for(bob, b"EMSG " + ncdc_sid).decode()
    server = listener()
    port = server.getsockname()[1]
    seen["port"] = port
    bob.send(b"DCTM %s %s ADC/1.0 %d %s" % (bob_sid.encode(), ncdc_sid, port, PEER_TOKEN.encode()))
    try:
        sock, _ = server.accept()
    finally:
        server.close()
    peer = Wire(sock, b"\n")
    try:
        _download(peer, seen)
    finally:
        peer.close()
    seen["ncdc_exit"] = ncdc.quit()
    seen["bob_got_quit"] = wait_for(bob, b"IQUI ").decode()


def _download(peer: Wire, seen: dict[str, Any]) -> None:
    """Bob's side of the peer connection ncdc opened: the file list, then the listed file."""
    peer.until(b"CSUP ")
    peer.send(b"CSUP ADBASE ADTIGR", b"CINF ID" + ADC_IDENTITIES[1][1].encode())
    seen["peer_inf"] = peer.until(b"CINF ").decode()
    peer.send(b"CGET file files.xml.bz2 0 -1")
    reply = peer.until(b"CSND ")
    listing = peer.exact(int(reply.split(b" ")[4]))
    seen["list_csnd"] = reply.decode()
    seen["list_sha256"] = sha256(listing)
    xml = bz2.decompress(listing)
    match = LISTED_FILE.search(xml)
    if match is None:
        raise RuntimeError(f"no file in ncdc's list: {xml[:500]!r}")
    seen["listed"] = [match[1].decode(), int(match[2]), match[3].decode()]
    peer.send(b"CGET file TTH/%s 0 -1" % match[3])
    reply = peer.until(b"CSND ")
    seen["file_csnd"] = reply.decode()
    seen["file_sha256"] = sha256(peer.exact(int(reply.split(b" ")[4])))


def nmdc_scenario(result: Path, work: Path) -> None:
    """ncdc and bob on the NMDC hub: ncdc chats, sends bob a private message, bob downloads
    ncdc's file list."""
    session = prepare_session(work)
    bob = nmdc_login(1)
    seen: dict[str, Any] = {}
    ncdc = Terminal(["ncdc", "-c", str(session)], work)
    try:
        ncdc.wait_for_screen(b"Welcome to ncdc")
        _nmdc_chat_and_serve(ncdc, bob, seen)
    finally:
        (work / "ncdc.screen").write_bytes(bytes(ncdc.screen))
        ncdc.close()
        bob.close()
    result.write_text(json.dumps(seen, indent=1))


def _nmdc_chat_and_serve(ncdc: Terminal, bob: Wire, seen: dict[str, Any]) -> None:
    ncdc.type_line(f"/open {SHARE_NAME} dchub://{HOST}:{NMDC_PORT}/")
    seen["ncdc_myinfo"] = wait_for(bob, f"$MyINFO $ALL {NCDC_NICK} ".encode()).decode()
    ncdc.type_line(f"/say {HUB_CHAT}")
    seen["bob_got_chat"] = wait_for(bob, f"<{NCDC_NICK}> ".encode()).decode()
    ncdc.type_line(f"/msg {BOB} {PRIVATE_TEXT}")
    seen["bob_got_private"] = wait_for(bob, b"$To: ").decode()
    server = listener()
    port = server.getsockname()[1]
    seen["port"] = port
    bob.send(b"$ConnectToMe %s %s:%d" % (NCDC_NICK.encode(), HOST.encode(), port))
    try:
        sock, _ = server.accept()
    finally:
        server.close()
    peer = Wire(sock, b"|")
    try:
        _nmdc_download(peer, seen)
    finally:
        peer.close()
    seen["ncdc_exit"] = ncdc.quit()
    seen["bob_got_quit"] = wait_for(bob, b"$Quit ").decode()


def _nmdc_download(peer: Wire, seen: dict[str, Any]) -> None:
    """Bob's side of the connection ncdc opened after his $ConnectToMe: the file list."""
    seen["peer_nick"] = peer.until(b"$MyNick ").decode()
    their_lock = peer.until(b"$Lock ").split(b" ")[1]
    peer.send(
        b"$MyNick " + BOB.encode(),
        b"$Lock EXTENDEDPROTOCOLwiresiftBob Pk=wiresift",
        b"$Supports MiniSlots XmlBZList ADCGet TTHF",
        b"$Direction Download 12000",
        b"$Key " + nmdc_key(their_lock),
    )
    peer.until(b"$Key ")
    peer.send(b"$ADCGET file files.xml.bz2 0 -1")
    reply = peer.until(b"$ADCSND ")
    listing = peer.exact(int(reply.split(b" ")[4]))
    seen["list_adcsnd"] = reply.decode()
    seen["list_sha256"] = sha256(listing)
    match = LISTED_FILE.search(bz2.decompress(listing))
    seen["listed"] = None if match is None else [match[1].decode(), int(match[2])]


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"the ncdc scenario took more than {SCENARIO_DEADLINE_S} s")


def main(argv: Sequence[str]) -> int:
    """Entry point: ``RESULT WORKDIR [adc|nmdc]`` (ADC when the hub's protocol is not given)."""
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(SCENARIO_DEADLINE_S)
    run = nmdc_scenario if argv[2:] == ["nmdc"] else scenario
    run(Path(argv[0]), Path(argv[1]))
    signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
