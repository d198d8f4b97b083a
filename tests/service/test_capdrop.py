"""The drop directory: readiness, ordering, after-actions, the journal and exactly-once output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import wiresift
from wiresift.service import capdrop
from wiresift.service.capdrop import (
    After,
    CapdropJournal,
    DropDirectory,
    DropFile,
    StagedOutput,
    recover,
)

OBJECTS_PER_FILE = 3
NAMES = ("a.pcap", "b.pcap", "c.pcap")
SECOND = 1_000_000_000


def put(path: Path, data: bytes = b"\xd4\xc3\xb2\xa1", mtime_s: int = 1_000) -> Path:
    """Write a file with a chosen mtime (whole seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_s * SECOND, mtime_s * SECOND))
    return path


def make_drop(
    root: Path,
    *,
    after: After = "move",
    recursive: bool = False,
    patterns: tuple[str, ...] = ("*.pcap",),
    stable_seconds: float = 0.0,
) -> DropDirectory:
    return DropDirectory(
        root,
        recursive=recursive,
        patterns=patterns,
        stable_seconds=stable_seconds,
        after=after,
        done_directory=None,
        failed_directory=None,
    )


def names(files: list[DropFile], root: Path) -> list[str]:
    return [str(f.path.relative_to(root)) for f in files]


# -- DropDirectory ---------------------------------------------------------------------------


def test_ready_is_oldest_first_by_mtime_then_name(tmp_path: Path) -> None:
    """Files come ordered by mtime, ties broken by path."""
    put(tmp_path / "z.pcap", mtime_s=100)
    put(tmp_path / "b.pcap", mtime_s=300)
    put(tmp_path / "a.pcap", mtime_s=300)
    put(tmp_path / "m.pcap", mtime_s=200)
    assert names(make_drop(tmp_path).ready(0.0), tmp_path) == [
        "z.pcap",
        "m.pcap",
        "a.pcap",
        "b.pcap",
    ]


def test_patterns_filter_names_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    """Only names matching a pattern are taken; hidden files and symlinks never are."""
    for name in ("a.pcap", "b.pcapng", "c.txt", ".d.pcap", "e.PCAP"):
        put(tmp_path / name)
    (tmp_path / "link.pcap").symlink_to(tmp_path / "a.pcap")
    drop = make_drop(tmp_path, patterns=("*.pcap", "*.pcapng"))
    assert names(drop.ready(0.0), tmp_path) == ["a.pcap", "b.pcapng"]
    assert names(make_drop(tmp_path, patterns=()).ready(0.0), tmp_path) == [
        "a.pcap",
        "b.pcapng",
        "c.txt",
        "e.PCAP",
    ]


def test_recursive_scans_subfolders_but_never_dot_done_or_failed(tmp_path: Path) -> None:
    """Subfolders count only when recursive; dot folders and done/failed folders never do."""
    put(tmp_path / "a.pcap", mtime_s=1)
    put(tmp_path / "sub" / "deep" / "b.pcap", mtime_s=2)
    put(tmp_path / ".hidden" / "c.pcap", mtime_s=3)
    put(tmp_path / ".done" / "d.pcap", mtime_s=4)
    put(tmp_path / "finished" / "e.pcap", mtime_s=5)
    assert names(make_drop(tmp_path).ready(0.0), tmp_path) == ["a.pcap"]
    drop = DropDirectory(
        tmp_path,
        recursive=True,
        patterns=["*.pcap"],
        stable_seconds=0.0,
        after="move",
        done_directory=tmp_path / "finished",
        failed_directory=None,
    )
    assert names(drop.ready(0.0), tmp_path) == ["a.pcap", "sub/deep/b.pcap"]


def test_file_open_for_writing_waits_for_close_and_stable_time(tmp_path: Path) -> None:
    """A file this process still holds open for writing is not ready until closed + stable."""
    drop = make_drop(tmp_path, stable_seconds=5.0)
    path = tmp_path / "a.pcap"
    with open(path, "wb") as writer:
        writer.write(b"\xd4\xc3\xb2\xa1")
        writer.flush()
        assert drop.ready(100.0) == []
        assert drop.ready(106.0) == []  # stable long enough, but still open
    assert names(drop.ready(107.0), tmp_path) == ["a.pcap"]


