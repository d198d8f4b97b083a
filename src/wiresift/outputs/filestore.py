"""Content files and passports on disk, written atomically."""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import BinaryIO, Final

from wiresift.model import ObjectRecord

# Content streams through a buffer of this size before reaching the kernel.
WRITE_BUFFER: Final = 128 * 1024
# Content smaller than this is held in memory until its hash is known ...
SPILL_THRESHOLD: Final = 256 * 1024
# ... as long as all contents held together stay under this budget (peak RSS stays bounded
# whatever the number of open connections).
MEMORY_BUDGET: Final = 32 * 1024 * 1024
# Hashes of stored content remembered to skip a store without a system call; past this
# many (about 30 MB) the memory is cleared and the disk answers instead (a sensor runs
# for months and stores millions of contents).
MAX_KNOWN_HASHES: Final = 200_000
CONTENT_DIR: Final = "content"
OBJECTS_DIR: Final = "objects"
MAIL_DIR: Final = "mail"
TMP_DIR: Final = ".tmp"
# Flags and mode of a new file, those of ``open(path, "wb")``.
_CREATE_FLAGS: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
_CREATE_MODE: Final = 0o666


def _write_file(path: str, data: bytes | bytearray) -> None:
    """Create (or truncate) ``path`` holding ``data``: one open, write and close, without
    the buffered file object ``open`` would build (it costs more than the write here)."""
    fd = os.open(path, _CREATE_FLAGS, _CREATE_MODE)
    try:
        written = os.write(fd, data) if data else 0
        while written < len(data):  # a short write: the rest, until all is written
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


class OutputError(Exception):
    """The output folder cannot be written (permissions, full disk)."""


class _FileWriter:
    """One content file being written: held in memory while small, then spilled to a
    temporary file. Creating a file is the costliest step on many filesystems, so content
    already stored under the same sha256 is never written at all."""

    __slots__ = ("_buffer", "_file", "_store", "_tmp")

    def __init__(self, store: FileContentStore) -> None:
        self._store = store
        self._buffer: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self._tmp: str | None = None

    def write(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer is not None:
            store = self._store
            size = len(data)
            if len(buffer) + size < SPILL_THRESHOLD and store.held + size < MEMORY_BUDGET:
                buffer += data
                store.held += size
                return
            self._tmp = store.temp_path()
            self._file = open(self._tmp, "wb", buffering=WRITE_BUFFER)  # noqa: SIM115
            self._file.write(buffer)
            store.held -= len(buffer)
            self._buffer = None
        assert self._file is not None
        self._file.write(data)

    def commit(self, sha256: str) -> str:
        store = self._store
        rel = f"{CONTENT_DIR}/{sha256[:2]}/{sha256}"
        if store.has(sha256, rel):
            self.discard()
            return rel
        final = store.prefix + rel
        store.ensure_dir(sha256[:2])
        if self._file is None:
            tmp = store.temp_path()
            _write_file(tmp, self._buffer or b"")
            self._release()
        else:
            assert self._tmp is not None
            tmp = self._tmp
            self._file.close()
            self._file = None
        os.replace(tmp, final)
        store.remember(sha256)
        return rel

    def _release(self) -> None:
        if self._buffer is not None:
            self._store.held -= len(self._buffer)
            self._buffer = None

    def discard(self) -> None:
        self._release()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None


class FileContentStore:
    """Content files named by their sha256 under ``<root>/content/xx/``."""

    def __init__(self, root: Path, *, max_known: int = MAX_KNOWN_HASHES) -> None:
        self.root = root
        self._max_known = max_known
        self._tmpdir = root / TMP_DIR
        self._tmpdir.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()
        self._prefix = f"{os.getpid()}-"
        self._tmpstr = str(self._tmpdir) + os.sep
        self._dirs: set[str] = set()
        self.known: set[str] = set()
        self.prefix = str(root) + os.sep
        self._fresh = not (root / CONTENT_DIR).exists()
        self.held = 0  # bytes of content held in memory by open writers

    def open(self) -> _FileWriter:
        return _FileWriter(self)

    def temp_path(self) -> str:
        return f"{self._tmpstr}{self._prefix}{next(self._counter)}"

    def has(self, sha256: str, rel: str) -> bool:
        """Already stored (in this run, or by an earlier run into the same folder)."""
        if sha256 in self.known:
            return True
        if self._fresh:
            return False  # the folder had no content when the run began
        if os.path.exists(self.prefix + rel):
            self.remember(sha256)
            return True
        return False

    def remember(self, sha256: str) -> None:
        """Note a stored hash; past ``max_known`` forget them all and ask the disk."""
        known = self.known
        if len(known) >= self._max_known:
            known.clear()
            self._fresh = False
        known.add(sha256)

    def ensure_dir(self, shard: str) -> None:
        if shard not in self._dirs:
            path = f"{self.prefix}{CONTENT_DIR}/{shard}"
            try:
                os.mkdir(path)  # the parent exists but for the first shard of a run
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(path, exist_ok=True)
            self._dirs.add(shard)

    def close(self) -> None:
        # A folder still holding files of an interrupted writer is left for inspection.
        with contextlib.suppress(OSError):
            self._tmpdir.rmdir()


class PassportFileSink:
    """One ``objects/<id>.json`` per object, written to a temporary name then renamed.

    An e-mail object's raw message is also linked as ``mail/<id>.eml`` under
    ``content_root`` (the folder its content paths are relative to; default ``root``), so
    a mail client or an analyser opens it as it is."""

    def __init__(self, root: Path, content_root: Path | None = None) -> None:
        self.root = root
        self._content_root = str(content_root or root) + os.sep
        self._mail_dir: str | None = None
        objects = root / OBJECTS_DIR
        objects.mkdir(parents=True, exist_ok=True)
        tmpdir = root / TMP_DIR
        tmpdir.mkdir(parents=True, exist_ok=True)
        # Plain strings: path objects cost more than the write itself on this path.
        self._objects = str(objects) + os.sep
        self._tmpdir = str(tmpdir) + os.sep

    def emit(self, record: ObjectRecord, encoded: bytes) -> None:
        name = record.id + ".json"
        tmp = self._tmpdir + name
        _write_file(tmp, encoded + b"\n")
        os.replace(tmp, self._objects + name)
        if record.kind == "email":
            self._link_eml(record)

    def _link_eml(self, record: ObjectRecord) -> None:
        message = next((c for c in record.contents if c.role == "message" and c.path), None)
        if message is None or message.path is None:
            return
        if self._mail_dir is None:
            self._mail_dir = self._content_root + MAIL_DIR + os.sep
            os.makedirs(self._mail_dir, exist_ok=True)
        target = self._mail_dir + record.id + ".eml"
        with contextlib.suppress(FileExistsError):  # the same object published again
            os.link(self._content_root + message.path, target)

    def close(self) -> None:
        return None


class JsonLinesSink:
    """The same passports as one JSON document per line (a file or a stream)."""

    def __init__(self, stream: BinaryIO, *, owns: bool = False) -> None:
        self._stream = stream
        self._owns = owns

    @classmethod
    def to_path(cls, path: Path) -> JsonLinesSink:
        return cls(open(path, "ab", buffering=WRITE_BUFFER), owns=True)

    def emit(self, record: ObjectRecord, encoded: bytes) -> None:
        self._stream.write(encoded)
        self._stream.write(b"\n")

    def flush(self) -> None:
        """Push buffered lines to the file (it then ends at a line boundary)."""
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
        if self._owns:
            self._stream.close()
