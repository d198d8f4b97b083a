"""Real mail servers and clients on the loopback interface of a private network namespace.

``LoopbackNamespace`` makes a namespace whose ``lo`` has MTU 1500 and TSO/GSO/GRO off (so
TCP segments look like a real link's), starts programs inside it and captures its ``lo``
with tcpdump. The host's own ``lo`` is never touched. Servers: aiosmtpd (SMTP, RFC 5321)
and Dovecot (POP3, RFC 1939; IMAP, RFC 3501). Clients: Python's smtplib, poplib and
imaplib, and curl. The servers and clients run inside the namespace as
``python -m tests.live.mailservers COMMAND ...``; each client writes what it sent and
received to a JSON file (bytes as base64) so the tests can compare with the capture.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SMTP_PORT: Final = 2525
POP3_PORT: Final = 110
IMAP_PORT: Final = 143
SMTP_USER: Final = "mailer@example.test"
SMTP_PASSWORD: Final = "smtp-secret-1"  # noqa: S105 (test account)
SMTP_LOGIN_USER: Final = "second.mailer"
SMTP_LOGIN_PASSWORD: Final = "smtp-secret-2"  # noqa: S105
POP3_USER: Final = "alice"
IMAP_USER: Final = "bob"
MAIL_PASSWORD: Final = "dovecot-secret"  # noqa: S105
# The uid/gid owning the maildirs: Dovecot refuses uid 0 for mail access unless
# first_valid_uid = 0, so mail is accessed as nobody/nogroup (Debian: 65534).
MAIL_UID: Final = 65534
MAIL_GID: Final = 65534
MAIL_FROM: Final = "sender@example.test"
RCPT_TO: Final = ("first@example.test", "second@example.test")
START_DEADLINE_S: Final = 10.0
CLIENT_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 5.0
_counter = itertools.count()

CI_PACKAGES: Final = {
    "ip": "iproute2",
    "ss": "iproute2",
    "tcpdump": "tcpdump",
    "curl": "curl",
    "dovecot": "dovecot-core",
}


class SampleMessage(NamedTuple):
    """A message the tests send or store, with what its parts must decode to."""

    message_id: str
    subject: str
    raw: bytes  # as ``Message.as_bytes()`` gives it: LF line ends
    # text/plain and text/html bodies as extracted: transfer encoding removed, UTF-8; a 7bit
    # body keeps the CRLF line ends of the wire, a base64 one the LF ends it was encoded with
    texts: tuple[bytes, ...]
    attachments: dict[str, bytes]  # file name (as meant) -> content


def prerequisites_missing(tools: Sequence[str], *, need_aiosmtpd: bool = False) -> str | None:
    """Why these tests cannot run here (not root, no ip netns, a tool missing), or None."""
    if os.geteuid() != 0:
        return "live mail tests need root (network namespace, tcpdump)"
    missing = [f"{tool} (Debian package {CI_PACKAGES[tool]})" for tool in tools if not which(tool)]
    if missing:
        return "missing tools: " + ", ".join(missing)
    probe = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False, timeout=10
    )
    if probe.returncode != 0:
        return f"ip netns is unavailable: {probe.stderr.strip()}"
    if need_aiosmtpd and importlib.util.find_spec("aiosmtpd") is None:
        return "the aiosmtpd package is not installed (pip install aiosmtpd)"
    return None


def which(tool: str) -> str | None:
    """The path of ``tool``, looking in the sbin folders too."""
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class LoopbackNamespace:
    """A network namespace with only ``lo``, programs started in it and a tcpdump on it."""

    def __init__(self) -> None:
        self.ns = f"wsmail{os.getpid() % 100000}n{next(_counter)}"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._tcpdump: subprocess.Popen[bytes] | None = None
        self._made = False
        try:
            self._ip("netns", "add", self.ns)
            self._made = True
            self._ip("-n", self.ns, "link", "set", "dev", "lo", "mtu", "1500")
            self._ip("-n", self.ns, "link", "set", "dev", "lo", "up")
            ethtool = which("ethtool")
            if ethtool is not None:
                self.run([ethtool, "-K", "lo", "tso", "off", "gso", "off", "gro", "off"])
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def run(
        self, argv: Sequence[str], timeout: float = CLIENT_TIMEOUT_S
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` in the namespace to its end; raise with its stderr if it fails."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            check=False,
            timeout=timeout,
            cwd=REPO_ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{argv[:3]} exited {done.returncode}: {done.stderr.decode(errors='replace')}"
            )
        return done

    def run_tool(self, command: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Run one of this module's commands (a client) in the namespace."""
        return self.run([sys.executable, "-m", "tests.live.mailservers", command, *args])

    def spawn(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the namespace (stdout and stderr to ``log``); ``close`` ends it."""
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(process)
        return process

    def wait_listening(self, ports: Sequence[int], process: subprocess.Popen[bytes]) -> None:
        """Wait until TCP ``ports`` listen on 127.0.0.1 in the namespace."""
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} before listening")
            listening = self.run(["ss", "-ltnH"]).stdout.decode()
            if all(f"127.0.0.1:{port} " in listening for port in ports):
                return
            time.sleep(0.05)
        raise RuntimeError(f"ports {list(ports)} did not open within {START_DEADLINE_S} s")

    def start_capture(self, pcap: Path) -> None:
        """tcpdump on the namespace's ``lo`` into ``pcap``; returns once it listens."""
        log = pcap.with_suffix(".tcpdump.log")
        argv = [
            which("tcpdump") or "tcpdump",
            "-i",
            "lo",
            "-s",
            "0",
            "-U",
            "-n",
            "--immediate-mode",
            # A 64 MiB kernel buffer (as webservers.py): on a loaded machine the default one
            # drops packets of fast loopback transfers, and the tests compare every byte.
            "-B",
            "65536",
        ]
        self._tcpdump = self.spawn([*argv, "-Z", "root", "-w", str(pcap)], log)
        deadline = time.monotonic() + START_DEADLINE_S
        while b"listening on" not in log.read_bytes():
            if self._tcpdump.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {log.read_text(errors='replace')}")
            time.sleep(0.02)

    def stop_capture(self) -> None:
        """Stop tcpdump after the last packets had time to reach it."""
        if self._tcpdump is None:
            return
        time.sleep(0.2)
        stop_process(self._tcpdump, signal.SIGINT)
        self._tcpdump = None

    def close(self) -> None:
        """End every started program and delete the namespace; safe to call twice."""
        for process in reversed(self._processes):
            stop_process(process, signal.SIGTERM)
        self._processes.clear()
        self._tcpdump = None
        if self._made:
            subprocess.run(
                ["ip", "netns", "del", self.ns], check=False, capture_output=True, timeout=10
            )
            self._made = False


def stop_process(process: subprocess.Popen[bytes], first: signal.Signals) -> None:
    """Send ``first``; SIGKILL if the process is still there after a few seconds."""
    if process.poll() is not None:
        return
    process.send_signal(first)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


# --- the messages --------------------------------------------------------------------------

PLAIN_TEXT: Final = (
    "Plain text, one part.\n"
    ".A line that starts with a dot (dot-stuffed on the wire, RFC 5321 s4.5.2)\n"
    ".\n"
    "..two dots\n"
    "End.\n"
)
CYRILLIC_SUBJECT: Final = "Проверка связи: отчёт за неделю"
CYRILLIC_TEXT: Final = "Добрый день!\nОтчёт во вложении не нужен, это письмо в двух видах.\n"  # noqa: RUF001
CYRILLIC_HTML: Final = "<html><body><p>Добрый <b>день</b>!</p><p>Отчёт готов.</p></body></html>\n"
JAPANESE_SUBJECT: Final = "添付ファイルのテスト（三つ）"  # noqa: RUF001
ATTACHMENT_TEXT: Final = "Three files are attached: random bytes, a PDF and a CJK name.\n"
RANDOM_NAME: Final = "random.bin"
PDF_NAME: Final = "отчёт 2026.pdf"
CJK_NAME: Final = "資料_データ.dat"
SHORT_SUBJECT: Final = "Second session, AUTH LOGIN"
SHORT_TEXT: Final = "Sent after AUTH LOGIN in a second SMTP session.\n"


def build_messages() -> list[SampleMessage]:
    """Four messages: plain text; koi8-r subject with text+HTML; iso-2022-jp subject with
    three attachments (RFC 2231 and RFC 2047 file names); a short one. Fixed content."""
    rng = random.Random(0x6D61696C)
    random_bytes = rng.randbytes(48_611)
    pdf = b"%PDF-1.4\n" + rng.randbytes(9_000) + b"\n%%EOF\n"
    cjk = rng.randbytes(3_333)
    messages = []

    plain = MIMEText(PLAIN_TEXT, "plain", "us-ascii")
    _address(plain, "Plain text check", "<plain.1@example.test>")
    messages.append(
        SampleMessage(
            "<plain.1@example.test>",
            "Plain text check",
            plain.as_bytes(),
            (crlf(PLAIN_TEXT.encode()),),
            {},
        )
    )

    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(CYRILLIC_TEXT, "plain", "utf-8"))
    alternative.attach(MIMEText(CYRILLIC_HTML, "html", "utf-8"))
    _address(alternative, Header(CYRILLIC_SUBJECT, "koi8-r"), "<alt.2@example.test>")
    messages.append(
        SampleMessage(
            "<alt.2@example.test>",
            CYRILLIC_SUBJECT,
            alternative.as_bytes(),
            (CYRILLIC_TEXT.encode(), CYRILLIC_HTML.encode()),
            {},
        )
    )

    mixed = MIMEMultipart("mixed")
    mixed.attach(MIMEText(ATTACHMENT_TEXT, "plain", "us-ascii"))
    first = MIMEApplication(random_bytes, "octet-stream")
    first.add_header("Content-Disposition", "attachment", filename=RANDOM_NAME)
    mixed.attach(first)
    second = MIMEApplication(pdf, "pdf")
    # RFC 2231 s4: filename*=utf-8''%D0%BE...
    second.add_header("Content-Disposition", "attachment", filename=("utf-8", "", PDF_NAME))
    mixed.attach(second)
    third = MIMEApplication(cjk, "octet-stream")
    # RFC 2047 encoded-word inside a quoted parameter, as many mail programs send it.
    encoded_name = Header(CJK_NAME, "utf-8").encode()
    third.add_header("Content-Disposition", "attachment", filename=encoded_name)
    mixed.attach(third)
    _address(mixed, Header(JAPANESE_SUBJECT, "iso-2022-jp"), "<files.3@example.test>")
    messages.append(
        SampleMessage(
            "<files.3@example.test>",
            JAPANESE_SUBJECT,
            mixed.as_bytes(),
            (crlf(ATTACHMENT_TEXT.encode()),),
            {RANDOM_NAME: random_bytes, PDF_NAME: pdf, CJK_NAME: cjk},
        )
    )

    short = MIMEText(SHORT_TEXT, "plain", "us-ascii")
    _address(short, SHORT_SUBJECT, "<short.4@example.test>")
    messages.append(
        SampleMessage(
            "<short.4@example.test>",
            SHORT_SUBJECT,
            short.as_bytes(),
            (crlf(SHORT_TEXT.encode()),),
            {},
        )
    )
    return messages


