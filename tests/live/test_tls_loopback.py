"""TLS from real software: nginx (TLS 1.2 and 1.3) and curl on a namespace's loopback,
captured with tcpdump; the usage objects carry the SNI, versions, ALPN and certificate."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.engine.helpers import Run, run_capture
from tests.live.mailservers import LoopbackNamespace, which

PORT: Final = 8443
NAMES: Final = ("alpha.example.test", "beta.example.test")
BODY: Final = b"tls body " * 1000


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "live TLS tests need root (network namespace, tcpdump)"
    absent = [tool for tool in ("ip", "tcpdump", "nginx", "curl", "openssl") if not which(tool)]
    return "missing tools: " + ", ".join(absent) if absent else None


class Captured:
    """The capture of the curl runs, and the certificate nginx served."""

    def __init__(self, run: Run, cert_der: bytes) -> None:
        self.run = run
        self.cert_der = cert_der

    def usage(self) -> list[dict[str, Any]]:
        items = [p for p in self.run.passports if p["kind"] == "usage"]
        return sorted(items, key=lambda p: p["ts_first_ns"])


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"live TLS tests cannot run under CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("tls")
    (root / "www").mkdir()
    (root / "www" / "file").write_bytes(BODY)
    subprocess.run(
        [
            which("openssl") or "openssl",
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={NAMES[0]}/O=wiresift test",
            "-addext", f"subjectAltName=DNS:{NAMES[0]},DNS:{NAMES[1]}",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    der = subprocess.run(
        [which("openssl") or "openssl", "x509", "-in", str(root / "cert.pem"), "-outform", "DER"],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    (root / "nginx.conf").write_text(
        f"""
daemon off;
user root;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp; uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{PORT} ssl http2;
        server_name {" ".join(NAMES)};
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        root {root}/www;
    }}
}}
"""
    )
    (root / "tmp").mkdir()
    ns = LoopbackNamespace()
    try:
        server = ns.spawn(
            [which("nginx") or "nginx", "-c", str(root / "nginx.conf")], root / "nginx.log"
        )
        ns.wait_listening([PORT], server)
        ns.start_capture(root / "tls.pcap")
        curl = which("curl") or "curl"
        for name, options in (
            (NAMES[0], ["--tlsv1.2", "--tls-max", "1.2", "--http1.1"]),
            (NAMES[1], ["--tlsv1.3", "--http2"]),
        ):
            got = ns.run(
                [curl, "-s", "-k", *options, "--resolve", f"{name}:{PORT}:127.0.0.1",
                 f"https://{name}:{PORT}/file"]
            ).stdout  # fmt: skip
            assert got == BODY
        ns.stop_capture()
        yield Captured(run_capture(root / "tls.pcap"), der)
    finally:
        ns.close()


def test_tls12_session_names_versions_alpn_and_the_certificate(captured: Captured) -> None:
    """TLS 1.2: SNI, negotiated version and ALPN, and nginx's certificate stored exactly."""
    first = captured.usage()[0]
    meta = first["usage"]["metadata"]
    assert (meta["sni"], meta["version"], meta["alpn"]) == (NAMES[0], "TLSv1.2", "http/1.1")
    assert meta["alpn_offered"] == ["http/1.1"]
    assert first["complete"] is True
    (cert,) = meta["server_certificates"]
    assert cert["subject"] == f"O=wiresift test,CN={NAMES[0]}" or cert["subject"].startswith(
        f"CN={NAMES[0]}"
    )
    assert (cert["san_dns"], cert["self_signed"], cert["key_type"], cert["curve"]) == (
        list(NAMES),
        True,
        "ec",
        "secp256r1",
    )
    assert cert["sha256"] == hashlib.sha256(captured.cert_der).hexdigest()
    (item,) = [c for c in first["contents"] if c["role"] == "certificate"]
    assert captured.run.content(item) == captured.cert_der
    assert first["usage"]["bytes"]["server"] > len(BODY)


def test_tls13_session_shows_what_is_in_clear(
    captured: Captured,
) -> None:
    """TLS 1.3: the version through supported_versions; the chosen ALPN and the certificate
    travel encrypted (EncryptedExtensions, RFC 8446 s4.3.1), so only the offer is known."""
    second = captured.usage()[1]
    meta = second["usage"]["metadata"]
    assert (meta["sni"], meta["version"], meta["alpn"]) == (NAMES[1], "TLSv1.3", None)
    assert "TLSv1.3" in meta["offered_versions"]
    assert meta["alpn_offered"] == ["h2", "http/1.1"]
    assert meta.get("server_certificates", []) == []
    assert meta["ja4"].startswith("t13d")
    assert [c for c in second["contents"] if c["role"] == "certificate"] == []
    assert len(captured.usage()) == 2
