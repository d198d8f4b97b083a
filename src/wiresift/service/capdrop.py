"""The drop directory: capture files left in a watched folder, processed oldest first, once.

Theory of operation. ``DropDirectory`` polls the folder. A file is ready once its writer has
closed it (no process holds it open for writing in ``/proc/*/fd``; Linux only, and when
``/proc`` cannot be read only the next rule applies) and its size and mtime have not changed
for ``stable_seconds``. Ready files come oldest first (mtime, then path). A file is known by
its *key*, ``device:inode:size:mtime_ns``: the same name written again is a new file, and to
make the service read a file again it is enough to ``touch`` it.

Exactly-once delivery of one file's objects (``CapdropJournal`` + ``StagedOutput``)::

    journal.begin(f)
    process f with the passport sinks pointed at output.staging_dir(f.key)
        (objects/<id>.json and objects.jsonl land in staging; content files go straight to
        the real content store, which is content-addressed and so idempotent)
    output.sync(f.key)                                  # staged files durable
    journal.committed(f, output.current_jsonl_offset())
    output.publish(f.key, offset)                       # rename objects, append jsonl
    journal.done(f)
    drop.finish(f)                                      # move / delete / leave
    (failure at any step before committed: output.discard(f.key); journal.failed(f, why);
     drop.fail(f, why))

Recovery on start, ``recover(journal, drop, output)``, for every journal entry:

- ``begun``: the staging folder is discarded and the file is returned to be processed again
  (or marked failed when it has left the folder);
- ``committed``: ``publish`` runs again with the recorded offset, then ``done`` and ``finish``;
- ``done`` with the file still in the folder (crash between done and move): ``finish`` only;
- ``failed`` with the file still in the folder: ``fail`` again.

``publish`` can run any number of times: staged passports move with ``os.replace`` (a name
already moved is simply absent from staging), and the real ``objects.jsonl`` is first cut
back to the offset recorded in the ``committed`` record, then the staged lines are appended
and fsynced. The staging folder leaves by one atomic rename only after all of that, so
staging present means "publish not finished" and staging absent means "published".

Cutting ``objects.jsonl`` back is safe only because one process owns that file: nothing else
may append to it while the service runs (one service per output folder and state folder;
other inputs of the same process must not write the same ``objects.jsonl`` between
``committed`` and ``done``).

Scan with ``drop.ready(now, skip=lambda f: journal.is_finished(f.key))`` in every mode: a file
whose move failed is then not read twice. Open the journal with ``keep_finished=True`` for
``after="leave"`` (finished files stay in the folder and are skipped for ever) and ``False``
for move and delete.

Records in the journal are JSON lines, each written with one ``write`` and fsynced. A torn
last line (a crash mid-write) is cut off when the journal is opened.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from wiresift.outputs.filestore import OBJECTS_DIR

__all__ = [
    "After",
    "CapdropJournal",
    "DropDirectory",
    "DropFile",
    "JournalEntry",
    "StagedOutput",
    "State",
    "recover",
]

After = Literal["move", "delete", "leave"]
State = Literal["begun", "committed", "done", "failed"]

STATES: Final[frozenset[str]] = frozenset(get_args(State))
FINISHED: Final = frozenset({"done", "failed"})
DONE_NAME: Final = ".done"
FAILED_NAME: Final = ".failed"
REASON_SUFFIX: Final = ".reason.txt"
# Where open file descriptors are listed (proc(5): /proc/<pid>/fd and /proc/<pid>/fdinfo).
PROC_ROOT: Final = "/proc"
# Access mode bits of the "flags:" line of /proc/<pid>/fdinfo/<fd> (open(2) O_ACCMODE).
ACCESS_MODE_MASK: Final = 0o3
READ_ONLY: Final = 0o0

JOURNAL_NAME: Final = "capdrop.journal"
JOURNAL_TMP_NAME: Final = "capdrop.journal.tmp"
# Records written before the journal is rewritten with only its live entries.
DEFAULT_MAX_RECORDS: Final = 10_000
STAGING_DIR: Final = "staging"
JSONL_NAME: Final = "objects.jsonl"
# The list of passports a publish moves, written once before the first move (exact count).
MANIFEST_NAME: Final = "publish.list"
TRASH_PREFIX: Final = ".trash-"
COPY_BLOCK: Final = 1024 * 1024
_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class DropFile:
    """One version of one file in the drop directory, as stat(2) saw it."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    device: int

    @property
    def key(self) -> str:
        """Stable name of this version: a rewrite changes size or mtime, a new file the inode."""
        return f"{self.device}:{self.inode}:{self.size}:{self.mtime_ns}"

    @classmethod
    def from_stat(cls, path: Path, st: os.stat_result) -> DropFile:
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    @classmethod
    def from_key(cls, path: Path, key: str) -> DropFile:
        """The file a journal entry names; ValueError if ``key`` is not one of ours."""
        device, inode, size, mtime_ns = (int(part) for part in key.split(":"))
        return cls(path, size, mtime_ns, inode, device)