def _address(message: MIMEText | MIMEMultipart, subject: str | Header, message_id: str) -> None:
    message["From"] = f"Sender <{MAIL_FROM}>"
    message["To"] = ", ".join(RCPT_TO)
    message["Subject"] = subject if isinstance(subject, str) else subject.encode()
    message["Date"] = "Thu, 26 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = message_id


def crlf(raw: bytes) -> bytes:
    """``raw`` with every line ending in CRLF, as smtplib and Dovecot put it on the wire."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- Dovecot -------------------------------------------------------------------------------


def write_dovecot_setup(root: Path, messages: Sequence[SampleMessage]) -> Path:
    """Config, passwd-file and one maildir per user (the messages in ``cur``, LF line ends,
    as a local delivery agent writes them); returns the config path. ``root`` must be
    reachable by uid ``MAIL_UID`` and Dovecot's login users."""
    root.chmod(0o755)
    passwd = root / "passwd"
    lines = [
        f"{user}:{{PLAIN}}{MAIL_PASSWORD}:{MAIL_UID}:{MAIL_GID}::{root / 'home' / user}::"
        for user in (POP3_USER, IMAP_USER)
    ]
    passwd.write_text("\n".join(lines) + "\n")
    for user in (POP3_USER, IMAP_USER):
        maildir = root / "mail" / user
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        for index, message in enumerate(messages[:3], start=1):
            raw = message.raw.replace(b"\r\n", b"\n")
            name = f"{1_790_000_000 + index}.M{index}P1.wiresift,S={len(raw)}:2,S"
            (maildir / "cur" / name).write_bytes(raw)
        (root / "home" / user).mkdir(parents=True)
    for path in (root / "mail", root / "home"):
        for folder, _, files in os.walk(path):
            os.chown(folder, MAIL_UID, MAIL_GID)
            for file in files:
                os.chown(os.path.join(folder, file), MAIL_UID, MAIL_GID)
    for sub in ("run", "state"):
        (root / sub).mkdir()
    config = root / "dovecot.conf"
    config.write_text(
        f"""# Generated for one test run.
base_dir = {root / "run"}
state_dir = {root / "state"}
log_path = {root / "dovecot.log"}
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root / "mail"}/%u
first_valid_uid = {MAIL_UID}
last_valid_uid = {MAIL_UID}
mail_plugins = zlib
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
}}
service imap-login {{
  inet_listener imap {{
    port = {IMAP_PORT}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {POP3_PORT}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""
    )
    return config


# --- programs run inside the namespace -------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def serve_smtp(out_dir: Path) -> None:
    """aiosmtpd on 127.0.0.1:SMTP_PORT with AUTH PLAIN/LOGIN over plain TCP; every message
    is saved as ``NN.eml`` (the DATA bytes it received, dot-unstuffed) and ``NN.json``."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415
    from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

    accounts = {
        SMTP_USER.encode(): SMTP_PASSWORD.encode(),
        SMTP_LOGIN_USER.encode(): SMTP_LOGIN_PASSWORD.encode(),
    }
    received = itertools.count(1)

    def authenticate(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and accounts.get(data.login) == data.password:
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    class Saver:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            number = next(received)
            (out_dir / f"{number:02d}.eml").write_bytes(envelope.original_content)
            login = session.auth_data.login if session.auth_data is not None else None
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_to": list(envelope.rcpt_tos),
                "login": login.decode() if isinstance(login, bytes) else login,
            }
            (out_dir / f"{number:02d}.json").write_text(json.dumps(record))
            return "250 OK"

    controller = Controller(
        Saver(),
        hostname="127.0.0.1",
        port=SMTP_PORT,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while not stop:
        time.sleep(0.05)
    controller.stop()


def smtp_client(message_dir: Path, result: Path) -> None:
    """Session 1: EHLO, AUTH PLAIN, three messages; session 2: AUTH LOGIN, the fourth;
    session 3: no AUTH, the first message again with MAIL/RCPT/DATA pipelined (RFC 2920)."""
    import smtplib  # noqa: PLC0415

    # smtplib fixes line ends only for str messages; bytes go out as given (dot-stuffed, and
    # CRLF added if the last line lacks one), so the client sends CRLF lines as an MUA does.
    raws = [crlf(path.read_bytes()) for path in sorted(message_dir.glob("*.eml"))]
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, local_hostname="client.example.test") as smtp:
        smtp.ehlo()
        smtp.login(SMTP_USER, SMTP_PASSWORD)  # smtplib prefers PLAIN among PLAIN/LOGIN
        for raw in raws[:3]:
            smtp.sendmail(MAIL_FROM, list(RCPT_TO), raw)
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, local_hostname="client.example.test") as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = SMTP_LOGIN_USER, SMTP_LOGIN_PASSWORD
        smtp.auth("LOGIN", smtp.auth_login)
        smtp.sendmail(MAIL_FROM, [RCPT_TO[0]], raws[3])
    codes = smtp_pipelined(raws[0])
    result.write_text(json.dumps({"pipelined_replies": codes}))


