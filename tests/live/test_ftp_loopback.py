"""FTP extraction end to end: real servers and clients on a namespace's loopback, captured by
tcpdump and read back by the engine.

pyftpdlib serves a local account to Python's ftplib over IPv4 (PASV, PORT, REST, ABOR,
NLST, LIST, STOR) and IPv6 (EPSV, EPRT); vsftpd serves anonymous FTP to curl (EPSV, PASV,
EPRT, PORT, LIST, NLST, a resumed download, one without CWD and an upload). The ground
truth is the files the servers offered or stored and what the clients received. Needs root,
``ip netns``, tcpdump, curl, vsftpd and pyftpdlib: skipped without them, except under
CI=true, where their absence is a failure. The captures are kept in
``$TMPDIR/wiresift-ftp-live``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.ftpservers import (
    ABORT_AFTER,
    ABORTED_SIZE,
    FTP_USER,
    PYFTPD_PASSIVE_PORTS,
    PYFTPD_PORT,
    REST_OFFSET,
    VSFTPD_PORT,
    server_files,
    sha256,
    upload_files,
    wait_listening,
    write_vsftpd_setup,
)
from tests.live.mailservers import LoopbackNamespace, crlf, prerequisites_missing, which

PCAP_KEEP_DIR = Path(tempfile.gettempdir()) / "wiresift-ftp-live"


def require(tools: Sequence[str], *, need_pyftpdlib: bool = False) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing([t for t in tools if t != "vsftpd"])
    if reason is None and "vsftpd" in tools and which("vsftpd") is None:
        reason = "missing tools: vsftpd (Debian package vsftpd)"
    if reason is None and need_pyftpdlib and importlib.util.find_spec("pyftpdlib") is None:
        reason = "the pyftpdlib package is not installed (pip install pyftpdlib)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live FTP tests cannot run under CI: {reason}")
    pytest.skip(reason)


class Captured(NamedTuple):
    """One capture, the engine's reading of it, and what the clients and servers saw."""

    pcap: Path
    run: Run
    reference: dict[str, Any]


def keep(pcap: Path) -> Path:
    """A copy of ``pcap`` under the temporary folder, kept for looking at a failure."""
    PCAP_KEEP_DIR.mkdir(exist_ok=True)
    kept = PCAP_KEEP_DIR / pcap.name
    shutil.copy(pcap, kept)
    return kept


@pytest.fixture(scope="module")
def pyftpd_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """pyftpdlib on 127.0.0.1 and ::1; ftplib runs one session over each, under tcpdump."""
    require(["ip", "ss", "tcpdump"], need_pyftpdlib=True)
    work = tmp_path_factory.mktemp("pyftpd")
    home, uploads = work / "home", work / "uploads"
    home.mkdir()
    uploads.mkdir()
    for name, data in server_files().items():
        (home / name).write_bytes(data)
    for name, data in upload_files().items():
        (uploads / name).write_bytes(data)
    pcap = work / "pyftpdlib.pcap"
    namespace = LoopbackNamespace()
    try:
        servers = [
            namespace.spawn(
                [sys.executable, "-m", "tests.live.ftpservers", "pyftpd-server", str(home), host],
                work / f"pyftpd-{index}.log",
            )
            for index, host in enumerate(("127.0.0.1", "::1"))
        ]
        wait_listening(namespace, [f"127.0.0.1:{PYFTPD_PORT}"], servers[0])
        wait_listening(namespace, [f"[::1]:{PYFTPD_PORT}"], servers[1])
        namespace.start_capture(pcap)
        for host, result in (("127.0.0.1", "v4.json"), ("::1", "v6.json")):
            namespace.run(
                [
                    sys.executable,
                    "-m",
                    "tests.live.ftpservers",
                    "ftplib-client",
                    host,
                    str(uploads),
                    str(work / result),
                ]
            )
        namespace.stop_capture()
    finally:
        namespace.close()
    reference = {
        "v4": json.loads((work / "v4.json").read_text()),
        "v6": json.loads((work / "v6.json").read_text()),
        "stored": {p.name: p.read_bytes() for p in home.iterdir() if p.name.startswith("up-")},
    }
    return Captured(keep(pcap), run_capture(pcap), reference)


