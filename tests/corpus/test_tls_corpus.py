"""Every TLS capture of the shared corpus through the engine, against what Arkime, Zeek,
Suricata and TShark state for it (MANIFEST.tsv and the files under expected/).

Arkime's SPI JSON gives JA3, JA3S, JA4 and the version name (our names are Arkime's);
Zeek's ssl.log gives version (``TLSv12`` for our ``TLSv1.2``), cipher, SNI and the SHA-256
of each certificate of the server chain; its x509.log gives subjects in the same RFC 4514
form as ours; Suricata gives the OpenSSL one-line subject, serial and SHA-1.
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import wiresift.engine
from tests.conftest import CORPUS, corpus_captures, corpus_path
from tests.engine.helpers import Run
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.usage import UsageBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import smtp, tls

_SNI = re.compile(r"tshark tls: \d+ ClientHello SNI=\[(.*?)\]")
_NDPI_TLS = re.compile(
    r"\[(TLSv1\.\d)\]\[JA3C: ([0-9a-f]{32})\]\[JA4: ([^]]+)\]\[JA3S: ([0-9a-f]{32})\]"
    r".*?\[Cipher: ([A-Z0-9_]+)\]"
)


@cache
def manifest() -> dict[str, dict[str, str]]:
    if not CORPUS.is_dir():
        return {}
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def expected_files(capture: str, suffix: str) -> list[Path]:
    return sorted((CORPUS / "expected").glob(f"{Path(capture).stem}__*{suffix}"))


def zeek_rows(path: Path) -> list[dict[str, str]]:
    fields: list[str] = []
    rows: list[dict[str, str]] = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows


def arkime_tls(path: Path) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("tls"), dict):
                found.append(node["tls"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text()))
    assert len(found) == 1
    return found[0]


def zeek_version(name: str) -> str:
    """Zeek's ``TLSv12``/``TLSv13-draft23`` as our ``TLSv1.2``/``TLSv1.3-draft-23``."""
    match = re.fullmatch(r"TLSv1(\d)(?:-draft(\d+))?", name)
    assert match is not None, name
    return f"TLSv1.{match.group(1)}" + (f"-draft-{match.group(2)}" if match.group(2) else "")


def openssl_oneline(subject: str) -> str:
    """Our RFC 4514 subject in Suricata's order and spelling."""
    parts = [p.replace("\\,", ",") for p in re.split(r"(?<!\\),", subject)]
    return ", ".join(reversed(parts)).replace("emailAddress=", "Email=")


def run_tls(capture: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setitem(wiresift.engine.BUILDERS, "tls", UsageBuilder)
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(
        Config(), [sink], store=store, registry=(tls.SPEC, smtp.SPEC), source_name=str(capture)
    )
    source = open_source(capture)
    try:
        engine.run(source)
    finally:
        source.close()
    return Run(sink, store, engine.finish())


@pytest.mark.parametrize("capture", corpus_captures("tls"))
def test_tls_capture(capture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The usage object of each capture carries the SNI, version, fingerprints and
    certificates the reference tools state."""
    path = corpus_path("pcaps", capture)
    run = run_tls(path, monkeypatch)
    usages = [p for p in run.passports if p["kind"] == "usage"]
    assert len(usages) == 1
    usage = usages[0]
    assert usage["protocol"] == "tls"
    meta = usage["usage"]["metadata"]
    row = manifest()[f"pcaps/{capture}"]
    checked = 0

    sni = _SNI.search(row["expected_objects"])
    if sni is not None:
        names = [n.strip("'") for n in sni.group(1).split(", ") if n]
        assert meta["sni"] == (names[0] if names else None)
        checked += 1

    for path in expected_files(capture, ".test.json"):
        expected = arkime_tls(path)
        assert meta["ja3"] == expected["ja3"][0]
        assert meta["ja3_string"] == expected["ja3string"][0]
        assert meta["ja3s"] == expected["ja3s"][0]
        assert meta["ja4"] == expected["ja4"][0]
        assert meta["ja4_r"] == expected["ja4_r"][0]
        assert meta["version"] == expected["version"][0]
        assert meta["cipher"] == expected["cipher"][0]
        checked += 1

    for path in expected_files(capture, "ssl.log"):
        (expected_row,) = zeek_rows(path)
        assert meta["version"] == zeek_version(expected_row["version"])
        assert meta["cipher"] == expected_row["cipher"]
        assert meta["sni"] == (
            None if expected_row["server_name"] == "-" else expected_row["server_name"]
        )
        chain = [c["sha256"] for c in meta.get("server_certificates", [])]
        fps = expected_row["cert_chain_fps"]
        assert chain == ([] if fps == "-" else fps.split(","))
        checked += 1

    for path in expected_files(capture, "x509.log"):
        subjects = [r["certificate.subject"] for r in zeek_rows(path)]
        serials = [r["certificate.serial"] for r in zeek_rows(path)]
        certs = meta["server_certificates"]
        assert [c["subject"] for c in certs] == subjects
        assert [c["serial"] for c in certs] == serials
        items = [c for c in usage["contents"] if c["role"] == "certificate"]
        assert [c["sha256"] for c in items] == [c["sha256"] for c in certs]
        assert [run.store.blobs[c["sha256"]][:1] for c in items] == [b"\x30"] * len(items)
        checked += 1

    for path in expected_files(capture, "test.yaml"):
        text = path.read_text()
        (cert,) = meta["server_certificates"]
        subject = re.search(r'tls\.subject: "(.*)"', text)
        serial = re.search(r'tls\.serial: "(.*)"', text)
        sha1 = re.search(r'tls\.fingerprint: "(.*)"', text)
        assert subject is not None
        assert serial is not None
        assert sha1 is not None
        assert openssl_oneline(cert["subject"]) == subject.group(1)
        assert cert["serial"] == serial.group(1)
        assert cert["sha1"] == sha1.group(1).replace(":", "")
        assert meta["version"] == "TLSv1.0"
        assert meta["sslv2_hello"] is True
        checked += 1

    for path in expected_files(capture, ".out"):
        flow = _NDPI_TLS.search(path.read_text())
        assert flow is not None
        version, ja3, ja4, ja3s, cipher = flow.groups()
        assert meta["version"] == version
        assert meta["ja3"] == ja3
        assert meta["ja3s"] == ja3s
        assert meta["cipher"] == cipher
        # nDPI writes the SNI and ALPN characters of JA4 its own way (``d`` without an
        # SNI, the ALPN's first two characters); the hashed parts follow the spec.
        assert meta["ja4"].split("_")[1:] == ja4.split("_")[1:]
        checked += 1

    assert checked >= 1
