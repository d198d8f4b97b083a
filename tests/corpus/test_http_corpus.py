"""Real HTTP captures of the shared corpus: every body hash that Zeek, Suricata or Arkime
state is reproduced, and nothing crashes.

Hash conventions (see docs/objects.md): Zeek and Suricata hash the decoded body, which is
our ``response-body``/``request-body``/part ``sha256``; Arkime's ``http.md5``/``sha256`` are
over the raw, still-encoded body, which is our ``*-encoded`` item (or the body itself when
no Content-Encoding was applied); for bodies with holes Zeek's extracted files have the
holes zero-filled, our ``filled_sha256``.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import CORPUS, corpus_path
from tests.engine.helpers import run_capture

HEX = re.compile(r"\b(?:[0-9a-f]{64}|[0-9a-f]{32})\b")
EMPTY = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "d41d8cd98f00b204e9800998ecf8427e",
}
DIRS = ("http", "vlan", "tcp")

# Expected hashes that belong to another capture or another tool's convention, with why.
NOT_OURS = {
    # Zeek's http.get test runs zeek-get and zeek-get-gzip together; its 1-file and 2-file
    # hashes are one of each capture (corpus README, caveat 2).
    ("zeek-get", "202b775be087f5af98e95120e42769a9b3488f84c5aa79c4f4c1093d348f849c"),
    ("zeek-get-gzip", "4e7c7ef0984119447e743e3ec77e1de52713e345cde03fe7df753a35849bed18"),
    # Zeek's extracted file is 4,820 bytes for a 4,705-byte Content-Length body with one
    # 1,448-byte hole; no arrangement of the captured bytes and zeros gives that file.
    ("zeek-entity-gap", "8873510ae78f9a8dcd508c172b3e819fdebfe4d23d5669adf7b73e5d3e045a7e"),
}


@cache
def rows() -> list[dict[str, str]]:
    if not CORPUS.is_dir():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["file"].split("/")[1] in DIRS]


def trusted_hashes(row: dict[str, str]) -> set[str]:
    """Hashes stated by Zeek, Suricata or Arkime (not our own TShark runs)."""
    short = Path(row["file"]).stem
    found: set[str] = set()
    for clause in row["expected_objects"].split("||"):
        origin = clause.strip().lower()
        if not origin.startswith(
            ("tshark", "mime leaf", "im objects", "hard-case", "encapsulations", "inner")
        ):
            found |= set(HEX.findall(clause))
    for f in (CORPUS / "expected").glob(f"{short}__*.sha256"):
        found |= set(HEX.findall(f.read_text(errors="replace"))[:1])
    found -= {row["sha256"]}
    return {h for h in found - EMPTY if (short, h) not in NOT_OURS}


def produced_hashes(path: Path) -> set[str]:
    run = run_capture(path)
    hashes: set[str] = set()
    for passport in run.passports:
        for item in passport["contents"]:
            hashes.update(h for h in (item["sha256"], item["md5"], item.get("filled_sha256")) if h)
    return hashes


@pytest.mark.corpus
@pytest.mark.parametrize("name", [r["file"] for r in rows()] or ["pcaps/http (corpus absent)"])
def test_trusted_body_hashes_are_reproduced(name: str) -> None:
    """Every body hash the reference tools state for this capture is among our objects'."""
    path = corpus_path(*name.split("/"))
    row = next(r for r in rows() if r["file"] == name)
    expected = trusted_hashes(row)
    produced = produced_hashes(path)
    assert expected - produced == set()


@pytest.mark.corpus
def test_corpus_http_captures_yield_objects() -> None:
    """Every capture under http/ that holds an HTTP exchange yields at least one object."""
    corpus_path("pcaps", "http")
    no_http = {"ndpi-http-ipv6"}  # TLS and QUIC only, despite its name
    for row in rows():
        if not row["file"].startswith("pcaps/http/"):
            continue
        short = Path(row["file"]).stem
        run = run_capture(CORPUS / row["file"])
        if short in no_http:
            assert run.http() == []
        else:
            assert run.http(), short


# Files fetched in byte ranges: the size Suricata's fileinfo states for the joined file,
# and for zeek-206-example-a the two pieces TShark exports (522,755 + 32,768 bytes).
JOINED_SIZES = {
    "suri-http-range-file": 146_515,
    "suri-http-range-multiflows": 37_323,
    "zeek-206-example-a": 555_523,
}


@pytest.mark.corpus
@pytest.mark.parametrize("short", sorted(JOINED_SIZES))
def test_byte_ranges_are_joined_into_the_whole_file(short: str) -> None:
    """The 206 pieces of one resource become one complete file of the stated size."""
    run = run_capture(corpus_path("pcaps", "http", f"{short}.pcap"))
    files = [p for p in run.passports if p["kind"] == "file"]
    assert len(files) == 1
    (item,) = files[0]["contents"]
    assert (item["size"], item["complete"], files[0]["complete"]) == (
        JOINED_SIZES[short],
        True,
        True,
    )
    pieces = {c["sha256"] for p in run.http() for c in p["contents"]}
    assert item["sha256"] not in pieces or len(files[0]["file"]["sources"]) == 1