@pytest.fixture(scope="module")
def vsftpd_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """vsftpd (anonymous) serves curl: four downloads in the four data modes, a resumed one,
    LIST, NLST, one without CWD and an upload, one control connection each, under tcpdump."""
    require(["ip", "ss", "tcpdump", "curl", "vsftpd"])
    work = tmp_path_factory.mktemp("vsftpd")
    upload = work / "curl-up.bin"
    upload.write_bytes(upload_files()["curl-up.bin"])
    pcap = work / "vsftpd.pcap"
    root = Path(tempfile.mkdtemp(prefix="wiresift-vsftpd-"))
    namespace: LoopbackNamespace | None = None
    received: dict[str, bytes] = {}
    try:
        config = write_vsftpd_setup(root)
        namespace = LoopbackNamespace()
        server = namespace.spawn([which("vsftpd") or "vsftpd", str(config)], work / "vsftpd.out")
        wait_listening(namespace, [f"127.0.0.1:{VSFTPD_PORT}"], server)
        namespace.start_capture(pcap)
        curl = [which("curl") or "curl", "-sS", "--max-time", "20"]
        base = f"ftp://127.0.0.1:{VSFTPD_PORT}/pub"
        for key, options in CURL_RUNS.items():
            url = f"{base}/{CURL_TARGETS[key]}"
            received[key] = namespace.run([*curl, *options, url]).stdout
        namespace.run([*curl, "-T", str(upload), f"{base}/curl-up.bin"])
        namespace.stop_capture()
        stored = (root / "ftp" / "pub" / "curl-up.bin").read_bytes()
    finally:
        if namespace is not None:
            namespace.close()
        if (root / "vsftpd.log").exists():
            shutil.copy(root / "vsftpd.log", work / "vsftpd.log")
        shutil.rmtree(root, ignore_errors=True)
    reference = {"received": received, "stored": stored}
    return Captured(keep(pcap), run_capture(pcap), reference)


# curl's data connection options: EPSV first by default, then PASV; -P - asks for EPRT first.
CURL_RUNS: dict[str, list[str]] = {
    "epsv": [],
    "pasv": ["--disable-epsv"],
    "eprt": ["-P", "-"],
    "port": ["-P", "-", "--disable-eprt"],
    "resume": ["-C", str(REST_OFFSET)],
    "list": [],
    "nlst": ["-l"],
    "nocwd": ["--ftp-method", "nocwd"],
}
CURL_TARGETS: dict[str, str] = {
    "epsv": "big.bin",
    "pasv": "small.bin",
    "eprt": "small.bin",
    "port": "big.bin",
    "resume": "big.bin",
    "list": "",
    "nlst": "",
    "nocwd": "small.bin",
}


def ftp_files(run: Run) -> list[dict[str, Any]]:
    """FTP file passports in order of their first packet."""
    found = [p for p in run.passports if p["kind"] == "file" and p["protocol"] == "ftp"]
    return sorted(found, key=lambda p: (p["ts_first_ns"], p["id"]))


def b64(text: str) -> bytes:
    """Bytes from the client's base64 JSON values."""
    return base64.b64decode(text)


def summary(run: Run, passport: dict[str, Any]) -> dict[str, Any]:
    """The fields each transfer is checked on; the stored content's hash is verified."""
    (item,) = passport["contents"]
    assert sha256(run.content(item)) == item["sha256"]
    info = passport["file"]
    return {
        "command": info["command"],
        "name": info["name"],
        "path": info["path"],
        "direction": passport["direction"],
        "mode": info["mode"],
        "size": info["size"],
        "offset": info["offset"],
        "user": info["user"],
        "role": item["role"],
        "sha256": item["sha256"],
        "complete": passport["complete"],
    }