def smtp_pipelined(raw: bytes) -> list[int]:
    """One pipelined transaction by hand (smtplib never pipelines); returns the reply codes."""
    import re  # noqa: PLC0415
    import socket  # noqa: PLC0415

    with socket.create_connection(("127.0.0.1", SMTP_PORT), timeout=CLIENT_TIMEOUT_S) as sock:
        replies = sock.makefile("rb")

        def reply() -> tuple[int, bytes]:
            text = b""
            while True:
                line = replies.readline()
                text += line
                if len(line) < 4 or line[3:4] != b"-":
                    return int(line[:3]), text

        codes = [reply()[0]]
        sock.sendall(b"EHLO pipeline.example.test\r\n")
        # aiosmtpd 1.4 does not announce PIPELINING but reads batched commands in order.
        codes.append(reply()[0])
        envelope = f"MAIL FROM:<{MAIL_FROM}>\r\nRCPT TO:<{RCPT_TO[1]}>\r\nDATA\r\n"
        sock.sendall(envelope.encode())
        codes += [reply()[0] for _ in range(3)]
        # RFC 5321 s4.5.2: a line starting with a period gets one more.
        sock.sendall(re.sub(rb"(?m)^\.", b"..", raw) + b".\r\nQUIT\r\n")
        codes += [reply()[0] for _ in range(2)]
    return codes