def _current(f: DropFile) -> bool:
    """The path still holds this version of the file."""
    try:
        st = os.lstat(f.path)
    except OSError:
        return False
    return DropFile.from_stat(f.path, st).key == f.key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: temporary name, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem.N.suffix`` with the first N that is not taken."""
    candidate = folder / name
    if not os.path.lexists(candidate):
        return candidate
    plain = Path(name)
    for number in itertools.count(1):
        candidate = folder / f"{plain.stem}.{number}{plain.suffix}"
        if not os.path.lexists(candidate):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _move(src: Path, dest: Path) -> bool:
    """Rename ``src`` to ``dest`` (copying across filesystems); False if ``src`` is gone."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another filesystem: copy under a hidden name, then rename, so the destination
        # never shows a half-copied file; the source goes last.
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            shutil.copy2(src, tmp)
        except FileNotFoundError:
            return False
        with open(tmp, "rb+") as copied:
            os.fsync(copied.fileno())
        os.replace(tmp, dest)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(src)
    return True


def _writers(paths: set[str]) -> set[str] | None:
    """Those of ``paths`` (real paths) some process holds open for writing; None when the
    process table cannot be read (not Linux, /proc not mounted or hidden)."""
    try:
        pids = [name for name in os.listdir(PROC_ROOT) if name.isdigit()]
    except OSError:
        return None
    busy: set[str] = set()
    for pid in pids:
        fd_dir = f"{PROC_ROOT}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's process (readable only by root)
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in paths and target not in busy and _open_for_writing(pid, fd):
                busy.add(target)
    return busy


def _open_for_writing(pid: str, fd: str) -> bool:
    """The descriptor's access mode is not read-only (unknown counts as writing)."""
    try:
        with open(f"{PROC_ROOT}/{pid}/fdinfo/{fd}", "rb") as info:
            for line in info:
                if line.startswith(b"flags:"):
                    return int(line.split()[1], 8) & ACCESS_MODE_MASK != READ_ONLY
    except (OSError, ValueError, IndexError):
        return True
    return True