def transfer(
    command: str,
    name: str | None,
    path: str | None,
    mode: str,
    content: bytes,
    *,
    user: str,
    offset: int | None = None,
    complete: bool = True,
) -> dict[str, Any]:
    """What ``summary`` must give for one transfer of ``content``."""
    return {
        "command": command,
        "name": name,
        "path": path,
        "direction": "upload" if command == "STOR" else "download",
        "mode": mode,
        "size": len(content),
        "offset": offset,
        "user": user,
        "role": "listing" if command in ("LIST", "NLST") else "file",
        "sha256": sha256(content),
        "complete": complete,
    }


def wire_counts(pcap: Path, needles: Sequence[bytes]) -> list[int]:
    """How often each command appears in the capture file (commands fit in one segment)."""
    raw = pcap.read_bytes()
    return [raw.count(needle) for needle in needles]


# --- pyftpdlib and ftplib ------------------------------------------------------------------


def test_pyftpdlib_clients_got_the_files(pyftpd_capture: Captured) -> None:
    """The ground truth: ftplib received the server's files, the server stored the uploads,
    and ABOR got pyftpdlib's 426 then 226 (RFC 959 s4.1.3)."""
    files, uploads = server_files(), upload_files()
    v4, v6 = pyftpd_capture.reference["v4"], pyftpd_capture.reference["v6"]
    assert b64(v4["retr_passive"]) == files["big.bin"]
    assert b64(v4["retr_active"]) == files["small.bin"]
    assert b64(v4["retr_rest"]) == files["big.bin"][REST_OFFSET:]
    assert b64(v6["retr_passive"]) == files["big.bin"]
    assert b64(v6["retr_active"]) == files["small.bin"]
    assert [v4["stor_passive"], v4["stor_active"], v6["stor_passive"]] == [
        "226 Transfer complete."
    ] * 3
    assert pyftpd_capture.reference["stored"] == {
        name: uploads[name] for name in ("up-passive.bin", "up-active.bin", "up-v6.bin")
    }
    assert v4["abort"] == {
        "received": ABORT_AFTER,
        "replies": ["426 Transfer aborted via ABOR.", "226 ABOR command successful."],
    }
    assert b64(v4["nlst"]) == b"big.bin\r\nhuge.bin\r\nsmall.bin\r\n"


def test_pyftpdlib_capture_has_every_data_connection_command(pyftpd_capture: Captured) -> None:
    """The IPv4 session used PASV and PORT, the IPv6 one EPSV and EPRT (RFC 2428), plus
    REST and ABOR: the capture exercises each way of opening a data connection."""
    needles = [b"PASV\r\n", b"PORT 127,0,0,1,", b"EPSV\r\n", b"EPRT |2|::1|", b"REST 100000\r\n"]
    assert wire_counts(pyftpd_capture.pcap, [*needles, b"ABOR\r\n"]) == [6, 2, 2, 1, 1, 1]


def test_pyftpdlib_one_file_object_per_transfer(pyftpd_capture: Captured) -> None:
    """Eleven transfers, eleven objects: command, name, direction, mode, size, content hash
    equal to the original file, REST offset, account; only the aborted one incomplete."""
    run = pyftpd_capture.run
    files, uploads = server_files(), upload_files()
    v4 = pyftpd_capture.reference["v4"]
    user = FTP_USER
    huge = files["huge.bin"]
    found = [summary(run, p) for p in ftp_files(run)]
    aborted_size = found[7]["size"]
    assert found == [
        transfer("NLST", None, None, "passive", b64(v4["nlst"]), user=user),
        transfer("LIST", None, None, "passive", b64(v4["list"]), user=user),
        transfer("RETR", "big.bin", "big.bin", "passive", files["big.bin"], user=user),
        transfer(
            "STOR",
            "up-passive.bin",
            "up-passive.bin",
            "passive",
            uploads["up-passive.bin"],
            user=user,
        ),
        transfer("RETR", "small.bin", "small.bin", "active", files["small.bin"], user=user),
        transfer(
            "STOR", "up-active.bin", "up-active.bin", "active", uploads["up-active.bin"], user=user
        ),
        transfer(
            "RETR",
            "big.bin",
            "big.bin",
            "passive",
            files["big.bin"][REST_OFFSET:],
            user=user,
            offset=REST_OFFSET,
        ),
        transfer(
            "RETR",
            "huge.bin",
            "huge.bin",
            "passive",
            huge[:aborted_size],
            user=user,
            complete=False,
        ),
        transfer("RETR", "big.bin", "big.bin", "passive", files["big.bin"], user=user),
        transfer("RETR", "small.bin", "small.bin", "active", files["small.bin"], user=user),
        transfer("STOR", "up-v6.bin", "up-v6.bin", "passive", uploads["up-v6.bin"], user=user),
    ]


