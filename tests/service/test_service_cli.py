"""``wiresift config``, ``wiresift interfaces`` and the sensor's in-process behaviour on
files: the drop directory with carried flow state, and settings errors on the command line."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.pcapgen import NS_PER_S, TcpSession, write_pcap
from tests.service.captures import body_for
from wiresift.cli import main
from wiresift.service.sensor import PROTOCOL_NAMES, Sensor
from wiresift.service.settings import parse_settings


def test_config_default_round_trips_through_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``config --default`` prints, ``config --check`` accepts."""
    assert main(["config", "--default"]) == 0
    text = capsys.readouterr().out
    assert "[capture.defaults]" in text
    assert "[capdrop]" in text
    assert "[limits]" in text
    path = tmp_path / "wiresift.toml"
    path.write_text(text)
    assert main(["config", "--check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: valid\n"


def test_config_check_names_the_bad_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value is one line naming file, line and key, with exit status 2."""
    path = tmp_path / "bad.toml"
    path.write_text('[output]\njsonl = true\n\n[[interface]]\nname = "eth0"\nsnaplen = "big"\n')
    assert main(["config", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wiresift: {path}:6: interface[0].snaplen: ")
    assert err.count("\n") == 1


def test_run_refuses_a_bad_override(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad command-line value is refused before anything starts."""
    assert main(["run", "--no-live", "--metrics", "nowhere"]) == 2
    assert "service.metrics_listen" in capsys.readouterr().err


def test_interfaces_lists_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    """``wiresift interfaces`` shows every device with its flags; lo is never a default."""
    assert main(["interfaces"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lo = next(line for line in lines if line.split()[0] == "lo")
    assert "loopback" in lo
    assert "default" not in lo
    assert "127.0.0.1" in lo


def _split_download(tmp: Path) -> tuple[Path, Path, bytes]:
    """One HTTP download whose packets are split over two files, mid-body."""
    body = body_for("rotated", 1, 30_000)
    session = TcpSession(("10.0.0.1", 40000), ("10.0.0.2", 80), start_ns=1_700_000_000 * NS_PER_S)
    session.handshake()
    session.send(True, b"GET /rotated HTTP/1.1\r\nHost: x\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    session.send(False, head + body, segment_size=1448)
    session.fin(True)
    session.fin(False)
    session.ack(True)
    half = len(session.frames) // 2
    first, second = tmp / "dump-0001.pcap", tmp / "dump-0002.pcap"
    write_pcap(first, session.frames[:half])
    write_pcap(second, session.frames[half:])
    return first, second, body


@pytest.mark.parametrize("carry", [True, False])
def test_capdrop_carries_flows_across_rotated_files(tmp_path: Path, carry: bool) -> None:
    """carry_flows joins a download cut by a file rotation; without it, the first file gives
    an incomplete object and the second, starting inside the body, none."""
    staging = tmp_path / "made"
    staging.mkdir()
    first, second, body = _split_download(staging)
    drop = tmp_path / "drop"
    drop.mkdir()
    now = time.time()
    for age, path in enumerate((first, second)):
        target = drop / path.name
        shutil.copy(path, target)
        stamp = now - 10 + age
        os.utime(target, (stamp, stamp))
    out = tmp_path / "out"
    settings = parse_settings(
        f"""
[output]
directory = "{out}"
[capture.defaults]
enabled = false
[capdrop]
enabled = true
directory = "{drop}"
stable_seconds = 0
poll_seconds = 0.1
carry_flows = {"true" if carry else "false"}
[service]
state_directory = "{tmp_path / "state"}"
""",
        "test",
        PROTOCOL_NAMES,
    )
    sensor = Sensor(settings)
    thread = threading.Thread(target=sensor.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sensor.capdrop is not None:
        if sensor.capdrop.files_done == 2:
            break
        time.sleep(0.02)
    sensor.request_stop()
    thread.join(20)
    passports = [json.loads(p.read_bytes()) for p in (out / "objects").glob("*.json")]
    bodies = [c for p in passports for c in p["contents"] if c["role"] == "response-body"]
    if carry:
        assert len(passports) == 1
        assert passports[0]["complete"] is True
        assert bodies[0]["size"] == len(body)
        assert (out / bodies[0]["path"]).read_bytes() == body
    else:
        assert len(passports) == 1
        assert passports[0]["complete"] is False
        assert 0 < bodies[0]["size"] < len(body)
        assert sorted(done.name for done in (drop / ".done").iterdir()) == [
            "dump-0001.pcap",
            "dump-0002.pcap",
        ]
