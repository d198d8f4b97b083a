"""The bundled sample capture (real nginx and curl) yields exactly the served bodies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.engine.helpers import run_capture

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _item(obj: dict[str, Any], role: str) -> dict[str, Any] | None:
    items = [c for c in obj["contents"] if c["role"] == role]
    assert len(items) <= 1
    return items[0] if items else None


def test_every_transaction_of_the_sample_is_reproduced_byte_exact() -> None:
    """Each of the 20 exchanges appears once, with the served and uploaded bodies' sha256."""
    expected = json.loads((SAMPLES / "expected.json").read_text())["transactions"]
    run = run_capture(SAMPLES / "http-sample.pcap")
    objects = run.http()
    assert len(objects) == len(expected) == 20
    want = Counter()
    got = Counter()
    for t in expected:
        response = t["response_body"]["sha256"] if t["response_body"] else None
        request = t["request_body"]["sha256"] if t["request_body"] else None
        want[(t["method"], t["target"], t["status"], request, response)] += 1
    for obj in objects:
        response_item = _item(obj, "response-body")
        request_item = _item(obj, "request-body")
        http = obj["http"]
        got[
            (
                http["method"],
                http["uri"],
                http["status"],
                request_item["sha256"] if request_item else None,
                response_item["sha256"] if response_item else None,
            )
        ] += 1
        assert obj["complete"] is True
    assert got == want
    assert run.stats.anomalies == Counter()


def test_sample_multipart_parts_match_the_uploaded_files() -> None:
    """The POST's file parts are stored with their names and exact content."""
    expected = json.loads((SAMPLES / "expected.json").read_text())["transactions"]
    post = next(t for t in expected if t["method"] == "POST")
    run = run_capture(SAMPLES / "http-sample.pcap")
    obj = next(o for o in run.http() if o["http"]["method"] == "POST")
    parts = [c for c in obj["contents"] if c["role"] == "request-body-part"]
    want = sorted((p["filename"], p["sha256"]) for p in post["request_body"]["parts"])
    got = sorted((p["wire_name"], p["sha256"]) for p in parts if p["wire_name"] is not None)
    assert len(want) == 2
    assert got == want
    fields = [p["field_name"] for p in parts]
    assert fields == ["comment", "notes", "report"]