def test_pyftpdlib_aborted_download(pyftpd_capture: Captured) -> None:
    """The ABORted RETR: incomplete, marked aborted with the 426 reply, and its content the
    first bytes of the file, more than the client read and less than the file."""
    passport = ftp_files(pyftpd_capture.run)[7]
    info = passport["file"]
    assert (passport["complete"], info["aborted"], info["reply_code"]) == (False, True, 426)
    assert info["reply"] == "Transfer aborted via ABOR."
    assert ABORT_AFTER <= info["size"] < ABORTED_SIZE
    (item,) = passport["contents"]
    content = pyftpd_capture.run.content(item)
    assert content == server_files()["huge.bin"][: info["size"]]
    assert item["gaps"] == []


def test_pyftpdlib_data_endpoints_and_ftp_roles(pyftpd_capture: Captured) -> None:
    """Passive: the data connection's server is the announced endpoint in the server's
    port range; active: the FTP server connects to the client's announced endpoint, and
    ``file.server``/``client_addr`` keep the FTP roles. One control connection per family."""
    found = ftp_files(pyftpd_capture.run)
    roles = []
    for passport in found:
        info, flow = passport["file"], passport["flow"]
        host = info["server"]["addr"]
        assert info["server"] == {"addr": host, "port": PYFTPD_PORT}
        assert info["client_addr"] == host
        assert flow["server"] == info["data_endpoint"]
        assert (flow["client"]["addr"], flow["server"]["addr"]) == (host, host)
        if info["mode"] == "passive":
            assert flow["server"]["port"] in PYFTPD_PASSIVE_PORTS
        else:
            assert flow["server"]["port"] not in PYFTPD_PASSIVE_PORTS
        roles.append((host, info["mode"], flow["encapsulation"][1]))
    assert roles == [("127.0.0.1", m, "ipv4") for m in ["passive"] * 4 + ["active"] * 2] + [
        ("127.0.0.1", "passive", "ipv4")
    ] * 2 + [("::1", "passive", "ipv6"), ("::1", "active", "ipv6"), ("::1", "passive", "ipv6")]
    controls = [p["file"]["control_flow"] for p in found]
    assert len(set(controls[:8])) == 1
    assert len(set(controls[8:])) == 1
    assert controls[0] != controls[8]


def test_pyftpdlib_run_counts(pyftpd_capture: Captured) -> None:
    """Two control connections, eleven data connections, no anomaly."""
    stats = pyftpd_capture.run.stats
    assert stats.protocols == {"ftp": 2, "ftp-data": 11}
    assert stats.objects_by_protocol == {("file", "ftp"): 11}
    assert stats.anomalies == {}
    assert [p["anomalies"] for p in ftp_files(pyftpd_capture.run)] == [[]] * 11


# --- vsftpd and curl -----------------------------------------------------------------------