class DropDirectory:
    """The watched folder and its files; knows nothing of the engine.

    ``patterns`` are shell patterns matched against file names (none: every file). Folders
    whose name starts with "." (so the default ``.done`` and ``.failed``), the done and failed
    folders wherever they are, hidden files (writers often fill ``.name.part`` then rename it)
    and symbolic links are never taken. Symbolic links to folders are not followed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        recursive: bool,
        patterns: Sequence[str],
        stable_seconds: float,
        after: After,
        done_directory: Path | None,
        failed_directory: Path | None,
    ) -> None:
        if after not in get_args(After):
            raise ValueError(f"after must be move, delete or leave, not {after!r}")
        self.directory = directory
        self.recursive = recursive
        self.patterns = tuple(patterns)
        self.stable_seconds = stable_seconds
        self.after: After = after
        self.done_directory = done_directory or directory / DONE_NAME
        self.failed_directory = failed_directory or directory / FAILED_NAME
        # path -> (size, mtime_ns, time first seen with them)
        self._seen: dict[str, tuple[int, int, float]] = {}

    def ready(self, now: float, skip: Callable[[DropFile], bool] | None = None) -> list[DropFile]:
        """Complete files, oldest first; ``skip`` drops files already handled (the journal)."""
        seen: dict[str, tuple[int, int, float]] = {}
        stable: list[DropFile] = []
        for f in self._scan():
            known = self._seen.get(str(f.path))
            if known is not None and known[0] == f.size and known[1] == f.mtime_ns:
                since = known[2]
            else:
                since = now
            seen[str(f.path)] = (f.size, f.mtime_ns, since)
            if now - since >= self.stable_seconds and (skip is None or not skip(f)):
                stable.append(f)
        self._seen = seen  # forget files that left
        if stable:
            stable = self._closed(stable)
        stable.sort(key=lambda f: (f.mtime_ns, str(f.path)))
        return stable

    def holds(self, f: DropFile) -> bool:
        """This version of the file is still at its path."""
        return _current(f)

    def finish(self, f: DropFile) -> Path | None:
        """Apply ``after``: the path in the done folder (move), the file's own path (leave),
        or None (deleted, or the file is gone or was replaced by a newer version)."""
        if not _current(f):
            return None
        if self.after == "leave":
            return f.path
        if self.after == "delete":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.path)
            return None
        dest = _free_name(*self._destination(self.done_directory, f))
        return dest if _move(f.path, dest) else None

    def fail(self, f: DropFile, reason: str) -> Path:
        """Move the file into the failed folder and write ``<name>.reason.txt`` beside it.

        The reason file is written even when the file has gone meanwhile (then the returned
        path, where the file would have been, does not exist).
        """
        dest = _free_name(*self._destination(self.failed_directory, f))
        if _current(f):
            _move(f.path, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = f"reason: {reason}\ntime: {when}\nsize: {f.size}\nfile: {f.path}\n"
        _write_atomic(dest.with_name(dest.name + REASON_SUFFIX), os.fsencode(text))
        return dest

    def _destination(self, folder: Path, f: DropFile) -> tuple[Path, str]:
        """(folder, name) keeping the file's path relative to the drop directory."""
        try:
            relative = f.path.relative_to(self.directory)
        except ValueError:
            return folder, f.path.name
        return folder / relative.parent, relative.name

    def _scan(self) -> Iterator[DropFile]:
        excluded = {
            os.path.realpath(self.done_directory),
            os.path.realpath(self.failed_directory),
        }
        pending = [str(self.directory)]
        while pending:
            folder = pending.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue  # vanished or unreadable: nothing to take from it
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if self.recursive and os.path.realpath(entry.path) not in excluded:
                            pending.append(entry.path)
                        continue
                    if not entry.is_file(follow_symlinks=False) or not self._matches(entry.name):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield DropFile.from_stat(Path(entry.path), st)

    def _matches(self, name: str) -> bool:
        if not self.patterns:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)

    def _closed(self, files: list[DropFile]) -> list[DropFile]:
        """``files`` without those a process still holds open for writing (one /proc scan)."""
        root = str(self.directory)
        real_root = os.path.realpath(root)
        real = {str(f.path): real_root + str(f.path)[len(root) :] for f in files}
        busy = _writers(set(real.values()))
        if busy is None:
            return files
        return [f for f in files if real[str(f.path)] not in busy]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """The last known state of one file version."""

    key: str
    path: Path
    state: State
    jsonl_offset: int | None
    reason: str = ""


