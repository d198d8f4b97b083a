"""Content files and passports on disk, written atomically."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from pathlib import Path
from typing import BinaryIO, Final

from wiresift.model import ObjectRecord

# Content streams through a buffer of this size before reaching the kernel.
WRITE_BUFFER: Final = 1 << 20
CONTENT_DIR: Final = "content"
OBJECTS_DIR: Final = "objects"
TMP_DIR: Final = ".tmp"


class OutputError(Exception):
    """The output folder cannot be written (permissions, full disk)."""


class _FileWriter:
    """One content file being written under a temporary name."""

    __slots__ = ("_file", "_root", "_tmp")

    def __init__(self, root: Path, tmp: Path) -> None:
        self._root = root
        self._tmp = tmp
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = open(self._tmp, "wb", buffering=WRITE_BUFFER)  # noqa: SIM115
        self._file.write(data)

    def commit(self, sha256: str) -> str:
        rel = f"{CONTENT_DIR}/{sha256[:2]}/{sha256}"
        final = self._root / rel
        if self._file is None:
            self._file = open(self._tmp, "wb")  # noqa: SIM115  (empty content)
        self._file.close()
        if final.exists():
            self._tmp.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
        return rel

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)


class FileContentStore:
    """Content files named by their sha256 under ``<root>/content/xx/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmpdir = root / TMP_DIR
        self._tmpdir.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()
        self._prefix = f"{os.getpid()}-"

    def open(self) -> _FileWriter:
        return _FileWriter(self.root, self._tmpdir / f"{self._prefix}{next(self._counter)}")

    def close(self) -> None:
        # A folder still holding files of an interrupted writer is left for inspection.
        with contextlib.suppress(OSError):
            self._tmpdir.rmdir()


class PassportFileSink:
    """One ``objects/<id>.json`` per object, written to a temporary name then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / OBJECTS_DIR
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmpdir = root / TMP_DIR
        self._tmpdir.mkdir(parents=True, exist_ok=True)

    def emit(self, record: ObjectRecord) -> None:
        data = json.dumps(record.to_json(), ensure_ascii=False, indent=1).encode()
        tmp = self._tmpdir / f"{record.id}.json"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self._objects / f"{record.id}.json")

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

    def emit(self, record: ObjectRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"))
        self._stream.write(line.encode() + b"\n")

    def close(self) -> None:
        self._stream.flush()
        if self._owns:
            self._stream.close()
