"""DTLS from real software: ``openssl s_server -dtls1_2`` and ``s_client`` on a namespace's
loopback, captured with tcpdump; the usage object carries SNI, version, cipher, the cookie
exchange and the server's certificate."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.mailservers import LoopbackNamespace, which

PORT: Final = 4433
NAME: Final = "dtls.example.test"
START_DEADLINE_S: Final = 10.0


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "live DTLS tests need root (network namespace, tcpdump)"
    absent = [tool for tool in ("ip", "tcpdump", "openssl") if not which(tool)]
    return "missing tools: " + ", ".join(absent) if absent else None


class Captured:
    """The capture of one s_client run, and the certificate s_server served."""

    def __init__(self, run: Run, cert_der: bytes) -> None:
        self.run = run
        self.cert_der = cert_der

    def usage(self) -> list[dict[str, Any]]:
        return [p for p in self.run.passports if p["kind"] == "usage"]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"live DTLS tests cannot run under CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("dtls")
    openssl = which("openssl") or "openssl"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={NAME}",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    der = subprocess.run(
        [openssl, "x509", "-in", str(root / "cert.pem"), "-outform", "DER"],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    ns = LoopbackNamespace()
    server: subprocess.Popen[bytes] | None = None
    try:
        log = root / "s_server.log"
        # s_server ends at the end of its stdin (and DTLS refuses -www/-rev): keep a pipe open.
        with open(log, "wb") as sink:
            server = subprocess.Popen(
                ["ip", "netns", "exec", ns.ns, openssl, "s_server", "-dtls1_2",
                 "-accept", str(PORT), "-cert", str(root / "cert.pem"),
                 "-key", str(root / "key.pem")],
                stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_DEADLINE_S
        while b"ACCEPT" not in log.read_bytes():  # s_server prints ACCEPT once bound
            if time.monotonic() > deadline:
                raise RuntimeError("openssl s_server did not start")
            time.sleep(0.05)
        ns.start_capture(root / "dtls.pcap")
        subprocess.run(
            ["ip", "netns", "exec", ns.ns, openssl, "s_client", "-dtls1_2", "-quiet", "-no_ign_eof",
             "-connect", f"127.0.0.1:{PORT}", "-servername", NAME],
            input=b"hello over dtls\n", check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        ns.stop_capture()
        yield Captured(run_capture(root / "dtls.pcap"), der)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
            if server.stdin is not None:
                server.stdin.close()
        ns.close()


def test_openssl_dtls12_usage_object(captured: Captured) -> None:
    """SNI, DTLS 1.2, the cipher, the cookie exchange and s_server's certificate."""
    (usage,) = captured.usage()
    meta = usage["usage"]["metadata"]
    assert (usage["protocol"], usage["complete"], usage["anomalies"]) == ("dtls", True, [])
    assert (meta["sni"], meta["version"], meta["client_version"]) == (
        NAME,
        "DTLSv1.2",
        "DTLSv1.2",
    )
    assert meta["cipher"].startswith("TLS_ECDHE_ECDSA_WITH_")
    assert (meta["client_hellos"], meta["hello_verify_requests"]) == (2, 1)
    assert meta["ja4"].startswith("dd2d")
    assert meta["ja3_string"].startswith("65277,")
    (cert,) = meta["server_certificates"]
    assert cert["sha256"] == hashlib.sha256(captured.cert_der).hexdigest()
    (item,) = [c for c in usage["contents"] if c["role"] == "certificate"]
    assert captured.run.content(item) == captured.cert_der
    assert meta["encrypted_records_client"] >= 2