class CapdropJournal:
    """Append-only, fsynced journal of file states, in ``<state_directory>/capdrop.journal``.

    ``keep_finished``: keep done and failed entries forever (``after="leave"``, where the
    files stay in the folder and must be skipped). Otherwise compaction drops a finished
    entry once its file has left its path. Compaction runs when the journal holds more than
    ``max_records`` records (and twice its live entries, so it never runs on every write).
    """

    def __init__(
        self,
        state_directory: Path,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        keep_finished: bool = True,
    ) -> None:
        self.state_directory = state_directory
        self.max_records = max_records
        self.keep_finished = keep_finished
        state_directory.mkdir(parents=True, exist_ok=True)
        self._path = state_directory / JOURNAL_NAME
        self._entries: dict[str, JournalEntry] = {}
        self._records = 0
        self._compact_at = max_records
        self._load()
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fsync_dir(state_directory)

    # -- writes ---------------------------------------------------------------------------

    def begin(self, f: DropFile) -> None:
        self._append(JournalEntry(f.key, f.path, "begun", None))

    def committed(self, f: DropFile, jsonl_offset: int | None) -> None:
        self._append(JournalEntry(f.key, f.path, "committed", jsonl_offset))

    def done(self, f: DropFile) -> None:
        self._append(JournalEntry(f.key, f.path, "done", None))

    def failed(self, f: DropFile, reason: str) -> None:
        self._append(JournalEntry(f.key, f.path, "failed", None, reason))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- queries --------------------------------------------------------------------------

    def state(self, key: str) -> State | None:
        entry = self._entries.get(key)
        return None if entry is None else entry.state

    def is_finished(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.state in FINISHED

    def pending(self) -> list[JournalEntry]:
        """Entries begun or committed but not finished, in the order they began."""
        return [e for e in self._entries.values() if e.state not in FINISHED]

    def entries(self) -> list[JournalEntry]:
        """Every live entry, in the order they began."""
        return list(self._entries.values())

    @property
    def records(self) -> int:
        """Records in the journal file now."""
        return self._records

    # -- internals ------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A torn last record: the write never completed, so it never happened. Cut it
            # off so that the next record starts on a line of its own.
            os.truncate(self._path, end)
        for line in data[:end].splitlines():
            entry = self._decode(line)
            if entry is not None:
                self._entries[entry.key] = entry
                self._records += 1
        self._compact_at = max(self.max_records, 2 * len(self._entries))

    @staticmethod
    def _decode(line: bytes) -> JournalEntry | None:
        try:
            record = json.loads(line)
            key, state, offset = record["key"], record["state"], record["jsonl_offset"]
            path, reason = record["path"], record.get("reason", "")
        except (ValueError, KeyError, TypeError):
            return None
        if (
            not isinstance(key, str)
            or not isinstance(path, str)
            or state not in STATES
            or not (offset is None or isinstance(offset, int))
            or not isinstance(reason, str)
        ):
            return None
        return JournalEntry(key, Path(path), state, offset, reason)

    @staticmethod
    def _encode(entry: JournalEntry) -> bytes:
        record: dict[str, object] = {
            "key": entry.key,
            "path": os.fspath(entry.path),  # undecodable bytes travel as \udcXX escapes
            "state": entry.state,
            "jsonl_offset": entry.jsonl_offset,
            "ts": round(time.time(), 3),
        }
        if entry.reason:
            record["reason"] = entry.reason
        return json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n"

    def _append(self, entry: JournalEntry) -> None:
        if self._fd < 0:
            raise ValueError("the journal is closed")
        _write_all(self._fd, self._encode(entry))
        os.fsync(self._fd)
        if entry.state == "begun":
            self._entries.pop(entry.key, None)  # a new attempt goes to the end of the order
        self._entries[entry.key] = entry
        self._records += 1
        if self._records > self._compact_at:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the journal with its live entries only (temporary file, then rename)."""
        if not self.keep_finished:
            self._entries = {
                key: e
                for key, e in self._entries.items()
                if e.state not in FINISHED or _current(DropFile.from_key(e.path, key))
            }
        tmp = self.state_directory / JOURNAL_TMP_NAME
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, b"".join(self._encode(e) for e in self._entries.values()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        _fsync_dir(self.state_directory)
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        self._records = len(self._entries)
        self._compact_at = max(self.max_records, 2 * self._records)


class StagedOutput:
    """Passports of one file are staged under ``<state>/staging/<key>`` and published at once.

    ``output_root`` is the real output folder (``objects/``, ``objects.jsonl``, ``content/``).
    """

    def __init__(self, output_root: Path, state_directory: Path, *, jsonl: bool) -> None:
        self.output_root = output_root
        self.jsonl = jsonl
        self._staging_root = state_directory / STAGING_DIR
        self._staging_root.mkdir(parents=True, exist_ok=True)
        self._trash = itertools.count()
        for leftover in self._staging_root.glob(TRASH_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)  # removal cut short by a crash

    def staging_dir(self, key: str) -> Path:
        """The staging folder of ``key`` (created): point the passport sinks here."""
        path = self._staging(key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sync(self, key: str) -> None:
        """Make the staged passports durable (fsync files and folders) before ``committed``."""
        staging = self._staging(key)
        objects = staging / OBJECTS_DIR
        files = [*objects.glob("*.json"), staging / JSONL_NAME]
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in (objects, staging, self._staging_root):
            with contextlib.suppress(FileNotFoundError):
                _fsync_dir(folder)

    def discard(self, key: str) -> None:
        """Remove the staging folder of ``key`` (nothing happens if there is none)."""
        self._remove(self._staging(key))

    def discard_others(self, keep: set[str]) -> None:
        """Remove every staging folder but those of ``keep`` (leftovers of lost entries)."""
        names = {self._staging(key).name for key in keep}
        for folder in self._staging_root.iterdir():
            if folder.name not in names and not folder.name.startswith(TRASH_PREFIX):
                self._remove(folder)

    def current_jsonl_offset(self) -> int | None:
        """Size of the real ``objects.jsonl`` now (None when JSON lines are off)."""
        if not self.jsonl:
            return None
        try:
            return os.stat(self.output_root / JSONL_NAME).st_size
        except FileNotFoundError:
            return 0

    def publish(self, key: str, jsonl_offset: int | None) -> int:
        """Move the staged passports into the output; return how many there were.

        Idempotent: after a crash part-way it finishes the job without duplicates. With no
        staging folder left the publish had finished and nothing is done (returns 0).
        """
        staging = self._staging(key)
        if not staging.is_dir():
            return 0
        names = self._manifest(staging)
        objects = self.output_root / OBJECTS_DIR
        objects.mkdir(parents=True, exist_ok=True)
        staged = staging / OBJECTS_DIR
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # moved before a crash
                os.replace(staged / name, objects / name)
        _fsync_dir(objects)
        if self.jsonl:
            self._append_jsonl(staging / JSONL_NAME, jsonl_offset)
        self._remove(staging)
        return len(names)

    def _staging(self, key: str) -> Path:
        return self._staging_root / _UNSAFE_NAME.sub("_", key.replace(":", "-"))

    @staticmethod
    def _manifest(staging: Path) -> list[str]:
        """Names to publish, fixed by the first publish attempt (for an exact count)."""
        manifest = staging / MANIFEST_NAME
        try:
            return manifest.read_bytes().decode("utf-8", "surrogateescape").splitlines()
        except FileNotFoundError:
            pass
        names = sorted(p.name for p in (staging / OBJECTS_DIR).glob("*.json"))
        _write_atomic(manifest, "".join(n + "\n" for n in names).encode("utf-8", "surrogateescape"))
        return names

    def _append_jsonl(self, staged: Path, offset: int | None) -> None:
        """Cut the real objects.jsonl back to ``offset``, then append the staged lines."""
        self.output_root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.output_root / JSONL_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if offset is not None and offset < size:
                # Lines past the offset are this file's, from a publish cut short.
                os.ftruncate(fd, offset)
                size = offset
            # A file shorter than the offset was rotated by hand: append, never pad.
            os.lseek(fd, size, os.SEEK_SET)
            with contextlib.suppress(FileNotFoundError), open(staged, "rb") as source:
                while block := source.read(COPY_BLOCK):
                    _write_all(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove(self, folder: Path) -> None:
        """Remove a folder by one atomic rename first, so it is either whole or absent."""
        trash = folder.with_name(f"{TRASH_PREFIX}{folder.name}-{os.getpid()}-{next(self._trash)}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        _fsync_dir(folder.parent)
        shutil.rmtree(trash, ignore_errors=True)


def recover(journal: CapdropJournal, drop: DropDirectory, output: StagedOutput) -> list[DropFile]:
    """Finish what a crash interrupted; return the files to process again, oldest first.

    Call once at start, before any new file is begun. Files that left the folder are
    handled: a committed file is still published; a begun one is marked failed.
    """
    again: list[DropFile] = []
    for entry in journal.entries():
        f = DropFile.from_key(entry.path, entry.key)
        if entry.state == "begun":
            output.discard(entry.key)
            if drop.holds(f):
                again.append(f)
            else:
                journal.failed(f, "the file left the drop directory before it was processed")
        elif entry.state == "committed":
            output.publish(entry.key, entry.jsonl_offset)
            journal.done(f)
            drop.finish(f)
        elif entry.state == "done":
            if drop.holds(f):
                drop.finish(f)
        elif drop.holds(f):
            output.discard(entry.key)
            drop.fail(f, entry.reason)
    output.discard_others({f.key for f in again})
    again.sort(key=lambda f: (f.mtime_ns, str(f.path)))
    return again