def test_vsftpd_curl_received_and_stored(vsftpd_capture: Captured) -> None:
    """The ground truth: curl got the files (from the offset when resuming), vsftpd stored
    the upload, and NLST listed the three files."""
    files = server_files()
    received = vsftpd_capture.reference["received"]
    assert received["epsv"] == received["port"] == files["big.bin"]
    assert received["pasv"] == received["eprt"] == received["nocwd"] == files["small.bin"]
    assert received["resume"] == files["big.bin"][REST_OFFSET:]
    # curl turns the CRLF line ends of an ASCII (TYPE A) transfer into LF.
    assert received["nlst"] == b"big.bin\nhuge.bin\nsmall.bin\n"
    assert vsftpd_capture.reference["stored"] == upload_files()["curl-up.bin"]


def test_vsftpd_capture_has_every_data_connection_command(vsftpd_capture: Captured) -> None:
    """curl used EPSV by default, PASV with --disable-epsv, EPRT with -P -, PORT with
    --disable-eprt, and REST for -C (one EPSV per run otherwise)."""
    needles = [b"EPSV\r\n", b"PASV\r\n", b"EPRT |1|127.0.0.1|", b"PORT 127,0,0,1,"]
    assert wire_counts(vsftpd_capture.pcap, [*needles, b"REST 100000\r\n"]) == [6, 1, 1, 1, 1]


def test_vsftpd_one_file_object_per_transfer(vsftpd_capture: Captured) -> None:
    """Nine curl runs, nine objects with path, direction, mode, size, hash, REST offset
    and the anonymous account, all complete; listings hold the wire's CRLF line ends; with
    --ftp-method nocwd the path sent (pub/small.bin) is joined to the root."""
    run = vsftpd_capture.run
    files, received = server_files(), vsftpd_capture.reference["received"]
    big, small = files["big.bin"], files["small.bin"]
    user = "anonymous"
    assert [summary(run, p) for p in ftp_files(run)] == [
        transfer("RETR", "big.bin", "/pub/big.bin", "passive", big, user=user),
        transfer("RETR", "small.bin", "/pub/small.bin", "passive", small, user=user),
        transfer("RETR", "small.bin", "/pub/small.bin", "active", small, user=user),
        transfer("RETR", "big.bin", "/pub/big.bin", "active", big, user=user),
        transfer(
            "RETR",
            "big.bin",
            "/pub/big.bin",
            "passive",
            big[REST_OFFSET:],
            user=user,
            offset=100000,
        ),
        transfer("LIST", None, "/pub", "passive", crlf(received["list"]), user=user),
        transfer("NLST", None, "/pub", "passive", crlf(received["nlst"]), user=user),
        transfer("RETR", "small.bin", "/pub/small.bin", "passive", small, user=user),
        transfer(
            "STOR",
            "curl-up.bin",
            "/pub/curl-up.bin",
            "passive",
            upload_files()["curl-up.bin"],
            user=user,
        ),
    ]


def test_vsftpd_paths_types_and_sizes(vsftpd_capture: Captured) -> None:
    """curl's CWD pub is the working directory (the root with nocwd); listings go in TYPE A,
    files in TYPE I; the size vsftpd announced in its 150 reply is kept (the whole file when
    resuming)."""
    found = [p["file"] for p in ftp_files(vsftpd_capture.run)]
    assert [(f["cwd"], f["type"], f["announced_size"]) for f in found] == [
        ("/pub", "I", 300_001),
        ("/pub", "I", 4_321),
        ("/pub", "I", 4_321),
        ("/pub", "I", 300_001),
        ("/pub", "I", 300_001),
        ("/pub", "A", None),
        ("/pub", "A", None),
        ("/", "I", 4_321),
        ("/pub", "I", None),
    ]
    assert [(f["reply_code"], f["aborted"]) for f in found] == [(226, False)] * 9
    assert {f["server"]["port"] for f in found} == {VSFTPD_PORT}


def test_vsftpd_run_counts(vsftpd_capture: Captured) -> None:
    """Nine control connections (one per curl run), nine data connections, no anomaly."""
    stats = vsftpd_capture.run.stats
    assert stats.protocols == {"ftp": 9, "ftp-data": 9}
    assert stats.objects_by_protocol == {("file", "ftp"): 9}
    assert stats.anomalies == {}
