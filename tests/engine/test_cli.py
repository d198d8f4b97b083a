"""The command line: outputs on disk, the summary, and one-line errors on bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.engine.helpers import validator
from wiresift.cli import main
from wiresift.protocols import REGISTRY

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "http-sample.pcap"


def test_read_writes_passports_content_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample gives 20 schema-valid passports whose content files exist and match."""
    out = tmp_path / "out"
    assert main(["read", str(SAMPLE), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "objects   20 (http 20)" in err
    assert "packets   " in err
    passports = sorted((out / "objects").glob("*.json"))
    assert len(passports) == 20
    lines = (out / "objects.jsonl").read_bytes().splitlines()
    assert len(lines) == 20
    for path in passports:
        passport = json.loads(path.read_bytes())
        validator().validate(passport)
        for item in passport["contents"]:
            stored = out / item["path"]
            assert stored.stat().st_size == item["size"]
    assert not (out / ".tmp").exists()


def test_reading_twice_stores_nothing_twice(tmp_path: Path) -> None:
    """Content files are named by hash: a second run adds no file."""
    out = tmp_path / "out"
    assert main(["read", "-q", str(SAMPLE), "-o", str(out)]) == 0
    first = sorted(p.name for p in (out / "content").rglob("*") if p.is_file())
    assert main(["read", "-q", str(SAMPLE), "-o", str(out)]) == 0
    second = sorted(p.name for p in (out / "content").rglob("*") if p.is_file())
    assert first == second
    assert len(first) > 10


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_missing_file_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing capture is reported in one line, with a non-zero exit."""
    assert main(["read", str(tmp_path / "nope.pcap"), "-o", str(tmp_path / "o")]) == 3
    assert "nope.pcap" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty"), (b"this is not a capture file at all", "magic")],
)
def test_garbage_and_empty_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    """Zero-length and garbage files end with a clear message and exit 3."""
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    assert main(["read", str(bad), "-o", str(tmp_path / "o")]) == 3
    assert words in _one_line_error(capsys).lower()


def test_truncated_capture_keeps_the_objects_before_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture cut in the middle yields the objects before the cut and names the offset."""
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])
    out = tmp_path / "o"
    assert main(["read", str(cut), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "truncated packet record at offset" in err
    assert 5 <= len(list((out / "objects").glob("*.json"))) < 20


def test_impossible_record_length_stops_with_the_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record claiming 4 GiB is corruption: the offset is named, earlier objects kept."""
    data = bytearray(SAMPLE.read_bytes())
    offset = 24
    for _ in range(200):  # walk to the 200th record header
        caplen = struct.unpack_from("<I", data, offset + 8)[0]
        offset += 16 + caplen
    struct.pack_into("<I", data, offset + 8, 0xFFFFFFFF)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o"
    assert main(["read", str(bad), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"corrupt packet record at offset {offset}" in err
    assert len(list((out / "objects").glob("*.json"))) >= 5


def test_unwritable_output_is_one_line_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output path that is a file cannot be written: one line, exit 4."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["read", str(SAMPLE), "-o", str(blocker)]) == 4
    assert "cannot write" in _one_line_error(capsys)


def test_protocols_lists_http(capsys: pytest.CaptureFixture[str]) -> None:
    """``wiresift protocols`` names every protocol; HTTP's line has its port hints."""
    assert main(["protocols"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (http,) = [line for line in lines if line.startswith("http ")]
    assert "8080" in http
    assert len(lines) == len(REGISTRY)


def test_detect_explains_each_flow(capsys: pytest.CaptureFixture[str]) -> None:
    """``wiresift detect`` prints one line per flow with the protocol and the reason."""
    assert main(["detect", str(SAMPLE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert all(" http (signature) " in line or " http (probe) " in line for line in lines)


def test_disable_switches_a_protocol_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--disable http`` reads the capture but extracts no HTTP object."""
    out = tmp_path / "o"
    assert main(["read", str(SAMPLE), "-o", str(out), "--disable", "http"]) == 0
    assert "objects   0 (none)" in capsys.readouterr().err
    assert list((out / "objects").glob("*.json")) == []


def test_read_takes_limits_and_flow_settings_from_a_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config`` applies the file's [limits], [flows] and [output] content settings: a
    100-byte store limit truncates every larger body."""
    config = tmp_path / "wiresift.toml"
    config.write_text("[limits]\nmax_stored_body = 100\n\n[flows]\nmax_flows = 10\n")
    out = tmp_path / "o"
    assert main(["read", str(SAMPLE), "-o", str(out), "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "objects   20 (http 20)" in err
    items = [
        item
        for path in sorted((out / "objects").glob("*.json"))
        for item in json.loads(path.read_bytes())["contents"]
    ]
    assert items
    assert all(item["size"] <= 100 for item in items)
    reasons = {item["truncated"] for item in items if item["size"] == 100}
    assert "size_limit" in reasons  # a compressed body stops decoding there instead:
    assert reasons <= {"size_limit", "decompression_limit"}


def test_invalid_config_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value in ``--config`` names the file, line and key, before anything is read."""
    config = tmp_path / "bad.toml"
    config.write_text("[flows]\nmax_flows = 0\n")
    for command in ("read", "detect"):
        assert main([command, str(SAMPLE), "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0
        assert err.startswith(f"wiresift: {config}:2: flows.max_flows")


def test_unknown_protocol_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown protocol name is refused with exit 2 before anything is read."""
    with pytest.raises(SystemExit) as exit_info:
        main(["read", str(SAMPLE), "--disable", "gopher"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_progress_bar_shows_the_share_of_input_read() -> None:
    """The terminal progress line names the file and the percentage of its bytes read."""
    import io  # noqa: PLC0415

    from wiresift.capture import open_source  # noqa: PLC0415
    from wiresift.cli import _Progress  # noqa: PLC0415

    stream = io.StringIO()
    with open_source(SAMPLE) as source:
        progress = _Progress(stream, source, 1, 2)
        for _packet in source:
            pass
        progress()
        progress.done()
    text = stream.getvalue()
    assert "[1/2] http-sample.pcap [" + "#" * 30 + "] 100.0%" in text
    assert text.endswith("\r")


def test_full_disk_is_one_line_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the disk fills up while objects are written, one line says so, exit 4."""
    import errno  # noqa: PLC0415
    import os  # noqa: PLC0415

    from wiresift.outputs import filestore  # noqa: PLC0415

    def no_space(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(filestore.os, "replace", no_space)
    assert main(["read", str(SAMPLE), "-o", str(tmp_path / "o")]) == 4
    assert "is full" in _one_line_error(capsys)


def test_packet_anomalies_reach_the_anomaly_log(tmp_path: Path) -> None:
    """A broken packet (no flow yet) is written to anomalies.jsonl with an empty flow."""
    from tests.pcapgen import TcpSession, write_pcap  # noqa: PLC0415

    session = TcpSession()
    session.handshake()
    ts, frame = session.frames[0]
    capture = tmp_path / "broken.pcap"
    write_pcap(capture, [(ts, frame[:20])])
    out = tmp_path / "o"
    assert main(["read", "-q", str(capture), "-o", str(out)]) == 0
    records = [json.loads(line) for line in (out / "anomalies.jsonl").read_text().splitlines()]
    assert [(r["flow"], r["name"]) for r in records] == [("", "ipv4_truncated")]
    assert records[0]["ts_ns"] == ts
