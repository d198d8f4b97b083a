"""The drop directory through the real process: killed mid-file, restarted, exactly once."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.service.captures import http_capture

WIRESIFT = [sys.executable, "-m", "wiresift"]


def write_config(tmp: Path, **capdrop: object) -> Path:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in capdrop.items())
    config = tmp / "wiresift.toml"
    config.write_text(
        f"""
[output]
directory = "{tmp / "out"}"
[capture.defaults]
enabled = false
[capdrop]
enabled = true
directory = "{tmp / "drop"}"
stable_seconds = 1
poll_seconds = 0.1
{extra}
[service]
state_directory = "{tmp / "state"}"
stats_interval = 1
"""
    )
    return config


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [*WIRESIFT, "run", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
        )


def journal_states(state: Path) -> dict[str, str]:
    """path -> last state, from the journal (torn last lines ignored)."""
    states: dict[str, str] = {}
    journal = state / "capdrop.journal"
    if not journal.exists():
        return states
    for line in journal.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        states[Path(record["path"]).name] = record["state"]
    return states


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def body_digests(out: Path) -> collections.Counter[str]:
    digests: collections.Counter[str] = collections.Counter()
    for path in (out / "objects").glob("*.json"):
        passport = json.loads(path.read_bytes())
        for item in passport["contents"]:
            if item["role"] == "response-body":
                digests[item["sha256"]] += 1
    return digests


def test_killed_mid_file_restart_delivers_every_object_once(tmp_path: Path) -> None:
    """SIGKILL while a big file is read; the restart publishes each object exactly once."""
    drop = tmp_path / "drop"
    drop.mkdir()
    expected: collections.Counter[str] = collections.Counter()
    expected.update(http_capture(drop / "a.pcap", "a", 20, 2000))
    expected.update(http_capture(drop / "b.pcap", "b", 300, 60_000, start_s=1_700_100_000))
    (drop / "c.pcap").write_bytes(b"this is not a capture file at all" * 10)
    now = time.time()
    for age, name in enumerate(("a.pcap", "b.pcap", "c.pcap")):
        os.utime(drop / name, (now - 100 + age, now - 100 + age))
    # A capture still being written: open, half written, newer than the others.
    writing = drop / "e.pcap"
    e_digests = http_capture(tmp_path / "e-full.pcap", "e", 10, 5000, start_s=1_700_200_000)
    full = (tmp_path / "e-full.pcap").read_bytes()
    writer = writing.open("wb")
    writer.write(full[: len(full) // 2])
    writer.flush()
    config = write_config(tmp_path)
    log = tmp_path / "wiresift.log"
    state = tmp_path / "state"

    first = start(config, log)
    try:
        wait_for(lambda: journal_states(state).get("b.pcap") == "begun", 60, "b.pcap begun")
        time.sleep(0.3)  # well inside the file: some of its objects are staged
        assert journal_states(state)["b.pcap"] == "begun"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    staged_b = sum(1 for _ in (state / "staging").rglob("*.json"))
    assert staged_b > 0  # the kill came mid-file
    assert journal_states(state).get("e.pcap") is None  # never taken while being written

    writer.write(full[len(full) // 2 :])
    writer.close()
    second = start(config, log)
    try:
        wait_for(
            lambda: (
                journal_states(state).get("e.pcap") == "done"
                and journal_states(state).get("c.pcap") == "failed"
            ),
            120,
            "every file finished",
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
    expected.update(e_digests)

    assert body_digests(tmp_path / "out") == expected
    lines = (tmp_path / "out" / "objects.jsonl").read_bytes().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == sum(expected.values()) == 330
    assert {p.stem for p in (tmp_path / "out" / "objects").glob("*.json")} == set(ids)
    done = sorted(p.name for p in (drop / ".done").iterdir())
    assert done == ["a.pcap", "b.pcap", "e.pcap"]
    failed = drop / ".failed"
    assert (failed / "c.pcap").exists()
    reason = (failed / "c.pcap.reason.txt").read_text()
    assert "c.pcap" in reason or "not a" in reason.lower() or "magic" in reason.lower()
    assert not list((state / "staging").glob("*")) or all(
        p.name.startswith(".trash") for p in (state / "staging").iterdir()
    )
