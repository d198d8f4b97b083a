"""ICAP end to end: the c-icap server's echo service and c-icap-client on a namespace's
loopback, captured by tcpdump and read back by the engine.

c-icap-client opens each connection with OPTIONS, then sends one REQMOD or RESPMOD of a
file with a 1024-byte preview. The ground truth is the files sent. Needs root, ``ip
netns``, tcpdump and the c-icap package: skipped without them, except under CI=true, where
their absence is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.engine.helpers import Run, body, run_capture
from tests.live.mailservers import LoopbackNamespace, prerequisites_missing, which

ICAP_PORT = 1344
UPLOAD = random.Random(31).randbytes(50_000)
DOWNLOAD = random.Random(32).randbytes(40_000)
SMALL = b"A text small enough for the preview, sent whole with ieof.\n" * 12
USER_HEADER = "X-Authenticated-User: " + base64.b64encode(b"Local://alice").decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require() -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    reason = prerequisites_missing(["ip", "ss", "tcpdump"])
    if reason is None:
        missing = [tool for tool in ("c-icap", "c-icap-client") if which(tool) is None]
        if missing:
            reason = f"missing tools: {', '.join(missing)} (Debian package c-icap)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live ICAP tests cannot run under CI: {reason}")
    pytest.skip(reason)


def write_config(work: Path) -> Path:
    """A c-icap configuration with the echo service, everything under ``work``."""
    modules = next(
        (
            str(path)
            for path in (Path("/usr/lib/x86_64-linux-gnu/c_icap"), Path("/usr/lib/c_icap"))
            if (path / "srv_echo.so").exists()
        ),
        None,
    )
    if modules is None:
        modules = str(next(Path("/usr/lib").glob("*/c_icap/srv_echo.so")).parent)
    config = work / "c-icap.conf"
    config.write_text(
        "\n".join(
            [
                f"PidFile {work}/c-icap.pid",
                f"CommandsSocket {work}/c-icap.ctl",
                "Timeout 30",
                "StartServers 1",
                "MaxServers 1",
                "MinSpareThreads 2",
                "MaxSpareThreads 4",
                "ThreadsPerChild 4",
                f"Port 127.0.0.1:{ICAP_PORT}",
                f"TmpDir {work}",
                "DebugLevel 0",
                f"ModulesDir {modules}",
                f"ServicesDir {modules}",
                "TemplateDir /usr/share/c_icap/templates/",
                "LoadMagicFile /etc/c-icap/c-icap.magic",
                f"ServerLog {work}/server.log",
                f"AccessLog {work}/access.log",
                "Service echo srv_echo.so",
                "",
            ]
        )
    )
    return config


class Captured(NamedTuple):
    """The capture, the engine's reading of it and what the client got back."""

    pcap: Path
    run: Run
    echoed: dict[str, bytes]