def test_file_open_only_for_reading_is_ready(tmp_path: Path) -> None:
    """A reader holding the file open does not hold it back."""
    put(tmp_path / "a.pcap")
    with open(tmp_path / "a.pcap", "rb"):
        assert names(make_drop(tmp_path).ready(0.0), tmp_path) == ["a.pcap"]


def test_without_proc_only_stability_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When /proc cannot be read, an open file is ready once stable."""
    monkeypatch.setattr(capdrop, "PROC_ROOT", str(tmp_path / "no-proc"))
    drop = make_drop(tmp_path / "drop", stable_seconds=2.0)
    with open(put(tmp_path / "drop" / "a.pcap"), "ab"):
        assert drop.ready(10.0) == []
        assert names(drop.ready(12.0), tmp_path / "drop") == ["a.pcap"]


def test_growing_file_is_not_ready(tmp_path: Path) -> None:
    """Each change of size restarts the stability clock."""
    drop = make_drop(tmp_path, stable_seconds=2.0)
    path = put(tmp_path / "a.pcap", b"x" * 10)
    assert drop.ready(0.0) == []
    with open(path, "ab") as f:
        f.write(b"y" * 10)
    assert drop.ready(3.0) == []
    assert drop.ready(4.0) == []
    [ready] = drop.ready(5.0)
    assert (ready.size, ready.path) == (20, path)


def test_skip_hides_files_already_handled(tmp_path: Path) -> None:
    """In leave mode a finished file stays in the folder but is skipped via the journal."""
    drop = make_drop(tmp_path, after="leave")
    journal = CapdropJournal(tmp_path / ".state")
    put(tmp_path / "a.pcap", mtime_s=1)
    put(tmp_path / "b.pcap", mtime_s=2)
    first = drop.ready(0.0)[0]
    journal.done(first)
    assert drop.finish(first) == first.path
    skip_done = lambda f: journal.is_finished(f.key)  # noqa: E731
    assert names(drop.ready(1.0, skip=skip_done), tmp_path) == ["b.pcap"]
    journal.close()


def test_key_names_one_version_of_a_file(tmp_path: Path) -> None:
    """The key is device:inode:size:mtime_ns and round-trips through from_key."""
    path = put(tmp_path / "a.pcap", b"12345", mtime_s=7)
    st = path.stat()
    [f] = make_drop(tmp_path).ready(0.0)
    assert f.key == f"{st.st_dev}:{st.st_ino}:5:{7 * SECOND}"
    assert DropFile.from_key(path, f.key) == f


def test_finish_move_keeps_subpath_and_numbers_collisions(tmp_path: Path) -> None:
    """Move goes to .done/<subpath>; an existing name gets .1, then .2."""
    drop = make_drop(tmp_path, recursive=True)
    put(tmp_path / ".done" / "sub" / "a.pcap")
    put(tmp_path / ".done" / "sub" / "a.1.pcap")
    put(tmp_path / "sub" / "a.pcap", b"new")
    [f] = drop.ready(0.0)
    assert drop.finish(f) == tmp_path / ".done" / "sub" / "a.2.pcap"
    assert (tmp_path / ".done" / "sub" / "a.2.pcap").read_bytes() == b"new"
    assert not (tmp_path / "sub" / "a.pcap").exists()


def test_finish_delete_and_leave(tmp_path: Path) -> None:
    """Delete removes the file and returns None; leave keeps it and returns its path."""
    put(tmp_path / "d" / "a.pcap")
    put(tmp_path / "l" / "a.pcap")
    [deleted] = make_drop(tmp_path / "d", after="delete").ready(0.0)
    [left] = make_drop(tmp_path / "l", after="leave").ready(0.0)
    assert make_drop(tmp_path / "d", after="delete").finish(deleted) is None
    assert not deleted.path.exists()
    assert make_drop(tmp_path / "l", after="leave").finish(left) == left.path
    assert left.path.read_bytes() == b"\xd4\xc3\xb2\xa1"


def test_finish_tolerates_vanished_and_replaced_files(tmp_path: Path) -> None:
    """A file gone returns None; a newer version at the same path is left alone."""
    drop = make_drop(tmp_path)
    put(tmp_path / "a.pcap")
    [f] = drop.ready(0.0)
    f.path.unlink()
    assert drop.finish(f) is None
    put(tmp_path / "a.pcap", b"a newer version", mtime_s=2_000)
    assert drop.finish(f) is None
    assert (tmp_path / "a.pcap").read_bytes() == b"a newer version"
    assert not (tmp_path / ".done").exists()


def test_fail_moves_file_and_writes_reason(tmp_path: Path) -> None:
    """fail() moves into .failed and writes <name>.reason.txt with reason and size."""
    drop = make_drop(tmp_path, recursive=True)
    put(tmp_path / "sub" / "bad.pcap", b"junk")
    [f] = drop.ready(0.0)
    moved = drop.fail(f, "unknown capture format")
    assert moved == tmp_path / ".failed" / "sub" / "bad.pcap"
    assert moved.read_bytes() == b"junk"
    lines = (tmp_path / ".failed" / "sub" / "bad.pcap.reason.txt").read_text().splitlines()
    assert lines[0] == "reason: unknown capture format"
    assert lines[1].startswith("time: 20")
    assert lines[2:] == ["size: 4", f"file: {f.path}"]
    assert sorted(p.name for p in moved.parent.iterdir()) == ["bad.pcap", "bad.pcap.reason.txt"]


def test_fail_of_vanished_file_still_records_reason(tmp_path: Path) -> None:
    """A file gone before fail() leaves only its reason file."""
    drop = make_drop(tmp_path)
    put(tmp_path / "a.pcap")
    [f] = drop.ready(0.0)
    f.path.unlink()
    moved = drop.fail(f, "gone")
    assert not moved.exists()
    assert (tmp_path / ".failed" / "a.pcap.reason.txt").read_text().startswith("reason: gone\n")


# -- CapdropJournal --------------------------------------------------------------------------


def fake(path: str, inode: int) -> DropFile:
    return DropFile(Path(path), size=10, mtime_ns=inode * SECOND, inode=inode, device=1)


def test_journal_states_and_pending(tmp_path: Path) -> None:
    """States survive a reopen; pending lists begun and committed entries only."""
    journal = CapdropJournal(tmp_path)
    a, b, c = fake("/d/a", 1), fake("/d/b", 2), fake("/d/c", 3)
    journal.begin(a)
    journal.begin(b)
    journal.committed(b, 42)
    journal.begin(c)
    journal.done(a)
    journal.failed(c, "bad")
    journal.close()
    again = CapdropJournal(tmp_path)
    assert [again.state(f.key) for f in (a, b, c)] == ["done", "committed", "failed"]
    assert again.state("9:9:9:9") is None
    assert [again.is_finished(f.key) for f in (a, b, c)] == [True, False, True]
    [entry] = again.pending()
    assert (entry.key, entry.path, entry.state, entry.jsonl_offset) == (
        b.key,
        Path("/d/b"),
        "committed",
        42,
    )
    assert again.entries()[2].reason == "bad"
    again.close()


def test_journal_ignores_torn_last_line(tmp_path: Path) -> None:
    """A half-written last record is dropped and the next record starts a clean line."""
    journal = CapdropJournal(tmp_path)
    a, b = fake("/d/a", 1), fake("/d/b", 2)
    journal.begin(a)
    journal.close()
    with open(tmp_path / "capdrop.journal", "ab") as f:
        f.write(b'{"key":"1:2:10:2000000000","path":"/d/b","sta')
    reopened = CapdropJournal(tmp_path)
    assert (reopened.state(a.key), reopened.state(b.key), reopened.records) == ("begun", None, 1)
    reopened.begin(b)
    reopened.close()
    lines = (tmp_path / "capdrop.journal").read_bytes().splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["begun", "begun"]
    last = CapdropJournal(tmp_path)
    assert [e.key for e in last.pending()] == [a.key, b.key]
    last.close()


def test_compaction_keeps_state(tmp_path: Path) -> None:
    """Past max_records the journal is rewritten with live entries; state is unchanged."""
    journal = CapdropJournal(tmp_path, max_records=10)
    files = [fake(f"/d/{n}", n) for n in range(1, 31)]
    for f in files:
        journal.begin(f)
        journal.done(f)
    journal.begin(files[0])  # again: pending
    journal.close()
    lines = (tmp_path / "capdrop.journal").read_bytes().splitlines()
    assert len(lines) < 61
    reopened = CapdropJournal(tmp_path, max_records=10)
    assert reopened.records == len(lines)
    assert [reopened.state(f.key) for f in files] == ["begun"] + ["done"] * 29
    reopened.close()


def test_compaction_drops_finished_files_that_left_when_not_kept(tmp_path: Path) -> None:
    """With keep_finished off, finished entries whose file has gone are dropped."""
    drop = make_drop(tmp_path)
    for n in range(3):
        put(tmp_path / f"{n}.pcap", mtime_s=n + 1)
    still_here, moved, pending = drop.ready(0.0)
    journal = CapdropJournal(tmp_path / ".state", max_records=5, keep_finished=False)
    journal.begin(pending)
    for f in (still_here, moved):
        journal.begin(f)
        journal.done(f)
    drop.finish(moved)
    journal.committed(pending, 7)  # sixth record: compaction
    assert journal.records == 2
    journal.close()
    reopened = CapdropJournal(tmp_path / ".state", max_records=5, keep_finished=False)
    assert [(e.path.name, e.state) for e in reopened.entries()] == [
        ("2.pcap", "committed"),
        ("0.pcap", "done"),
    ]
    reopened.close()


# -- the protocol, crash by crash ------------------------------------------------------------


def stage(output: StagedOutput, f: DropFile) -> None:
    """What the passport sinks would write for one file: passports and JSON lines."""
    staging = output.staging_dir(f.key)
    (staging / "objects").mkdir(exist_ok=True)
    with open(staging / "objects.jsonl", "ab") as jsonl:
        for n in range(OBJECTS_PER_FILE):
            line = json.dumps({"id": f"{f.path.stem}-{n}"}).encode() + b"\n"
            (staging / "objects" / f"{f.path.stem}-{n}.json").write_bytes(line)
            jsonl.write(line)


class Service:
    """The runner's side of the protocol, able to stop after any step."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.drop = make_drop(root / "drop")
        self.journal = CapdropJournal(root / "state")
        self.output = StagedOutput(root / "out", root / "state", jsonl=True)

    def process(self, f: DropFile, stop: str | None = None) -> int | None:
        self.journal.begin(f)
        if stop == "begin":
            return None
        stage(self.output, f)
        self.output.sync(f.key)
        if stop == "staged":
            return None
        offset = self.output.current_jsonl_offset()
        self.journal.committed(f, offset)
        if stop == "committed":
            return None
        if stop == "mid-publish":
            self.half_publish(f, offset)
            return None
        published = self.output.publish(f.key, offset)
        if stop == "published":
            return published
        self.journal.done(f)
        if stop == "done":
            return published
        self.drop.finish(f)
        return published

    def half_publish(self, f: DropFile, offset: int | None) -> None:
        """The state a crash mid-publish leaves: some passports moved, half a jsonl line."""
        staging = self.output.staging_dir(f.key)
        for path in sorted((staging / "objects").iterdir())[:2]:
            os.replace(path, self.root / "out" / "objects" / path.name)
        staged = (staging / "objects.jsonl").read_bytes()
        with open(self.root / "out" / "objects.jsonl", "ab") as real:
            assert real.tell() == offset
            real.write(staged[: len(staged) // 2])

    def run_all(self) -> list[int]:
        """Start-up: recovery, then every ready file."""
        counts = [self.process(f) or 0 for f in recover(self.journal, self.drop, self.output)]
        skip = lambda f: self.journal.is_finished(f.key)  # noqa: E731
        counts += [self.process(f) or 0 for f in self.drop.ready(0.0, skip=skip)]
        return counts

    def close(self) -> None:
        self.journal.close()


def assert_exactly_once(root: Path) -> None:
    """Every object once in objects/ and in objects.jsonl; every file in .done; no leftovers."""
    expected = sorted(f"{Path(n).stem}-{i}" for n in NAMES for i in range(OBJECTS_PER_FILE))
    objects = root / "out" / "objects"
    assert sorted(p.name for p in objects.iterdir()) == [f"{e}.json" for e in expected]
    for e in expected:
        assert json.loads((objects / f"{e}.json").read_bytes()) == {"id": e}
    lines = (root / "out" / "objects.jsonl").read_bytes().splitlines()
    assert Counter(json.loads(line)["id"] for line in lines) == dict.fromkeys(expected, 1)
    assert sorted(p.name for p in (root / "drop").iterdir()) == [".done"]
    assert sorted(p.name for p in (root / "drop" / ".done").iterdir()) == list(NAMES)
    assert list((root / "state" / "staging").iterdir()) == []
    journal = CapdropJournal(root / "state")
    assert journal.pending() == []
    assert {e.state for e in journal.entries()} == {"done"}
    journal.close()


def put_three(root: Path) -> None:
    for n, name in enumerate(NAMES):
        put(root / "drop" / name, mtime_s=n + 1)


CRASH_POINTS = ("begin", "staged", "committed", "mid-publish", "published", "done")


@pytest.mark.parametrize("stop", CRASH_POINTS)
def test_crash_at_each_step_then_recovery_is_exactly_once(tmp_path: Path, stop: str) -> None:
    """Stopping after any protocol step, recovery plus a normal run delivers each object once."""
    put_three(tmp_path)
    first = Service(tmp_path)
    a, b, _ = first.drop.ready(0.0)
    assert first.process(a) == OBJECTS_PER_FILE
    first.process(b, stop=stop)
    first.close()  # the crash: nothing of the first instance is used again
    second = Service(tmp_path)
    counts = second.run_all()
    second.close()
    # The second run processes c, and b again only if b never reached "committed".
    reprocessed = 2 if stop in {"begin", "staged"} else 1
    assert sum(counts) == reprocessed * OBJECTS_PER_FILE
    assert_exactly_once(tmp_path)


def test_publish_interrupted_by_an_error_finishes_with_exact_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that dies after one rename is completed by recovery and counts all objects."""
    put_three(tmp_path)
    service = Service(tmp_path)
    a, b, c = service.drop.ready(0.0)
    real_replace = os.replace
    moved: list[str] = []

    def replace_once(src: str | Path, dst: str | Path) -> None:
        if "/out/objects/" in str(dst):
            if moved:
                raise OSError(28, "No space left on device")
            moved.append(str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_once)
    with pytest.raises(OSError, match="No space left"):
        service.process(a)
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(list((tmp_path / "out" / "objects").iterdir())) == 1
    service.close()
    again = Service(tmp_path)
    assert recover(again.journal, again.drop, again.output) == []
    assert again.journal.state(a.key) == "done"
    assert [again.process(f) for f in (b, c)] == [OBJECTS_PER_FILE, OBJECTS_PER_FILE]
    again.close()
    assert_exactly_once(tmp_path)


def test_publish_reports_exact_count_after_partial_run(tmp_path: Path) -> None:
    """A second publish after a cut-short first one still returns the full count once."""
    output = StagedOutput(tmp_path / "out", tmp_path / "state", jsonl=False)
    f = fake(str(tmp_path / "x.pcap"), 5)
    stage(output, f)
    assert output.current_jsonl_offset() is None
    assert output.publish(f.key, None) == OBJECTS_PER_FILE
    assert output.publish(f.key, None) == 0
    assert not (tmp_path / "out" / "objects.jsonl").exists()


def test_recovery_when_the_drop_file_is_gone(tmp_path: Path) -> None:
    """Committed files still publish without their file; begun ones are marked failed."""
    put_three(tmp_path)
    first = Service(tmp_path)
    a, b, c = first.drop.ready(0.0)
    first.process(a, stop="committed")
    first.process(b, stop="staged")
    a.path.unlink()
    b.path.unlink()
    first.close()
    second = Service(tmp_path)
    assert recover(second.journal, second.drop, second.output) == []
    assert [second.journal.state(f.key) for f in (a, b, c)] == ["done", "failed", None]
    assert sorted(p.name for p in (tmp_path / "out" / "objects").iterdir()) == [
        "a-0.json",
        "a-1.json",
        "a-2.json",
    ]
    assert list((tmp_path / "state" / "staging").iterdir()) == []
    second.close()


def test_discard_removes_staging(tmp_path: Path) -> None:
    """discard() removes a staging folder and is harmless when there is none."""
    output = StagedOutput(tmp_path / "out", tmp_path / "state", jsonl=True)
    staging = output.staging_dir("1:2:3:4")
    assert staging == tmp_path / "state" / "staging" / "1-2-3-4"
    stage(output, fake("/d/x.pcap", 2))
    output.discard("1:2:3:4")
    output.discard("1:2:3:4")
    assert sorted(p.name for p in (tmp_path / "state" / "staging").iterdir()) == [
        "1-2-10-2000000000"
    ]


# -- a real kill -----------------------------------------------------------------------------

SCRIPT: str = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from wiresift.service import capdrop

    root, kill_at = Path(sys.argv[1]), sys.argv[2]
    drop = capdrop.DropDirectory(
        root / "drop", recursive=False, patterns=["*.pcap"], stable_seconds=0.0,
        after="move", done_directory=None, failed_directory=None)
    journal = capdrop.CapdropJournal(root / "state")
    output = capdrop.StagedOutput(root / "out", root / "state", jsonl=True)
    current = [""]

    def point(name):
        if name == kill_at and current[0] == "b.pcap":
            os.kill(os.getpid(), signal.SIGKILL)

    real_replace, real_write_all = os.replace, capdrop._write_all
    def replace(src, dst):
        if "/out/objects/" in str(dst) and os.path.basename(dst) == "b-1.json":
            point("mid-publish")
        real_replace(src, dst)
    def write_all(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/out/objects.jsonl"):
            if kill_at == "mid-jsonl" and current[0] == "b.pcap":
                os.write(fd, data[: len(data) // 2])
            point("mid-jsonl")
        real_write_all(fd, data)
    os.replace, capdrop._write_all = replace, write_all

    def process(f):
        current[0] = f.path.name
        journal.begin(f); point("begin")
        staging = output.staging_dir(f.key)
        (staging / "objects").mkdir(exist_ok=True)
        with open(staging / "objects.jsonl", "ab") as jsonl:
            for n in range(3):
                line = json.dumps({"id": f"{f.path.stem}-{n}"}).encode() + b"\\n"
                (staging / "objects" / f"{f.path.stem}-{n}.json").write_bytes(line)
                jsonl.write(line)
        output.sync(f.key); point("staged")
        offset = output.current_jsonl_offset()
        journal.committed(f, offset); point("committed")
        output.publish(f.key, offset); point("published")
        journal.done(f); point("done")
        drop.finish(f)

    for f in capdrop.recover(journal, drop, output):
        process(f)
    for f in drop.ready(0.0, skip=lambda f: journal.is_finished(f.key)):
        process(f)
    """
)


@pytest.mark.parametrize(
    "kill_at", ["begin", "staged", "committed", "mid-publish", "mid-jsonl", "published", "done"]
)
def test_sigkill_then_rerun_is_exactly_once(tmp_path: Path, kill_at: str) -> None:
    """A process killed by SIGKILL at a protocol step, then run again, delivers each object once."""
    put_three(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(wiresift.__file__).parent.parent)}
    killed = subprocess.run(
        [sys.executable, str(script), str(tmp_path), kill_at], env=env, check=False, timeout=30
    )
    assert killed.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (tmp_path / "drop").glob("*.pcap")) == ["b.pcap", "c.pcap"]
    rerun = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "never"], env=env, check=False, timeout=30
    )
    assert rerun.returncode == 0
    assert_exactly_once(tmp_path)
