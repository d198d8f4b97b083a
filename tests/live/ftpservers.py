"""Real FTP servers and clients on the loopback interface of a private network namespace.

Servers: pyftpdlib (a local account with write permission, on 127.0.0.1 and on ::1) and
vsftpd (anonymous, on 127.0.0.1). Clients: Python's ftplib (PASV, PORT, EPSV and EPRT as
RFC 959 and RFC 2428 define them, REST as RFC 3659 s5, ABOR mid-download) and curl. The
servers and the ftplib client run inside the namespace as
``python -m tests.live.ftpservers COMMAND ...``; the client writes what it sent and
received to a JSON file (bytes as base64) so the tests can compare with the capture.
"""

from __future__ import annotations

import base64
import ftplib
import hashlib
import importlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from tests.live.mailservers import START_DEADLINE_S, LoopbackNamespace

FTP_USER: Final = "carol"
FTP_PASSWORD: Final = "ftp-secret-1"  # noqa: S105 (test account)
PYFTPD_PORT: Final = 2121
PYFTPD_PASSIVE_PORTS: Final = range(30000, 30050)
VSFTPD_PORT: Final = 21
VSFTPD_PASSIVE_PORTS: Final = range(30100, 30150)
CLIENT_TIMEOUT_S: Final = 30.0
# Large enough that the socket buffers on both sides cannot hold it all when ABOR comes.
ABORTED_SIZE: Final = 8 * 1024 * 1024
ABORT_AFTER: Final = 65_536
ABORT_RECEIVE_BUFFER: Final = 32_768
REST_OFFSET: Final = 100_000


def server_files() -> dict[str, bytes]:
    """The files every server offers for download (fixed content)."""
    rng = random.Random(0x66747031)
    return {
        "big.bin": rng.randbytes(300_001),
        "small.bin": rng.randbytes(4_321),
        "huge.bin": rng.randbytes(ABORTED_SIZE),
    }