@pytest.fixture(scope="module")
def icap_capture(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """c-icap-client sends a REQMOD and three RESPMODs to c-icap's echo service."""
    require()
    work = tmp_path_factory.mktemp("icap")
    files = {"upload.bin": UPLOAD, "download.bin": DOWNLOAD, "small.txt": SMALL}
    for name, data in files.items():
        (work / name).write_bytes(data)
    pcap = work / "icap.pcap"
    client = which("c-icap-client") or "c-icap-client"
    base = [client, "-i", "127.0.0.1", "-p", str(ICAP_PORT), "-s", "echo"]
    namespace = LoopbackNamespace()
    try:
        server = namespace.spawn(
            [which("c-icap") or "c-icap", "-N", "-f", str(write_config(work))],
            work / "c-icap.out",
        )
        namespace.wait_listening([ICAP_PORT], server)
        namespace.start_capture(pcap)
        namespace.run(
            [
                *base,
                "-f",
                str(work / "upload.bin"),
                "-o",
                str(work / "upload.out"),
                "-req",
                "http://upload.example.test/put",
                "-x",
                "X-Client-IP: 192.0.2.10",
                "-x",
                USER_HEADER,
            ]
        )
        namespace.run(
            [
                *base,
                "-f",
                str(work / "download.bin"),
                "-o",
                str(work / "download.out"),
                "-resp",
                "http://files.example.test/download.bin",
                "-nopreview",
                "-no204",
            ]
        )
        namespace.run(
            [
                *base,
                "-f",
                str(work / "download.bin"),
                "-resp",
                "http://files.example.test/previewed.bin",
            ]
        )
        namespace.run(
            [
                *base,
                "-f",
                str(work / "small.txt"),
                "-o",
                str(work / "small.out"),
                "-resp",
                "http://files.example.test/small.txt",
            ]
        )
        namespace.stop_capture()
    finally:
        namespace.close()
    echoed = {name: (work / name).with_suffix(".out").read_bytes() for name in files}
    return Captured(pcap, run_capture(pcap), echoed)


def objects(run: Run, url: str) -> list[dict[str, Any]]:
    """ICAP objects of one HTTP URL, original first."""
    found = [p for p in run.http() if p["protocol"] == "icap" and p["http"]["url"] == url]
    return sorted(found, key=lambda p: p["http"]["icap"]["role"] != "original")


def test_the_echo_service_returned_the_files(icap_capture: Captured) -> None:
    """The client got each file back from the echo service (the reference is sound)."""
    assert icap_capture.echoed == {
        "upload.bin": UPLOAD,
        "download.bin": DOWNLOAD,
        "small.txt": SMALL,
    }


def test_three_connections_all_icap(icap_capture: Captured) -> None:
    """Each client run is one ICAP connection; OPTIONS first does not hide it; only the
    answer to a preview was a 204 (no adapted object)."""
    run = icap_capture.run
    assert run.stats.protocols == {"icap": 4}
    assert len(run.http()) == 7
    assert all(p["flow"]["encapsulation"][-1] == "icap" for p in run.http())


def test_reqmod_upload(icap_capture: Captured) -> None:
    """REQMOD: the original and the echoed request both hold the uploaded file, from the
    client named by X-Client-IP, user alice."""
    original, adapted = objects(icap_capture.run, "http://upload.example.test/put")
    for obj in (original, adapted):
        item = body(obj, "request-body")
        assert (item["sha256"], item["size"], item["complete"]) == (
            sha(UPLOAD),
            len(UPLOAD),
            True,
        )
        assert obj["complete"] is True
        assert obj["flow"]["client"] == {"addr": "192.0.2.10", "port": 0}
        assert obj["flow"]["server"] == {"addr": "upload.example.test", "port": 80}
        assert obj["flow"]["via"] == {"addr": "127.0.0.1", "port": ICAP_PORT}
        assert obj["http"]["user"] == "alice"
        assert (obj["http"]["icap"]["method"], obj["http"]["icap"]["status"]) == ("REQMOD", 200)
        assert obj["http"]["icap"]["preview"] == 1024
        assert obj["anomalies"] == []


def test_respmod_download_without_preview(icap_capture: Captured) -> None:
    """RESPMOD without preview and 204: the original response and the echoed one hold the
    file."""
    original, adapted = objects(icap_capture.run, "http://files.example.test/download.bin")
    for obj in (original, adapted):
        item = body(obj)
        assert (item["sha256"], item["size"], item["complete"]) == (
            sha(DOWNLOAD),
            len(DOWNLOAD),
            True,
        )
        assert obj["complete"] is True
        assert obj["http"]["status"] == 200
        assert obj["http"]["icap"]["status"] == 200
        assert obj["anomalies"] == []
    assert [original["http"]["icap"]["role"], adapted["http"]["icap"]["role"]] == [
        "original",
        "adapted",
    ]


def test_respmod_small_file_sent_whole_in_the_preview(icap_capture: Captured) -> None:
    """A file shorter than the preview goes with ieof; it is whole in the original object."""
    found = objects(icap_capture.run, "http://files.example.test/small.txt")
    item = body(found[0])
    assert (item["sha256"], item["size"], item["complete"]) == (sha(SMALL), len(SMALL), True)
    assert found[0]["complete"] is True
    assert found[0]["http"]["icap"]["role"] == "original"
    assert all(body(obj)["sha256"] == sha(SMALL) for obj in found)


def test_respmod_answered_204_after_the_preview(icap_capture: Captured) -> None:
    """The echo service answers a preview with 204: the original object holds only the
    1024 previewed bytes, marked incomplete."""
    (obj,) = objects(icap_capture.run, "http://files.example.test/previewed.bin")
    item = body(obj)
    assert (item["sha256"], item["size"], item["complete"]) == (
        sha(DOWNLOAD[:1024]),
        1024,
        False,
    )
    assert obj["complete"] is False
    assert (obj["http"]["icap"]["status"], obj["http"]["icap"]["preview"]) == (204, 1024)
    assert obj["anomalies"] == []