def pop3_client(result: Path) -> None:
    """USER/PASS, RETR every message, TOP 1 3, DELE the last, QUIT (RFC 1939)."""
    import poplib  # noqa: PLC0415

    pop = poplib.POP3("127.0.0.1", POP3_PORT, timeout=CLIENT_TIMEOUT_S)
    pop.user(POP3_USER)
    pop.pass_(MAIL_PASSWORD)
    count, _ = pop.stat()
    retrieved = {}
    for number in range(1, count + 1):
        _, lines, _ = pop.retr(number)
        retrieved[str(number)] = _b64(b"".join(line + b"\r\n" for line in lines))
    _, top_lines, _ = pop.top(1, 3)
    pop.dele(count)
    pop.quit()
    top = b"".join(line + b"\r\n" for line in top_lines)
    result.write_text(json.dumps({"count": count, "retr": retrieved, "top": _b64(top)}))


def imap_client(append_file: Path, result: Path) -> None:
    """LOGIN, SELECT INBOX, FETCH BODY[] of each message, BODY[]<0.100>, BODY[HEADER] and
    BODY[TEXT] of message 2, APPEND, then COMPRESS=DEFLATE and one more FETCH (RFC 4978)."""
    import imaplib  # noqa: PLC0415
    import zlib  # noqa: PLC0415

    class DeflateIMAP(imaplib.IMAP4):
        """imaplib with COMPRESS DEFLATE: raw DEFLATE both ways after the tagged OK."""

        deflate: Any = None
        inflate: Any = None
        pending = b""

        def compress(self) -> str:
            imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
            kind, _ = self._simple_command("COMPRESS", "DEFLATE")
            if kind == "OK":
                self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
                self.inflate = zlib.decompressobj(-15)
            return str(kind)

        def send(self, data: Any) -> None:
            payload = bytes(data)
            if self.deflate is not None:
                payload = self.deflate.compress(payload) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
            self.sock.sendall(payload)

        def _fill(self) -> None:
            chunk = cast(io.BufferedReader, self.file).read1(65536)
            if not chunk:
                raise self.abort("socket closed")
            self.pending += self.inflate.decompress(chunk)

        def read(self, size: int) -> bytes:
            if self.inflate is None:
                return super().read(size)
            while len(self.pending) < size:
                self._fill()
            data, self.pending = self.pending[:size], self.pending[size:]
            return data

        def readline(self) -> bytes:
            if self.inflate is None:
                return super().readline()
            while b"\n" not in self.pending:
                self._fill()
            end = self.pending.index(b"\n") + 1
            line, self.pending = self.pending[:end], self.pending[end:]
            return line

    def fetched(data: list[Any]) -> bytes:
        (item,) = [part for part in data if isinstance(part, tuple)]
        return bytes(item[1])

    imap = DeflateIMAP("127.0.0.1", IMAP_PORT)
    imap.login(IMAP_USER, MAIL_PASSWORD)
    _, data = imap.capability()  # after login: COMPRESS=DEFLATE is announced only now
    capabilities = bytes(data[0]).decode().split()
    _, data = imap.select("INBOX")
    count = int(data[0] or b"0")
    bodies = {}
    for number in range(1, count + 1):
        _, data = imap.fetch(str(number), "(UID BODY.PEEK[])")
        bodies[str(number)] = _b64(fetched(data))
    _, data = imap.fetch("1", "(BODY.PEEK[]<0.100>)")
    partial = fetched(data)
    _, data = imap.fetch("2", "(BODY.PEEK[HEADER])")
    header = fetched(data)
    _, data = imap.fetch("2", "(BODY.PEEK[TEXT])")
    text = fetched(data)
    appended = append_file.read_bytes()
    append_kind, _ = imap.append("INBOX", "(\\Seen)", None, appended)
    compressed = ""
    after_compress = b""
    if "COMPRESS=DEFLATE" in capabilities:
        compressed = imap.compress()
        _, data = imap.fetch("3", "(BODY.PEEK[])")
        after_compress = fetched(data)
    imap.logout()
    result.write_text(
        json.dumps(
            {
                "capabilities": capabilities,
                "bodies": bodies,
                "partial": _b64(partial),
                "header": _b64(header),
                "text": _b64(text),
                "append": append_kind,
                "appended": _b64(crlf(appended)),
                "compress": compressed,
                "after_compress": _b64(after_compress),
            }
        )
    )


def main(argv: Sequence[str]) -> int:
    """Entry point for the programs started inside the namespace."""
    command, args = argv[0], [Path(arg) for arg in argv[1:]]
    if command == "smtp-server":
        serve_smtp(args[0])
    elif command == "smtp-client":
        smtp_client(args[0], args[1])
    elif command == "pop3-client":
        pop3_client(args[0])
    elif command == "imap-client":
        imap_client(args[0], args[1])
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