def upload_files() -> dict[str, bytes]:
    """The files the clients upload (fixed content)."""
    rng = random.Random(0x66747032)
    return {
        "up-passive.bin": rng.randbytes(200_003),
        "up-active.bin": rng.randbytes(77_777),
        "up-v6.bin": rng.randbytes(123_457),
        "curl-up.bin": rng.randbytes(150_001),
    }


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def wait_listening(
    namespace: LoopbackNamespace, sockets: Sequence[str], process: subprocess.Popen[bytes]
) -> None:
    """Wait until every ``address:port`` in ``sockets`` (``[::1]:21`` for IPv6) listens."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        listening = namespace.run(["ss", "-ltnH"]).stdout.decode()
        if all(f"{where} " in listening for where in sockets):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{list(sockets)} did not open within {START_DEADLINE_S} s")


# --- vsftpd --------------------------------------------------------------------------------


def write_vsftpd_setup(root: Path) -> Path:
    """Config and an anonymous tree: ``ftp/`` (not writable: vsftpd chroots there) with the
    server files and a ``pub/`` the ``ftp`` account may write; returns the config path."""
    import pwd  # noqa: PLC0415

    account = pwd.getpwnam("ftp")
    root.chmod(0o755)
    tree = root / "ftp"
    tree.mkdir(mode=0o755)
    pub = tree / "pub"
    pub.mkdir(mode=0o755)
    for name, data in server_files().items():
        (pub / name).write_bytes(data)
        (pub / name).chmod(0o644)
    os.chown(pub, account.pw_uid, account.pw_gid)
    empty = root / "empty"
    empty.mkdir(mode=0o755)
    config = root / "vsftpd.conf"
    config.write_text(
        f"""# Generated for one test run.
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={VSFTPD_PORT}
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root={tree}
write_enable=YES
anon_upload_enable=YES
anon_umask=022
pasv_enable=YES
pasv_min_port={VSFTPD_PASSIVE_PORTS.start}
pasv_max_port={VSFTPD_PASSIVE_PORTS.stop - 1}
port_enable=YES
connect_from_port_20=NO
secure_chroot_dir={empty}
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=YES
log_ftp_protocol=YES
vsftpd_log_file={root / "vsftpd.log"}
"""
    )
    config.chmod(0o600)
    return config


# --- pyftpdlib -----------------------------------------------------------------------------


def serve_pyftpdlib(home: Path, host: str) -> None:
    """Serve ``home`` to ``FTP_USER`` on ``host``:``PYFTPD_PORT`` until SIGTERM."""
    # Imported by name: pyftpdlib ships no type information.
    authorizers: Any = importlib.import_module("pyftpdlib.authorizers")
    handlers: Any = importlib.import_module("pyftpdlib.handlers")
    servers: Any = importlib.import_module("pyftpdlib.servers")
    authorizer = authorizers.DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(home), perm="elradfmwMT")
    handler = type(
        "AccountHandler",
        (handlers.FTPHandler,),
        {
            "authorizer": authorizer,
            "passive_ports": list(PYFTPD_PASSIVE_PORTS),
            "banner": "pyftpdlib FTP server ready.",
        },
    )
    server = servers.FTPServer((host, PYFTPD_PORT), handler)
    server.serve_forever()


# --- ftplib client -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _retrieve(ftp: ftplib.FTP, command: str, rest: int | None = None) -> bytes:
    chunks: list[bytes] = []
    ftp.retrbinary(command, chunks.append, rest=rest)
    return b"".join(chunks)


def ftplib_client(host: str, upload_dir: Path, result: Path) -> None:
    """One control connection. IPv4: NLST and LIST, RETR and STOR passive (PASV), RETR and
    STOR active (PORT), a REST resume, then an ABORted RETR. IPv6: the same commands use
    EPSV and EPRT (RFC 2428); RETR passive, RETR active, STOR passive."""
    ftp = ftplib.FTP(timeout=CLIENT_TIMEOUT_S)  # noqa: S321 (plain FTP is what is tested)
    ftp.connect(host, PYFTPD_PORT)
    ftp.login(FTP_USER, FTP_PASSWORD)
    done: dict[str, Any] = {"welcome": ftp.getwelcome()}
    ftp.set_pasv(True)
    if host == "::1":
        done["retr_passive"] = _b64(_retrieve(ftp, "RETR big.bin"))
        ftp.set_pasv(False)
        done["retr_active"] = _b64(_retrieve(ftp, "RETR small.bin"))
        ftp.set_pasv(True)
        with open(upload_dir / "up-v6.bin", "rb") as source:
            done["stor_passive"] = ftp.storbinary("STOR up-v6.bin", source)
        ftp.quit()
        result.write_text(json.dumps(done))
        return
    done["nlst"] = _b64(_retrieve(ftp, "NLST"))
    done["list"] = _b64(_retrieve(ftp, "LIST"))
    done["retr_passive"] = _b64(_retrieve(ftp, "RETR big.bin"))
    with open(upload_dir / "up-passive.bin", "rb") as source:
        done["stor_passive"] = ftp.storbinary("STOR up-passive.bin", source)
    ftp.set_pasv(False)
    done["retr_active"] = _b64(_retrieve(ftp, "RETR small.bin"))
    with open(upload_dir / "up-active.bin", "rb") as source:
        done["stor_active"] = ftp.storbinary("STOR up-active.bin", source)
    ftp.set_pasv(True)
    done["retr_rest"] = _b64(_retrieve(ftp, "RETR big.bin", rest=REST_OFFSET))
    done["abort"] = _abort_download(ftp, "huge.bin")
    ftp.quit()
    result.write_text(json.dumps(done))


def _abort_download(ftp: ftplib.FTP, name: str) -> dict[str, Any]:
    """RETR ``name``, read ``ABORT_AFTER`` bytes with a small receive buffer, then ABOR."""
    ftp.voidcmd("TYPE I")
    connection = ftp.transfercmd(f"RETR {name}")
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ABORT_RECEIVE_BUFFER)
    received = b""
    while len(received) < ABORT_AFTER:
        chunk = connection.recv(ABORT_AFTER - len(received))
        if not chunk:
            break
        received += chunk
    replies = [ftp.abort()]
    connection.close()
    if replies[0].startswith("426"):
        replies.append(ftp.getresp())
    return {"received": len(received), "replies": replies}


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command, args = argv[0], argv[1:]
    if command == "pyftpd-server":
        serve_pyftpdlib(Path(args[0]), args[1])
    elif command == "ftplib-client":
        ftplib_client(args[0], Path(args[1]), Path(args[2]))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
