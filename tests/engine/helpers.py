"""Run frames or captures through the engine and look at the objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

import wiresift
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine, RunStats
from wiresift.model import ObjectRecord
from wiresift.outputs.memory import MemoryContentStore, MemorySink

SCHEMA_PATH = Path(wiresift.__file__).parent / "schema" / "object.schema.json"


@cache
def validator() -> jsonschema.Draft202012Validator:
    """The passport schema's validator."""
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class Run:
    """The outcome of one engine run held in memory."""

    def __init__(self, sink: MemorySink, store: MemoryContentStore, stats: RunStats) -> None:
        self.records: list[ObjectRecord] = sink.records
        self.store = store
        self.stats = stats
        self.passports: list[dict[str, Any]] = [r.to_json() for r in sink.records]
        for passport in self.passports:
            validator().validate(json.loads(json.dumps(passport)))

    def http(self) -> list[dict[str, Any]]:
        """HTTP passports in completion order."""
        return [p for p in self.passports if p["kind"] == "http"]

    def content(self, item: dict[str, Any]) -> bytes:
        """The stored bytes of a content item."""
        return self.store.blobs[item["sha256"]]


def body(passport: dict[str, Any], role: str = "response-body") -> dict[str, Any]:
    """The single content item with ``role``."""
    items = [c for c in passport["contents"] if c["role"] == role]
    assert len(items) == 1, (role, [c["role"] for c in passport["contents"]])
    return items[0]


def run_frames(
    frames: Iterable[tuple[int, bytes]],
    config: Config | None = None,
    linktype: int = 1,
    anomaly_log: Callable[[str, str, str, int], None] | None = None,
) -> Run:
    """Feed Ethernet frames straight into an engine."""
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(
        config or Config(), [sink], store=store, source_name="test", anomaly_log=anomaly_log
    )
    for ts, frame in frames:
        engine.process(ts, linktype, frame)
    return Run(sink, store, engine.finish())


def run_capture(path: Path, config: Config | None = None) -> Run:
    """Read a capture file through an engine."""
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(config or Config(), [sink], store=store, source_name=str(path))
    source = open_source(path)
    try:
        engine.run(source)
    finally:
        source.close()
    return Run(sink, store, engine.finish())
